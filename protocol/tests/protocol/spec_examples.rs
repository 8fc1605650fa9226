//! Regenerates the worked examples in `spec/examples/` from fixed keys and compares them with the committed files,
//! so the spec can never drift from what the code signs. Set `AUTH4AGENT_REGEN_EXAMPLES=1` to rewrite them.

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Challenge, Confirmation, Did, Domain, KeySet, ProofClaims,
    ReceivedChallenge, RequestedToken, ScopeSet, SigningKey, TxtRecord, UnixTime, UnverifiedProof,
    UnverifiedRequest, Verifier, b64url_decode, did_document, issue_token, sign_proof,
    sign_request,
};
use serde_json::{Value, json};

const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const AT: UnixTime = UnixTime::from_secs(NOW);
const ISSUER: &str = "https://auth.example.com";
const DOMAIN: &str = "example.com";

fn seed(byte: u8) -> SigningKey {
    SigningKey::from_seed(&[byte; 32])
}

fn decoded(compact: &str) -> Value {
    let parts: Vec<&str> = compact.split('.').collect();
    let bytes = |i: usize| String::from_utf8(b64url_decode(parts[i]).unwrap()).unwrap();
    let part = |i: usize| -> Value { serde_json::from_str(&bytes(i)).unwrap() };
    json!({
        "compact": compact,
        "protected_header": part(0),
        "protected_header_json": bytes(0),
        "payload": part(1),
        "payload_json": bytes(1),
        "signing_input": format!("{}.{}", parts[0], parts[1]),
        "signature_b64url": parts[2],
    })
}

fn examples() -> Vec<(&'static str, Value)> {
    let operator = seed(0x01);
    let agent = seed(0x02);
    let server = seed(0x03);
    let domain = Domain::parse(DOMAIN).unwrap();
    let did = Did::from_key(&domain, &agent.public_key());
    let server_kid = server.public_key().thumbprint();

    let keys = json!({
        "warning": "test keys from fixed seeds; never use them for anything real",
        "operator": {"seed_hex": "01".repeat(32), "public_jwk": operator.public_key().to_jwk(),
                     "thumbprint": operator.public_key().thumbprint()},
        "agent": {"seed_hex": "02".repeat(32), "public_jwk": agent.public_key().to_jwk(),
                  "thumbprint": agent.public_key().thumbprint(), "did": did.as_str(),
                  "did_document": did_document(&did, &agent.public_key())},
        "server": {"seed_hex": "03".repeat(32), "kid": server_kid},
    });

    let txt = TxtRecord::new(&domain, "0123456789abcdef0123456789abcdef");
    let txt_example =
        json!({"domain": DOMAIN, "txt_record_name": txt.name, "txt_record_value": txt.value});

    let register_body = serde_json::to_vec(
        &json!({"domain": DOMAIN, "public_key": operator.public_key().to_jwk()}),
    )
    .unwrap();
    let url = format!("{ISSUER}/v1/operators");
    let jti = "Gx3a9JtQ0m7mVZ6bX5YkQw";
    let signed = sign_request(&operator, "POST", &url, &register_body, AT, jti).unwrap();
    UnverifiedRequest::decode(&signed)
        .unwrap()
        .verify(
            &operator.public_key(),
            "POST",
            &url,
            &register_body,
            AT,
            Duration::ZERO,
        )
        .unwrap();
    let signed_request = json!({
        "method": "POST", "url": url, "header_name": "Auth4Agent-Signature",
        "body": String::from_utf8(register_body).unwrap(),
        "now": NOW, "jws": decoded(&signed),
    });

    let challenge = Challenge {
        id: "ch_aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        // 43 base64url characters for 32 bytes: the last one carries 4 bits and 2 zero bits (`w`, not `x`).
        nonce: "n0nc3-n0nc3-n0nc3-n0nc3-n0nc3-n0nc3-n0nc3-w".into(),
        expires_at: AT.saturating_add(Duration::from_secs(60)),
        did: did.clone(),
    };
    let proof_claims = ProofClaims::answer(
        &did,
        ReceivedChallenge {
            id: &challenge.id,
            nonce: &challenge.nonce,
        },
        ISSUER,
        RequestedToken {
            scope: &ScopeSet::parse("files:read tickets:write").unwrap(),
            audience: "https://api.example.com",
            ttl: NonZeroU64::new(900),
        },
        AT,
    );
    let proof = sign_proof(&agent, &proof_claims).unwrap();
    UnverifiedProof::decode(&proof)
        .unwrap()
        .verify(&agent.public_key(), ISSUER, &challenge, AT, Duration::ZERO)
        .unwrap();
    let challenge_example = json!({
        "request": {"did": did.as_str()},
        "response": {"challenge_id": challenge.id, "nonce": challenge.nonce, "expires_at": challenge.expires_at},
    });
    let proof_example = json!({"request_body": {"proof": proof}, "jws": decoded(&proof)});

    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: did.to_string(),
        client_id: did.to_string(),
        aud: Audience::One("https://api.example.com".into()),
        scope: "files:read tickets:write".into(),
        iat: NOW,
        nbf: None,
        exp: NOW + 900,
        jti: "tQ2kGd3iX0b1S7yKp9cWmA".into(),
        cnf: Confirmation {
            jkt: agent.public_key().thumbprint(),
        },
        status: None,
    };
    let token = issue_token(&server, &server_kid, &claims).unwrap();
    let key_set = KeySet::from_keys([(server_kid.clone(), server.public_key())]).unwrap();
    Verifier::new(ISSUER, "https://api.example.com")
        .verify(&token, &key_set, UnixTime::from_secs(NOW + 1))
        .unwrap();
    let token_example = json!({
        "response": {"token": token, "token_type": "Bearer", "expires_at": NOW + 900,
                     "scope": claims.scope, "aud": "https://api.example.com"},
        "jws": decoded(&token),
    });
    let jwks = serde_json::to_value(key_set.to_jwks()).unwrap();

    vec![
        ("keys.json", keys),
        ("txt_record.json", txt_example),
        ("signed_request.json", signed_request),
        ("challenge.json", challenge_example),
        ("proof.json", proof_example),
        ("access_token.json", token_example),
        ("jwks.json", jwks),
    ]
}

#[test]
fn the_example_nonce_is_canonical_base64url() {
    let nonce = "n0nc3-n0nc3-n0nc3-n0nc3-n0nc3-n0nc3-n0nc3-w";
    let bytes = b64url_decode(nonce).expect("decodes");
    assert_eq!(bytes.len(), 32);
    assert_eq!(
        auth4agent_protocol::b64url_encode(&bytes),
        nonce,
        "re-encodes to itself"
    );
}

#[test]
fn spec_examples_match_the_code() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/examples");
    let regen = std::env::var_os("AUTH4AGENT_REGEN_EXAMPLES").is_some();
    for (name, value) in examples() {
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let path = dir.join(name);
        if regen {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; run AUTH4AGENT_REGEN_EXAMPLES=1 cargo test -p auth4agent-protocol --test protocol spec_examples", path.display())
        });
        assert_eq!(
            committed, text,
            "{name} differs from what the code produces; regenerate and review the diff"
        );
    }
}
