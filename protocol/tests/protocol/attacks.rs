//! The token-attack corpus (hardening issue, "Token attacks"): the honest access token is accepted by
//! `Verifier::verify` with a `KeySet`, and every attack is refused with its specific code. The corpus is a table:
//! adding an attack is one `attack(name, expected_code, token)` line in [`corpus`].

use crate::common::*;
use auth4agent_protocol::typ;
use auth4agent_protocol::{PublicKey, b64url_decode, sign_request};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

struct Attack {
    name: &'static str,
    expect: &'static str,
    token: String,
}

fn attack(name: &'static str, expect: &'static str, token: String) -> Attack {
    Attack {
        name,
        expect,
        token,
    }
}

/// Ed25519 group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a + b` as 256-bit little-endian integers; panics on overflow (S + L always fits: S < L < 2^253).
fn add_le(a: &[u8], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "256-bit overflow");
    out
}

/// The honest token with its signature replaced by `sig`.
fn with_signature(token: &str, sig: &[u8]) -> String {
    let [h, p, _] = segments(token);
    format!("{h}.{p}.{}", seg(sig))
}

fn honest_sig() -> Vec<u8> {
    b64url_decode(&segments(&honest_token())[2]).unwrap()
}

/// Signature malleability: S' = S + L is the same scalar mod L, so a lenient verifier accepts it.
fn s_plus_l_token() -> String {
    let sig = honest_sig();
    let mut forged = sig[..32].to_vec();
    forged.extend_from_slice(&add_le(&sig[32..], &L));
    with_signature(&honest_token(), &forged)
}

fn hs256_header() -> String {
    to_json(&json!({ "alg": "HS256", "typ": typ::ACCESS_TOKEN, "kid": server_kid() }))
}

/// Algorithm confusion: HS256 with the server's public key bytes as the HMAC secret.
fn hs256_with_public_key() -> String {
    let signing_input = format!(
        "{}.{}",
        seg(hs256_header().as_bytes()),
        seg(to_json(&token_claims()).as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(server_key().public_key().as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", seg(&mac.finalize().into_bytes()))
}

/// One bit of the honest signature flipped.
fn flip_sig_bit(bit: usize) -> String {
    let mut sig = honest_sig();
    sig[bit / 8] ^= 1 << (bit % 8);
    with_signature(&honest_token(), &sig)
}

/// The honest payload with one bit flipped at `pos`, under the honest signature.
fn flip_payload_bit(pos: usize, bit: u8) -> String {
    let [h, p, s] = segments(&honest_token());
    let mut payload = b64url_decode(&p).unwrap();
    payload[pos] ^= 1 << bit;
    format!("{h}.{}.{s}", seg(&payload))
}

/// An attacker-signed token whose header names the trusted kid and embeds (or points to) the attacker's key.
fn embedded(member: &str) -> String {
    let mut h = token_header();
    h[member] = match member {
        "jwk" => serde_json::to_value(attacker_key().public_key().to_jwk()).unwrap(),
        "x5c" => json!(["MIIBtjCCAVugAwIBAgIUattacker"]),
        _ => json!(format!("https://attacker.example/{member}")),
    };
    forge_with(&attacker_key(), &to_json(&h), &to_json(&token_claims()))
}

/// The honest token re-encoded in the standard base64 alphabet (`+`, `/`); the jti is varied until the
/// signature actually contains a character that differs between the alphabets.
fn standard_alphabet() -> String {
    (0..1000)
        .find_map(|i| {
            let tok = token_with_claims(&claims_set("jti", json!(format!("tok_alphabet_{i}"))));
            let s = segments(&tok)[2].clone();
            (s.contains('-') || s.contains('_')).then(|| tok.replace('-', "+").replace('_', "/"))
        })
        .expect("a signature with '-' or '_'")
}

/// 64 KiB of deterministic printable junk.
fn junk_64k() -> String {
    let mut x: u32 = 0x1234_5678;
    (0..64 * 1024)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'!' + ((x >> 16) % 94) as u8)
        })
        .collect()
}

