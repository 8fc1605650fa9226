//! Signed administrative requests (`Auth4Agent-Signature`): the request as its signature covers it,
//! verification against the key allowed to make the call, and single-use `jti` consumption per
//! signer. Which key that is, is decided by the caller (the HTTP extractors or a service function).

use std::time::Duration;

use auth4agent_protocol::{PublicKey, SIGNATURE_HEADER, UnverifiedRequest, VerifiedRequest};

use auth4agent_api::ErrorCode;

use super::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::{StoreError, UnixTime};

/// What the `Auth4Agent-Signature` header(s) of a request held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureHeader {
    Missing,
    /// More than one header: refused, whatever they say.
    Many,
    NotAscii,
    One(String),
}

/// A request as its signature covers it. Nothing in it is trusted until [`verify`] succeeds.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub method: String,
    /// Request path exactly as received (no query); `htu` is the issuer followed by it.
    pub path: String,
    pub signature: SignatureHeader,
    pub body: Vec<u8>,
}

impl SignedRequest {
    /// Decodes the signature header (structural JWS checks only; nothing is trusted yet).
    pub fn unverified(&self) -> ServiceResult<UnverifiedRequest> {
        let compact = match &self.signature {
            SignatureHeader::Missing => {
                return Err(ServiceError::refused(
                    ErrorCode::MissingSignature,
                    format!("this call must carry a signed {SIGNATURE_HEADER} header"),
                ));
            }
            SignatureHeader::Many => {
                return Err(ServiceError::refused(
                    ErrorCode::InvalidSignature,
                    format!("more than one {SIGNATURE_HEADER} header"),
                ));
            }
            SignatureHeader::NotAscii => {
                return Err(ServiceError::refused(
                    ErrorCode::InvalidSignature,
                    "the signature header is not ASCII",
                ));
            }
            SignatureHeader::One(value) => value,
        };
        UnverifiedRequest::decode(compact.trim()).map_err(signature_error)
    }
}

/// What a wrong `kid` means: for administrative calls the signer is not allowed (403); for a
/// registration the proof of possession of the key in the body failed (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidMismatch {
    Forbidden,
    InvalidSignature,
}

/// Verifies `req` against `key`, then consumes its `jti` for that signer: a signed request is good
/// once, across replicas.
pub async fn verify(
    state: &AppState,
    req: &SignedRequest,
    key: &PublicKey,
    on_mismatch: KidMismatch,
    now: UnixTime,
) -> ServiceResult<VerifiedRequest> {
    verify_decoded(state, req, req.unverified()?, key, on_mismatch, now).await
}

/// [`verify`] for a caller that already decoded the header (to pick the key by its `kid`).
pub async fn verify_decoded(
    state: &AppState,
    req: &SignedRequest,
    unverified: UnverifiedRequest,
    key: &PublicKey,
    on_mismatch: KidMismatch,
    now: UnixTime,
) -> ServiceResult<VerifiedRequest> {
    let thumbprint = key.thumbprint();
    if unverified.kid() != thumbprint {
        return Err(match on_mismatch {
            KidMismatch::Forbidden => ServiceError::refused(
                ErrorCode::Forbidden,
                "the request is signed by a key that may not make this call",
            ),
            KidMismatch::InvalidSignature => ServiceError::refused(
                ErrorCode::InvalidSignature,
                "the request must be signed by the key it registers (kid mismatch)",
            ),
        });
    }
    let url = state.url(&req.path);
    let verified = unverified
        .verify(
            key,
            &req.method,
            &url,
            &req.body,
            auth4agent_protocol::UnixTime::from_secs(now),
            Duration::from_secs(state.config.leeway),
        )
        .map_err(signature_error)?;
    match state
        .store
        .consume_request_jti(&thumbprint, verified.jti(), verified.exp().as_secs())
        .await
    {
        Ok(()) => Ok(verified),
        Err(StoreError::Replayed) => Err(ServiceError::refused(
            ErrorCode::RequestReplayed,
            "this signed request (jti) was already used",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Maps a protocol refusal of a signed request to its wire code.
fn signature_error(e: auth4agent_protocol::Error) -> ServiceError {
    use auth4agent_protocol::Error as P;
    match &e {
        P::Expired | P::NotYetValid | P::IssuedInFuture | P::LifetimeTooLong => {
            ServiceError::refused(
                ErrorCode::RequestExpired,
                format!(
                    "signed request is outside its validity window ({}): {e}",
                    e.code()
                ),
            )
        }
        P::HtmMismatch { .. } => ServiceError::refused(ErrorCode::HtmMismatch, e.to_string()),
        P::HtuMismatch { .. } => ServiceError::refused(ErrorCode::HtuMismatch, e.to_string()),
        P::BodyHashMismatch => ServiceError::refused(ErrorCode::BodyHashMismatch, e.to_string()),
        P::Replayed => ServiceError::refused(ErrorCode::RequestReplayed, e.to_string()),
        _ => ServiceError::refused(ErrorCode::InvalidSignature, format!("{}: {e}", e.code())),
    }
}
