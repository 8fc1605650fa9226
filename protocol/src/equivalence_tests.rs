//! Differential tests: the typed, borrowing parse paths against the `Value`/`Map` implementations they replaced,
//! on generated inputs that reach every refusal. Both must give the same result, error payloads included.

use proptest::prelude::*;
use serde::de::MapAccess;
use serde_json::{Map, Value};

use crate::encoding::b64url_encode;
use crate::error::{Error, Result};
use crate::jws::{
    self, ACCEPTED_ALGS, JwsHeader, UnverifiedJws, numeric_date, required_date, string_claim, typ,
};
use crate::strict_json::{self, Fields, Member, MemberSeed, StrictVisitor, fill};
use crate::token::{AccessTokenClaims, Audience, Confirmation, Verifier};
use crate::{Did, KeySet, ScopeSet, SigningKey, UnixTime};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const DID: &str = "did:agent:agents.example.com:0123456789abcdef0123456789abcdef";
const NOW: UnixTime = UnixTime::from_secs(1_800_000_010);

// ---------------------------------------------------------------------------------------------------------------
// The replaced implementation, kept verbatim apart from names.

const KEY_HEADERS: [&str; 6] = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

fn ref_check_header(header: &Map<String, Value>, expected_typ: &str) -> Result<JwsHeader> {
    let alg = match header.get("alg") {
        Some(Value::String(alg)) if ACCEPTED_ALGS.contains(&alg.as_str()) => alg.clone(),
        Some(Value::String(alg)) => return Err(Error::UnsupportedAlg(alg.clone())),
        Some(other) => return Err(Error::UnsupportedAlg(other.to_string())),
        None => return Err(Error::UnsupportedAlg(String::new())),
    };
    if let Some(name) = KEY_HEADERS.iter().find(|k| header.contains_key(**k)) {
        return Err(Error::EmbeddedKey((*name).to_string()));
    }
    match header.get("crit") {
        None => {}
        Some(Value::Array(items)) if items.is_empty() => return Err(Error::EmptyCrit),
        Some(_) => return Err(Error::UnknownCrit),
    }
    let typ = match header.get("typ") {
        None => return Err(Error::MissingTyp),
        Some(Value::String(t)) if jws::typ_matches(t, expected_typ) => t.clone(),
        Some(other) => {
            return Err(Error::WrongTyp {
                expected: expected_typ.to_string(),
                found: other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string),
            });
        }
    };
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err(Error::MissingKid),
    };
    Ok(JwsHeader { alg, typ, kid })
}

type RefJws = (JwsHeader, Map<String, Value>, String, Vec<u8>);

fn ref_decode(compact: &str, expected_typ: &str) -> Result<RefJws> {
    if compact.len() > jws::MAX_COMPACT_LEN {
        return Err(Error::TokenTooLarge(jws::MAX_COMPACT_LEN));
    }
    if compact.is_empty() {
        return Err(Error::MalformedToken);
    }
    let mut parts = compact.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::MalformedToken);
    };
    if h.is_empty() || s.is_empty() {
        return Err(Error::MalformedToken);
    }
    let header_value = serde_parse(&crate::b64url_decode(h)?)?;
    let Value::Object(header) = header_value else {
        return Err(Error::InvalidJson(
            "protected header is not a JSON object".into(),
        ));
    };
    let header = ref_check_header(&header, expected_typ)?;
    let payload = crate::b64url_decode(p)?;
    let Value::Object(claims) = serde_parse(&payload)? else {
        return Err(Error::PayloadNotObject);
    };
    let signature = crate::b64url_decode(s)?;
    if signature.len() != 64 {
        return Err(Error::BadSignature);
    }
    Ok((
        header,
        claims,
        compact[..h.len() + 1 + p.len()].to_owned(),
        signature,
    ))
}

/// The strict parser through serde_json directly.
fn serde_parse(bytes: &[u8]) -> Result<Value> {
    strict_json::parse_with_serde_json(bytes, StrictVisitor)
}