fn timed(iat: u64, exp: u64, nbf: Option<u64>) -> String {
    let mut c = claims_set("iat", json!(iat));
    c["exp"] = json!(exp);
    if let Some(nbf) = nbf {
        c["nbf"] = json!(nbf);
    }
    token_with_claims(&c)
}

fn corpus() -> Vec<Attack> {
    let [h, p, s] = segments(&honest_token());
    let honest_claims = to_json(&token_claims());
    let honest_header = to_json(&token_header());
    let kid = server_kid();
    let proof_typed = token_with_header(&header_set("typ", json!(typ::PROOF)));
    vec![
        // --- algorithm tricks
        attack(
            "alg none",
            "unsupported_alg",
            token_with_header(&header_set("alg", json!("none"))),
        ),
        attack(
            "alg None",
            "unsupported_alg",
            token_with_header(&header_set("alg", json!("None"))),
        ),
        attack(
            "alg NONE",
            "unsupported_alg",
            token_with_header(&header_set("alg", json!("NONE"))),
        ),
        attack(
            "alg nOnE",
            "unsupported_alg",
            token_with_header(&header_set("alg", json!("nOnE"))),
        ),
        attack("alg none, empty signature", "malformed_token", {
            let hn = seg(to_json(&header_set("alg", json!("none"))).as_bytes());
            format!("{hn}.{p}.")
        }),
        attack("alg none, honest signature kept", "unsupported_alg", {
            format!(
                "{}.{p}.{s}",
                seg(to_json(&header_set("alg", json!("none"))).as_bytes())
            )
        }),
        attack(
            "HS256 keyed with the public key",
            "unsupported_alg",
            hs256_with_public_key(),
        ),
        attack(
            "RS256 label",
            "unsupported_alg",
            token_with_header(&header_set("alg", json!("RS256"))),
        ),
        attack(
            "ES256 label",
            "unsupported_alg",
            token_with_header(&header_set("alg", json!("ES256"))),
        ),
        attack(
            "EdDSA in other case",
            "unsupported_alg",
            token_with_header(&header_set("alg", json!("EDDSA"))),
        ),
        attack(
            "alg missing",
            "unsupported_alg",
            token_with_header(&header_without("alg")),
        ),
        // --- key tricks
        attack(
            "unknown kid",
            "unknown_kid",
            token_with_header(&header_set("kid", json!("unknown-kid"))),
        ),
        attack(
            "path traversal kid",
            "unknown_kid",
            token_with_header(&header_set("kid", json!("../../../etc/passwd"))),
        ),
        attack(
            "kid missing",
            "missing_kid",
            token_with_header(&header_without("kid")),
        ),
        attack("embedded jwk", "embedded_key", embedded("jwk")),
        attack("jku", "embedded_key", embedded("jku")),
        attack("x5u", "embedded_key", embedded("x5u")),
        attack("x5c", "embedded_key", embedded("x5c")),
        attack(
            "another key under a trusted kid",
            "bad_signature",
            forge_with(&attacker_key(), &honest_header, &honest_claims),
        ),
        attack(
            "attacker key under its own kid",
            "unknown_kid",
            forge_with(
                &attacker_key(),
                &to_json(&header_set(
                    "kid",
                    json!(attacker_key().public_key().thumbprint()),
                )),
                &honest_claims,
            ),
        ),
        // --- tampering
        attack("changed payload", "bad_signature", {
            format!(
                "{h}.{}.{s}",
                seg(to_json(&claims_set("scope", json!("admin"))).as_bytes())
            )
        }),
        attack("changed header", "bad_signature", {
            format!(
                "{}.{p}.{s}",
                seg(to_json(&header_set("alg", json!("Ed25519"))).as_bytes())
            )
        }),
        attack("S+L malleability", "bad_signature", s_plus_l_token()),
        attack("flipped bit in R", "bad_signature", flip_sig_bit(3)),
        attack("flipped bit in S", "bad_signature", flip_sig_bit(300)),
        attack("flipped top bit of S", "bad_signature", flip_sig_bit(511)),
        attack(
            "flipped bit in payload",
            "bad_signature",
            flip_payload_bit(honest_claims.find("tok_").unwrap() + 1, 0),
        ),
        attack("signature swapped from another token", "bad_signature", {
            let other = token_with_claims(&claims_set("jti", json!("tok_other_0123456789")));
            format!("{h}.{p}.{}", segments(&other)[2])
        }),
        // --- time
        attack("expired", "expired", timed(NOW - 3600, NOW - 1800, None)),
        attack(
            "not yet valid",
            "not_yet_valid",
            timed(NOW - 10, NOW + 890, Some(NOW + 600)),
        ),
        attack(
            "iat in the future",
            "issued_in_future",
            timed(NOW + 600, NOW + 1200, None),
        ),
        attack(
            "lifetime beyond the maximum",
            "lifetime_too_long",
            timed(NOW - 10, NOW + 86_400, None),
        ),
        // --- wrong or missing claims
        attack(
            "aud wrong",
            "wrong_audience",
            token_with_claims(&claims_set("aud", json!("https://other.example"))),
        ),
        attack(
            "aud missing",
            "missing_claim",
            token_with_claims(&claims_without("aud")),
        ),
        attack(
            "aud empty list",
            "empty_audience",
            token_with_claims(&claims_set("aud", json!([]))),
        ),
        attack(
            "iss wrong",
            "wrong_issuer",
            token_with_claims(&claims_set("iss", json!("https://evil.example"))),
        ),
        attack(
            "iss missing",
            "missing_claim",
            token_with_claims(&claims_without("iss")),
        ),
        attack("sub wrong (not a DID)", "wrong_subject", {
            let mut c = claims_set("sub", json!("admin"));
            c["client_id"] = json!("admin");
            token_with_claims(&c)
        }),
        attack("sub other than client_id", "invalid_claim", {
            let other = format!("did:agent:example.com:{}", "0".repeat(32));
            token_with_claims(&claims_set("sub", json!(other)))
        }),
        attack(
            "sub missing",
            "missing_claim",
            token_with_claims(&claims_without("sub")),
        ),
        attack(
            "exp as string",
            "invalid_numeric_date",
            token_with_claims(&claims_set("exp", json!("1800000890"))),
        ),
        attack(
            "exp as float",
            "invalid_numeric_date",
            token_with_claims(&claims_set("exp", json!(1_800_000_890.5))),
        ),
        attack(
            "exp as boolean",
            "invalid_numeric_date",
            token_with_claims(&claims_set("exp", json!(true))),
        ),
        attack(
            "exp missing",
            "missing_claim",
            token_with_claims(&claims_without("exp")),
        ),
        // --- header games
        attack(
            "typ missing",
            "missing_typ",
            token_with_header(&header_without("typ")),
        ),
        attack(
            "typ JWT",
            "wrong_typ",
            token_with_header(&header_set("typ", json!("JWT"))),
        ),
        attack("typ of a proof", "wrong_typ", proof_typed),
        attack(
            "typ of a signed request",
            "wrong_typ",
            token_with_header(&header_set("typ", json!(typ::REQUEST))),
        ),
        attack(
            "a real signed request",
            "wrong_typ",
            sign_request(
                &server_key(),
                "GET",
                ISSUER,
                b"",
                at(NOW),
                "req_0123456789abcdef",
            )
            .unwrap(),
        ),
        attack(
            "crit unknown",
            "unknown_crit",
            token_with_header(&header_set("crit", json!(["exp"]))),
        ),
        attack(
            "crit empty",
            "empty_crit",
            token_with_header(&header_set("crit", json!([]))),
        ),
        attack(
            "duplicate header name",
            "duplicate_member",
            forge(
                &format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"unknown","kid":"{kid}"}}"#),
                &honest_claims,
            ),
        ),
        attack(
            "duplicate claim name",
            "duplicate_member",
            forge(
                &honest_header,
                &format!(
                    r#"{},"aud":"https://other.example"}}"#,
                    honest_claims.trim_end_matches('}')
                ),
            ),
        ),
        // --- malformed encodings
        attack(
            "payload is an array",
            "payload_not_object",
            forge(&honest_header, &format!("[{honest_claims}]")),
        ),
        attack(
            "payload is not JSON",
            "invalid_json",
            forge(&honest_header, "iss=https://auth.example.com"),
        ),
        attack("one segment", "malformed_token", h.clone()),
        attack("two segments", "malformed_token", format!("{h}.{p}")),
        attack(
            "four segments",
            "malformed_token",
            format!("{h}.{p}.{s}.{s}"),
        ),
        attack(
            "five segments (JWE shape)",
            "malformed_token",
            format!("{h}.{p}.{s}.{p}.{s}"),
        ),
        attack("padding", "invalid_base64", format!("{h}.{p}.{s}==")),
        attack("non-url-safe base64", "invalid_base64", standard_alphabet()),
        attack(
            "whitespace inside",
            "invalid_base64",
            format!("{h}.{p}.{} {}", &s[..43], &s[43..]),
        ),
        attack(
            "leading whitespace",
            "invalid_base64",
            format!(" {h}.{p}.{s}"),
        ),
        attack(
            "trailing newline",
            "invalid_base64",
            format!("{h}.{p}.{s}\n"),
        ),
        attack("empty token", "malformed_token", String::new()),
        attack("64 KiB of junk", "token_too_large", junk_64k()),
        attack(
            "64 KiB claim in a signed token",
            "token_too_large",
            token_with_claims(&claims_set("junk", json!("x".repeat(64 * 1024)))),
        ),
    ]
}

