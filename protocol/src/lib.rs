//! `auth4agent-protocol`: the pure, sans-IO core of auth4agent.
//!
//! Everything the server and the CLI sign, verify, parse or encode goes through this crate: `did:agent`
//! identifiers ([`did`]), Ed25519 keys ([`keys`]), key sets ([`jwks`]), the strict JWS core ([`jws`]), access
//! tokens ([`token`]), challenge proofs ([`proof`]), signed requests ([`request`]), DNS TXT matching ([`dns`]) and
//! scopes ([`scope`]). It performs no I/O and never reads the clock: callers pass `now` (Unix seconds) and random
//! bytes in.

mod client_assertion;
pub mod did;
pub mod dns;
pub mod encoding;
#[cfg(test)]
mod equivalence_tests;
pub mod error;
mod form;
pub mod jwks;
pub mod jws;
pub mod keys;
pub mod proof;
pub mod request;
pub mod scope;
mod strict_json;
pub mod token;

pub use client_assertion::{
    AssertionRules, CLIENT_ASSERTION_TYP, ClientAssertionClaims, MAX_ASSERTION_LIFETIME,
    UnverifiedClientAssertion, VerifiedClientAssertion, check_resource, sign_client_assertion,
};
pub use did::{Did, Domain, did_document};
pub use dns::{TxtMatch, TxtRecord, match_txt, txt_record_name, txt_record_value};
pub use encoding::{b64url_decode, b64url_encode, sha256_b64url};
pub use error::{Error, Result};
pub use form::{Form, MAX_FORM_PARAMS, encode_form};
pub use jwks::{Jwks, KeySet};
pub use jws::{UnverifiedJws, VerifiedJws, typ};
pub use keys::{Jwk, PublicKey, SigningKey};
pub use proof::{Challenge, ProofClaims, UnverifiedProof, sign_proof};
pub use request::{
    RequestClaims, SIGNATURE_HEADER, UnverifiedRequest, VerifiedRequest, sign_request,
};
pub use scope::ScopeSet;
pub use token::{AccessTokenClaims, Audience, Confirmation, VerifiedToken, Verifier, issue_token};
pub use {proof::MAX_CHALLENGE_TTL, request::MAX_REQUEST_LIFETIME, token::DEFAULT_LEEWAY};

/// Parses JSON refusing duplicate member names at any depth; exposed for callers that accept JSON documents
/// (such as a JWKS file) and want the same strictness.
pub fn parse_strict_json(bytes: &[u8]) -> Result<serde_json::Value> {
    strict_json::parse(bytes)
}