fn ref_parse_claims(c: &Map<String, Value>) -> Result<AccessTokenClaims> {
    let iss = string_claim(c, "iss")?.to_owned();
    let sub = string_claim(c, "sub")?;
    Did::parse(sub).map_err(|_| Error::WrongSubject)?;
    let client_id = string_claim(c, "client_id")?;
    if client_id != sub {
        return Err(Error::InvalidClaim("client_id", "must equal sub".into()));
    }
    let aud = match c.get("aud") {
        None => return Err(Error::MissingClaim("aud")),
        Some(Value::String(a)) if !a.is_empty() => Audience::One(a.clone()),
        Some(Value::Array(items)) => Audience::Many(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(Error::InvalidClaim(
                        "aud",
                        "entries must be non-empty strings".into(),
                    )),
                })
                .collect::<Result<_>>()?,
        ),
        Some(_) => {
            return Err(Error::InvalidClaim(
                "aud",
                "must be a string or an array".into(),
            ));
        }
    };
    let scope = string_claim(c, "scope")?;
    ScopeSet::parse(scope)?;
    let jti = string_claim(c, "jti")?;
    if jti.is_empty() {
        return Err(Error::InvalidClaim("jti", "must not be empty".into()));
    }
    let jkt = match c.get("cnf") {
        None => return Err(Error::MissingClaim("cnf")),
        Some(Value::Object(cnf)) => string_claim(cnf, "jkt")?.to_owned(),
        Some(_) => return Err(Error::InvalidClaim("cnf", "must be an object".into())),
    };
    Ok(AccessTokenClaims {
        iss,
        sub: sub.to_owned(),
        client_id: client_id.to_owned(),
        aud,
        scope: scope.to_owned(),
        iat: required_date(c, "iat")?,
        nbf: numeric_date(c, "nbf")?,
        exp: required_date(c, "exp")?,
        jti: jti.to_owned(),
        cnf: Confirmation { jkt },
        status: None,
    })
}

/// The replaced `Verifier::verify_inner` for a verifier with issuer [`ISS`], audience [`AUD`] and default limits.
fn ref_verify(
    token: &str,
    keys: &KeySet,
    now: Option<UnixTime>,
) -> Result<(AccessTokenClaims, String)> {
    let (header, claims, signing_input, signature) = ref_decode(token, typ::ACCESS_TOKEN)?;
    let key = keys
        .get(&header.kid)
        .ok_or_else(|| Error::UnknownKid(header.kid.clone()))?;
    key.verify_strict(signing_input.as_bytes(), &signature)?;
    let claims = ref_parse_claims(&claims)?;
    if claims.iss != ISS {
        return Err(Error::WrongIssuer(claims.iss));
    }
    if claims.aud.as_slice().is_empty() {
        return Err(Error::EmptyAudience);
    }
    if !claims.aud.contains(AUD) {
        return Err(Error::WrongAudience);
    }
    if let Some(now) = now {
        jws::check_times(
            claims.iat,
            claims.exp,
            now,
            crate::token::DEFAULT_LEEWAY,
            crate::token::DEFAULT_MAX_LIFETIME,
        )?;
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(crate::token::DEFAULT_LEEWAY).as_secs())
        {
            return Err(Error::NotYetValid);
        }
    }
    Ok((claims, header.kid))
}

// ---------------------------------------------------------------------------------------------------------------
// Generators: JSON text built from members that are mostly right, with values, names and bytes that are not.

fn signer() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

fn kid() -> String {
    signer().public_key().thumbprint()
}

