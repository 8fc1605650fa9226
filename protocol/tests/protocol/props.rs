//! Property tests (modest case counts): `Did`, JWK, PEM, scope and access-token round trips, TXT matching, and a
//! no-panic smoke over every parser that takes untrusted input. Also the fixed domain-normalization cases and the
//! DID document's Multikey encoding.

use crate::common::*;
use auth4agent_protocol::Jwk;
use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, Did, Domain, KeySet, PublicKey, ScopeSet,
    SigningKey, TxtMatch, UnverifiedJws, UnverifiedProof, UnverifiedRequest, Verifier,
    did_document, issue_token, match_txt,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Strategies.

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,10}(-[a-z0-9]{1,6})?"
}

fn domain_string() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), "[a-z]{2,6}").prop_map(|(mut labels, tld)| {
        labels.push(tld);
        labels.join(".")
    })
}

fn seed() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn scope_token() -> impl Strategy<Value = String> {
    "[a-z]{1,8}(:[a-z_]{1,8})?"
}

fn audience() -> impl Strategy<Value = (Audience, String)> {
    (
        prop::collection::vec("https://[a-z]{1,10}\\.example(/[a-z]{1,5})?", 1..4),
        any::<bool>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(list, one, pick)| {
            let accepted = list[pick.index(list.len())].clone();
            let aud = if one {
                Audience::One(accepted.clone())
            } else {
                Audience::Many(list)
            };
            (aud, accepted)
        })
}

