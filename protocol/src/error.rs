//! The one error type of the protocol crate. Every refusal has its own variant and a stable snake_case code.

use thiserror::Error;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A refusal or failure. [`Error::code`] is stable and part of the wire contract (`spec/protocol.md`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    // --- encoding and structure ---
    #[error("compact JWS must have exactly three non-empty-header segments separated by '.'")]
    MalformedToken,
    #[error("input is larger than the {0}-byte limit")]
    TokenTooLarge(usize),
    #[error("not unpadded base64url (RFC 4648 §5): {0}")]
    InvalidBase64(&'static str),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("duplicate member name {0:?}")]
    DuplicateMember(String),
    #[error("payload is not a JSON object")]
    PayloadNotObject,
    #[error("invalid form body: {0}")]
    InvalidForm(String),
    #[error("form parameter {0:?} is repeated")]
    RepeatedParameter(String),

    // --- JOSE header ---
    #[error("algorithm {0:?} is not allowed (only EdDSA / Ed25519)")]
    UnsupportedAlg(String),
    #[error("header has no typ")]
    MissingTyp,
    #[error("typ {found:?} where {expected:?} was expected")]
    WrongTyp { expected: String, found: String },
    #[error("crit names extensions this implementation does not understand")]
    UnknownCrit,
    #[error("crit must not be empty")]
    EmptyCrit,
    #[error("header member {0:?} embeds or points to a key; keys are never taken from a message")]
    EmbeddedKey(String),
    #[error("header has no kid")]
    MissingKid,
    #[error("no trusted key with kid {0:?}")]
    UnknownKid(String),
    #[error("signature verification failed")]
    BadSignature,

    // --- claims ---
    #[error("claim {0:?} must be a JSON integer NumericDate")]
    InvalidNumericDate(&'static str),
    #[error("required claim {0:?} is missing")]
    MissingClaim(&'static str),
    #[error("claim {0:?} is invalid: {1}")]
    InvalidClaim(&'static str, String),
    #[error("expired")]
    Expired,
    #[error("not yet valid (nbf in the future)")]
    NotYetValid,
    #[error("issued in the future (iat)")]
    IssuedInFuture,
    #[error("lifetime exceeds the allowed maximum")]
    LifetimeTooLong,
    #[error("issuer {0:?} is not the expected issuer")]
    WrongIssuer(String),
    #[error("audience does not include an accepted audience")]
    WrongAudience,
    #[error("invalid audience: {0}")]
    InvalidAudience(String),
    #[error("audience list is empty")]
    EmptyAudience,
    #[error("subject does not match")]
    WrongSubject,

    // --- identities and keys ---
    #[error("invalid DID: {0}")]
    InvalidDid(String),
    #[error("invalid domain: {0}")]
    InvalidDomain(String),
    #[error("{0:?} is a public suffix; register a domain you control below it")]
    PublicSuffix(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("duplicate kid {0:?} in key set")]
    DuplicateKid(String),

    // --- scopes, proofs, signed requests ---
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    #[error("scope {0:?} is not allowed")]
    ScopeNotAllowed(String),
    /// A verified token lacks a scope the operation requires ([`VerifiedToken::require_scope`](crate::VerifiedToken::require_scope)).
    #[error("the token does not grant the scope {required:?}")]
    InsufficientScope { required: String },
    #[error("nonce does not match the challenge")]
    NonceMismatch,
    #[error("already used")]
    Replayed,
    #[error("htm {found:?} does not match the request method {expected:?}")]
    HtmMismatch { expected: String, found: String },
    #[error("htu {found:?} does not match the request URL {expected:?}")]
    HtuMismatch { expected: String, found: String },
    #[error("ath does not match the SHA-256 of the request body")]
    BodyHashMismatch,

    // --- DPoP proofs (RFC 9449) ---
    #[error("the DPoP proof's ath is not the SHA-256 of the access token")]
    AthMismatch,
    #[error("the DPoP proof is signed by a key other than the one the token is bound to")]
    DpopKeyMismatch,
    // --- device authorization (RFC 8628) ---
    #[error("invalid user code: {0}")]
    InvalidUserCode(String),
    #[error("invalid binding message: {0}")]
    InvalidBindingMessage(String),
    // --- status lists (draft-ietf-oauth-status-list) ---
    #[error("invalid status list: {0}")]
    InvalidStatusList(String),
    #[error("status list sub {found:?} is not the uri {expected:?} the token names")]
    StatusListUriMismatch { expected: String, found: String },
    #[error("status index {idx} is past the end of the list ({len} entries)")]
    StatusIndexOutOfRange { idx: u64, len: u64 },
}

impl Error {
    /// The stable snake_case code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MalformedToken => "malformed_token",
            Error::TokenTooLarge(_) => "token_too_large",
            Error::InvalidBase64(_) => "invalid_base64",
            Error::InvalidJson(_) => "invalid_json",
            Error::DuplicateMember(_) => "duplicate_member",
            Error::PayloadNotObject => "payload_not_object",
            Error::InvalidForm(_) => "invalid_form",
            Error::RepeatedParameter(_) => "repeated_parameter",
            Error::UnsupportedAlg(_) => "unsupported_alg",
            Error::MissingTyp => "missing_typ",
            Error::WrongTyp { .. } => "wrong_typ",
            Error::UnknownCrit => "unknown_crit",
            Error::EmptyCrit => "empty_crit",
            Error::EmbeddedKey(_) => "embedded_key",
            Error::MissingKid => "missing_kid",
            Error::UnknownKid(_) => "unknown_kid",
            Error::BadSignature => "bad_signature",
            Error::InvalidNumericDate(_) => "invalid_numeric_date",
            Error::MissingClaim(_) => "missing_claim",
            Error::InvalidClaim(..) => "invalid_claim",
            Error::Expired => "expired",
            Error::NotYetValid => "not_yet_valid",
            Error::IssuedInFuture => "issued_in_future",
            Error::LifetimeTooLong => "lifetime_too_long",
            Error::WrongIssuer(_) => "wrong_issuer",
            Error::WrongAudience => "wrong_audience",
            Error::InvalidAudience(_) => "invalid_audience",
            Error::EmptyAudience => "empty_audience",
            Error::WrongSubject => "wrong_subject",
            Error::InvalidDid(_) => "invalid_did",
            Error::InvalidDomain(_) => "invalid_domain",
            Error::PublicSuffix(_) => "public_suffix",
            Error::InvalidKey(_) => "invalid_key",
            Error::DuplicateKid(_) => "duplicate_kid",
            Error::InvalidScope(_) => "invalid_scope",
            Error::ScopeNotAllowed(_) | Error::InsufficientScope { .. } => "scope_not_allowed",
            Error::NonceMismatch => "nonce_mismatch",
            Error::Replayed => "replayed",
            Error::HtmMismatch { .. } => "htm_mismatch",
            Error::HtuMismatch { .. } => "htu_mismatch",
            Error::BodyHashMismatch => "body_hash_mismatch",
            Error::AthMismatch => "ath_mismatch",
            Error::DpopKeyMismatch => "dpop_key_mismatch",
            Error::InvalidUserCode(_) => "invalid_user_code",
            Error::InvalidBindingMessage(_) => "invalid_binding_message",
            Error::InvalidStatusList(_) => "invalid_status_list",
            Error::StatusListUriMismatch { .. } => "status_list_uri_mismatch",
            Error::StatusIndexOutOfRange { .. } => "status_index_out_of_range",
        }
    }
}
