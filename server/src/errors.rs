//! `AppError`: the one place where failures become HTTP responses (`{"error": "<code>", "message": "..."}`).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use auth4agent_api::{ErrorCode, OAuthErrorBody};

use crate::service::ServiceError;

/// An HTTP error: status, stable snake_case code (see the contract), human message.
#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
}

/// Result alias for handlers.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, code, message)
    }
    pub fn internal(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }
    pub fn storage_unavailable(message: impl Into<String>) -> AppError {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            message,
        )
    }
    pub fn invalid_json(message: impl Into<String>) -> AppError {
        AppError::bad_request("invalid_json", message)
    }
    pub fn invalid_request(message: impl Into<String>) -> AppError {
        AppError::bad_request("invalid_request", message)
    }
    pub fn payload_too_large(limit: usize) -> AppError {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds the {limit}-byte limit"),
        )
    }
    pub fn request_timeout() -> AppError {
        AppError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "request was not completed in time",
        )
    }
    pub fn rate_limited(retry_after: u64) -> AppError {
        AppError {
            retry_after: Some(retry_after.max(1)),
            ..AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry later",
            )
        }
    }
    pub fn route_not_found() -> AppError {
        AppError::not_found("not_found", "no such endpoint")
    }
    pub fn method_not_allowed() -> AppError {
        AppError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this endpoint",
        )
    }
    pub fn unsupported_media_type() -> AppError {
        AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request body must be sent with Content-Type: application/json",
        )
    }

    /// The error a bare status gets when something outside our handlers (a layer, a router default) produced it.
    pub fn from_status(status: StatusCode) -> AppError {
        match status {
            StatusCode::NOT_FOUND => AppError::route_not_found(),
            StatusCode::METHOD_NOT_ALLOWED => AppError::method_not_allowed(),
            StatusCode::PAYLOAD_TOO_LARGE => {
                AppError::payload_too_large(crate::config::MAX_BODY_BYTES)
            }
            StatusCode::REQUEST_TIMEOUT => AppError::request_timeout(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::unsupported_media_type(),
            StatusCode::TOO_MANY_REQUESTS => AppError::rate_limited(1),
            StatusCode::SERVICE_UNAVAILABLE => AppError::storage_unavailable("service unavailable"),
            s if s.is_client_error() => AppError::new(
                s,
                "invalid_request",
                s.canonical_reason().unwrap_or("bad request"),
            ),
            s => AppError::new(s, "internal_error", "internal error"),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let mut resp = (
            self.status,
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(ErrorReport {
            code: self.code,
            message: self.message,
        });
        resp
    }
}

/// The code and message of an error response, kept on it so that an outer layer can re-render the
/// error in another format (the OAuth endpoints' RFC 6749 §5.2 bodies, see [`oauth_error_response`]).
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub code: &'static str,
    pub message: String,
}

/// An error response in RFC 6749 §5.2 form (`error`, `error_description`) with our code in
/// `auth4agent_error`, `Cache-Control: no-store`, and `Retry-After` kept from `original`.
pub fn oauth_error_response(report: &ErrorReport, original: &Response) -> Response {
    let code = ErrorCode::parse(report.code).unwrap_or(ErrorCode::InternalError);
    let (status, body) = OAuthErrorBody::new(code, report.message.clone());
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, Json(body)).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = original.headers().get(header::RETRY_AFTER) {
        headers.insert(header::RETRY_AFTER, v.clone());
    }
    resp
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> AppError {
        match e {
            // The one service-level rate limit (failed user-code lookups) refills a miss every 30 s.
            ServiceError::Refused {
                code: ErrorCode::RateLimited,
                message,
            } => AppError {
                message,
                ..AppError::rate_limited(crate::ratelimit::LOOKUP_REFILL_SECS)
            },
            ServiceError::Refused { code, message } => {
                let status = StatusCode::from_u16(code.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                AppError::new(status, code.as_str(), message)
            }
            ServiceError::RateLimited {
                retry_after,
                message,
            } => AppError {
                message,
                ..AppError::rate_limited(retry_after)
            },
            ServiceError::Storage(e) => e.into(),
            ServiceError::Internal(message) => AppError::internal(message),
        }
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> AppError {
        // Storage failures are never the client's fault; details stay in the log.
        tracing::error!(error = %e, "storage error");
        match e {
            // Stored data that does not decode is the server's fault, not the storage's reach.
            crate::store::StoreError::Corrupt(_) => AppError::internal("internal error"),
            _ => AppError::storage_unavailable("storage error"),
        }
    }
}
