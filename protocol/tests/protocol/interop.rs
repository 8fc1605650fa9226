//! Cross-checks with independent implementations: the `jsonwebtoken` crate decodes and validates the access tokens
//! we issue, our `Verifier` accepts the Ed25519 tokens it signs with the PKCS#8 PEM we write, both agree on JWKS
//! documents and RFC 7638 thumbprints, and the `openssl` binary reads our PEM, writes PEM we read and signs JWS
//! that we verify.
//!
//! `jsonwebtoken` validates `exp` against its own clock, so the tokens handed to it are issued at its
//! `get_current_timestamp()`; everything else uses the fixed test time.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;
use auth4agent_protocol::typ;
use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, KeySet, SigningKey, Verifier, b64url_encode,
    issue_token,
};
use jsonwebtoken::jwk::{JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

fn claims_at(now: u64, aud: Audience) -> AccessTokenClaims {
    let did = agent_did();
    AccessTokenClaims {
        iss: ISSUER.into(),
        sub: did.as_str().into(),
        client_id: did.as_str().into(),
        aud,
        scope: "read:orders write:orders".into(),
        iat: now,
        nbf: None,
        exp: now + 900,
        jti: "tok_interop_0123456789".into(),
        cnf: Confirmation {
            jkt: agent_key().public_key().thumbprint(),
        },
        status: None,
    }
}

fn their_validation() -> Validation {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[ISSUER]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v
}

fn their_key() -> DecodingKey {
    DecodingKey::from_ed_components(&server_key().public_key().to_jwk().x.unwrap()).unwrap()
}

#[test]
fn tokens_we_issue_validate_in_jsonwebtoken() {
    let now = jsonwebtoken::get_current_timestamp();
    for aud in [
        Audience::One(AUDIENCE.into()),
        Audience::Many(vec!["https://x.example".into(), AUDIENCE.into()]),
    ] {
        let claims = claims_at(now, aud);
        let token = issue_token(&server_key(), &server_kid(), &claims).unwrap();
        let data =
            jsonwebtoken::decode::<AccessTokenClaims>(&token, &their_key(), &their_validation())
                .expect("jsonwebtoken validates our token");
        assert_eq!(data.claims, claims);
        assert_eq!(data.header.alg, Algorithm::EdDSA);
        assert_eq!(data.header.typ.as_deref(), Some(typ::ACCESS_TOKEN));
        assert_eq!(data.header.kid.as_deref(), Some(server_kid().as_str()));
    }
}

#[test]
fn jsonwebtoken_refuses_what_we_would_refuse() {
    let now = jsonwebtoken::get_current_timestamp();
    // Expired beyond its 60 s leeway.
    let mut expired = claims_at(now - 7200, Audience::One(AUDIENCE.into()));
    expired.exp = now - 3600;
    let token = issue_token(&server_key(), &server_kid(), &expired).unwrap();
    let err = jsonwebtoken::decode::<AccessTokenClaims>(&token, &their_key(), &their_validation())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::ExpiredSignature
    );
    // Another audience.
    let other = claims_at(now, Audience::One("https://other.example".into()));
    let token = issue_token(&server_key(), &server_kid(), &other).unwrap();
    let err = jsonwebtoken::decode::<AccessTokenClaims>(&token, &their_key(), &their_validation())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidAudience
    );
    // Signed by another key.
    let forged = issue_token(
        &attacker_key(),
        &server_kid(),
        &claims_at(now, Audience::One(AUDIENCE.into())),
    )
    .unwrap();
    let err = jsonwebtoken::decode::<AccessTokenClaims>(&forged, &their_key(), &their_validation())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
}

