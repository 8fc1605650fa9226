//! The operator console's one JSON endpoint: `POST /v1/operators/{id}/console-link` (signed by the operator key)
//! answers a one-time login link to the browser console. The console's pages themselves are HTML.

use serde::{Deserialize, Serialize};

/// A one-time login link: opening it starts a console session, and it works once, within `expires_in`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConsoleLink {
    /// When the link stops working (Unix seconds).
    pub expires_at: u64,
    /// Seconds the link stays valid (60).
    pub expires_in: u64,
    /// `{issuer}/console/login?token=...`: a secret until used.
    pub login_url: String,
}