/// Arbitrary JSON of small depth, for headers, payloads and JWKS documents.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "EdDSA", "Ed25519", "none", "at+jwt", "OKP", "Ed25519", "sig", "x"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "alg",
            "typ",
            "kid",
            "crit",
            "jwk",
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "scope",
            "cnf",
            "jkt",
            "kty",
            "crv",
            "x",
            "d",
            "use",
            "keys",
            "htm",
            "htu",
            "ath",
            "nonce",
            "challenge_id",
            "ttl",
            "token_aud",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,6}",
    ]
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips.

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn did_round_trip(domain in domain_string(), seed in seed()) {
        let domain = Domain::parse(&domain).expect("generated domains are valid");
        let key = SigningKey::from_seed(&seed).public_key();
        let did = Did::from_key(&domain, &key);
        let text = did.to_string();
        let parsed = Did::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &did);
        prop_assert_eq!(parsed.as_str(), text.as_str());
        prop_assert_eq!(parsed.domain(), domain.as_str());
        let expected_fp = tohex(&Sha256::digest(key.as_bytes())[..16]);
        prop_assert_eq!(parsed.fingerprint(), expected_fp.as_str());
        prop_assert!(parsed.matches_key(&key));
        prop_assert_eq!(text.parse::<Did>().unwrap(), did.clone());
        let via_serde: Did = serde_json::from_value(serde_json::to_value(&did).unwrap()).unwrap();
        prop_assert_eq!(via_serde, did);
    }

    #[test]
    fn did_does_not_match_another_key(domain in domain_string(), a in seed(), b in seed()) {
        prop_assume!(a != b);
        let domain = Domain::parse(&domain).unwrap();
        let did = Did::from_key(&domain, &SigningKey::from_seed(&a).public_key());
        prop_assert!(!did.matches_key(&SigningKey::from_seed(&b).public_key()));
    }

    #[test]
    fn domain_normalization_is_idempotent_and_case_insensitive(domain in domain_string(), port in 1u16..) {
        let d = Domain::parse(&domain).unwrap();
        prop_assert_eq!(d.as_str(), domain.as_str());
        prop_assert_eq!(Domain::parse(d.as_str()).unwrap(), d.clone());
        prop_assert_eq!(Domain::parse(&domain.to_uppercase()).unwrap(), d.clone());
        prop_assert_eq!(Domain::parse(&format!("{domain}.")).unwrap(), d.clone());
        prop_assert_eq!(Domain::parse(&format!("https://{domain}:{port}/p?q=1")).unwrap(), d);
    }

    #[test]
    fn jwk_round_trip(seed in seed()) {
        let key = SigningKey::from_seed(&seed).public_key();
        let jwk = key.to_jwk();
        let text = serde_json::to_string(&jwk).unwrap();
        prop_assert!(!text.contains("\"d\""));
        let back: Jwk = serde_json::from_str(&text).unwrap();
        let imported = PublicKey::from_jwk(&back).unwrap();
        prop_assert_eq!(imported, key);
        prop_assert_eq!(imported.thumbprint(), key.thumbprint());
        prop_assert_eq!(PublicKey::from_bytes(key.as_bytes()).unwrap(), key);
        // The published JWKS round-trips too, under the thumbprint kid.
        let set = KeySet::from_keys([(key.thumbprint(), key)]).unwrap();
        let reparsed = KeySet::from_json(&serde_json::to_string(&set.to_jwks()).unwrap()).unwrap();
        prop_assert_eq!(reparsed.get(&key.thumbprint()), Some(&key));
        // RFC 7638: the thumbprint is 43 base64url characters of SHA-256.
        prop_assert_eq!(key.thumbprint().len(), 43);
    }

    #[test]
    fn pem_round_trip(seed in seed()) {
        let key = SigningKey::from_seed(&seed);
        let pem = key.to_pkcs8_pem().unwrap();
        let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
        prop_assert_eq!(back.public_key(), key.public_key());
        prop_assert_eq!(back.sign(b"m"), key.sign(b"m"));
        // Debug never shows the secret.
        let dbg = format!("{key:?}");
        prop_assert!(dbg.contains(&key.public_key().thumbprint()));
        prop_assert!(!dbg.contains(&tohex(&seed)));
    }

    #[test]
    fn scope_round_trip_and_subset(a in prop::collection::vec(scope_token(), 0..8), b in prop::collection::vec(scope_token(), 0..8)) {
        let sa = ScopeSet::from_list(&a).unwrap();
        let sb = ScopeSet::from_list(&b).unwrap();
        prop_assert_eq!(ScopeSet::parse(&sa.to_scope_string()).unwrap(), sa.clone());
        let expected = a.iter().all(|s| b.contains(s));
        prop_assert_eq!(sa.is_subset_of(&sb), expected);
        prop_assert_eq!(sa.ensure_allowed(&sb).is_ok(), expected);
        prop_assert!(sa.is_subset_of(&sa));
    }

    #[test]
    fn txt_matching(token in "[0-9a-f]{32}", cut in any::<prop::sample::Index>(), noise in prop::collection::vec("[ -~]{0,40}", 0..4)) {
        let expected = format!("auth4agent-verification={token}");
        let noise: Vec<Vec<Vec<u8>>> = noise.into_iter().filter(|n| *n != expected).map(|n| vec![n.into_bytes()]).collect();
        let at = cut.index(expected.len() + 1);
        let split = vec![expected.as_bytes()[..at].to_vec(), expected.as_bytes()[at..].to_vec()];
        let mut records = noise.clone();
        records.push(split);
        prop_assert_eq!(match_txt(&records, &expected), TxtMatch::Matched);
        let outcome = match_txt(&noise, &expected);
        if noise.is_empty() {
            prop_assert_eq!(outcome, TxtMatch::NoRecord);
        } else {
            prop_assert!(matches!(outcome, TxtMatch::WrongValue { .. }), "outcome {:?}", outcome);
        }
    }
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn token_round_trip(
        scopes in prop::collection::vec(scope_token(), 0..6),
        (aud, accepted) in audience(),
        iat in 1_600_000_000u64..2_000_000_000,
        lifetime in 1u64..=3600,
        elapsed in any::<prop::sample::Index>(),
        with_nbf in any::<bool>(),
        jti in "[A-Za-z0-9_-]{1,40}",
        seed in seed(),
    ) {
        let server = SigningKey::from_seed(&seed);
        let kid = server.public_key().thumbprint();
        let did = agent_did();
        let claims = AccessTokenClaims {
            iss: ISSUER.into(),
            sub: did.as_str().into(),
            client_id: did.as_str().into(),
            aud,
            scope: ScopeSet::from_list(&scopes).unwrap().to_scope_string(),
            iat,
            nbf: with_nbf.then_some(iat),
            exp: iat + lifetime,
            jti,
            cnf: Confirmation { jkt: agent_key().public_key().thumbprint() },
            status: None,
        };
        let token = issue_token(&server, &kid, &claims).unwrap();
        let keys = KeySet::from_keys([(kid.clone(), server.public_key())]).unwrap();
        let verifier = Verifier::new(ISSUER, accepted);
        let now = at(iat + elapsed.index(lifetime as usize) as u64);
        let verified = verifier.verify(&token, &keys, now).unwrap();
        prop_assert_eq!(verified.claims(), &claims);
        prop_assert_eq!(verified.kid(), kid.as_str());
        prop_assert_eq!(verified.scopes(), &ScopeSet::from_list(&scopes).unwrap());
        prop_assert_eq!(verified.did(), &did);
        // The same token is refused once the leeway after exp has passed, and by a verifier for another audience.
        prop_assert_eq!(code(verifier.verify(&token, &keys, at(claims.exp + 60))), "expired");
        let other = Verifier::new(ISSUER, "https://not-listed.invalid");
        prop_assert_eq!(code(other.verify(&token, &keys, now)), "wrong_audience");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// No-panic smoke over every untrusted-input entry point.

fn poke_all(s: &str) {
    let keys = keyset();
    let _ = UnverifiedJws::decode(s, "at+jwt");
    let _ = verifier().verify(s, &keys, at(NOW));
    let _ = verifier().verify_ignoring_time(s, &keys);
    let _ = Did::parse(s);
    let _ = Domain::parse(s).map(|d| (d.is_public_suffix(), d.ensure_registrable()));
    let _ = KeySet::from_json(s);
    let _ = ScopeSet::parse(s);
    let _ = match_txt(&[vec![s.as_bytes().to_vec()]], s);
    if let Ok(p) = UnverifiedProof::decode(s) {
        let _ = p.did();
        let ch = auth4agent_protocol::Challenge {
            id: "ch_x".into(),
            nonce: "n".into(),
            expires_at: at(NOW),
            did: agent_did(),
        };
        let _ = p.verify(&agent_key().public_key(), ISSUER, &ch, at(NOW), secs(60));
    }
    if let Ok(r) = UnverifiedRequest::decode(s) {
        let _ = r.verify(
            &agent_key().public_key(),
            "POST",
            s,
            s.as_bytes(),
            at(NOW),
            secs(60),
        );
    }
}

/// A compact JWS whose header and payload are the given JSON, with a real signature by the trusted key.
fn signed_from_json(header: &Value, payload: &Value) -> String {
    forge(&to_json(header), &to_json(payload))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn smoke_arbitrary_strings(s in any::<String>()) {
        poke_all(&s);
    }

    #[test]
    fn smoke_token_shaped_strings(s in "[A-Za-z0-9_=+/ .-]{0,120}") {
        poke_all(&s);
    }

    #[test]
    fn smoke_did_and_domain_shaped_strings(s in "(did:agent:)?[a-zA-Z0-9.:/ü_-]{0,80}") {
        poke_all(&s);
    }

    #[test]
    fn smoke_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200), records in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..3), 0..3)) {
        let lossy = String::from_utf8_lossy(&bytes);
        poke_all(&lossy);
        let _ = match_txt(&records, &lossy);
        let _ = PublicKey::from_bytes(&bytes);
        let _ = auth4agent_protocol::parse_strict_json(&bytes);
        let _ = auth4agent_protocol::b64url_decode(&lossy);
        // Arbitrary bytes as header, payload or signature segments.
        let s = seg(&bytes);
        poke_all(&format!("{s}.{s}.{s}"));
        let [h, p, sig] = segments(&honest_token());
        poke_all(&format!("{h}.{s}.{sig}"));
        poke_all(&format!("{s}.{p}.{sig}"));
        poke_all(&format!("{h}.{p}.{s}"));
    }

    #[test]
    fn smoke_mutated_honest_token(pos in any::<prop::sample::Index>(), ch in "[A-Za-z0-9_.=-]", cut in any::<prop::sample::Index>()) {
        let honest = honest_token();
        let mut t = honest.clone();
        let i = pos.index(t.len());
        t.replace_range(i..=i, &ch);
        if t != honest {
            let r = verifier().verify(&t, &keyset(), at(NOW));
            prop_assert!(r.is_err(), "mutated token accepted");
        }
        poke_all(&honest[..cut.index(honest.len() + 1)]);
    }
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn smoke_extreme_times(now in any::<u64>(), leeway in any::<u64>(), max in any::<u64>(), iat in any::<u64>(), exp in any::<u64>()) {
        // Times and limits anywhere in u64 never overflow or panic; an honest token is judged only by its times.
        let v = Verifier::new(ISSUER, AUDIENCE).leeway(secs(leeway)).max_lifetime(secs(max));
        let _ = v.verify(&honest_token(), &keyset(), at(now));
        let mut c = claims_set("iat", json!(iat));
        c["exp"] = json!(exp);
        c["nbf"] = json!(iat);
        let _ = v.verify(&token_with_claims(&c), &keyset(), at(now));
        let request = auth4agent_protocol::sign_request(&agent_key(), "GET", ISSUER, b"", at(now.min(u64::MAX - 60)), "req_0123456789abcdef").unwrap();
        let _ = UnverifiedRequest::decode(&request).unwrap().verify(&agent_key().public_key(), "GET", ISSUER, b"", at(now), secs(leeway));
    }

    #[test]
    fn smoke_signed_json(header in json_value(), payload in json_value(), extra in prop::collection::btree_map(json_key(), json_value(), 0..4)) {
        // Arbitrary JSON, and arbitrary members on an otherwise honest header and claims.
        poke_all(&signed_from_json(&header, &payload));
        let mut h = token_header();
        let mut c = token_claims();
        for (k, v) in &extra {
            h[k.as_str()] = v.clone();
            c[k.as_str()] = v.clone();
        }
        poke_all(&signed_from_json(&h, &token_claims()));
        poke_all(&signed_from_json(&token_header(), &c));
        for kind in [auth4agent_protocol::typ::PROOF, auth4agent_protocol::typ::REQUEST] {
            h["typ"] = json!(kind);
            poke_all(&forge_with(&agent_key(), &to_json(&h), &to_json(&c)));
        }
        poke_all(&to_json(&json!({ "keys": [header, payload] })));
        poke_all(&to_json(&json!({ "keys": [extra] })));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Domain normalization and the DID document.

#[test]
fn domain_normalization_cases() {
    for (input, expected) in [
        ("Example.COM.", "example.com"),
        ("https://example.com:8443/x", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        (
            "HTTPS://Bücher.Example:443/path?q#f",
            "xn--bcher-kva.example",
        ),
        ("  example.com  ", "example.com"),
        ("sub.example.co.uk", "sub.example.co.uk"),
    ] {
        assert_eq!(
            Domain::parse(input).map(|d| d.to_string()),
            Ok(expected.to_owned()),
            "{input:?}"
        );
    }
}

#[test]
fn domain_refusals() {
    let label64 = format!("{}.com", "a".repeat(64));
    let too_long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
    for input in [
        "",
        "com",
        "localhost",
        "1.2.3.4",
        "exa mple.com",
        "-a.com",
        "a-.com",
        label64.as_str(),
        too_long.as_str(),
        "example..com",
        ".example.com",
        "exam_ple.com",
        "user@example.com",
        "[::1]",
        "example.com:",
        "example.com:x",
        "https://",
        "example.com:8443:1",
    ] {
        assert_eq!(code(Domain::parse(input)), "invalid_domain", "{input:?}");
    }
    // 63 octets is the longest label.
    Domain::parse(&format!("{}.com", "a".repeat(63))).unwrap();
}

#[test]
fn public_suffixes_are_refused() {
    assert_eq!(
        code(Domain::parse("com")),
        "invalid_domain",
        "a single label is not even a DNS name here"
    );
    for suffix in ["co.uk", "github.io", "com.au", "s3.amazonaws.com"] {
        let d = Domain::parse(suffix).unwrap();
        assert!(d.is_public_suffix(), "{suffix}");
        assert_eq!(code(d.ensure_registrable()), "public_suffix", "{suffix}");
    }
    for registrable in [
        "example.com",
        "example.co.uk",
        "someone.github.io",
        "xn--bcher-kva.example",
    ] {
        let d = Domain::parse(registrable).unwrap();
        assert!(!d.is_public_suffix(), "{registrable}");
        d.ensure_registrable().unwrap();
    }
}

#[test]
fn did_document_uses_multikey_ed25519() {
    let key = agent_key().public_key();
    let did = agent_did();
    let doc = did_document(&did, &key);
    assert_eq!(doc["id"], did.as_str());
    let vm = &doc["verificationMethod"][0];
    assert_eq!(vm["type"], "Multikey");
    assert_eq!(vm["controller"], did.as_str());
    let vm_id = format!("{did}#key-1");
    assert_eq!(vm["id"], vm_id.as_str());
    assert_eq!(doc["authentication"][0], vm_id.as_str());
    assert_eq!(doc["assertionMethod"][0], vm_id.as_str());
    let mb = vm["publicKeyMultibase"].as_str().unwrap();
    assert!(mb.starts_with("z6Mk"), "{mb}");
    // z = base58btc; the payload is the ed25519-pub multicodec (0xed 0x01) then the raw key.
    let (base, bytes) = multibase::decode(mb).unwrap();
    assert_eq!(base, multibase::Base::Base58Btc);
    assert_eq!(&bytes[..2], &[0xed, 0x01]);
    assert_eq!(&bytes[2..], key.as_bytes());
}

#[test]
fn did_document_of_any_key_starts_with_z6mk() {
    for s in 0..32u8 {
        let key = SigningKey::from_seed(&[s; 32]).public_key();
        let did = Did::from_key(&Domain::parse("example.com").unwrap(), &key);
        let doc = did_document(&did, &key);
        assert!(
            doc["verificationMethod"][0]["publicKeyMultibase"]
                .as_str()
                .unwrap()
                .starts_with("z6Mk")
        );
    }
}
