//! Fuzzes client assertion decoding and verification (RFC 7523): any input is refused or accepted without a
//! panic, and nothing unsigned by the fixed agent key is ever accepted.
#![no_main]

use std::time::Duration;

use auth4agent_protocol::{AssertionRules, SigningKey, UnixTime, UnverifiedClientAssertion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(compact) = std::str::from_utf8(data) else { return };
    let key = SigningKey::from_seed(&[7; 32]).public_key();
    let rules = AssertionRules {
        audiences: &["https://auth.example.com", "https://auth.example.com/oauth/token"],
        now: UnixTime::from_secs(1_800_000_000),
        leeway: Duration::from_secs(60),
    };
    if let Ok(assertion) = UnverifiedClientAssertion::decode(compact) {
        let _ = assertion.did().as_str();
        assert!(
            assertion.verify(&key, &rules).is_err(),
            "a fuzzed assertion cannot carry the fixed key's signature"
        );
    }
});
