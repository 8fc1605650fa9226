//! Refusals more than one token path gives: the issuance redemption (one store write for every path)
//! names them, and the grant modules that detect them earlier use the same ones.

use auth4agent_api::ErrorCode;

use super::ServiceError;

/// A client assertion whose `jti` was used.
pub fn assertion_replayed() -> ServiceError {
    ServiceError::refused(
        ErrorCode::ClientAssertionReplayed,
        "this client assertion (jti) was already used",
    )
}

/// A device code past its expiry before it was approved (RFC 8628 `expired_token`).
pub fn device_code_expired() -> ServiceError {
    ServiceError::refused(
        ErrorCode::ExpiredToken,
        "the device code expired before it was approved; start a new device authorization",
    )
}

/// A device code already exchanged for its token.
pub fn device_code_used() -> ServiceError {
    ServiceError::refused(
        ErrorCode::InvalidGrant,
        "this device code was already exchanged for its token",
    )
}
