//! Fuzzes the strict JWS decoder and the access-token Verifier with arbitrary input.
#![no_main]

use auth4agent_protocol::{KeySet, SigningKey, UnixTime, UnverifiedJws, Verifier, typ};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = SigningKey::from_seed(&[3; 32]).public_key();
        KeySet::from_keys([(key.thumbprint(), key)]).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for t in [typ::ACCESS_TOKEN, typ::PROOF, typ::REQUEST] {
        let _ = UnverifiedJws::decode(s, t);
    }
    let verifier = Verifier::new("https://auth.example.com", "https://api.example.com");
    let _ = verifier.verify(s, keys(), UnixTime::from_secs(1_767_225_600));
    let _ = verifier.verify_ignoring_time(s, keys());
});
