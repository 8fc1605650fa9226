//! DPoP proofs (RFC 9449): what `sign_dpop_proof` makes verifies, and each §4.3 check refuses exactly its defect.

use auth4agent_protocol::{
    DpopProofClaims, DpopRules, Error, SigningKey, b64url_encode, sha256_b64url, sign_dpop_proof,
    verify_dpop_proof,
};
use serde_json::{Value, json};

use crate::common::{NOW, agent_key, at, attacker_key, secs, sign_raw};

const URL: &str = "https://api.example.com/files";
const TOKEN: &str = "eyJ.token.sig";

fn rules(access_token: Option<&'static str>) -> DpopRules<'static> {
    DpopRules {
        method: "GET",
        url: URL,
        now: at(NOW),
        max_age: secs(60),
        leeway: secs(5),
        access_token,
        nonce: None,
    }
}

fn header(key: &SigningKey) -> Value {
    json!({"alg": "EdDSA", "typ": "dpop+jwt", "jwk": key.public_key().to_jwk()})
}

fn claims() -> Value {
    json!({"jti": "d-0123456789abcdef", "htm": "GET", "htu": URL, "iat": NOW, "ath": sha256_b64url(TOKEN.as_bytes())})
}

fn signed(key: &SigningKey, header: &Value, claims: &Value) -> String {
    sign_raw(
        key,
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
    )
}

fn code(compact: &str, rules: &DpopRules<'_>) -> &'static str {
    verify_dpop_proof(compact, rules).unwrap_err().code()
}

#[test]
fn signs_what_it_verifies_and_returns_the_thumbprint() {
    let key = agent_key();
    let claims = DpopProofClaims::new(
        "GET",
        "https://api.example.com/files?page=2#top",
        at(NOW),
        "d-0123456789abcdef".into(),
        Some(TOKEN),
    );
    assert_eq!(claims.htu, URL, "query and fragment are not signed");
    let proof = sign_dpop_proof(&key, &claims).unwrap();
    let verified = verify_dpop_proof(&proof, &rules(Some(TOKEN))).unwrap();
    assert_eq!(verified.jkt(), key.public_key().thumbprint());
    assert_eq!(verified.jti(), "d-0123456789abcdef");
    assert_eq!(verified.iat(), at(NOW));
    assert_eq!(verified.replay_until(), at(NOW + 60));
    verified
        .require_jkt(&key.public_key().thumbprint())
        .unwrap();
    assert_eq!(
        verified
            .require_jkt(&attacker_key().public_key().thumbprint())
            .unwrap_err(),
        Error::DpopKeyMismatch
    );
    // The header is exactly RFC 9449's shape.
    let header: Value = serde_json::from_slice(
        &auth4agent_protocol::b64url_decode(proof.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header, self::header(&key));
    // Without a token (the token endpoint) no ath is written or required.
    let plain = DpopProofClaims::new("POST", URL, at(NOW), "d-1".into(), None);
    let proof = sign_dpop_proof(&key, &plain).unwrap();
    let token_rules = DpopRules {
        method: "POST",
        ..rules(None)
    };
    verify_dpop_proof(&proof, &token_rules).unwrap();
    assert_eq!(code(&proof, &rules(Some(TOKEN))), "htm_mismatch");
    let with_token = DpopRules {
        method: "POST",
        ..rules(Some(TOKEN))
    };
    assert_eq!(code(&proof, &with_token), "missing_claim", "ath required");
}

#[test]
fn htu_is_compared_per_rfc_9449() {
    let key = agent_key();
    for htu in [
        "https://api.example.com/files",
        "HTTPS://API.Example.com:443/files",
        "https://api.example.com/files?x=1",
        "https://api.example.com/files#frag",
    ] {
        let mut c = claims();
        c["htu"] = json!(htu);
        verify_dpop_proof(&signed(&key, &header(&key), &c), &rules(Some(TOKEN)))
            .unwrap_or_else(|e| panic!("{htu}: {e}"));
    }
    for htu in [
        "https://api.example.com/files/",
        "https://api.example.com/Files",
        "http://api.example.com/files",
        "https://api.example.com:8443/files",
        "https://evil.example/files",
        "/files",
    ] {
        let mut c = claims();
        c["htu"] = json!(htu);
        assert_eq!(
            code(&signed(&key, &header(&key), &c), &rules(Some(TOKEN))),
            "htu_mismatch",
            "{htu}"
        );
    }
}

#[test]
fn refuses_each_defect() {
    let key = agent_key();
    let ok = rules(Some(TOKEN));
    let with_header = |name: &str, value: Value| {
        let mut h = header(&key);
        h[name] = value;
        signed(&key, &h, &claims())
    };
    let with_claim = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        signed(&key, &header(&key), &c)
    };
    let without_claim = |name: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(name);
        signed(&key, &header(&key), &c)
    };
    verify_dpop_proof(&signed(&key, &header(&key), &claims()), &ok).unwrap();

    // Header.
    assert_eq!(code(&with_header("typ", json!("JWT")), &ok), "wrong_typ");
    assert_eq!(
        code(&with_header("typ", json!("application/dpop+jwt")), &ok),
        "wrong_typ",
        "typ is exactly dpop+jwt"
    );
    assert_eq!(
        code(&with_header("typ", json!("auth4agent-req+jwt")), &ok),
        "wrong_typ"
    );
    for alg in ["HS256", "none", "ES256", "RS256"] {
        assert_eq!(
            code(&with_header("alg", json!(alg)), &ok),
            "unsupported_alg",
            "{alg}"
        );
    }
    assert_eq!(
        code(&with_header("jku", json!("https://evil.example/jwks")), &ok),
        "embedded_key"
    );
    assert_eq!(
        code(&with_header("x5c", json!(["MII"])), &ok),
        "embedded_key"
    );
    assert_eq!(
        code(&with_header("crit", json!(["exp"])), &ok),
        "unknown_crit"
    );
    let mut no_jwk = header(&key);
    no_jwk.as_object_mut().unwrap().remove("jwk");
    assert_eq!(code(&signed(&key, &no_jwk, &claims()), &ok), "invalid_key");
    let mut private = header(&key);
    private["jwk"]["d"] = json!(b64url_encode(&[0x22; 32]));
    assert_eq!(code(&signed(&key, &private, &claims()), &ok), "invalid_key");
    assert_eq!(
        code(
            &with_header(
                "jwk",
                json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})
            ),
            &ok
        ),
        "invalid_key"
    );
    assert_eq!(code(&with_header("jwk", json!("key")), &ok), "invalid_key");
    let duplicate = format!(
        r#"{{"alg":"EdDSA","typ":"dpop+jwt","typ":"dpop+jwt","jwk":{}}}"#,
        serde_json::to_string(&key.public_key().to_jwk()).unwrap()
    );
    assert_eq!(
        code(
            &sign_raw(&key, duplicate.as_bytes(), claims().to_string().as_bytes()),
            &ok
        ),
        "duplicate_member"
    );

    // Signature: the embedded key must have signed it.
    let forged = signed(&attacker_key(), &header(&key), &claims());
    assert_eq!(code(&forged, &ok), "bad_signature");
    let mut parts: Vec<String> = signed(&key, &header(&key), &claims())
        .split('.')
        .map(str::to_owned)
        .collect();
    parts[2] = b64url_encode(&[0; 64]);
    assert_eq!(code(&parts.join("."), &ok), "bad_signature");
    assert_eq!(code("not.a.proof.at-all", &ok), "malformed_token");
    assert_eq!(code(&"a".repeat(20_000), &ok), "token_too_large");

    // Claims.
    assert_eq!(code(&with_claim("htm", json!("POST")), &ok), "htm_mismatch");
    assert_eq!(code(&with_claim("htm", json!("get")), &ok), "htm_mismatch");
    assert_eq!(
        code(&with_claim("iat", json!(NOW + 6)), &ok),
        "issued_in_future"
    );
    verify_dpop_proof(&with_claim("iat", json!(NOW + 5)), &ok).unwrap();
    assert_eq!(code(&with_claim("iat", json!(NOW - 61)), &ok), "expired");
    verify_dpop_proof(&with_claim("iat", json!(NOW - 60)), &ok).unwrap();
    assert_eq!(
        code(&with_claim("iat", json!("now")), &ok),
        "invalid_numeric_date"
    );
    assert_eq!(
        code(&with_claim("iat", json!(NOW as f64 + 0.5)), &ok),
        "invalid_numeric_date"
    );
    assert_eq!(
        code(
            &with_claim("ath", json!(sha256_b64url(b"another token"))),
            &ok
        ),
        "ath_mismatch"
    );
    assert_eq!(code(&with_claim("jti", json!("")), &ok), "invalid_claim");
    assert_eq!(
        code(&with_claim("jti", json!("j".repeat(257))), &ok),
        "invalid_claim"
    );
    for name in ["jti", "htm", "htu", "iat", "ath"] {
        assert_eq!(code(&without_claim(name), &ok), "missing_claim", "{name}");
    }
    assert_eq!(code(&with_claim("htm", json!(1)), &ok), "invalid_claim");

    // A nonce the receiver asked for.
    let nonce_rules = DpopRules {
        nonce: Some("n-1"),
        ..ok
    };
    assert_eq!(
        code(&signed(&key, &header(&key), &claims()), &nonce_rules),
        "missing_claim"
    );
    assert_eq!(
        code(&with_claim("nonce", json!("n-2")), &nonce_rules),
        "nonce_mismatch"
    );
    verify_dpop_proof(&with_claim("nonce", json!("n-1")), &nonce_rules).unwrap();
}
