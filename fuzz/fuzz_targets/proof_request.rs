//! Fuzzes the proof and signed-request decoders and verifiers.
#![no_main]

use std::time::Duration;

use auth4agent_protocol::{
    Challenge, Did, Domain, SigningKey, UnixTime, UnverifiedProof, UnverifiedRequest,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let key = SigningKey::from_seed(&[2; 32]).public_key();
    if let Ok(proof) = UnverifiedProof::decode(s) {
        let _ = proof.did();
        let challenge = Challenge {
            id: proof.challenge_id().to_owned(),
            nonce: "n".repeat(43),
            expires_at: UnixTime::from_secs(1_767_225_660),
            did: Did::from_key(&Domain::parse("example.com").unwrap(), &key),
        };
        let _ = proof.verify(
            &key,
            "https://auth.example.com",
            &challenge,
            UnixTime::from_secs(1_767_225_600),
            Duration::from_secs(60),
        );
    }
    if let Ok(req) = UnverifiedRequest::decode(s) {
        let _ = req.verify(
            &key,
            "POST",
            "https://auth.example.com/v1/operators",
            b"{}",
            UnixTime::from_secs(1_767_225_600),
            Duration::from_secs(30),
        );
    }
});
