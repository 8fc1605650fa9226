//! Shared fixtures of the protocol integration tests: fixed test keys (never real secrets), an honest access
//! token and its claims, and helpers that sign hand-written header and payload bytes so each malformed message
//! isolates exactly one defect.

#![allow(dead_code)] // each test module uses a different part

use std::fmt::Debug;
use std::time::Duration;

use auth4agent_protocol::{
    Did, Domain, KeySet, PublicKey, SigningKey, UnixTime, Verifier, b64url_encode, typ,
};
use serde_json::{Value, json};

/// The fixed "current time" of every test (2027-01-15), in seconds as the claims hold it; [`at`] makes it a time.
pub const NOW: u64 = 1_800_000_000;

/// `secs` since the epoch as a [`UnixTime`] (the `now` of the verifiers).
pub const fn at(secs: u64) -> UnixTime {
    UnixTime::from_secs(secs)
}

/// `n` seconds as a [`Duration`] (leeway, lifetimes).
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "https://api.example.com";
pub const AGENT_DOMAIN: &str = "example.com";

/// The server's token-signing key.
pub fn server_key() -> SigningKey {
    SigningKey::from_seed(&[0x11; 32])
}

/// The agent's key.
pub fn agent_key() -> SigningKey {
    SigningKey::from_seed(&[0x22; 32])
}

/// A key nobody trusts.
pub fn attacker_key() -> SigningKey {
    SigningKey::from_seed(&[0x33; 32])
}

/// The server key's thumbprint: the `kid` of honest tokens.
pub fn server_kid() -> String {
    server_key().public_key().thumbprint()
}

/// The trusted key set: only the server key, under its thumbprint.
pub fn keyset() -> KeySet {
    KeySet::from_keys([(server_kid(), server_key().public_key())]).expect("one key")
}

pub fn agent_did() -> Did {
    Did::from_key(
        &Domain::parse(AGENT_DOMAIN).expect("domain"),
        &agent_key().public_key(),
    )
}

/// The verifier relying parties run: expected issuer and audience, default leeway and lifetime.
pub fn verifier() -> Verifier {
    Verifier::new(ISSUER, AUDIENCE)
}

/// The honest access-token header.
pub fn token_header() -> Value {
    json!({ "alg": "EdDSA", "typ": typ::ACCESS_TOKEN, "kid": server_kid() })
}

/// The honest access-token claims, valid at [`NOW`].
pub fn token_claims() -> Value {
    let did = agent_did();
    json!({
        "iss": ISSUER,
        "sub": did.as_str(),
        "client_id": did.as_str(),
        "aud": AUDIENCE,
        "scope": "read:orders write:orders",
        "iat": NOW - 10,
        "exp": NOW + 890,
        "jti": "tok_0123456789abcdef",
        "cnf": { "jkt": agent_key().public_key().thumbprint() },
    })
}

/// Serializes a JSON value compactly.
pub fn to_json(v: &Value) -> String {
    serde_json::to_string(v).expect("serializable")
}

/// Signs `header` and `payload` exactly as given: `b64url(header) '.' b64url(payload) '.' b64url(sig)`. The
/// crate keeps its own raw signer private; hostile messages are made here, with the key's public `sign`.
pub fn sign_raw(key: &SigningKey, header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64url_encode(header), b64url_encode(payload));
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url_encode(&signature))
}

/// Signs the exact header and payload text with `key` (a real signature over hand-written bytes).
pub fn forge_with(key: &SigningKey, header: &str, payload: &str) -> String {
    sign_raw(key, header.as_bytes(), payload.as_bytes())
}

/// Signs the exact header and payload text with the trusted server key.
pub fn forge(header: &str, payload: &str) -> String {
    forge_with(&server_key(), header, payload)
}

/// A token with the honest header and the given claims, signed by the server key.
pub fn token_with_claims(claims: &Value) -> String {
    forge(&to_json(&token_header()), &to_json(claims))
}

/// A token with the given header and the honest claims, signed by the server key.
pub fn token_with_header(header: &Value) -> String {
    forge(&to_json(header), &to_json(&token_claims()))
}

/// The honest token.
pub fn honest_token() -> String {
    token_with_claims(&token_claims())
}

/// Honest claims with one member replaced.
pub fn claims_set(name: &str, value: Value) -> Value {
    let mut c = token_claims();
    c[name] = value;
    c
}

/// Honest claims with one member removed.
pub fn claims_without(name: &str) -> Value {
    let mut c = token_claims();
    c.as_object_mut().expect("object").remove(name);
    c
}

/// Honest header with one member replaced.
pub fn header_set(name: &str, value: Value) -> Value {
    let mut h = token_header();
    h[name] = value;
    h
}

/// Honest header with one member removed.
pub fn header_without(name: &str) -> Value {
    let mut h = token_header();
    h.as_object_mut().expect("object").remove(name);
    h
}

/// The three segments of a compact JWS.
pub fn segments(compact: &str) -> [String; 3] {
    let parts: Vec<&str> = compact.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS has three segments");
    [
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    ]
}

/// Re-encodes raw bytes as a segment.
pub fn seg(bytes: &[u8]) -> String {
    b64url_encode(bytes)
}

/// The `Error::code()` of a refusal; panics if the operation succeeded.
pub fn code<T: Debug>(r: auth4agent_protocol::Result<T>) -> &'static str {
    match r {
        Ok(v) => panic!("expected a refusal, got Ok({v:?})"),
        Err(e) => e.code(),
    }
}

/// Lowercase or uppercase hex to bytes.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Lowercase hex of bytes.
pub fn tohex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a file of `protocol/tests/vectors/` (published vectors copied into the repository).
pub fn vector_file(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// Checks a public key round-trips through raw bytes (for tests that build keys from vectors).
pub fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.as_bytes() == b.as_bytes()
}
