//! Operator key change (the shape of ACME's key change, RFC 8555 §7.3.5): the inner message, signed by
//! the operator's NEW key, that the operator sends inside a request signed by its OLD key.
//!
//! Header `{"alg":"EdDSA","kid":<new key thumbprint>,"typ":"auth4agent-key-change+jwt"}` (its own `typ`:
//! no other message kind passes as one, nor the reverse). Claims: `operator_id`, `old_key` (the RFC 7638
//! thumbprint of the key being replaced), `aud` (the server's issuer), `iat`, `exp` (at most 120 s after
//! `iat`). The new key comes from the outer request's body and is trusted only as the key this message
//! proves possession of: the signature is checked strictly with it and its thumbprint must be the `kid`.
//! Both signatures together show that the holder of the old key wants the new one, and holds it.

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::jws::{self, UnverifiedJws, required_date, string_claim, typ};
use crate::keys::{PublicKey, SigningKey};
use crate::time::UnixTime;

/// Longest accepted `exp - iat` of a key-change message.
pub const MAX_KEY_CHANGE_LIFETIME: Duration = Duration::from_secs(120);

/// The claims of a key-change message, in the order written.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct KeyChangeClaims {
    /// The operator whose key changes.
    pub operator_id: String,
    /// RFC 7638 thumbprint of the key being replaced.
    pub old_key: String,
    /// The server's issuer URL.
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

impl KeyChangeClaims {
    /// The claims replacing `old_key` of `operator_id` at `issuer`, valid from `now` for the longest lifetime.
    pub fn new(
        operator_id: &str,
        old_key: &PublicKey,
        issuer: &str,
        now: UnixTime,
    ) -> KeyChangeClaims {
        KeyChangeClaims {
            operator_id: operator_id.to_owned(),
            old_key: old_key.thumbprint(),
            aud: issuer.to_owned(),
            iat: now.as_secs(),
            exp: now.saturating_add(MAX_KEY_CHANGE_LIFETIME).as_secs(),
        }
    }
}

/// Signs a key-change message with the NEW key; `kid` is its thumbprint.
pub fn sign_key_change(new_key: &SigningKey, claims: &KeyChangeClaims) -> Result<String> {
    jws::sign(
        new_key,
        typ::KEY_CHANGE,
        &new_key.public_key().thumbprint(),
        claims,
    )
}

/// What a key-change message must bind.
#[derive(Debug, Clone, Copy)]
pub struct KeyChangeRules<'a> {
    /// The operator named by the outer request's path.
    pub operator_id: &'a str,
    /// The operator's current key, which signed the outer request.
    pub old_key: &'a PublicKey,
    /// This server's issuer.
    pub issuer: &'a str,
    pub now: UnixTime,
    pub leeway: Duration,
}

/// Verifies a key-change message for `new_key` (from the outer body): `typ`, `kid` = thumbprint of
/// `new_key`, the strict signature under `new_key`, then `operator_id`, `old_key`, `aud` and the times.
pub fn verify_key_change(
    compact: &str,
    new_key: &PublicKey,
    rules: &KeyChangeRules<'_>,
) -> Result<()> {
    let jws = UnverifiedJws::decode(compact, typ::KEY_CHANGE)?;
    if jws.kid() != new_key.thumbprint() {
        return Err(Error::UnknownKid(jws.kid().to_owned()));
    }
    let verified = jws.verify(new_key)?;
    let c = verified.claims();
    if string_claim(c, "operator_id")? != rules.operator_id {
        return Err(Error::WrongSubject);
    }
    if string_claim(c, "old_key")? != rules.old_key.thumbprint() {
        return Err(Error::InvalidClaim(
            "old_key",
            "is not the thumbprint of the key that signed the request".into(),
        ));
    }
    if string_claim(c, "aud")? != rules.issuer {
        return Err(Error::WrongAudience);
    }
    let iat = required_date(c, "iat")?;
    let exp = required_date(c, "exp")?;
    jws::check_times(iat, exp, rules.now, rules.leeway, MAX_KEY_CHANGE_LIFETIME)
}
