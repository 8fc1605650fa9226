//! One test per refusal of the protocol crate, each asserting the stable `Error::code()`: the strict JWS layer,
//! the access-token `Verifier`, challenge proofs, signed requests, and the key, JWKS, DID, scope and TXT rules.
//! Malformed messages are built by hand (hand-written JSON, real signatures) so each isolates one defect.

use std::num::NonZeroU64;

use crate::common::*;
use auth4agent_protocol::Jwk;
use auth4agent_protocol::{
    Challenge, Did, Domain, KeySet, PublicKey, ScopeSet, SigningKey, TxtMatch, TxtRecord,
    UnverifiedJws, UnverifiedProof, UnverifiedRequest, b64url_decode, b64url_encode, match_txt,
    sign_proof, sign_request, txt_record_name, txt_record_value,
};
use auth4agent_protocol::{MAX_COMPACT_LEN, typ};
use serde_json::{Value, json};

fn verify(token: &str) -> &'static str {
    code(verifier().verify(token, &keyset(), at(NOW)))
}

// ---------------------------------------------------------------------------------------------------------------
// Baseline: what every refusal below is a one-defect variation of.

#[test]
fn honest_token_is_accepted() {
    let t = verifier()
        .verify(&honest_token(), &keyset(), at(NOW))
        .expect("honest token");
    assert_eq!(t.claims().sub, agent_did().as_str());
    assert_eq!(t.kid(), server_kid());
    assert_eq!(t.did(), &agent_did());
    assert!(t.scopes().contains("read:orders"));
}

#[test]
fn verified_token_holds_the_validated_values() {
    let t = verifier()
        .verify(&honest_token(), &keyset(), at(NOW))
        .expect("honest token");
    let claims = token_claims();
    assert_eq!(t.issuer(), ISSUER);
    assert!(t.audience().contains(AUDIENCE));
    assert_eq!(t.jti(), claims["jti"]);
    assert_eq!(t.issued_at(), at(NOW - 10));
    assert_eq!(t.not_before(), None);
    assert_eq!(t.expires_at(), at(NOW + 890));
    assert_eq!(t.thumbprint(), agent_key().public_key().thumbprint());
    assert_eq!(
        t.scopes(),
        &ScopeSet::parse("read:orders write:orders").unwrap()
    );
    assert_eq!(serde_json::to_value(t.claims()).unwrap(), claims);
}

#[test]
fn require_scope_refuses_a_scope_not_granted() {
    let t = verifier()
        .verify(&honest_token(), &keyset(), at(NOW))
        .expect("honest token");
    t.require_scope("read:orders").expect("granted");
    t.require_scope("write:orders").expect("granted");
    for missing in ["delete:orders", "read", "read:orders write:orders", ""] {
        let err = t.require_scope(missing).unwrap_err();
        assert_eq!(err.code(), "scope_not_allowed", "{missing:?}");
        assert_eq!(
            err,
            auth4agent_protocol::Error::InsufficientScope {
                required: missing.to_owned()
            }
        );
    }
}

#[test]
fn audiences_are_checked_unless_explicitly_not() {
    let for_aud = |aud: &str| token_with_claims(&claims_set("aud", json!(aud)));
    // `new` takes the one accepted audience; `accept_audience` adds more.
    assert_eq!(verify(&for_aud("https://other.example")), "wrong_audience");
    let two = verifier().accept_audience("https://other.example");
    two.verify(&for_aud("https://other.example"), &keyset(), at(NOW))
        .expect("second audience");
    two.verify(&honest_token(), &keyset(), at(NOW))
        .expect("first audience");
    // Only the loudly named constructor skips the check, and `accept_audience` turns it back on.
    let any = auth4agent_protocol::Verifier::without_audience_check(ISSUER);
    any.verify(&for_aud("https://other.example"), &keyset(), at(NOW))
        .expect("any audience");
    let one = any.accept_audience(AUDIENCE);
    assert_eq!(
        code(one.verify(&for_aud("https://other.example"), &keyset(), at(NOW))),
        "wrong_audience"
    );
    one.verify(&honest_token(), &keyset(), at(NOW))
        .expect("accepted audience");
}

#[test]
fn alg_ed25519_fully_specified_is_accepted() {
    let tok = token_with_header(&header_set("alg", json!("Ed25519")));
    verifier()
        .verify(&tok, &keyset(), at(NOW))
        .expect("RFC 9864 Ed25519 alg is accepted");
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: algorithm allow-list.

#[test]
fn alg_none_in_any_case_is_refused() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        assert_eq!(
            verify(&token_with_header(&header_set("alg", json!(alg)))),
            "unsupported_alg",
            "{alg}"
        );
    }
    // An alg none token as attackers send it: empty signature segment.
    let unsigned = format!(
        "{}.{}.",
        b64url_encode(to_json(&header_set("alg", json!("none"))).as_bytes()),
        b64url_encode(to_json(&token_claims()).as_bytes())
    );
    assert_eq!(verify(&unsigned), "malformed_token");
}

#[test]
fn other_algs_are_refused() {
    for alg in [
        "HS256", "RS256", "ES256", "PS256", "ES256K", "EdDSA ", "eddsa", "EDDSA", "ed25519",
        "Ed448", "",
    ] {
        assert_eq!(
            verify(&token_with_header(&header_set("alg", json!(alg)))),
            "unsupported_alg",
            "{alg:?}"
        );
    }
}

