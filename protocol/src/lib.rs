//! `auth4agent-protocol`: the pure, sans-IO core of auth4agent.
//!
//! Everything the server and the CLI sign, verify, parse or encode goes through this crate: `did:agent`
//! identifiers ([`Did`], [`Domain`]), Ed25519 keys ([`SigningKey`], [`PublicKey`], [`Jwk`]), key sets
//! ([`KeySet`]), the strict JWS core ([`UnverifiedJws`]), access tokens ([`Verifier`], [`issue_token`]), challenge
//! proofs ([`ProofClaims`], [`UnverifiedProof`]), signed requests ([`sign_request`], [`UnverifiedRequest`]), DPoP
//! proofs ([`sign_dpop_proof`], [`verify_dpop_proof`]), DNS TXT matching ([`TxtRecord`]), scopes ([`ScopeSet`]) and
//! Token Status Lists ([`StatusList`], [`verify_status_list`]). It performs no I/O and never reads the clock: callers
//! pass `now` ([`UnixTime`]) and random bytes in, and fetch key sets themselves ([`KeyRefresh`] says when).
//!
//! A service verifies a token offline against the issuer's key set, then requires the scope its operation needs:
//!
//! ```
//! use auth4agent_protocol::{
//!     AccessTokenClaims, Audience, Confirmation, Did, Domain, KeySet, SigningKey, UnixTime, Verifier, issue_token,
//! };
//!
//! // The issuer's signing key (made from 32 random bytes; fixed here) and the key set it publishes as its JWKS.
//! let issuer_key = SigningKey::from_seed(&[7; 32]);
//! let kid = issuer_key.public_key().thumbprint();
//! let keys = KeySet::from_keys([(kid.clone(), issuer_key.public_key())])?;
//! // A service would parse `GET https://auth.example.com/.well-known/jwks.json` instead:
//! let keys = KeySet::from_json(&serde_json::to_string(&keys.to_jwks()).unwrap())?;
//!
//! // A token the issuer granted an agent for the service `https://api.example.com`.
//! let agent = Did::from_key(
//!     &Domain::parse("agents.example.com")?,
//!     &SigningKey::from_seed(&[9; 32]).public_key(),
//! );
//! let now = UnixTime::from_secs(1_800_000_000);
//! let token = issue_token(&issuer_key, &kid, &AccessTokenClaims {
//!     iss: "https://auth.example.com".into(),
//!     sub: agent.to_string(),
//!     client_id: agent.to_string(),
//!     aud: Audience::One("https://api.example.com".into()),
//!     scope: "orders:read orders:write".into(),
//!     iat: now.as_secs(),
//!     nbf: None,
//!     exp: now.as_secs() + 900,
//!     jti: "tok_0123456789abcdef".into(),
//!     cnf: Confirmation { jkt: "agent-key-thumbprint".into() },
//!     status: None,
//! })?;
//!
//! // The service: exact issuer, its own audience, then the scope this operation needs.
//! let verifier = Verifier::new("https://auth.example.com", "https://api.example.com");
//! let verified = verifier.verify(&token, &keys, now)?;
//! assert_eq!(verified.did(), &agent);
//! verified.require_scope("orders:read")?;
//! let refused = verified.require_scope("orders:delete").unwrap_err();
//! assert_eq!(refused.code(), "scope_not_allowed");
//!
//! // A token for another service does not pass.
//! let elsewhere = Verifier::new("https://auth.example.com", "https://billing.example.com");
//! assert_eq!(elsewhere.verify(&token, &keys, now).unwrap_err().code(), "wrong_audience");
//! # Ok::<(), auth4agent_protocol::Error>(())
//! ```

mod challenge_id;
mod client_assertion;
mod device;
mod did;
mod dns;
mod dpop;
mod encoding;
#[cfg(test)]
mod equivalence_tests;
mod error;
mod form;
mod jwks;
mod jws;
mod key_change;
mod keys;
mod proof;
mod refresh;
mod request;
mod scope;
mod status_list;
mod strict_json;
mod time;
mod token;

pub use challenge_id::{
    CHALLENGE_ID_LEN, CHALLENGE_ID_PREFIX, CHALLENGE_SECRET_LEN, CHALLENGE_UNIQUE_LEN,
    ChallengeIdError, ChallengeSecret,
};
pub use client_assertion::{
    AssertionRules, CLIENT_ASSERTION_TYP, ClientAssertionClaims, MAX_ASSERTION_LIFETIME,
    UnverifiedClientAssertion, VerifiedClientAssertion, check_resource, sign_client_assertion,
};
pub use device::{BINDING_MESSAGE_MAX, USER_CODE_ALPHABET, UserCode, check_binding_message};
pub use did::{Did, Domain, did_document};
pub use dns::{TxtMatch, TxtRecord, match_txt, txt_record_name, txt_record_value};
pub use dpop::{
    DPOP_HEADER, DPOP_MAX_AGE, DPOP_SCHEME, DPOP_TYP, DpopProofClaims, DpopRules, MAX_DPOP_JTI_LEN,
    VerifiedDpopProof, sign_dpop_proof, verify_dpop_proof,
};
pub use encoding::{b64url_decode, b64url_encode, hex, sha256, sha256_b64url};
pub use error::{Error, Result};
pub use form::{Form, MAX_FORM_PARAMS, encode_form};
pub use jwks::{Jwks, KeySet};
pub use jws::{JwsHeader, MAX_COMPACT_LEN, UnverifiedJws, VerifiedJws, constant_time_eq, typ};
pub use key_change::{
    KeyChangeClaims, KeyChangeRules, MAX_KEY_CHANGE_LIFETIME, sign_key_change, verify_key_change,
};
pub use keys::{Jwk, PublicKey, SigningKey};
pub use proof::{
    Challenge, MAX_CHALLENGE_TTL, MAX_PROOF_LIFETIME, MIN_NONCE_BYTES, ProofClaims,
    ReceivedChallenge, RequestedToken, UnverifiedProof, sign_proof,
};
pub use refresh::{KeyRefresh, RefreshStep};
pub use request::{
    MAX_REQUEST_LIFETIME, RequestClaims, SIGNATURE_HEADER, UnverifiedRequest, VerifiedRequest,
    sign_request,
};
pub use scope::ScopeSet;
pub use status_list::{
    EncodedStatusList, MAX_STATUS_LIST_BYTES, MAX_STATUS_LIST_TOKEN_LEN, STATUS_BITS,
    STATUS_LIST_LEEWAY, STATUS_LIST_MEDIA_TYPE, StatusClaim, StatusList, StatusListRef,
    StatusListTokenClaims, TokenStatus, VerifiedStatusList, issue_status_list, verify_status_list,
};
pub use time::UnixTime;
pub use token::{
    AccessTokenClaims, Audience, Confirmation, DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, VerifiedToken,
    Verifier, issue_token,
};

/// Parses JSON refusing duplicate member names at any depth; exposed for callers that accept JSON documents
/// (such as a JWKS file) and want the same strictness.
pub fn parse_strict_json(bytes: &[u8]) -> Result<serde_json::Value> {
    strict_json::parse(bytes)
}
