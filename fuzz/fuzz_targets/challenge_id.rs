//! Fuzzes the stateless challenge id (spec §8.1): any string is refused without a panic (the fuzzer cannot
//! forge the fixed secret's MAC), and an id minted from the input's bytes opens to itself.
#![no_main]

use auth4agent_protocol::{ChallengeSecret, Did, Domain, SigningKey, UnixTime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let secret = ChallengeSecret::from_bytes([7; 32]);
    let domain = Domain::parse("example.com").expect("a valid domain");
    let did = Did::from_key(&domain, &SigningKey::from_seed(&[1; 32]).public_key());
    if let Ok(id) = std::str::from_utf8(data) {
        assert!(
            secret.open(id, &did).is_err(),
            "a fuzzed challenge id cannot carry the fixed secret's MAC"
        );
    }
    // Any expiry and unique part round-trip.
    let mut unique = [0u8; 16];
    let n = data.len().min(16);
    unique[..n].copy_from_slice(&data[..n]);
    let expires = data.iter().fold(0u64, |acc, b| acc.rotate_left(8) ^ u64::from(*b));
    let minted = secret.mint(&did, UnixTime::from_secs(expires), unique);
    assert_eq!(secret.open(&minted.id, &did), Ok(minted));
});
