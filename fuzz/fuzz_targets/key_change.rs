//! Fuzzes the operator key-change message (`auth4agent-key-change+jwt`, spec §10.5): any input is refused or
//! accepted without a panic, and nothing unsigned by the fixed new key is ever accepted.
#![no_main]

use std::time::Duration;

use auth4agent_protocol::{KeyChangeRules, SigningKey, UnixTime, verify_key_change};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(compact) = std::str::from_utf8(data) else { return };
    let old_key = SigningKey::from_seed(&[7; 32]).public_key();
    let new_key = SigningKey::from_seed(&[8; 32]).public_key();
    let rules = KeyChangeRules {
        operator_id: "op_fuzz",
        old_key: &old_key,
        issuer: "https://auth.example.com",
        now: UnixTime::from_secs(1_800_000_000),
        leeway: Duration::from_secs(60),
    };
    assert!(
        verify_key_change(compact, &new_key, &rules).is_err(),
        "a fuzzed key change cannot carry the fixed new key's signature"
    );
});
