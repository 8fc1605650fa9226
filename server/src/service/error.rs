//! `ServiceError`: why a service function refused or failed. A refusal carries the stable wire code
//! of spec/protocol.md and a message; the HTTP layer ([`crate::errors`]) gives each code its status.

use crate::store::StoreError;

/// A refusal (the client's request cannot be granted) or a failure (not the client's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Refused, with a stable snake_case code (`agent_revoked`, `scope_not_allowed`, …).
    #[error("{code}: {message}")]
    Refused { code: &'static str, message: String },
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
    pub fn refused(code: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Refused {
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ServiceError {
        ServiceError::Internal(message.into())
    }

    /// The wire code of a refusal (`None` for failures).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            ServiceError::Refused { code, .. } => Some(code),
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