#[test]
fn alg_missing_or_not_a_string_is_refused() {
    assert_eq!(
        verify(&token_with_header(&header_without("alg"))),
        "unsupported_alg"
    );
    for v in [
        json!(null),
        json!(["EdDSA"]),
        json!(1),
        json!({"alg": "EdDSA"}),
    ] {
        assert_eq!(
            verify(&token_with_header(&header_set("alg", v.clone()))),
            "unsupported_alg",
            "{v}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: typ is required and must be the calling context's.

#[test]
fn typ_missing_is_refused() {
    assert_eq!(
        verify(&token_with_header(&header_without("typ"))),
        "missing_typ"
    );
}

#[test]
fn typ_of_another_kind_is_refused() {
    for t in [
        "JWT",
        "jwt",
        typ::PROOF,
        typ::REQUEST,
        "at+jwt2",
        "",
        "application/jwt",
    ] {
        assert_eq!(
            verify(&token_with_header(&header_set("typ", json!(t)))),
            "wrong_typ",
            "{t:?}"
        );
    }
    assert_eq!(
        verify(&token_with_header(&header_set("typ", json!(["at+jwt"])))),
        "wrong_typ"
    );
}

#[test]
fn typ_is_compared_as_a_media_type() {
    // spec/protocol.md, RFC 9068 §4: ASCII case-insensitive, optional "application/" prefix.
    for t in ["application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
        let tok = token_with_header(&header_set("typ", json!(t)));
        verifier()
            .verify(&tok, &keyset(), at(NOW))
            .unwrap_or_else(|e| panic!("{t}: {e}"));
    }
    for t in [
        "application/application/at+jwt",
        "text/at+jwt",
        "application/",
        "at+jwt; charset=utf-8",
    ] {
        assert_eq!(
            verify(&token_with_header(&header_set("typ", json!(t)))),
            "wrong_typ",
            "{t}"
        );
    }
}

#[test]
fn typ_is_checked_by_every_message_kind() {
    let tok = honest_token();
    assert_eq!(code(UnverifiedProof::decode(&tok)), "wrong_typ");
    assert_eq!(code(UnverifiedRequest::decode(&tok)), "wrong_typ");
    assert_eq!(code(UnverifiedJws::decode(&tok, typ::PROOF)), "wrong_typ");
    UnverifiedJws::decode(&tok, typ::ACCESS_TOKEN).expect("right typ decodes");
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: crit.

#[test]
fn crit_unknown_is_refused() {
    for v in [
        json!(["exp"]),
        json!(["b64"]),
        json!(["x-custom"]),
        json!("exp"),
        json!(null),
        json!({}),
    ] {
        assert_eq!(
            verify(&token_with_header(&header_set("crit", v.clone()))),
            "unknown_crit",
            "{v}"
        );
    }
    let mut h = header_set("crit", json!(["b64"]));
    h["b64"] = json!(false);
    assert_eq!(verify(&token_with_header(&h)), "unknown_crit");
}

#[test]
fn crit_empty_is_refused() {
    assert_eq!(
        verify(&token_with_header(&header_set("crit", json!([])))),
        "empty_crit"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: keys are never taken from the message.

#[test]
fn embedded_or_referenced_keys_are_refused() {
    let attacker_jwk = serde_json::to_value(attacker_key().public_key().to_jwk()).unwrap();
    let cases = [
        ("jwk", attacker_jwk),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIBtjCCAVugAwIBAgI"])),
        ("x5t", json!("dGh1bWJwcmludA")),
        ("x5t#S256", json!("dGh1bWJwcmludA")),
    ];
    for (name, value) in cases {
        let tok = token_with_header(&header_set(name, value));
        assert_eq!(verify(&tok), "embedded_key", "{name}");
        assert_eq!(
            code(UnverifiedJws::decode(&tok, typ::ACCESS_TOKEN)),
            "embedded_key",
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: kid.

#[test]
fn kid_missing_or_empty_is_refused() {
    assert_eq!(
        verify(&token_with_header(&header_without("kid"))),
        "missing_kid"
    );
    assert_eq!(
        verify(&token_with_header(&header_set("kid", json!("")))),
        "missing_kid"
    );
    assert_eq!(
        verify(&token_with_header(&header_set("kid", json!(7)))),
        "missing_kid"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: duplicate member names.

#[test]
fn duplicate_header_member_is_refused() {
    let kid = server_kid();
    for header in [
        format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","alg":"EdDSA"}}"#),
        format!(r#"{{"alg":"none","alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"EdDSA","typ":"JWT","typ":"at+jwt","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"unknown","kid":"{kid}"}}"#),
        // The same name spelled with a JSON escape is still the same name.
        format!(r#"{{"alg":"EdDSA","\u0061lg":"none","typ":"at+jwt","kid":"{kid}"}}"#),
    ] {
        assert_eq!(
            verify(&forge(&header, &to_json(&token_claims()))),
            "duplicate_member",
            "{header}"
        );
    }
}

#[test]
fn duplicate_claim_is_refused() {
    let honest = to_json(&token_claims());
    let body = honest.trim_end_matches('}');
    for extra in [
        r#","sub":"did:agent:evil.example:00000000000000000000000000000000""#.to_owned(),
        format!(r#","iss":"{ISSUER}""#),
        r#","exp":9999999999"#.to_owned(),
    ] {
        let payload = format!("{body}{extra}}}");
        assert_eq!(
            verify(&forge(&to_json(&token_header()), &payload)),
            "duplicate_member",
            "{extra}"
        );
    }
    // Nested: two jkt inside cnf.
    let payload = honest.replace(r#""cnf":{"jkt":"#, r#""cnf":{"jkt":"x","jkt":"#);
    assert_ne!(payload, honest);
    assert_eq!(
        verify(&forge(&to_json(&token_header()), &payload)),
        "duplicate_member"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: strict base64url.

#[test]
fn padding_is_refused() {
    let [h, p, s] = segments(&honest_token());
    assert_eq!(s.len() % 4, 2, "86-char signature would take two pad chars");
    assert_eq!(verify(&format!("{h}.{p}.{s}==")), "invalid_base64");
    let padded = |x: &str| format!("{x}{}", "=".repeat((4 - x.len() % 4) % 4));
    if h.len() % 4 != 0 {
        assert_eq!(verify(&format!("{}.{p}.{s}", padded(&h))), "invalid_base64");
    }
    if p.len() % 4 != 0 {
        assert_eq!(verify(&format!("{h}.{}.{s}", padded(&p))), "invalid_base64");
    }
    assert_eq!(verify(&format!("{h}=.{p}.{s}")), "invalid_base64");
}

#[test]
fn standard_alphabet_is_refused() {
    // Re-encode the real signature with '+' and '/' in place of '-' and '_'; pick a jti whose signature has one.
    let (tok, std_sig) = (0..1000)
        .find_map(|i| {
            let tok = token_with_claims(&claims_set("jti", json!(format!("tok_std_alphabet_{i}"))));
            let sig = segments(&tok)[2].clone();
            (sig.contains('-') || sig.contains('_'))
                .then(|| (tok, sig.replace('-', "+").replace('_', "/")))
        })
        .expect("some signature has '-' or '_'");
    verifier()
        .verify(&tok, &keyset(), at(NOW))
        .expect("the url-safe original verifies");
    let [h, p, _] = segments(&tok);
    assert_eq!(verify(&format!("{h}.{p}.{std_sig}")), "invalid_base64");
}

#[test]
fn whitespace_is_refused() {
    let tok = honest_token();
    let [h, p, s] = segments(&tok);
    for bad in [
        format!(" {tok}"),
        format!("{tok}\n"),
        format!("{tok} "),
        format!("{h}.{p}.{} {}", &s[..10], &s[10..]),
        format!("{h}.{}\n{}.{s}", &p[..10], &p[10..]),
        format!("{}\t{}.{p}.{s}", &h[..5], &h[5..]),
        format!("{h}.\r\n{p}.{s}"),
    ] {
        assert_eq!(verify(&bad), "invalid_base64", "{bad:?}");
    }
}

#[test]
fn non_alphabet_characters_are_refused() {
    let [h, p, s] = segments(&honest_token());
    for bad in [
        format!("{h}.{p}.{}!", &s[..85]),
        format!("{h}.{p}*.{s}"),
        format!("{h}.{p}.{}é", &s[..85]),
    ] {
        assert_eq!(verify(&bad), "invalid_base64", "{bad:?}");
    }
}

#[test]
fn non_canonical_trailing_bits_are_refused() {
    // 64 signature bytes take 86 characters; the last one carries 2 data bits and 4 zero bits.
    let [h, p, s] = segments(&honest_token());
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = s.as_bytes()[85];
    let idx = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(idx & 0x0f, 0, "canonical encoding");
    let tweaked = format!("{}{}", &s[..85], ALPHABET[idx | 1] as char);
    // Same bytes under a lenient decoder, so only the encoding is at fault.
    assert_eq!(verify(&format!("{h}.{p}.{tweaked}")), "invalid_base64");
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: segment count, emptiness, size.

#[test]
fn wrong_segment_count_is_refused() {
    let tok = honest_token();
    let [h, p, s] = segments(&tok);
    for bad in [
        h.clone(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.{p}.{s}"),
        format!(".{tok}"),
        "..".to_owned(),
        "...".to_owned(),
    ] {
        assert_eq!(verify(&bad), "malformed_token", "{bad}");
    }
}

#[test]
fn empty_token_and_empty_segments_are_refused() {
    let [h, p, s] = segments(&honest_token());
    assert_eq!(verify(""), "malformed_token");
    assert_eq!(verify(&format!(".{p}.{s}")), "malformed_token");
    assert_eq!(verify(&format!("{h}.{p}.")), "malformed_token");
    // An empty payload is not a JSON object (nor JSON at all).
    assert_eq!(
        verify(&forge(&to_json(&token_header()), "")),
        "invalid_json"
    );
}

#[test]
fn oversized_token_is_refused() {
    let big = "A".repeat(MAX_COMPACT_LEN + 1);
    assert_eq!(verify(&big), "token_too_large");
    let padded_claims = claims_set("pad", json!("x".repeat(MAX_COMPACT_LEN)));
    assert_eq!(
        verify(&token_with_claims(&padded_claims)),
        "token_too_large"
    );
}

#[test]
fn signature_of_wrong_length_is_refused() {
    let [h, p, s] = segments(&honest_token());
    let sig = b64url_decode(&s).unwrap();
    assert_eq!(
        verify(&format!("{h}.{p}.{}", seg(&sig[..63]))),
        "bad_signature"
    );
    let mut long = sig.clone();
    long.push(0);
    assert_eq!(verify(&format!("{h}.{p}.{}", seg(&long))), "bad_signature");
    assert_eq!(
        verify(&format!("{h}.{p}.{}", seg(&[0u8; 32]))),
        "bad_signature"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: header and payload JSON.

#[test]
fn header_not_json_or_not_an_object_is_refused() {
    let claims = to_json(&token_claims());
    for header in [
        "not json",
        "[]",
        r#""EdDSA""#,
        "null",
        "{",
        r#"{"alg":"EdDSA"} {}"#,
        "",
    ] {
        let tok = forge(header, &claims);
        let c = verify(&tok);
        if header.is_empty() {
            assert_eq!(c, "malformed_token");
        } else {
            assert_eq!(c, "invalid_json", "{header:?}");
        }
    }
}

#[test]
fn payload_not_an_object_is_refused() {
    let h = to_json(&token_header());
    for payload in [
        "[]",
        r#"["iss"]"#,
        r#""claims""#,
        "42",
        "true",
        "null",
        r#"[{"iss":"x"}]"#,
    ] {
        assert_eq!(
            verify(&forge(&h, payload)),
            "payload_not_object",
            "{payload}"
        );
    }
}

#[test]
fn payload_not_json_is_refused() {
    let h = to_json(&token_header());
    let honest = to_json(&token_claims());
    for payload in [
        "Example of Ed25519 signing".to_owned(),
        "{".to_owned(),
        format!("{honest},"),
        format!("{honest}{{}}"),
        honest.replacen('"', "'", 2),
        "{\"a\":1,}".to_owned(),
    ] {
        assert_eq!(verify(&forge(&h, &payload)), "invalid_json", "{payload}");
    }
    // Not UTF-8.
    let tok = format!(
        "{}.{}.{}",
        seg(h.as_bytes()),
        seg(&[0x7b, 0xff, 0xfe, 0x7d]),
        segments(&honest_token())[2]
    );
    assert_eq!(verify(&tok), "invalid_json");
}

#[test]
fn payload_nested_too_deep_is_refused() {
    let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    assert_eq!(
        verify(&forge(&to_json(&token_header()), &deep)),
        "invalid_json"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// JWS: NumericDate must be a JSON integer.

#[test]
fn numeric_dates_must_be_json_integers() {
    let bad_values = [
        json!("1800000890"),
        json!(true),
        json!(1_800_000_890.0),
        json!(1.8e9),
        json!(-1),
        json!(null),
        json!([1_800_000_890u64]),
        json!({"t": 1}),
    ];
    for name in ["iat", "exp", "nbf"] {
        for v in &bad_values {
            let tok = token_with_claims(&claims_set(name, v.clone()));
            assert_eq!(verify(&tok), "invalid_numeric_date", "{name}: {v}");
        }
    }
    // Beyond u64: serde_json reads it as a float.
    let payload = to_json(&token_claims()).replace(
        &format!(r#""exp":{}"#, NOW + 890),
        r#""exp":18446744073709551616"#,
    );
    assert_eq!(
        verify(&forge(&to_json(&token_header()), &payload)),
        "invalid_numeric_date"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Token verifier: keys and signature.

#[test]
fn unknown_kid_is_refused() {
    for kid in [
        "unknown",
        "../../../etc/passwd",
        &attacker_key().public_key().thumbprint(),
    ] {
        assert_eq!(
            verify(&token_with_header(&header_set("kid", json!(kid)))),
            "unknown_kid",
            "{kid}"
        );
    }
    assert_eq!(
        code(verifier().verify(&honest_token(), &KeySet::default(), at(NOW))),
        "unknown_kid"
    );
}

#[test]
fn signature_by_another_key_is_refused() {
    let tok = forge_with(
        &attacker_key(),
        &to_json(&token_header()),
        &to_json(&token_claims()),
    );
    assert_eq!(verify(&tok), "bad_signature");
}

#[test]
fn tampered_payload_is_refused() {
    let [h, _, s] = segments(&honest_token());
    let evil = claims_set("scope", json!("admin"));
    assert_eq!(
        verify(&format!("{h}.{}.{s}", seg(to_json(&evil).as_bytes()))),
        "bad_signature"
    );
}

#[test]
fn tampered_header_is_refused() {
    let [_, p, s] = segments(&honest_token());
    let h2 = header_set("alg", json!("Ed25519"));
    assert_eq!(
        verify(&format!("{}.{p}.{s}", seg(to_json(&h2).as_bytes()))),
        "bad_signature"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Token verifier: claims.

#[test]
fn wrong_issuer_is_refused() {
    for iss in [
        "https://evil.example",
        "https://auth.example.com/",
        "HTTPS://AUTH.EXAMPLE.COM",
        "",
    ] {
        assert_eq!(
            verify(&token_with_claims(&claims_set("iss", json!(iss)))),
            "wrong_issuer",
            "{iss}"
        );
    }
}

#[test]
fn wrong_audience_is_refused() {
    assert_eq!(
        verify(&token_with_claims(&claims_set(
            "aud",
            json!("https://other.example")
        ))),
        "wrong_audience"
    );
    let list = json!(["https://other.example", "https://third.example"]);
    assert_eq!(
        verify(&token_with_claims(&claims_set("aud", list))),
        "wrong_audience"
    );
    // A list that contains the accepted audience is fine.
    let ok = claims_set("aud", json!(["https://other.example", AUDIENCE]));
    verifier()
        .verify(&token_with_claims(&ok), &keyset(), at(NOW))
        .expect("aud list containing ours");
}

#[test]
fn empty_audience_list_is_refused() {
    assert_eq!(
        verify(&token_with_claims(&claims_set("aud", json!([])))),
        "empty_audience"
    );
    // Even a verifier that accepts any audience wants a non-empty one.
    let any = auth4agent_protocol::Verifier::without_audience_check(ISSUER);
    assert_eq!(
        code(any.verify(
            &token_with_claims(&claims_set("aud", json!([]))),
            &keyset(),
            at(NOW)
        )),
        "empty_audience"
    );
}

#[test]
fn malformed_audience_is_refused() {
    for v in [
        json!(""),
        json!(7),
        json!([AUDIENCE, 7]),
        json!([""]),
        json!({"aud": AUDIENCE}),
        json!(null),
    ] {
        assert_eq!(
            verify(&token_with_claims(&claims_set("aud", v.clone()))),
            "invalid_claim",
            "{v}"
        );
    }
}

#[test]
fn missing_required_claims_are_refused() {
    for name in [
        "iss",
        "sub",
        "client_id",
        "aud",
        "scope",
        "iat",
        "exp",
        "jti",
        "cnf",
    ] {
        assert_eq!(
            verify(&token_with_claims(&claims_without(name))),
            "missing_claim",
            "{name}"
        );
    }
    let no_jkt = claims_set("cnf", json!({}));
    assert_eq!(verify(&token_with_claims(&no_jkt)), "missing_claim");
}

#[test]
fn claims_of_the_wrong_type_are_refused() {
    for (name, v) in [
        ("iss", json!(1)),
        ("sub", json!(["did"])),
        ("client_id", json!(null)),
        ("scope", json!(["read:orders"])),
        ("jti", json!(5)),
        ("cnf", json!("jkt")),
    ] {
        assert_eq!(
            verify(&token_with_claims(&claims_set(name, v.clone()))),
            "invalid_claim",
            "{name}: {v}"
        );
    }
    assert_eq!(
        verify(&token_with_claims(&claims_set("cnf", json!({"jkt": 1})))),
        "invalid_claim"
    );
}

#[test]
fn subject_that_is_not_a_did_is_refused() {
    for sub in [
        "agent-1",
        "did:agent:EXAMPLE.com:0123456789abcdef0123456789abcdef",
        "did:web:example.com",
        "",
    ] {
        let mut c = claims_set("sub", json!(sub));
        c["client_id"] = json!(sub);
        assert_eq!(verify(&token_with_claims(&c)), "wrong_subject", "{sub:?}");
    }
}

#[test]
fn client_id_other_than_sub_is_refused() {
    let other = Did::from_key(
        &Domain::parse("example.com").unwrap(),
        &attacker_key().public_key(),
    );
    assert_eq!(
        verify(&token_with_claims(&claims_set(
            "client_id",
            json!(other.as_str())
        ))),
        "invalid_claim"
    );
}

#[test]
fn invalid_scope_claim_is_refused() {
    for scope in [
        "read:orders  write:orders",
        " read:orders",
        "read\"orders",
        "ré",
    ] {
        assert_eq!(
            verify(&token_with_claims(&claims_set("scope", json!(scope)))),
            "invalid_scope",
            "{scope:?}"
        );
    }
}

#[test]
fn empty_jti_is_refused() {
    assert_eq!(
        verify(&token_with_claims(&claims_set("jti", json!("")))),
        "invalid_claim"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Token verifier: time.

fn timed(iat: u64, exp: u64, nbf: Option<u64>) -> String {
    let mut c = claims_set("iat", json!(iat));
    c["exp"] = json!(exp);
    if let Some(nbf) = nbf {
        c["nbf"] = json!(nbf);
    }
    token_with_claims(&c)
}

#[test]
fn expired_is_refused_after_leeway() {
    // Default leeway 60 s: exp + 60 is the first refused second.
    verifier()
        .verify(&timed(NOW - 900, NOW - 59, None), &keyset(), at(NOW))
        .expect("within leeway");
    assert_eq!(verify(&timed(NOW - 900, NOW - 60, None)), "expired");
    assert_eq!(verify(&timed(NOW - 3600, NOW - 1800, None)), "expired");
    assert_eq!(
        code(
            verifier()
                .leeway(secs(0))
                .verify(&timed(NOW - 900, NOW, None), &keyset(), at(NOW))
        ),
        "expired"
    );
    // Revocation may look at an expired token's claims, still only with a valid signature.
    verifier()
        .verify_ignoring_time(&timed(NOW - 3600, NOW - 1800, None), &keyset())
        .expect("ignoring time");
    let forged = forge_with(
        &attacker_key(),
        &to_json(&token_header()),
        &to_json(&token_claims()),
    );
    assert_eq!(
        code(verifier().verify_ignoring_time(&forged, &keyset())),
        "bad_signature"
    );
}

#[test]
fn not_yet_valid_is_refused() {
    verifier()
        .verify(
            &timed(NOW - 10, NOW + 890, Some(NOW + 60)),
            &keyset(),
            at(NOW),
        )
        .expect("nbf within leeway");
    assert_eq!(
        verify(&timed(NOW - 10, NOW + 890, Some(NOW + 61))),
        "not_yet_valid"
    );
    assert_eq!(
        verify(&timed(NOW - 10, NOW + 890, Some(NOW + 600))),
        "not_yet_valid"
    );
}

#[test]
fn issued_in_future_is_refused() {
    verifier()
        .verify(&timed(NOW + 60, NOW + 900, None), &keyset(), at(NOW))
        .expect("iat within leeway");
    assert_eq!(
        verify(&timed(NOW + 61, NOW + 900, None)),
        "issued_in_future"
    );
    assert_eq!(
        verify(&timed(NOW + 600, NOW + 1200, None)),
        "issued_in_future"
    );
}

#[test]
fn lifetime_too_long_is_refused() {
    verifier()
        .verify(&timed(NOW - 10, NOW - 10 + 3600, None), &keyset(), at(NOW))
        .expect("exactly the max");
    assert_eq!(
        verify(&timed(NOW - 10, NOW - 10 + 3601, None)),
        "lifetime_too_long"
    );
    assert_eq!(
        verify(&timed(NOW - 10, u64::MAX, None)),
        "lifetime_too_long"
    );
    assert_eq!(
        code(
            verifier()
                .max_lifetime(secs(300))
                .verify(&honest_token(), &keyset(), at(NOW))
        ),
        "lifetime_too_long"
    );
}

#[test]
fn exp_not_after_iat_is_refused() {
    assert_eq!(verify(&timed(NOW, NOW, None)), "invalid_claim");
    assert_eq!(verify(&timed(NOW, NOW - 1, None)), "invalid_claim");
}

// ---------------------------------------------------------------------------------------------------------------
// Proofs.

const CHALLENGE_ID: &str = "ch_abcdefghijklmnopqrstuvwxyz";

fn nonce() -> String {
    b64url_encode(&[0x5a; 32])
}

fn challenge() -> Challenge {
    Challenge {
        id: CHALLENGE_ID.into(),
        nonce: nonce(),
        expires_at: at(NOW + 60),
        did: agent_did(),
    }
}

fn proof_claims() -> Value {
    let did = agent_did();
    json!({
        "iss": did.as_str(), "sub": did.as_str(), "aud": ISSUER, "challenge_id": CHALLENGE_ID,
        "nonce": nonce(), "scope": "read:orders", "token_aud": AUDIENCE, "ttl": 900,
        "iat": NOW, "exp": NOW + 60,
    })
}

fn proof_header() -> Value {
    json!({ "alg": "EdDSA", "typ": typ::PROOF, "kid": agent_key().public_key().thumbprint() })
}

fn proof_with(claims: &Value) -> String {
    forge_with(&agent_key(), &to_json(&proof_header()), &to_json(claims))
}

fn proof_set(name: &str, v: Value) -> String {
    let mut c = proof_claims();
    c[name] = v;
    proof_with(&c)
}

fn verify_proof(compact: &str) -> &'static str {
    let p = match UnverifiedProof::decode(compact) {
        Ok(p) => p,
        Err(e) => return e.code(),
    };
    code(p.verify(
        &agent_key().public_key(),
        ISSUER,
        &challenge(),
        at(NOW),
        secs(60),
    ))
}

#[test]
fn honest_proof_is_accepted_both_hand_built_and_signed() {
    let p = UnverifiedProof::decode(&proof_with(&proof_claims())).unwrap();
    assert_eq!(p.challenge_id(), CHALLENGE_ID);
    assert_eq!(p.did().unwrap(), agent_did());
    let claims = p
        .verify(
            &agent_key().public_key(),
            ISSUER,
            &challenge(),
            at(NOW),
            secs(60),
        )
        .unwrap();
    assert_eq!(claims.ttl, NonZeroU64::new(900));

    let typed: auth4agent_protocol::ProofClaims = serde_json::from_value(proof_claims()).unwrap();
    let signed = sign_proof(&agent_key(), &typed).unwrap();
    let back = UnverifiedProof::decode(&signed)
        .unwrap()
        .verify(
            &agent_key().public_key(),
            ISSUER,
            &challenge(),
            at(NOW),
            secs(60),
        )
        .unwrap();
    assert_eq!(back, typed);
}

#[test]
fn proof_ttl_zero_and_absent_both_ask_for_the_default() {
    let verified = |claims: &Value| {
        UnverifiedProof::decode(&proof_with(claims))
            .unwrap()
            .verify(
                &agent_key().public_key(),
                ISSUER,
                &challenge(),
                at(NOW),
                secs(60),
            )
            .unwrap()
    };
    // `0` is valid on the wire and means "the server default", like an absent `ttl`.
    let mut zero = proof_claims();
    zero["ttl"] = json!(0);
    assert_eq!(verified(&zero).ttl, None);
    let mut absent = proof_claims();
    absent.as_object_mut().unwrap().remove("ttl");
    assert_eq!(verified(&absent).ttl, None);
    let typed: auth4agent_protocol::ProofClaims = serde_json::from_value(zero).unwrap();
    assert_eq!(typed.ttl, None);
    // A proof asking for the default omits `ttl`.
    let written = serde_json::to_value(&typed).unwrap();
    assert!(written.get("ttl").is_none(), "{written}");
}

#[test]
fn answer_builds_the_proof_a_server_accepts() {
    let scope = ScopeSet::parse("write:orders read:orders").unwrap();
    let nonce = nonce();
    let claims = auth4agent_protocol::ProofClaims::answer(
        &agent_did(),
        auth4agent_protocol::ReceivedChallenge {
            id: CHALLENGE_ID,
            nonce: &nonce,
        },
        ISSUER,
        auth4agent_protocol::RequestedToken {
            scope: &scope,
            audience: AUDIENCE,
            ttl: NonZeroU64::new(900),
        },
        at(NOW),
    );
    assert_eq!(
        serde_json::to_value(&claims).unwrap(),
        json!({
            "iss": agent_did().as_str(), "sub": agent_did().as_str(), "aud": ISSUER,
            "challenge_id": CHALLENGE_ID, "nonce": nonce, "scope": "read:orders write:orders",
            "token_aud": AUDIENCE, "ttl": 900, "iat": NOW, "exp": NOW + 60,
        })
    );
    let back = UnverifiedProof::decode(&sign_proof(&agent_key(), &claims).unwrap())
        .unwrap()
        .verify(
            &agent_key().public_key(),
            ISSUER,
            &challenge(),
            at(NOW),
            secs(60),
        )
        .unwrap();
    assert_eq!(back, claims);
}

#[test]
fn proof_for_another_server_is_refused() {
    let p = UnverifiedProof::decode(&proof_with(&proof_claims())).unwrap();
    assert_eq!(
        code(p.verify(
            &agent_key().public_key(),
            "https://other.example",
            &challenge(),
            at(NOW),
            secs(60)
        )),
        "wrong_audience"
    );
    assert_eq!(
        verify_proof(&proof_set("aud", json!("https://other.example"))),
        "wrong_audience"
    );
}

#[test]
fn captured_proof_cannot_be_rebound_to_other_scopes_or_audience() {
    let [h, _, s] = segments(&proof_with(&proof_claims()));
    for (name, v) in [
        ("scope", json!("admin")),
        ("token_aud", json!("https://other.example")),
        ("ttl", json!(3600)),
    ] {
        let mut c = proof_claims();
        c[name] = v;
        let tampered = format!("{h}.{}.{s}", seg(to_json(&c).as_bytes()));
        assert_eq!(verify_proof(&tampered), "bad_signature", "{name}");
    }
}

#[test]
fn proof_with_wrong_nonce_is_refused() {
    assert_eq!(
        verify_proof(&proof_set("nonce", json!(b64url_encode(&[0x5b; 32])))),
        "nonce_mismatch"
    );
    assert_eq!(
        verify_proof(&proof_set("nonce", json!(""))),
        "nonce_mismatch"
    );
}

#[test]
fn proof_for_another_challenge_is_refused() {
    assert_eq!(
        verify_proof(&proof_set("challenge_id", json!("ch_other"))),
        "invalid_claim"
    );
}

#[test]
fn proof_missing_challenge_id_is_refused_at_decode() {
    let mut c = proof_claims();
    c.as_object_mut().unwrap().remove("challenge_id");
    assert_eq!(
        code(UnverifiedProof::decode(&proof_with(&c))),
        "missing_claim"
    );
}

#[test]
fn proof_from_another_did_is_refused() {
    let other = Did::from_key(
        &Domain::parse("example.com").unwrap(),
        &attacker_key().public_key(),
    );
    assert_eq!(
        verify_proof(&proof_set("iss", json!(other.as_str()))),
        "wrong_subject"
    );
    assert_eq!(
        verify_proof(&proof_set("sub", json!(other.as_str()))),
        "wrong_subject"
    );
    // The challenge was bound to another DID.
    let p = UnverifiedProof::decode(&proof_with(&proof_claims())).unwrap();
    let ch = Challenge {
        did: other,
        ..challenge()
    };
    assert_eq!(
        code(p.verify(&agent_key().public_key(), ISSUER, &ch, at(NOW), secs(60))),
        "wrong_subject"
    );
}

#[test]
fn proof_signed_by_another_key_is_refused() {
    // Right kid, wrong signer.
    let forged = forge_with(
        &attacker_key(),
        &to_json(&proof_header()),
        &to_json(&proof_claims()),
    );
    assert_eq!(verify_proof(&forged), "bad_signature");
    // The attacker's own kid does not match the registered key.
    let typed: auth4agent_protocol::ProofClaims = serde_json::from_value(proof_claims()).unwrap();
    assert_eq!(
        verify_proof(&sign_proof(&attacker_key(), &typed).unwrap()),
        "unknown_kid"
    );
    // Key of the DID's domain but not the DID's own: the DID fingerprint binds the key.
    let p = UnverifiedProof::decode(&sign_proof(&attacker_key(), &typed).unwrap()).unwrap();
    assert_eq!(
        code(p.verify(
            &attacker_key().public_key(),
            ISSUER,
            &challenge(),
            at(NOW),
            secs(60)
        )),
        "wrong_subject"
    );
}

#[test]
fn proof_times_are_checked() {
    let timed = |iat: u64, exp: u64| {
        let mut c = proof_claims();
        c["iat"] = json!(iat);
        c["exp"] = json!(exp);
        proof_with(&c)
    };
    assert_eq!(verify_proof(&timed(NOW - 200, NOW - 140)), "expired");
    assert_eq!(
        verify_proof(&timed(NOW + 120, NOW + 150)),
        "issued_in_future"
    );
    assert_eq!(verify_proof(&timed(NOW, NOW + 61)), "lifetime_too_long");
    assert_eq!(verify_proof(&timed(NOW, NOW)), "invalid_claim");
    assert_eq!(
        verify_proof(&proof_set("exp", json!("1800000060"))),
        "invalid_numeric_date"
    );
    assert_eq!(
        verify_proof(&proof_set("iat", json!(1.8e9))),
        "invalid_numeric_date"
    );
}

#[test]
fn proof_claim_values_are_checked() {
    assert_eq!(
        verify_proof(&proof_set("scope", json!(""))),
        "invalid_scope"
    );
    assert_eq!(
        verify_proof(&proof_set("scope", json!("a  b"))),
        "invalid_scope"
    );
    for aud in [
        String::new(),
        "https://api.example.com/a b".into(),
        "https://api.example.com/é".into(),
        "a".repeat(257),
    ] {
        assert_eq!(
            verify_proof(&proof_set("token_aud", json!(aud))),
            "invalid_audience",
            "{aud:?}"
        );
    }
    assert_eq!(
        verify_proof(&proof_set("token_aud", json!(["https://api.example.com"]))),
        "invalid_claim"
    );
    assert_eq!(verify_proof(&proof_set("ttl", json!(-5))), "invalid_claim");
    assert_eq!(
        verify_proof(&proof_set("ttl", json!("900"))),
        "invalid_claim"
    );
    let mut c = proof_claims();
    c.as_object_mut().unwrap().remove("nonce");
    assert_eq!(verify_proof(&proof_with(&c)), "missing_claim");
}

#[test]
fn proof_inherits_the_jws_refusals() {
    let mut h = proof_header();
    h["alg"] = json!("none");
    assert_eq!(
        verify_proof(&forge_with(
            &agent_key(),
            &to_json(&h),
            &to_json(&proof_claims())
        )),
        "unsupported_alg"
    );
    let mut h = proof_header();
    h["jwk"] = serde_json::to_value(agent_key().public_key().to_jwk()).unwrap();
    assert_eq!(
        verify_proof(&forge_with(
            &agent_key(),
            &to_json(&h),
            &to_json(&proof_claims())
        )),
        "embedded_key"
    );
    let payload = to_json(&proof_claims()).replace(r#""nonce":"#, r#""nonce":"x","nonce":"#);
    assert_eq!(
        verify_proof(&forge_with(
            &agent_key(),
            &to_json(&proof_header()),
            &payload
        )),
        "duplicate_member"
    );
    // An access token or signed request presented as a proof.
    assert_eq!(verify_proof(&honest_token()), "wrong_typ");
    assert_eq!(verify_proof(&signed_request()), "wrong_typ");
}

// ---------------------------------------------------------------------------------------------------------------
// Signed requests.

const URL: &str = "https://auth.example.com/v1/operators/example.com/agents";
const BODY: &[u8] = br#"{"public_key":"x"}"#;
const JTI: &str = "req_0123456789abcdef";

fn signed_request() -> String {
    sign_request(&agent_key(), "POST", URL, BODY, at(NOW), JTI).unwrap()
}

fn verify_request_with(compact: &str, method: &str, url: &str, body: &[u8]) -> &'static str {
    let r = match UnverifiedRequest::decode(compact) {
        Ok(r) => r,
        Err(e) => return e.code(),
    };
    code(r.verify(
        &agent_key().public_key(),
        method,
        url,
        body,
        at(NOW),
        secs(60),
    ))
}

fn verify_request(compact: &str) -> &'static str {
    verify_request_with(compact, "POST", URL, BODY)
}

fn request_claims() -> Value {
    json!({
        "htm": "POST", "htu": URL, "ath": auth4agent_protocol::sha256_b64url(BODY),
        "iat": NOW, "exp": NOW + 60, "jti": JTI,
    })
}

fn request_with(claims: &Value) -> String {
    let h = json!({ "alg": "EdDSA", "typ": typ::REQUEST, "kid": agent_key().public_key().thumbprint() });
    forge_with(&agent_key(), &to_json(&h), &to_json(claims))
}

fn request_set(name: &str, v: Value) -> String {
    let mut c = request_claims();
    c[name] = v;
    request_with(&c)
}

#[test]
fn honest_request_is_accepted() {
    let r = UnverifiedRequest::decode(&signed_request()).unwrap();
    assert_eq!(r.kid(), agent_key().public_key().thumbprint());
    let v = r
        .verify(
            &agent_key().public_key(),
            "POST",
            URL,
            BODY,
            at(NOW),
            secs(60),
        )
        .unwrap();
    assert_eq!(v.jti(), JTI);
    assert_eq!(v.exp(), at(NOW + 60));
    assert_eq!(v.kid(), agent_key().public_key().thumbprint());
    // The hand-built twin verifies the same way, and the URL may differ in case, default port and query.
    UnverifiedRequest::decode(&request_with(&request_claims()))
        .unwrap()
        .verify(
            &agent_key().public_key(),
            "POST",
            "HTTPS://Auth.Example.com:443/v1/operators/example.com/agents?x=1",
            BODY,
            at(NOW),
            secs(60),
        )
        .unwrap();
}

#[test]
fn request_with_other_method_is_refused() {
    assert_eq!(
        verify_request_with(&signed_request(), "DELETE", URL, BODY),
        "htm_mismatch"
    );
    assert_eq!(
        verify_request_with(&signed_request(), "post", URL, BODY),
        "htm_mismatch"
    );
}

#[test]
fn request_for_other_url_is_refused() {
    for url in [
        "https://auth.example.com/v1/operators/example.com/agents/x",
        "https://evil.example/v1/operators/example.com/agents",
        "http://auth.example.com/v1/operators/example.com/agents",
        "https://auth.example.com:8443/v1/operators/example.com/agents",
        "https://auth.example.com/v1/operators/EXAMPLE.com/agents",
    ] {
        assert_eq!(
            verify_request_with(&signed_request(), "POST", url, BODY),
            "htu_mismatch",
            "{url}"
        );
    }
}

#[test]
fn request_with_other_body_is_refused() {
    assert_eq!(
        verify_request_with(&signed_request(), "POST", URL, b""),
        "body_hash_mismatch"
    );
    assert_eq!(
        verify_request_with(&signed_request(), "POST", URL, br#"{"public_key":"y"}"#),
        "body_hash_mismatch"
    );
    assert_eq!(
        verify_request(&request_set("ath", json!(""))),
        "body_hash_mismatch"
    );
}

#[test]
fn request_times_are_checked() {
    let timed = |iat: u64, exp: u64| {
        let mut c = request_claims();
        c["iat"] = json!(iat);
        c["exp"] = json!(exp);
        request_with(&c)
    };
    assert_eq!(verify_request(&timed(NOW - 300, NOW - 240)), "expired");
    assert_eq!(
        verify_request(&timed(NOW + 300, NOW + 360)),
        "issued_in_future"
    );
    assert_eq!(verify_request(&timed(NOW, NOW + 121)), "lifetime_too_long");
    assert_eq!(
        verify_request(&request_set("exp", json!(true))),
        "invalid_numeric_date"
    );
    let old = sign_request(&agent_key(), "POST", URL, BODY, at(NOW - 121), JTI).unwrap();
    assert_eq!(verify_request(&old), "expired");
}

#[test]
fn request_jti_length_is_checked() {
    assert_eq!(
        verify_request(&request_set("jti", json!("short"))),
        "invalid_claim"
    );
    assert_eq!(
        verify_request(&request_set("jti", json!("j".repeat(129)))),
        "invalid_claim"
    );
    assert_eq!(
        verify_request(&request_set("jti", json!(12345678901234567u64))),
        "invalid_claim"
    );
}

#[test]
fn request_missing_claims_are_refused() {
    for name in ["htm", "htu", "ath", "iat", "exp", "jti"] {
        let mut c = request_claims();
        c.as_object_mut().unwrap().remove(name);
        assert_eq!(verify_request(&request_with(&c)), "missing_claim", "{name}");
    }
}

#[test]
fn request_by_another_key_is_refused() {
    // The attacker signs with its own key and kid: not the key allowed to make this call.
    let theirs = sign_request(&attacker_key(), "POST", URL, BODY, at(NOW), JTI).unwrap();
    assert_eq!(verify_request(&theirs), "unknown_kid");
    // The attacker claims the agent's kid.
    let h = json!({ "alg": "EdDSA", "typ": typ::REQUEST, "kid": agent_key().public_key().thumbprint() });
    let forged = forge_with(&attacker_key(), &to_json(&h), &to_json(&request_claims()));
    assert_eq!(verify_request(&forged), "bad_signature");
}

#[test]
fn request_inherits_the_jws_refusals() {
    assert_eq!(verify_request(&honest_token()), "wrong_typ");
    assert_eq!(verify_request(&proof_with(&proof_claims())), "wrong_typ");
    let h = json!({ "alg": "EdDSA", "typ": typ::REQUEST, "kid": agent_key().public_key().thumbprint(), "crit": [] });
    assert_eq!(
        verify_request(&forge_with(
            &agent_key(),
            &to_json(&h),
            &to_json(&request_claims())
        )),
        "empty_crit"
    );
    let [h, p, s] = segments(&signed_request());
    assert_eq!(verify_request(&format!("{h}.{p}.{s}==")), "invalid_base64");
    assert_eq!(verify_request(&format!("{h}.{p}")), "malformed_token");
}

// ---------------------------------------------------------------------------------------------------------------
// Keys and key sets.

fn jwk(v: Value) -> Jwk {
    serde_json::from_value(v).unwrap()
}

#[test]
fn foreign_or_private_jwks_are_refused() {
    let x = agent_key().public_key().to_jwk().x.unwrap();
    for (what, v) in [
        ("RSA", json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})),
        ("X25519", json!({"kty": "OKP", "crv": "X25519", "x": x})),
        ("no crv", json!({"kty": "OKP", "x": x})),
        (
            "private",
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "d": b64url_encode(&[0x22; 32])}),
        ),
        (
            "alg RS256",
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "RS256"}),
        ),
        ("no x", json!({"kty": "OKP", "crv": "Ed25519"})),
        (
            "short x",
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(&[1; 31])}),
        ),
        (
            "padded x",
            json!({"kty": "OKP", "crv": "Ed25519", "x": format!("{x}=")}),
        ),
        (
            "small order x",
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(&identity())}),
        ),
    ] {
        assert_eq!(code(PublicKey::from_jwk(&jwk(v))), "invalid_key", "{what}");
    }
}

fn identity() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
}

#[test]
fn weak_or_malformed_raw_keys_are_refused() {
    assert_eq!(code(PublicKey::from_bytes(&identity())), "invalid_key");
    assert_eq!(code(PublicKey::from_bytes(&[0u8; 32])), "invalid_key");
    assert_eq!(code(PublicKey::from_bytes(&[1u8; 31])), "invalid_key");
    // y = p (non-canonical encoding of y = 0).
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    assert_eq!(code(PublicKey::from_bytes(&p)), "invalid_key");
}

#[test]
fn non_canonical_encodings_of_ordinary_points_are_refused() {
    // y = p + k encodes the same point as y = k. For these k the point is on the curve and not of small order,
    // so only the canonical-encoding check can refuse the p + k form (both signs of x).
    for k in [3u8, 4, 5, 6, 9, 10, 14, 15, 16, 18] {
        let mut canonical = [0u8; 32];
        canonical[0] = k;
        let canonical_key =
            PublicKey::from_bytes(&canonical).unwrap_or_else(|e| panic!("y = {k}: {e}"));
        assert_eq!(canonical_key.as_bytes(), &canonical);
        for sign in [0u8, 0x80] {
            let mut twin = [0xffu8; 32];
            twin[0] = 0xed + k; // p = 2^255 - 19: low byte 0xed, no carry for k <= 18
            twin[31] = 0x7f | sign;
            assert_eq!(
                code(PublicKey::from_bytes(&twin)),
                "invalid_key",
                "y = p + {k}, sign {sign:#x}"
            );
        }
    }
}

#[test]
fn malformed_pem_is_refused() {
    assert_eq!(code(SigningKey::from_pkcs8_pem("not a pem")), "invalid_key");
    let pem = agent_key().to_pkcs8_pem().unwrap();
    let truncated: String = pem.lines().take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(code(SigningKey::from_pkcs8_pem(&truncated)), "invalid_key");
}

#[test]
fn duplicate_kid_is_refused() {
    let pk = agent_key().public_key();
    let other = attacker_key().public_key();
    assert_eq!(
        code(KeySet::from_keys([
            ("k".to_owned(), pk),
            ("k".to_owned(), other)
        ])),
        "duplicate_kid"
    );
    let mut jwks = KeySet::from_keys([("k".to_owned(), pk)]).unwrap().to_jwks();
    let mut second = jwks.keys[0].clone();
    second.x = other.to_jwk().x;
    jwks.keys.push(second);
    let json = serde_json::to_string(&jwks).unwrap();
    assert_eq!(code(KeySet::from_json(&json)), "duplicate_kid");
}

#[test]
fn jwks_with_duplicate_members_or_bad_json_is_refused() {
    let x = agent_key().public_key().to_jwk().x.unwrap();
    let dup =
        format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"a","kid":"b"}}]}}"#);
    assert_eq!(code(KeySet::from_json(&dup)), "duplicate_member");
    assert_eq!(code(KeySet::from_json("{")), "invalid_json");
    assert_eq!(code(KeySet::from_json(r#"{"keys":{}}"#)), "invalid_json");
}

#[test]
fn jwks_ignores_keys_of_other_kinds() {
    let pk = agent_key().public_key();
    let x = pk.to_jwk().x.unwrap();
    let json = json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": x},
        {"kty": "OKP", "kid": "enc", "crv": "Ed25519", "x": x, "use": "enc"},
        {"kty": "OKP", "crv": "Ed25519", "x": x},
        {"kty": "OKP", "kid": "good", "crv": "Ed25519", "x": x, "alg": "EdDSA", "use": "sig"},
    ]});
    let set = KeySet::from_json(&json.to_string()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.get("good"), Some(&pk));
    for kid in ["rsa", "ec", "x25519", "enc"] {
        assert!(set.get(kid).is_none(), "{kid}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// DIDs, scopes, TXT records.

#[test]
fn malformed_dids_are_refused() {
    let fp = agent_did().fingerprint().to_owned();
    for bad in [
        String::new(),
        format!("did:web:example.com:{fp}"),
        format!("did:agent:example.com:{}", fp.to_uppercase()),
        format!("did:agent:example.com:{}", &fp[..31]),
        format!("did:agent:example.com:{fp}0"),
        format!("did:agent:Example.com:{fp}"),
        format!("did:agent:example.com.:{fp}"),
        format!("did:agent:example.com:8443:{fp}"),
        format!("did:agent:https://example.com:{fp}"),
        format!("did:agent:localhost:{fp}"),
        format!("did:agent:1.2.3.4:{fp}"),
        format!("did:agent:bücher.example:{fp}"),
        format!("did:agent::{fp}"),
        format!("did:agent:example.com:{fp} "),
        format!("did:agent:{}.com:{fp}", "a".repeat(300)),
        "did:agent:example.com".to_owned(),
    ] {
        assert_eq!(code(Did::parse(&bad)), "invalid_did", "{bad:?}");
    }
    Did::parse(&format!("did:agent:xn--bcher-kva.example:{fp}"))
        .expect("punycode domain is normalized");
}

#[test]
fn invalid_scopes_are_refused() {
    let long = "a".repeat(129);
    for bad in [
        "a  b",
        " a",
        "a ",
        "a\tb",
        "a\"b",
        "a\\b",
        "é",
        "a\nb",
        long.as_str(),
    ] {
        assert_eq!(code(ScopeSet::parse(bad)), "invalid_scope", "{bad:?}");
    }
    let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
    assert_eq!(code(ScopeSet::parse(&many.join(" "))), "invalid_scope");
    assert_eq!(code(ScopeSet::from_list([""])), "invalid_scope");
}

#[test]
fn scopes_beyond_the_grant_are_refused() {
    let granted = ScopeSet::parse("read:orders write:orders").unwrap();
    let asked = ScopeSet::parse("read:orders admin").unwrap();
    assert!(!asked.is_subset_of(&granted));
    let err = asked.ensure_allowed(&granted).unwrap_err();
    assert_eq!(err.code(), "scope_not_allowed");
    // Deny by default: nothing is allowed by the empty grant; the empty request is within any grant.
    assert_eq!(
        code(
            ScopeSet::parse("read:orders")
                .unwrap()
                .ensure_allowed(&ScopeSet::default())
        ),
        "scope_not_allowed"
    );
    ScopeSet::default().ensure_allowed(&granted).unwrap();
    ScopeSet::parse("write:orders read:orders")
        .unwrap()
        .ensure_allowed(&granted)
        .unwrap();
    // No prefix or wildcard semantics.
    assert_eq!(
        code(ScopeSet::parse("read").unwrap().ensure_allowed(&granted)),
        "scope_not_allowed"
    );
}

#[test]
fn txt_no_record_and_wrong_value_are_distinct() {
    let domain = Domain::parse("example.com").unwrap();
    let rec = TxtRecord::new(&domain, "0123456789abcdef0123456789abcdef");
    assert_eq!(rec.name, "_auth4agent.example.com");
    assert_eq!(rec.name, txt_record_name(&domain));
    assert_eq!(
        rec.value,
        "auth4agent-verification=0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        rec.value,
        txt_record_value("0123456789abcdef0123456789abcdef")
    );

    assert_eq!(rec.matches(&[]), TxtMatch::NoRecord);
    let wrong = vec![
        vec![b"auth4agent-verification=ffff".to_vec()],
        vec![b"v=spf1 -all".to_vec()],
    ];
    assert_eq!(
        rec.matches(&wrong),
        TxtMatch::WrongValue {
            found: vec!["auth4agent-verification=ffff".into(), "v=spf1 -all".into()]
        }
    );
    // Case, surrounding space and a prefix-only match are wrong values.
    for v in [
        rec.value.to_uppercase(),
        format!(" {}", rec.value),
        format!("{}x", rec.value),
        rec.value[..30].to_owned(),
    ] {
        assert!(matches!(
            rec.matches(&[vec![v.into_bytes()]]),
            TxtMatch::WrongValue { .. }
        ));
    }
    // Character-strings are concatenated; any one matching record passes.
    let split = vec![
        b"auth4agent-verif".to_vec(),
        b"ication=0123456789abcdef".to_vec(),
        b"0123456789abcdef".to_vec(),
    ];
    assert_eq!(
        rec.matches(&[vec![b"other".to_vec()], split.clone()]),
        TxtMatch::Matched
    );
    assert_eq!(match_txt(&[split], &rec.value), TxtMatch::Matched);
    // An empty record is a wrong value, not "no record".
    assert!(matches!(
        match_txt(&[vec![]], &rec.value),
        TxtMatch::WrongValue { .. }
    ));
}

#[test]
fn jws_decode_exposes_only_routing_data_before_verification() {
    let jws = UnverifiedJws::decode(&honest_token(), typ::ACCESS_TOKEN).unwrap();
    assert_eq!(jws.kid(), server_kid());
    assert_eq!(jws.header().alg, "EdDSA");
    assert_eq!(jws.claims()["iss"], ISSUER);
    assert_eq!(
        code(jws.verify(&attacker_key().public_key())),
        "bad_signature"
    );
}

#[test]
fn b64url_decode_refusals() {
    for bad in ["YQ==", "YQ=", "a+b/", "YW Jj", "YWJj\n", "Y", "YR"] {
        assert_eq!(code(b64url_decode(bad)), "invalid_base64", "{bad:?}");
    }
    assert_eq!(b64url_decode("YWJj").unwrap(), b"abc");
    assert_eq!(b64url_decode("").unwrap(), b"");
}
