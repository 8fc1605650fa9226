//! Fuzzes the JWKS parser and JWK import; an accepted key set must survive publishing and re-parsing.
#![no_main]

use auth4agent_protocol::{Jwk, KeySet, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(set) = KeySet::from_json(s) {
        let published = serde_json::to_string(&set.to_jwks()).unwrap();
        assert_eq!(KeySet::from_json(&published).unwrap().len(), set.len());
    }
    if let Ok(jwk) = serde_json::from_str::<Jwk>(s) {
        if let Ok(key) = PublicKey::from_jwk(&jwk) {
            assert_eq!(PublicKey::from_jwk(&key.to_jwk()).unwrap(), key);
        }
    }
});
