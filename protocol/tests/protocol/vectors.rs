//! Published test vectors from `tests/vectors/` (copied into the repository): RFC 8037 A.4 byte for byte, all 151 Wycheproof Ed25519 cases,
//! and every CCTV vector that a strict verifier must refuse (small-order or non-canonical A or R).

use crate::common::{sign_raw, unhex, vector_file};
use auth4agent_protocol::Jwk;
use auth4agent_protocol::{PublicKey, SigningKey, UnverifiedJws, b64url_decode, typ};

#[test]
fn rfc8037_a4_sign_is_byte_exact_and_verifies() {
    let v = vector_file("rfc8037_a4.json");
    let d = b64url_decode(v["jwk_private"]["d"].as_str().unwrap()).unwrap();
    let seed: [u8; 32] = d.as_slice().try_into().expect("32-byte seed");
    let key = SigningKey::from_seed(&seed);

    let header = v["protected_header"].as_str().unwrap();
    let payload = v["payload"].as_str().unwrap();
    let expected = v["jws_compact"].as_str().unwrap();
    let compact = sign_raw(&key, header.as_bytes(), payload.as_bytes());
    assert_eq!(
        compact, expected,
        "signing must reproduce RFC 8037 A.4 byte for byte"
    );

    // The public JWK from the RFC verifies the published JWS over its signing input.
    let public: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "x": v["jwk_private"]["x"],
    }))
    .unwrap();
    let pk = PublicKey::from_jwk(&public).unwrap();
    assert_eq!(pk, key.public_key(), "the seed derives the published x");
    let (signing_input, sig_b64) = expected.rsplit_once('.').unwrap();
    let sig = b64url_decode(sig_b64).unwrap();
    pk.verify_strict(signing_input.as_bytes(), &sig)
        .expect("A.4 verifies");

    // A different message under the same signature does not.
    assert_eq!(
        pk.verify_strict(b"Example of Ed25519 signinG", &sig)
            .unwrap_err()
            .code(),
        "bad_signature"
    );

    // RFC 8037 A.3 thumbprint, from the signing key and from the imported JWK.
    let tp = v["jwk_thumbprint_sha256"].as_str().unwrap();
    assert_eq!(pk.thumbprint(), tp);
    assert_eq!(key.public_key().thumbprint(), tp);
    assert_eq!(PublicKey::from_jwk(&pk.to_jwk()).unwrap().thumbprint(), tp);
}

#[test]
fn rfc8037_a4_is_refused_by_the_message_layer_for_lack_of_typ() {
    // The A.4 JWS is a valid signature but not a valid auth4agent message: it has no typ and no kid.
    let v = vector_file("rfc8037_a4.json");
    let compact = v["jws_compact"].as_str().unwrap();
    let err = UnverifiedJws::decode(compact, typ::ACCESS_TOKEN).unwrap_err();
    assert_eq!(err.code(), "missing_typ");
}

#[test]
fn wycheproof_ed25519_all_cases() {
    let v = vector_file("wycheproof_ed25519_test.json");
    assert_eq!(v["numberOfTests"], 151);
    let mut checked = 0;
    let mut valid = 0;
    let mut failures = Vec::new();
    for group in v["testGroups"].as_array().unwrap() {
        let pk_bytes = unhex(group["publicKey"]["pk"].as_str().unwrap());
        let key = PublicKey::from_bytes(&pk_bytes);
        for case in group["tests"].as_array().unwrap() {
            let id = case["tcId"].as_u64().unwrap();
            let msg = unhex(case["msg"].as_str().unwrap());
            let sig = unhex(case["sig"].as_str().unwrap());
            let expected_valid = match case["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {id}: unexpected result {other:?}"),
            };
            let accepted = match &key {
                Ok(k) => k.verify_strict(&msg, &sig).is_ok(),
                Err(_) => false,
            };
            if accepted != expected_valid {
                failures.push(format!(
                    "tcId {id} ({}): expected valid={expected_valid}",
                    case["comment"]
                ));
            }
            checked += 1;
            valid += usize::from(accepted);
        }
    }
    assert!(failures.is_empty(), "Wycheproof mismatches: {failures:#?}");
    assert_eq!(checked, 151);
    assert_eq!(valid, 88);
}

#[test]
fn cctv_small_order_and_non_canonical_vectors_are_refused() {
    const MUST_REFUSE: [&str; 4] = [
        "low_order_A",
        "low_order_R",
        "non_canonical_A",
        "non_canonical_R",
    ];
    let v = vector_file("cctv_ed25519vectors.json");
    let vectors = v.as_array().unwrap();
    assert_eq!(vectors.len(), 914);
    let mut checked = 0;
    let mut refused_by_key = 0;
    let mut accepted = Vec::new();
    for vector in vectors {
        let flags: Vec<&str> = vector["flags"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        if !flags.iter().any(|f| MUST_REFUSE.contains(f)) {
            continue;
        }
        checked += 1;
        let key = unhex(vector["key"].as_str().unwrap());
        let sig = unhex(vector["sig"].as_str().unwrap());
        let msg = vector["msg"].as_str().unwrap().as_bytes();
        match PublicKey::from_bytes(&key) {
            Err(e) => {
                assert_eq!(e.code(), "invalid_key");
                refused_by_key += 1;
            }
            Ok(pk) => {
                if pk.verify_strict(msg, &sig).is_ok() {
                    accepted.push((vector["number"].clone(), flags.join(",")));
                }
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "CCTV vectors a strict verifier accepted: {accepted:?}"
    );
    assert_eq!(
        checked, 808,
        "vectors flagged low_order_A/R or non_canonical_A/R"
    );
    // Every small-order or non-canonical key is refused at import, before any signature is looked at.
    assert!(refused_by_key > 0);
}

#[test]
fn cctv_low_order_or_non_canonical_keys_never_import() {
    let v = vector_file("cctv_ed25519vectors.json");
    let mut checked = 0;
    for vector in v.as_array().unwrap() {
        let flags = vector["flags"].as_array().cloned().unwrap_or_default();
        let flagged = |f: &str| flags.iter().any(|x| x == f);
        if flagged("low_order_A") || flagged("non_canonical_A") {
            checked += 1;
            let key = unhex(vector["key"].as_str().unwrap());
            assert_eq!(
                PublicKey::from_bytes(&key).unwrap_err().code(),
                "invalid_key",
                "vector {} key must be refused",
                vector["number"]
            );
        }
    }
    assert!(checked > 0);
}
