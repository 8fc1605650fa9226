//! Signed requests (`Auth4Agent-Signature`): raw-body extraction, signer selection, verification and
//! single-use `jti` consumption. Handlers pick the key that must sign; this module checks the rest.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, header};
use serde::de::DeserializeOwned;

use auth4agent_protocol::{PublicKey, SIGNATURE_HEADER, UnverifiedRequest, VerifiedRequest};

use crate::app::AppState;
use crate::errors::{AppError, AppResult};
use crate::store::StoreError;

/// A request as the signature covers it: method, path, raw body bytes and the signature header.
#[derive(Debug)]
pub struct SignedBody {
    pub method: Method,
    /// Request path exactly as received (no query); `htu` is the issuer followed by it.
    pub path: String,
    /// Every `Auth4Agent-Signature` header (a signed call must carry exactly one).
    pub signatures: Vec<HeaderValue>,
    pub body: Bytes,
}

impl FromRequest<AppState> for SignedBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let signatures = req
            .headers()
            .get_all(SIGNATURE_HEADER)
            .iter()
            .cloned()
            .collect();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let limit = state.config.max_body_bytes;
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::payload_too_large(limit)
            } else {
                AppError::invalid_request(format!(
                    "could not read the request body: {}",
                    rejection.body_text()
                ))
            }
        })?;
        if !body.is_empty() && !content_type.as_deref().is_some_and(is_json_content_type) {
            return Err(AppError::unsupported_media_type());
        }
        Ok(SignedBody {
            method,
            path,
            signatures,
            body,
        })
    }
}

/// `application/json` or any `+json` media type, parameters allowed.
fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl SignedBody {
    /// Parses the body as JSON: syntax errors → `invalid_json`, shape errors → `invalid_request`.
    pub fn json<T: DeserializeOwned>(&self) -> AppResult<T> {
        parse_json(&self.body)
    }

    /// Decodes the signature header (structural JWS checks only; nothing is trusted yet).
    pub fn unverified(&self) -> AppResult<UnverifiedRequest> {
        let compact = match self.signatures.as_slice() {
            [] => {
                return Err(AppError::unauthorized(
                    "missing_signature",
                    format!("this call must carry a signed {SIGNATURE_HEADER} header"),
                ));
            }
            [one] => one.to_str().map_err(|_| {
                AppError::unauthorized("invalid_signature", "the signature header is not ASCII")
            })?,
            _ => {
                return Err(AppError::unauthorized(
                    "invalid_signature",
                    format!("more than one {SIGNATURE_HEADER} header"),
                ));
            }
        };
        UnverifiedRequest::decode(compact.trim()).map_err(signature_error)
    }
}

/// Parses a JSON body strictly: text that is not JSON, or an object naming a member twice (RFC 8259
/// §4 leaves its meaning undefined) → `invalid_json`; JSON of the wrong shape (not an object, a member
/// missing or mistyped) → `invalid_request`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    use auth4agent_protocol::Error as P;
    let value = auth4agent_protocol::parse_strict_json(bytes).map_err(|e| match e {
        P::DuplicateMember(name) => {
            AppError::invalid_json(format!("member {name:?} is given twice"))
        }
        e => AppError::invalid_json(format!("body is not valid JSON: {e}")),
    })?;
    serde_json::from_value(value).map_err(|e| AppError::invalid_request(e.to_string()))
}

/// What a wrong `kid` means: for administrative calls the signer is not allowed (403); for a
/// registration the proof of possession of the key in the body failed (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidMismatch {
    Forbidden,
    InvalidSignature,
}

/// Verifies `unverified` against `key` for this request, then consumes its `jti` for that signer.
pub async fn verify_signed(
    state: &AppState,
    req: &SignedBody,
    unverified: UnverifiedRequest,
    key: &PublicKey,
    on_mismatch: KidMismatch,
) -> AppResult<VerifiedRequest> {
    let thumbprint = key.thumbprint();
    if unverified.kid() != thumbprint {
        return Err(match on_mismatch {
            KidMismatch::Forbidden => AppError::forbidden(
                "forbidden",
                "the request is signed by a key that may not make this call",
            ),
            KidMismatch::InvalidSignature => AppError::unauthorized(
                "invalid_signature",
                "the request must be signed by the key it registers (kid mismatch)",
            ),
        });
    }
    let url = format!("{}{}", state.config.issuer, req.path);
    let now = state.clock.now();
    let verified = unverified
        .verify(
            key,
            req.method.as_str(),
            &url,
            &req.body,
            now,
            state.config.leeway,
        )
        .map_err(signature_error)?;
    match state
        .store
        .consume_request_jti(&thumbprint, verified.jti(), verified.exp())
        .await
    {
        Ok(()) => Ok(verified),
        Err(StoreError::Replayed) => Err(AppError::conflict(
            "request_replayed",
            "this signed request (jti) was already used",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Maps a protocol refusal of a signed request to its wire error.
pub fn signature_error(e: auth4agent_protocol::Error) -> AppError {
    use auth4agent_protocol::Error as P;
    match &e {
        P::Expired | P::NotYetValid | P::IssuedInFuture | P::LifetimeTooLong => {
            AppError::unauthorized(
                "request_expired",
                format!(
                    "signed request is outside its validity window ({}): {e}",
                    e.code()
                ),
            )
        }
        P::HtmMismatch { .. } => AppError::unauthorized("htm_mismatch", e.to_string()),
        P::HtuMismatch { .. } => AppError::unauthorized("htu_mismatch", e.to_string()),
        P::BodyHashMismatch => AppError::unauthorized("body_hash_mismatch", e.to_string()),
        P::Replayed => AppError::conflict("request_replayed", e.to_string()),
        _ => AppError::unauthorized("invalid_signature", format!("{}: {e}", e.code())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }

    #[test]
    fn json_errors_are_client_errors() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            n: u32,
        }
        assert_eq!(parse_json::<B>(b"{").unwrap_err().code, "invalid_json");
        assert_eq!(parse_json::<B>(b"").unwrap_err().code, "invalid_json");
        assert_eq!(
            parse_json::<B>(b"{\"n\":\"x\"}").unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(parse_json::<B>(b"{}").unwrap_err().code, "invalid_request");
        assert_eq!(
            parse_json::<B>(b"{\"n\":1,\"n\":2}").unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(
            parse_json::<B>(b"{\"n\":1} x").unwrap_err().code,
            "invalid_json"
        );
        assert!(parse_json::<B>(b"{\"n\":1}").is_ok());
    }
}