fn value_pool() -> Vec<String> {
    let mut pool: Vec<String> = [
        r#""EdDSA""#,
        r#""Ed25519""#,
        r#""Ed\u0044SA""#,
        r#""none""#,
        r#""at+jwt""#,
        r#""application/AT+JWT""#,
        r#""JWT""#,
        r#""""#,
        r#""x y""#,
        r#""orders:read orders:write""#,
        r#""orders:read  x""#,
        r#""\ud800""#,
        "5",
        "0",
        "-1",
        "-0",
        "1.5",
        "1e3",
        "1e400",
        "18446744073709551615",
        "18446744073709551616",
        "1800000000",
        "1800000900",
        "1800000000.0",
        "1900000000",
        "1799999000",
        "1800000100",
        "1800001000",
        "1800003700",
        "true",
        "null",
        "[]",
        r#"["x"]"#,
        r#"[""]"#,
        r#"["https://api.example.com"]"#,
        r#"["https://api.example.com",5]"#,
        r#"[{"b":1,"b":1}]"#,
        "{}",
        r#"{"a":1,"a":2}"#,
        r#"{"jkt":"t"}"#,
        r#"{"jkt":"t","jkt":"u"}"#,
        r#"{"jkt":"t","x":{"y":1,"y":2}}"#,
        r#"{"jkt":5}"#,
        r#"{"j\u006bt":"t"}"#,
        "[[[[[[[[[[]]]]]]]]]]",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    pool.push(format!("\"{}\"", kid()));
    pool.push(format!("\"{ISS}\""));
    pool.push(format!("\"{DID}\""));
    pool.push(r#""did:agent:Agents.example.com:0123456789abcdef0123456789abcdef""#.to_owned());
    pool.push(r#""did:agent:xn--bcher-kva.example:0123456789abcdef0123456789abcdef""#.to_owned());
    pool
}

fn name_pool() -> Vec<&'static str> {
    vec![
        "alg",
        "typ",
        "kid",
        "crit",
        "jwk",
        "x5c",
        "x5t#S256",
        "k\\u0069d",
        "iss",
        "sub",
        "client_id",
        "aud",
        "scope",
        "jti",
        "cnf",
        "iat",
        "nbf",
        "exp",
        "i\\u0073s",
        "foo",
    ]
}

fn valid_header() -> Vec<(String, String)> {
    vec![
        ("alg".into(), r#""EdDSA""#.into()),
        ("kid".into(), format!("\"{}\"", kid())),
        ("typ".into(), r#""at+jwt""#.into()),
    ]
}

fn valid_claims() -> Vec<(String, String)> {
    [
        ("iss", format!("\"{ISS}\"")),
        ("sub", format!("\"{DID}\"")),
        ("client_id", format!("\"{DID}\"")),
        ("aud", format!("\"{AUD}\"")),
        ("scope", r#""orders:read profile:read""#.into()),
        ("iat", "1800000000".into()),
        ("exp", "1800000900".into()),
        ("jti", r#""tok_1""#.into()),
        ("cnf", r#"{"jkt":"t"}"#.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// One edit of a member list: replace a value, drop a member, repeat one, or add one.
#[derive(Debug, Clone)]
enum Edit {
    Replace(prop::sample::Index, prop::sample::Index),
    Drop(prop::sample::Index),
    Repeat(prop::sample::Index, prop::sample::Index),
    Add(prop::sample::Index, prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    use prop::sample::Index;
    prop_oneof![
        3 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Replace(a, b)),
        1 => any::<Index>().prop_map(Edit::Drop),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Repeat(a, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Add(a, b)),
    ]
}

/// A byte-level mutation of the JSON text, to reach syntax errors.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Delete(prop::sample::Index),
    Insert(prop::sample::Index, char),
    Replace(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        12 => Just(Mutation::None),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Delete),
        1 => (any::<prop::sample::Index>(), prop::sample::select(vec!['{', '}', '[', ']', '"', ',', ':', '\\', ' ', '0', 'a']))
            .prop_map(|(i, c)| Mutation::Insert(i, c)),
        1 => prop::sample::select(vec!["[]", "5", "\"x\"", "null", "{} {}", "", "[{\"a\":1,\"a\":1}]", "{\"a\":1}x"])
            .prop_map(|s| Mutation::Replace(s.to_owned())),
    ]
}

fn render(base: Vec<(String, String)>, edits: &[Edit], mutation: &Mutation) -> String {
    let values = value_pool();
    let names = name_pool();
    let mut members = base;
    for e in edits {
        match e {
            Edit::Replace(i, v) if !members.is_empty() => {
                let i = i.index(members.len());
                members[i].1 = values[v.index(values.len())].clone();
            }
            Edit::Drop(i) if !members.is_empty() => {
                members.remove(i.index(members.len()));
            }
            Edit::Repeat(i, v) if !members.is_empty() => {
                let name = members[i.index(members.len())].0.clone();
                members.push((name, values[v.index(values.len())].clone()));
            }
            Edit::Add(n, v) => members.push((
                names[n.index(names.len())].to_owned(),
                values[v.index(values.len())].clone(),
            )),
            _ => {}
        }
    }
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    let mut text = format!("{{{}}}", body.join(","));
    match mutation {
        Mutation::None => {}
        Mutation::Delete(i) => {
            let at = i.index(text.len());
            if text.is_char_boundary(at) {
                text.remove(at);
            }
        }
        Mutation::Insert(i, c) => {
            let at = i.index(text.len() + 1);
            if text.is_char_boundary(at) {
                text.insert(at, *c);
            }
        }
        Mutation::Replace(s) => text.clone_from(s),
    }
    text
}

fn sign_token(header: &str, payload: &str, sig_mode: u8) -> String {
    let input = format!(
        "{}.{}",
        b64url_encode(header.as_bytes()),
        b64url_encode(payload.as_bytes())
    );
    let sig = match sig_mode {
        0 => b64url_encode(&signer().sign(input.as_bytes())),
        1 => b64url_encode(&[0u8; 64]),
        2 => b64url_encode(&[0u8; 63]),
        3 => "AAAA=".to_owned(),
        4 => String::new(),
        _ => format!("{}.x", b64url_encode(&signer().sign(input.as_bytes()))),
    };
    format!("{input}.{sig}")
}

fn keys() -> KeySet {
    let retired = SigningKey::from_seed(&[8; 32]).public_key();
    KeySet::from_keys([
        (retired.thumbprint(), retired),
        (kid(), signer().public_key()),
    ])
    .expect("distinct kids")
}

fn token_case() -> impl Strategy<Value = String> {
    (
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(edit(), 1..3)],
        prop_oneof![3 => Just(Mutation::None), 1 => mutation()],
        prop::collection::vec(edit(), 0..4),
        mutation(),
        prop_oneof![8 => Just(0u8), 1 => 1u8..6],
    )
        .prop_map(|(he, hm, ce, cm, sig)| {
            let header = render(valid_header(), &he, &hm);
            let claims = render(valid_claims(), &ce, &cm);
            sign_token(&header, &claims, sig)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn verifier_matches_the_map_implementation(token in token_case()) {
        let keys = keys();
        let verifier = Verifier::new(ISS, AUD);
        let got = verifier
            .verify(&token, &keys, NOW)
            .map(|t| (t.claims().clone(), t.kid().to_owned()));
        prop_assert_eq!(got, ref_verify(&token, &keys, Some(NOW)));
        let got = verifier
            .verify_ignoring_time(&token, &keys)
            .map(|t| (t.claims().clone(), t.kid().to_owned()));
        prop_assert_eq!(got, ref_verify(&token, &keys, None));
    }

    #[test]
    fn decode_matches_the_map_implementation(token in token_case(), proof in any::<bool>()) {
        let expected_typ = if proof { typ::PROOF } else { typ::ACCESS_TOKEN };
        let got = UnverifiedJws::decode(&token, expected_typ)
            .map(|j| (j.header().clone(), j.claims().clone()));
        let want = ref_decode(&token, expected_typ).map(|(h, c, _, _)| (h, c));
        prop_assert_eq!(got, want);
    }

    #[test]
    fn parse_object_matches_parse(
        edits in prop::collection::vec(edit(), 0..6),
        mutation in mutation(),
        header in any::<bool>(),
    ) {
        let base = if header { valid_header() } else { valid_claims() };
        let text = render(base, &edits, &mutation);
        check_parse_object(text.as_bytes());
    }

    #[test]
    fn plain_json_shapes_match(text in plain_json()) {
        check_parse_object(text.as_bytes());
    }

    #[test]
    fn parse_object_matches_parse_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        check_parse_object(&bytes);
    }
}

/// JSON text of varied shapes: numbers, strings, separators and nesting.
fn plain_json() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "0",
        "1",
        "01",
        "10",
        "-1",
        "-0",
        "1.5",
        "1e2",
        "1E2",
        "18446744073709551615",
        "18446744073709551616",
        r#""""#,
        r#""a""#,
        r#""a b~""#,
        r#""\n""#,
        r#""\u0061""#,
        "\"\u{7f}\"",
        "\"\u{e9}\"",
        "\"\t\"",
        "true",
        "null",
        " 1",
        "1 ",
        "",
    ])
    .prop_map(str::to_owned);
    let key = prop::sample::select(vec![
        r#""a""#,
        r#""b""#,
        r#""iss""#,
        r#""alg""#,
        r#""\u0061""#,
        "a",
        "1",
    ]);
    let sep = prop::sample::select(vec![",", ",", ",", ",,", "", " ,"]);
    leaf.prop_recursive(4, 32, 5, move |inner| {
        prop_oneof![
            (
                prop::collection::vec(inner.clone(), 0..5),
                sep.clone(),
                any::<bool>()
            )
                .prop_map(|(items, sep, trailing)| {
                    format!("[{}{}]", items.join(sep), if trailing { sep } else { "" })
                }),
            (
                prop::collection::vec((key.clone(), inner), 0..5),
                sep.clone(),
                prop::sample::select(vec![":", ":", ":", "", " :"]),
            )
                .prop_map(|(members, sep, colon)| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("{k}{colon}{v}"))
                        .collect();
                    format!("{{{}}}", members.join(sep))
                }),
        ]
    })
}

/// Captures two members so the comparison covers both captured and skipped values.
#[derive(Default)]
struct Probe<'a> {
    iss: Option<Member<'a>>,
    alg: Option<Member<'a>>,
}

impl<'de> Fields<'de> for Probe<'de> {
    fn capture<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<Option<bool>, A::Error> {
        match key {
            "iss" => fill::<_, MemberSeed>(&mut self.iss, map).map(Some),
            "alg" => fill::<_, MemberSeed>(&mut self.alg, map).map(Some),
            _ => Ok(None),
        }
    }
}