#[test]
fn our_jwks_is_a_jsonwebtoken_jwk_set_with_the_same_thumbprint() {
    let keys = keyset();
    let json = serde_json::to_string(&keys.to_jwks()).unwrap();
    let theirs: JwkSet = serde_json::from_str(&json).expect("jsonwebtoken parses our JWKS");
    let jwk = theirs.find(&server_kid()).expect("kid found");
    assert_eq!(
        jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
        server_kid()
    );
    assert!(jwk.is_supported());

    let now = jsonwebtoken::get_current_timestamp();
    let claims = claims_at(now, Audience::One(AUDIENCE.into()));
    let token = issue_token(&server_key(), &server_kid(), &claims).unwrap();
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let data =
        jsonwebtoken::decode::<AccessTokenClaims>(&token, &key, &their_validation()).unwrap();
    assert_eq!(data.claims, claims);

    // And back: their serialization of the set is a JWKS we accept, with the same key under the same kid.
    let back = KeySet::from_json(&serde_json::to_string(&theirs).unwrap()).unwrap();
    assert_eq!(back.get(&server_kid()), Some(&server_key().public_key()));
}

fn their_signed_token(key: &SigningKey, header: &Header, claims: &AccessTokenClaims) -> String {
    let pem = key.to_pkcs8_pem().unwrap();
    let encoding =
        EncodingKey::from_ed_pem(pem.as_bytes()).expect("jsonwebtoken reads our PKCS#8 PEM");
    jsonwebtoken::encode(header, claims, &encoding).unwrap()
}

fn at_jwt_header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some(typ::ACCESS_TOKEN.into());
    h.kid = Some(kid.into());
    h
}

#[test]
fn tokens_jsonwebtoken_signs_verify_with_ours() {
    let key = SigningKey::from_seed(&[0x44; 32]);
    let kid = key.public_key().thumbprint();
    let claims = claims_at(NOW - 10, Audience::One(AUDIENCE.into()));
    let token = their_signed_token(&key, &at_jwt_header(&kid), &claims);

    // A key set built from that key, directly and through a published JWKS document.
    let direct = KeySet::from_keys([(kid.clone(), key.public_key())]).unwrap();
    let published = KeySet::from_json(&serde_json::to_string(&direct.to_jwks()).unwrap()).unwrap();
    for keys in [&direct, &published] {
        let verified = verifier()
            .verify(&token, keys, at(NOW))
            .expect("our verifier accepts their token");
        assert_eq!(verified.claims(), &claims);
        assert_eq!(verified.kid(), kid);
    }
    // Theirs and ours sign the same bytes the same way (Ed25519 is deterministic, both serialize with serde).
    let ours = issue_token(&key, &kid, &claims).unwrap();
    let [_, our_payload, _] = segments(&ours);
    let [_, their_payload, _] = segments(&token);
    assert_eq!(our_payload, their_payload);
}

