//! `ServiceError`: why a service function refused or failed. A refusal carries the stable wire code
//! ([`ErrorCode`], whose one table in auth4agent-api also gives its HTTP status) and a message.

use auth4agent_api::ErrorCode;

use crate::store::StoreError;

/// A refusal (the client's request cannot be granted) or a failure (not the client's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Refused, with a stable snake_case code (`agent_revoked`, `scope_not_allowed`, …).
    #[error("{}: {message}", code.as_str())]
    Refused { code: ErrorCode, message: String },
    /// A limit on the rate of some action was hit (`rate_limited`, sent with `Retry-After` seconds).
    #[error("rate_limited: {message}")]
    RateLimited { retry_after: u64, message: String },
    /// The store failed or is unreachable; details stay in the log.
    #[error("storage: {0}")]
    Storage(StoreError),
    /// A fault of the server itself (corrupt stored data, a signature that could not be made).
    #[error("internal: {0}")]
    Internal(String),
}

/// Result alias of the service layer.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> ServiceError {
        ServiceError::Refused {
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ServiceError {
        ServiceError::Internal(message.into())
    }

    /// The wire code of a refusal (`None` for failures).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ServiceError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> ServiceError {
        match e {
            StoreError::Corrupt(message) => {
                ServiceError::Internal(format!("corrupt data: {message}"))
            }
            e => ServiceError::Storage(e),
        }
    }
}