fn check_parse_object(bytes: &[u8]) {
    let want = serde_parse(bytes);
    assert_eq!(strict_json::parse(bytes), want);
    let got = strict_json::parse_object::<Probe<'_>>(bytes);
    match (want, got) {
        (Err(w), Err(g)) => assert_eq!(w, g, "{:?}", String::from_utf8_lossy(bytes)),
        (Ok(Value::Object(map)), Ok(Some(probe))) => {
            assert_eq!(map.get("iss"), probe.iss.map(|m| m.to_value()).as_ref());
            assert_eq!(map.get("alg"), probe.alg.map(|m| m.to_value()).as_ref());
        }
        (Ok(v), Ok(None)) => assert!(!v.is_object()),
        (w, g) => panic!(
            "{:?}: parse {w:?}, parse_object {:?}",
            String::from_utf8_lossy(bytes),
            g.map(|p| p.is_some())
        ),
    }
}

#[test]
fn honest_token_verifies_on_both_paths() {
    let header = render(valid_header(), &[], &Mutation::None);
    let claims = render(valid_claims(), &[], &Mutation::None);
    let token = sign_token(&header, &claims, 0);
    let got = Verifier::new(ISS, AUD)
        .verify(&token, &keys(), NOW)
        .map(|t| (t.claims().clone(), t.kid().to_owned()));
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(got, ref_verify(&token, &keys(), Some(NOW)));
    // The unedited header is the one `jws::sign` writes, so the generated cases above reach the verifier's
    // known-header path as well as the full header parse.
    let segment = token.split('.').next().expect("header segment");
    assert_eq!(
        keys()
            .by_access_token_header(segment)
            .map(|(kid, _)| kid.to_owned()),
        Some(kid())
    );
    assert_eq!(
        segment,
        jws::encoded_sign_header(typ::ACCESS_TOKEN, &kid()).expect("encodes")
    );
}

#[test]
fn many_members_and_deep_nesting_match() {
    let many: Vec<String> = (0..100).map(|i| format!("\"m{i}\":{i}")).collect();
    check_parse_object(format!("{{{}}}", many.join(",")).as_bytes());
    check_parse_object(format!("{{{},\"m7\":1}}", many.join(",")).as_bytes());
    check_parse_object(format!("{{\"a\":{{{},\"m99\":1}}}}", many.join(",")).as_bytes());
    let deep = "[".repeat(200) + &"]".repeat(200);
    check_parse_object(format!("{{\"iss\":{deep}}}").as_bytes());
    check_parse_object(format!("{{\"x\":{deep}}}").as_bytes());
    check_parse_object(deep.as_bytes());
}
