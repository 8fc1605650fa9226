//! Operator key change messages (`auth4agent-key-change+jwt`): what binds, and what is refused.

use std::time::Duration;

use auth4agent_protocol::{
    Error, KeyChangeClaims, KeyChangeRules, SigningKey, UnixTime, UnverifiedRequest,
    sign_key_change, sign_request, verify_key_change,
};

const ISSUER: &str = "https://auth.example.com";
const NOW: u64 = 1_800_000_000;

fn keys() -> (SigningKey, SigningKey) {
    (
        SigningKey::from_seed(&[1; 32]),
        SigningKey::from_seed(&[2; 32]),
    )
}

fn rules<'a>(old: &'a auth4agent_protocol::PublicKey) -> KeyChangeRules<'a> {
    KeyChangeRules {
        operator_id: "op_a",
        old_key: old,
        issuer: ISSUER,
        now: UnixTime::from_secs(NOW),
        leeway: Duration::from_secs(60),
    }
}

#[test]
fn a_key_change_signed_by_the_new_key_verifies() {
    let (old, new) = keys();
    let claims = KeyChangeClaims::new("op_a", &old.public_key(), ISSUER, UnixTime::from_secs(NOW));
    let jws = sign_key_change(&new, &claims).unwrap();
    let old_public = old.public_key();
    verify_key_change(&jws, &new.public_key(), &rules(&old_public)).unwrap();
}

#[test]
fn every_binding_is_checked() {
    let (old, new) = keys();
    let old_public = old.public_key();
    let now = UnixTime::from_secs(NOW);
    let good = KeyChangeClaims::new("op_a", &old_public, ISSUER, now);
    let check = |claims: &KeyChangeClaims, signer: &SigningKey| {
        let jws = sign_key_change(signer, claims).unwrap();
        verify_key_change(&jws, &new.public_key(), &rules(&old_public))
    };
    // Signed by another key than the one presented (the old one, say): its kid is not the new key's.
    assert!(matches!(check(&good, &old), Err(Error::UnknownKid(_))));
    let other_operator = KeyChangeClaims {
        operator_id: "op_b".into(),
        ..good.clone()
    };
    assert_eq!(check(&other_operator, &new), Err(Error::WrongSubject));
    let other_old_key = KeyChangeClaims {
        old_key: new.public_key().thumbprint(),
        ..good.clone()
    };
    assert!(matches!(
        check(&other_old_key, &new),
        Err(Error::InvalidClaim("old_key", _))
    ));
    let other_server = KeyChangeClaims {
        aud: "https://evil.example".into(),
        ..good.clone()
    };
    assert_eq!(check(&other_server, &new), Err(Error::WrongAudience));
    let expired = KeyChangeClaims::new("op_a", &old_public, ISSUER, UnixTime::from_secs(NOW - 200));
    assert_eq!(check(&expired, &new), Err(Error::Expired));
    let too_long = KeyChangeClaims {
        exp: NOW + 3600,
        ..good.clone()
    };
    assert_eq!(check(&too_long, &new), Err(Error::LifetimeTooLong));
}

#[test]
fn a_key_change_and_a_signed_request_never_pass_as_each_other() {
    let (old, new) = keys();
    let old_public = old.public_key();
    let now = UnixTime::from_secs(NOW);
    let request = sign_request(
        &new,
        "POST",
        "https://auth.example.com/v1/operators/op_a/key",
        b"",
        now,
        "AAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap();
    assert!(verify_key_change(&request, &new.public_key(), &rules(&old_public)).is_err());
    let change = sign_key_change(
        &new,
        &KeyChangeClaims::new("op_a", &old_public, ISSUER, now),
    )
    .unwrap();
    assert!(UnverifiedRequest::decode(&change).is_err());
}
