//! `auth4agent-api`: the wire types of the auth4agent HTTP API, shared by the server, the CLI, the bench and the
//! tests.
//!
//! It holds the JSON bodies of every endpoint ([`operators`], [`agents`], [`tokens`], [`discovery`], [`health`]),
//! the route paths ([`routes`]) and the one table of error codes with their HTTP status ([`error`]). It performs
//! no I/O. The shapes are normative in `spec/protocol.md` and described in `spec/openapi.yaml`; a test checks the
//! OpenAPI document against these types.
//!
//! Response types accept members they do not know (a newer server may add some); none uses
//! `deny_unknown_fields`. Struct fields are declared in alphabetical order: the server has built its bodies as
//! `serde_json::Value`s, whose members serialize sorted, so a typed body serializes to the same bytes.

pub mod agents;
pub mod approvals;
pub mod console;
pub mod discovery;
pub mod error;
pub mod health;
pub mod oauth;
pub mod operators;
pub mod routes;
pub mod tokens;

pub use agents::{
    Agent, AgentList, AgentListQuery, AgentRegistration, AgentStatus, DEFAULT_AGENT_PAGE,
    MAX_AGENT_PAGE, RegisterAgent, SetScopes,
};
pub use approvals::{
    ApprovalDecision, ApprovalKind, ApprovalList, ApprovalRequest, ApproveRequest, DenyRequest,
    GrantList, RememberedGrant, RevokeGrantRequest,
};
pub use console::ConsoleLink;
pub use discovery::{Configuration, Endpoints, Limits};
pub use error::{ErrorBody, ErrorCode, status_of};
pub use health::{Health, Ready};
pub use oauth::{
    AuthorizationServerMetadata, DeviceAuthorizationForm, DeviceAuthorizationResponse, FormRefusal,
    OAuthErrorBody, OAuthTokenResponse, TokenForm, TokenGrant, oauth_error,
};
pub use operators::{
    ChangeOperatorKey, Operator, OperatorStatus, RecoverOperator, RecoveryInstructions,
    RegisterOperator, Revocations, RevokedAgent, RevokedToken, VerificationInstructions,
};
pub use routes::{Method, Route};
pub use tokens::{
    ActiveToken, ChallengeRequest, ChallengeResponse, IntrospectRequest, Introspection,
    RevokeRequest, RevokeResponse, TokenRequest, TokenResponse,
};