#[test]
fn honest_token_is_accepted() {
    let verified = verifier()
        .verify(&honest_token(), &keyset(), at(NOW))
        .expect("honest token");
    assert_eq!(verified.claims().iss, ISSUER);
    assert_eq!(verified.claims().sub, agent_did().as_str());
    assert_eq!(verified.claims().jti, "tok_0123456789abcdef");
}

#[test]
fn every_attack_is_refused_with_its_code() {
    let corpus = corpus();
    let honest = honest_token();
    let mut wrong = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for Attack {
        name,
        expect,
        token,
    } in &corpus
    {
        assert!(names.insert(*name), "duplicate attack name {name:?}");
        assert_ne!(
            token, &honest,
            "{name}: the attack must differ from the honest token"
        );
        match verifier().verify(token, &keyset(), at(NOW)) {
            Ok(_) => wrong.push(format!("{name}: ACCEPTED (expected {expect})")),
            Err(e) if e.code() != *expect => {
                wrong.push(format!("{name}: {} (expected {expect}): {e}", e.code()))
            }
            Err(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "attacks not refused as expected:\n{}",
        wrong.join("\n")
    );
    assert!(corpus.len() >= 60, "corpus has {} attacks", corpus.len());
}

#[test]
fn attacks_are_refused_by_a_lenient_verifier_too() {
    // No audience restriction, long lifetime, large leeway: only time- and audience-specific attacks may pass.
    let lenient = auth4agent_protocol::Verifier::without_audience_check(ISSUER)
        .leeway(secs(0))
        .max_lifetime(secs(u64::MAX));
    let may_pass = ["aud wrong", "lifetime beyond the maximum"];
    for Attack { name, token, .. } in corpus() {
        if may_pass.contains(&name) {
            continue;
        }
        assert!(
            lenient.verify(&token, &keyset(), at(NOW)).is_err(),
            "{name} accepted by a lenient verifier"
        );
    }
}

#[test]
fn hs256_attack_token_is_a_real_hmac_under_the_public_key() {
    // A library that picks the algorithm from the header and uses the key bytes as an HMAC secret accepts it.
    let token = hs256_with_public_key();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let secret = jsonwebtoken::DecodingKey::from_secret(server_key().public_key().as_bytes());
    jsonwebtoken::decode::<serde_json::Value>(&token, &secret, &validation)
        .expect("a valid HS256 token");
    // Ours refuses it before looking at any key.
    assert_eq!(
        code(verifier().verify(&token, &keyset(), at(NOW))),
        "unsupported_alg"
    );
}

#[test]
fn s_plus_l_is_the_same_scalar_with_another_encoding() {
    let sig = honest_sig();
    let forged = b64url_decode(&segments(&s_plus_l_token())[2]).unwrap();
    assert_eq!(forged[..32], sig[..32], "R unchanged");
    assert_ne!(forged[32..], sig[32..], "S re-encoded");
    // S' - L == S, S' >= L: the non-canonical twin of S.
    assert!(forged[63] >= 0x10, "S' is at least 2^252");
    let honest_key: PublicKey = server_key().public_key();
    let [h, p, _] = segments(&honest_token());
    honest_key
        .verify_strict(format!("{h}.{p}").as_bytes(), &sig)
        .expect("the original verifies");
    assert_eq!(
        code(honest_key.verify_strict(format!("{h}.{p}").as_bytes(), &forged)),
        "bad_signature"
    );
}

#[test]
fn another_key_under_a_trusted_kid_is_validly_signed_by_that_key() {
    let token = forge_with(
        &attacker_key(),
        &to_json(&token_header()),
        &to_json(&token_claims()),
    );
    let [h, p, s] = segments(&token);
    let sig = b64url_decode(&s).unwrap();
    attacker_key()
        .public_key()
        .verify_strict(format!("{h}.{p}").as_bytes(), &sig)
        .expect("valid under the attacker key");
    assert_eq!(
        code(verifier().verify(&token, &keyset(), at(NOW))),
        "bad_signature"
    );
}

#[test]
fn single_bit_flips_of_the_signature_are_refused() {
    // Every bit of the first and last byte of R and of S, and a stride through the rest (debug-build
    // Ed25519 is slow; the stride keeps the suite fast).
    let (honest, sig, keys, verifier) = (honest_token(), honest_sig(), keyset(), verifier());
    let edges = [0, 31, 32, 63]
        .into_iter()
        .flat_map(|byte| (0..8).map(move |b| byte * 8 + b));
    for bit in edges.chain((0..512).step_by(13)) {
        let mut flipped = sig.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let token = with_signature(&honest, &flipped);
        assert_eq!(
            code(verifier.verify(&token, &keys, at(NOW))),
            "bad_signature",
            "bit {bit}"
        );
    }
}

#[test]
fn single_character_changes_are_refused() {
    // A position of the honest token replaced by another base64url character never verifies: every fifth
    // position and both ends of every segment.
    let (honest, keys, verifier) = (honest_token(), keyset(), verifier());
    let bytes = honest.as_bytes();
    for (i, c) in honest.char_indices() {
        let segment_edge =
            i == 0 || i + 1 == bytes.len() || bytes[i - 1] == b'.' || bytes[i + 1] == b'.';
        if c == '.' || (i % 5 != 0 && !segment_edge) {
            continue;
        }
        let replacement = if c == 'A' { 'B' } else { 'A' };
        let mut bytes = honest.clone().into_bytes();
        bytes[i] = replacement as u8;
        let mutated = String::from_utf8(bytes).unwrap();
        assert!(
            verifier.verify(&mutated, &keys, at(NOW)).is_err(),
            "mutation at {i} accepted"
        );
    }
}
