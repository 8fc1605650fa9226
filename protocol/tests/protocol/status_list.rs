//! Token Status Lists (draft-ietf-oauth-status-list-20): the draft's own examples and test vectors decode to the
//! statuses the draft lists, the bit order is least-significant first, a list round-trips through `lst`, a signed
//! list verifies only with every check passing, and an access token's `status` claim is read strictly.

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, STATUS_LIST_LEEWAY, StatusClaim, StatusList,
    StatusListTokenClaims, TokenStatus, b64url_encode, issue_status_list, issue_token, typ,
    verify_status_list,
};
use serde_json::{Value, json};

use crate::common::*;

const URI: &str = "https://auth.example.com/status-lists/1";

/// Every vector of the draft (§4.1's two examples, Appendix C's 1-, 2-, 4- and 8-bit lists of 2^20 entries)
/// decodes to exactly the statuses it lists, every other entry 0, and no entry past its size.
#[test]
fn the_drafts_test_vectors_decode() {
    let doc = vector_file("status_list_draft20.json");
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 6);
    for v in vectors {
        let bits = v["bits"].as_u64().unwrap();
        let list = StatusList::decode(bits, v["lst"].as_str().unwrap()).unwrap();
        let size = v["size"].as_u64().unwrap();
        assert_eq!(list.len(), size, "{}", v["section"]);
        let listed: std::collections::HashMap<u64, u8> = v["statuses"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, val)| (k.parse().unwrap(), val.as_u64().unwrap() as u8))
            .collect();
        for idx in 0..size {
            let expected = listed.get(&idx).copied().unwrap_or(0);
            assert_eq!(
                list.get(idx).unwrap(),
                expected,
                "{} idx {idx}",
                v["section"]
            );
        }
        assert_eq!(
            list.get(size).unwrap_err().code(),
            "status_index_out_of_range"
        );
        // Our encoder round-trips the same list (its bytes may differ from the draft's encoder's).
        let again = list.encode();
        assert_eq!(
            StatusList::decode(u64::from(again.bits), &again.lst).unwrap(),
            list
        );
    }
}

