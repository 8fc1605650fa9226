//! Approvals of device authorizations (RFC 8628) and of registrations that asked for scopes by the operator, every call signed by the operator key:
//! the pending requests (`GET /v1/operators/{id}/approvals`, long-polled with `?wait=SECONDS`), a decision
//! (`POST …/approvals/approve`, `POST …/approvals/deny`), and the remembered grants an approval may leave
//! (`GET /v1/operators/{id}/grants`, `POST …/grants/revoke`).

use serde::{Deserialize, Serialize};

/// What a request of the approval queue asks for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// A token with scopes that need an approval (RFC 8628).
    #[default]
    DeviceAuthorization,
    /// A new agent asking to be made active with these scopes; `remember` does not apply.
    Registration,
}

/// A request waiting for the operator's decision: a device authorization or a registration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// Seconds since the agent asked.
    pub age: u64,
    /// What the agent says it is doing (untrusted text from the agent: escape it before display).
    pub binding_message: Option<String>,
    pub created_at: u64,
    /// The requesting agent.
    pub did: String,
    pub expires_at: u64,
    /// Absent from older servers: a device authorization.
    #[serde(default)]
    pub kind: ApprovalKind,
    /// A registering agent's name for itself (untrusted text: escape it before display); `null` otherwise.
    #[serde(default)]
    pub name: Option<String>,
    /// The token's audience; `""` for a registration.
    pub resource: String,
    /// The scopes asked for, sorted.
    pub scopes: Vec<String>,
    /// `XXXX-XXXX`.
    pub user_code: String,
}

/// `GET /v1/operators/{id}/approvals`: pending requests, oldest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ApprovalList {
    pub approvals: Vec<ApprovalRequest>,
    /// The cursor of the next page (`?cursor=`); `None` (null) on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/operators/{id}/approvals/approve` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ApproveRequest {
    /// Remember the approval this many seconds: the same agent then gets these scopes for the same resource
    /// without a new approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remember_seconds: Option<u64>,
    /// A subset of the requested scopes to grant; absent grants them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The code as shown (case and dashes do not matter).
    pub user_code: String,
}

/// `POST /v1/operators/{id}/approvals/deny` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DenyRequest {
    pub user_code: String,
}

/// The answer to an approval or a denial.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ApprovalDecision {
    /// For a registration, the agent's status after the decision (`active` or `revoked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_status: Option<String>,
    pub did: String,
    /// The grant the approval left, if `remember_seconds` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remembered_grant: Option<RememberedGrant>,
    pub resource: String,
    /// The scopes granted (empty for a denial).
    pub scopes: Vec<String>,
    /// `approved` or `denied`.
    pub status: String,
    pub user_code: String,
}

/// An approval remembered until `expires_at`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RememberedGrant {
    pub created_at: u64,
    pub did: String,
    pub expires_at: u64,
    /// `gr_` + 26 base32 characters.
    pub id: String,
    pub resource: String,
    pub revoked_at: Option<u64>,
    pub scopes: Vec<String>,
}

/// `GET /v1/operators/{id}/grants`: the operator's grants still in force, newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct GrantList {
    pub grants: Vec<RememberedGrant>,
    /// The cursor of the next page (`?cursor=`); `None` (null) on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/operators/{id}/grants/revoke` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RevokeGrantRequest {
    pub grant_id: String,
}