#[test]
fn tokens_jsonwebtoken_signs_are_still_held_to_our_rules() {
    let key = SigningKey::from_seed(&[0x44; 32]);
    let kid = key.public_key().thumbprint();
    let keys = KeySet::from_keys([(kid.clone(), key.public_key())]).unwrap();
    let claims = claims_at(NOW - 10, Audience::One(AUDIENCE.into()));

    // Its default header says typ JWT.
    let mut plain = Header::new(Algorithm::EdDSA);
    plain.kid = Some(kid.clone());
    assert_eq!(
        code(verifier().verify(&their_signed_token(&key, &plain, &claims), &keys, at(NOW))),
        "wrong_typ"
    );
    // No kid.
    let mut no_kid = at_jwt_header(&kid);
    no_kid.kid = None;
    assert_eq!(
        code(verifier().verify(&their_signed_token(&key, &no_kid, &claims), &keys, at(NOW))),
        "missing_kid"
    );
    // An embedded jwk it is happy to write.
    let mut with_jwk = at_jwt_header(&kid);
    let jwk_json = serde_json::to_value(key.public_key().to_jwk()).unwrap();
    with_jwk.jwk = Some(serde_json::from_value(jwk_json).unwrap());
    assert_eq!(
        code(verifier().verify(
            &their_signed_token(&key, &with_jwk, &claims),
            &keys,
            at(NOW)
        )),
        "embedded_key"
    );
    // Wrong issuer.
    let mut wrong_iss = claims.clone();
    wrong_iss.iss = "https://evil.example".into();
    let token = their_signed_token(&key, &at_jwt_header(&kid), &wrong_iss);
    assert_eq!(
        code(verifier().verify(&token, &keys, at(NOW))),
        "wrong_issuer"
    );
    // A verifier for another issuer.
    let token = their_signed_token(&key, &at_jwt_header(&kid), &claims);
    assert_eq!(
        code(Verifier::new("https://other.example", AUDIENCE).verify(&token, &keys, at(NOW))),
        "wrong_issuer"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// openssl

fn openssl_available() -> bool {
    match Command::new("openssl").arg("version").output() {
        Ok(out) if out.status.success() => true,
        _ => {
            println!("note: the openssl binary is absent; skipping the openssl interop check");
            false
        }
    }
}

/// A file only the owner can read (it may hold a private key), removed on drop.
struct KeyFile(PathBuf);

impl KeyFile {
    fn write(name: &str, pem: &str) -> KeyFile {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}.pem", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        f.write_all(pem.as_bytes()).unwrap();
        KeyFile(path)
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    // Only stderr is shown on failure: stdout may hold key material.
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn openssl_reads_our_pem() {
    if !openssl_available() {
        return;
    }
    let key = SigningKey::from_seed(&[0x55; 32]);
    let pem = key.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let file = KeyFile::write("ours", &pem);
    let path = file.0.to_str().unwrap();

    let text = String::from_utf8(openssl(&["pkey", "-in", path, "-noout", "-text"], None)).unwrap();
    assert!(
        text.contains("ED25519 Private-Key"),
        "openssl names the key type"
    );
    // The public key it derives, from the "pub:" hex block, is ours.
    let pub_hex: String = text
        .split("pub:")
        .nth(1)
        .expect("a pub: block")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(pub_hex, tohex(key.public_key().as_bytes()));

    // Its SubjectPublicKeyInfo PEM verifies our tokens in jsonwebtoken.
    let spki = openssl(&["pkey", "-in", path, "-pubout"], None);
    let decoding = DecodingKey::from_ed_pem(&spki).expect("SPKI PEM");
    let now = jsonwebtoken::get_current_timestamp();
    let kid = key.public_key().thumbprint();
    let claims = claims_at(now, Audience::One(AUDIENCE.into()));
    let token = issue_token(&key, &kid, &claims).unwrap();
    let data =
        jsonwebtoken::decode::<AccessTokenClaims>(&token, &decoding, &their_validation()).unwrap();
    assert_eq!(data.claims, claims);
}

#[test]
fn we_read_openssl_keys_and_verify_its_signatures() {
    if !openssl_available() {
        return;
    }
    let pem = String::from_utf8(openssl(&["genpkey", "-algorithm", "ed25519"], None)).unwrap();
    let key = SigningKey::from_pkcs8_pem(&pem).expect("we read openssl's PKCS#8 PEM");
    let file = KeyFile::write("theirs", &pem);
    let path = file.0.to_str().unwrap();

    // A JWS whose signature openssl computes over our signing input.
    let kid = key.public_key().thumbprint();
    let header =
        to_json(&serde_json::json!({ "alg": "EdDSA", "typ": typ::ACCESS_TOKEN, "kid": kid }));
    let payload =
        serde_json::to_string(&claims_at(NOW - 10, Audience::One(AUDIENCE.into()))).unwrap();
    let signing_input = format!("{}.{}", seg(header.as_bytes()), seg(payload.as_bytes()));
    // openssl 3.0 signs Ed25519 one-shot, which needs a file rather than a pipe.
    let input = KeyFile::write("signing-input", &signing_input);
    let input_path = input.0.to_str().unwrap();
    let sig = openssl(
        &[
            "pkeyutl", "-sign", "-rawin", "-inkey", path, "-in", input_path,
        ],
        None,
    );
    assert_eq!(sig.len(), 64);
    let token = format!("{signing_input}.{}", b64url_encode(&sig));

    let keys = KeySet::from_keys([(kid, key.public_key())]).unwrap();
    verifier()
        .verify(&token, &keys, at(NOW))
        .expect("our verifier accepts openssl's signature");
    // Deterministic Ed25519: we produce the very same token.
    assert_eq!(sign_raw(&key, header.as_bytes(), payload.as_bytes()), token);
}