/// §4.1's 2-bit example, built with `set`: the bytes are C9 44 F9 (entry 0 in the two lowest bits of byte 0).
#[test]
fn bits_are_packed_least_significant_first() {
    let statuses = [1u8, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
    let mut list = StatusList::new(2, 12).unwrap();
    for (i, s) in statuses.iter().enumerate() {
        list.set(i as u64, *s).unwrap();
    }
    assert_eq!(list.as_bytes(), [0xc9, 0x44, 0xf9]);
    let mut one_bit = StatusList::new(1, 16).unwrap();
    for (i, s) in [1u8, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
        .iter()
        .enumerate()
    {
        one_bit.set(i as u64, *s).unwrap();
    }
    assert_eq!(one_bit.as_bytes(), [0xb9, 0xa3]);
    // Setting back to 0 clears only that entry.
    list.set(3, 0).unwrap();
    assert_eq!(list.as_bytes(), [0x09, 0x44, 0xf9]);
    assert_eq!(code(list.set(12, 1)), "status_index_out_of_range");
    assert_eq!(code(list.set(0, 4)), "invalid_status_list");
    assert_eq!(code(StatusList::new(3, 8)), "invalid_status_list");
    assert_eq!(list.status(1).unwrap(), TokenStatus::Suspended);
    assert_eq!(list.status(0).unwrap(), TokenStatus::Invalid);
    assert_eq!(list.status(2).unwrap(), TokenStatus::Valid);
    assert_eq!(list.status(10).unwrap(), TokenStatus::Other(3));
}

#[test]
fn lst_decoding_refuses_what_is_not_a_bounded_zlib_stream() {
    // Raw DEFLATE without the ZLIB header, padding, and a stream that inflates past the limit.
    assert_eq!(
        code(StatusList::decode(2, "c0gtys8HAA")),
        "invalid_status_list"
    );
    assert_eq!(
        code(StatusList::decode(2, "eNo76fITAAPfAgc=")),
        "invalid_base64"
    );
    let bomb = StatusList::new(8, 16 * 1024 * 1024).unwrap().encode();
    StatusList::decode(8, &bomb.lst).expect("exactly the limit inflates");
    let mut too_big = vec![0u8; 16 * 1024 * 1024 + 1];
    too_big[0] = 1;
    let compressed = b64url_encode(&zlib(&too_big));
    assert_eq!(
        code(StatusList::decode(2, &compressed)),
        "invalid_status_list"
    );
    // A corrupted checksum.
    let mut good = zlib(&[0xc9, 0x44, 0xf9]);
    let last = good.len() - 1;
    good[last] ^= 1;
    assert_eq!(
        code(StatusList::decode(2, &b64url_encode(&good))),
        "invalid_status_list"
    );
}

/// An independent ZLIB encoding of arbitrary bytes (the crate's own compressor, called directly).
fn zlib(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(bytes, 6)
}

fn sample_list() -> StatusList {
    let mut list = StatusList::new(2, 1024).unwrap();
    list.set(5, 1).unwrap();
    list.set(7, 2).unwrap();
    list
}

fn list_claims() -> Value {
    json!({
        "sub": URI,
        "iat": NOW,
        "exp": NOW + 3600,
        "ttl": 60,
        "status_list": sample_list().encode(),
    })
}

fn list_header() -> Value {
    json!({ "alg": "EdDSA", "kid": server_kid(), "typ": typ::STATUS_LIST })
}

fn list_token(header: &Value, claims: &Value) -> String {
    forge(&to_json(header), &to_json(claims))
}

#[test]
fn a_signed_list_verifies_and_answers_by_index() {
    let claims = StatusListTokenClaims {
        sub: URI.into(),
        iat: NOW,
        exp: NOW + 3600,
        ttl: 60,
        status_list: sample_list().encode(),
    };
    let token = issue_status_list(&server_key(), &server_kid(), &claims).unwrap();
    assert_eq!(
        token,
        issue_status_list(&server_key(), &server_kid(), &claims).unwrap(),
        "deterministic bytes"
    );
    let header: Value =
        serde_json::from_slice(&auth4agent_protocol::b64url_decode(&segments(&token)[0]).unwrap())
            .unwrap();
    assert_eq!(header["typ"], "statuslist+jwt");
    let verified = verify_status_list(&token, &keyset(), URI, at(NOW)).unwrap();
    assert_eq!(verified.uri(), URI);
    assert_eq!(verified.ttl(), secs(60));
    assert_eq!(verified.kid(), server_kid());
    assert_eq!(verified.status(5).unwrap(), TokenStatus::Invalid);
    assert_eq!(verified.status(7).unwrap(), TokenStatus::Suspended);
    assert_eq!(verified.status(6).unwrap(), TokenStatus::Valid);
    assert_eq!(
        verified.status(1024).unwrap_err().code(),
        "status_index_out_of_range"
    );
    // Hand-signed from JSON: the same.
    let forged = list_token(&list_header(), &list_claims());
    verify_status_list(&forged, &keyset(), URI, at(NOW)).unwrap();
    // A trailing newline (a saved file) is accepted.
    verify_status_list(&format!("{token}\n"), &keyset(), URI, at(NOW)).unwrap();
}

#[test]
fn every_status_list_check_refuses_with_its_code() {
    let keys = keyset();
    let with = |name: &str, value: Value| {
        let mut c = list_claims();
        c[name] = value;
        list_token(&list_header(), &c)
    };
    let without = |name: &str| {
        let mut c = list_claims();
        c.as_object_mut().unwrap().remove(name);
        list_token(&list_header(), &c)
    };
    let verify = |t: &str| verify_status_list(t, &keys, URI, at(NOW));
    // The list of another URI (e.g. another issuer's list 1, or list 2).
    assert_eq!(
        code(verify(&with(
            "sub",
            json!("https://auth.example.com/status-lists/2")
        ))),
        "status_list_uri_mismatch"
    );
    // An access token is not a status list, nor the reverse.
    let mut header = list_header();
    header["typ"] = json!(typ::ACCESS_TOKEN);
    assert_eq!(
        code(verify(&list_token(&header, &list_claims()))),
        "wrong_typ"
    );
    assert_eq!(code(verify(&honest_token())), "wrong_typ");
    let list = list_token(&list_header(), &list_claims());
    assert_eq!(code(verifier().verify(&list, &keys, at(NOW))), "wrong_typ");
    header.as_object_mut().unwrap().remove("typ");
    assert_eq!(
        code(verify(&list_token(&header, &list_claims()))),
        "missing_typ"
    );
    // Signature: another key, an unknown kid, an alg outside the allow-list, an embedded key.
    assert_eq!(
        code(verify(&forge_with(
            &attacker_key(),
            &to_json(&list_header()),
            &to_json(&list_claims())
        ))),
        "bad_signature"
    );
    let mut header = list_header();
    header["kid"] = json!("someone-else");
    assert_eq!(
        code(verify(&list_token(&header, &list_claims()))),
        "unknown_kid"
    );
    let mut header = list_header();
    header["alg"] = json!("HS256");
    assert_eq!(
        code(verify(&list_token(&header, &list_claims()))),
        "unsupported_alg"
    );
    let mut header = list_header();
    header["jwk"] = json!({"kty": "OKP"});
    assert_eq!(
        code(verify(&list_token(&header, &list_claims()))),
        "embedded_key"
    );
    // Times.
    let leeway = STATUS_LIST_LEEWAY.as_secs();
    let window = |iat: u64, exp: u64| {
        let mut c = list_claims();
        c["iat"] = json!(iat);
        c["exp"] = json!(exp);
        list_token(&list_header(), &c)
    };
    assert_eq!(code(verify(&window(NOW - 600, NOW - leeway))), "expired");
    verify(&window(NOW - 600, NOW - leeway + 1)).expect("within the leeway");
    assert_eq!(code(verify(&window(NOW, NOW))), "invalid_claim");
    assert_eq!(
        code(verify(&window(NOW + leeway + 1, NOW + 3600))),
        "issued_in_future"
    );
    assert_eq!(code(verify(&without("exp"))), "missing_claim");
    assert_eq!(code(verify(&without("iat"))), "missing_claim");
    assert_eq!(
        code(verify(&with("iat", json!("now")))),
        "invalid_numeric_date"
    );
    // ttl: required, a positive integer.
    assert_eq!(code(verify(&without("ttl"))), "missing_claim");
    assert_eq!(code(verify(&with("ttl", json!(0)))), "invalid_claim");
    assert_eq!(code(verify(&with("ttl", json!(1.5)))), "invalid_claim");
    assert_eq!(code(verify(&with("ttl", json!("60")))), "invalid_claim");
    // status_list: present, an object, bits 2, lst a ZLIB stream.
    assert_eq!(code(verify(&without("status_list"))), "missing_claim");
    assert_eq!(
        code(verify(&with("status_list", json!("x")))),
        "invalid_claim"
    );
    let one_bit = StatusList::new(1, 64).unwrap().encode();
    assert_eq!(
        code(verify(&with("status_list", json!(one_bit)))),
        "invalid_status_list"
    );
    assert_eq!(
        code(verify(&with(
            "status_list",
            json!({"bits": 2, "lst": "AAAA"})
        ))),
        "invalid_status_list"
    );
    assert_eq!(
        code(verify(&with("status_list", json!({"bits": 2})))),
        "invalid_status_list"
    );
    // Duplicate members are refused, as in every message.
    let payload = to_json(&list_claims()).replacen('{', &format!("{{\"sub\":\"{URI}\","), 1);
    assert_eq!(
        code(verify(&forge(&to_json(&list_header()), &payload))),
        "duplicate_member"
    );
    // Larger than the limit.
    let huge = "a".repeat(auth4agent_protocol::MAX_STATUS_LIST_TOKEN_LEN + 1);
    assert_eq!(code(verify(&huge)), "token_too_large");
}

fn claims_with_status(status: Option<StatusClaim>) -> AccessTokenClaims {
    let did = agent_did();
    AccessTokenClaims {
        iss: ISSUER.into(),
        sub: did.to_string(),
        client_id: did.to_string(),
        aud: Audience::One(AUDIENCE.into()),
        scope: "read".into(),
        iat: NOW,
        nbf: None,
        exp: NOW + 600,
        jti: "tok_status".into(),
        cnf: Confirmation {
            jkt: agent_key().public_key().thumbprint(),
        },
        status,
    }
}

#[test]
fn an_access_token_carries_its_status_claim() {
    let claims = claims_with_status(Some(StatusClaim::new(URI, 42)));
    let token = issue_token(&server_key(), &server_kid(), &claims).unwrap();
    let payload: Value =
        serde_json::from_slice(&auth4agent_protocol::b64url_decode(&segments(&token)[1]).unwrap())
            .unwrap();
    assert_eq!(
        payload["status"],
        json!({"status_list": {"idx": 42, "uri": URI}})
    );
    let verified = verifier().verify(&token, &keyset(), at(NOW)).unwrap();
    let entry = verified.status_list().unwrap();
    assert_eq!((entry.idx, entry.uri.as_str()), (42, URI));
    assert_eq!(verified.claims(), &claims);
    // Without one, there is none (tokens of older servers).
    let plain = issue_token(&server_key(), &server_kid(), &claims_with_status(None)).unwrap();
    assert!(
        verifier()
            .verify(&plain, &keyset(), at(NOW))
            .unwrap()
            .status_list()
            .is_none()
    );
}

#[test]
fn a_malformed_status_claim_is_refused() {
    for bad in [
        json!("revoked"),
        json!({}),
        json!({"status_list": "x"}),
        json!({"status_list": {"idx": -1, "uri": URI}}),
        json!({"status_list": {"idx": 1.5, "uri": URI}}),
        json!({"status_list": {"idx": "1", "uri": URI}}),
        json!({"status_list": {"uri": URI}}),
        json!({"status_list": {"idx": 1}}),
        json!({"status_list": {"idx": 1, "uri": ""}}),
    ] {
        let token = token_with_claims(&claims_set("status", bad.clone()));
        assert_eq!(
            code(verifier().verify(&token, &keyset(), at(NOW))),
            "invalid_claim",
            "{bad}"
        );
    }
    // Other mechanisms beside status_list are ignored.
    let token = token_with_claims(&claims_set(
        "status",
        json!({"status_list": {"idx": 3, "uri": URI}, "other": {}}),
    ));
    let verified = verifier().verify(&token, &keyset(), at(NOW)).unwrap();
    assert_eq!(verified.status_list().unwrap().idx, 3);
}
