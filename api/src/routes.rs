//! Route paths: every endpoint's path template (the form axum routes on, `{id}` and `{did}` placeholders), the
//! methods it answers, and builders for the concrete paths of the parameterized ones.
//!
//! Paths are relative to the issuer URL. A DID goes into a path as it is: its characters (`[a-z0-9.:-]`) need no
//! percent-encoding.

/// An HTTP method the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    /// The method's name, uppercase (as in `htm`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const HEALTH: &str = "/health";
pub const READY: &str = "/ready";
pub const JWKS: &str = "/.well-known/jwks.json";
pub const CONFIGURATION: &str = "/.well-known/auth4agent-configuration";
/// RFC 8414 authorization server metadata.
pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
/// The OAuth token endpoint (client credentials with `private_key_jwt`).
pub const OAUTH_TOKEN: &str = "/oauth/token";
/// The OAuth authorization endpoint: present because OAuth clients require one in the metadata, and
/// refusing every request (`unsupported_response_type`): no grant of this server uses it.
pub const OAUTH_AUTHORIZE: &str = "/oauth/authorize";
/// The device authorization endpoint (RFC 8628 §3.1).
pub const OAUTH_DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
/// The approval page a device authorization's `verification_uri` names (`?user_code=` fills it in); HTML.
pub const CONSOLE_APPROVE: &str = "/console/approve";
/// The operator console's home: the pending approvals; HTML, behind a console session.
pub const CONSOLE: &str = "/console";
/// Opens a console session from a one-time login link (`?token=`) and redirects (303) to [`CONSOLE`].
pub const CONSOLE_LOGIN: &str = "/console/login";
/// The console's agents page; HTML.
pub const CONSOLE_AGENTS: &str = "/console/agents";
/// The console's recent audit events; HTML.
pub const CONSOLE_AUDIT: &str = "/console/audit";
/// Denies a device authorization from the console (form post).
pub const CONSOLE_DENY: &str = "/console/deny";
/// Ends the console session (form post).
pub const CONSOLE_LOGOUT: &str = "/console/logout";
/// The operator's passkeys, and the registration of one more (WebAuthn); HTML and a form post.
pub const CONSOLE_PASSKEYS: &str = "/console/passkeys";
/// Sign in with a passkey alone (the operator's domain, then a WebAuthn assertion); HTML and a form post.
pub const CONSOLE_PASSKEY_LOGIN: &str = "/console/passkey-login";
/// The console's stylesheet and script, served from the binary.
pub const CONSOLE_STATIC: &str = "/console/static/{file}";

/// The Token Status List aggregation (draft-ietf-oauth-status-list-20 §9): every list's URI.
pub const STATUS_LISTS: &str = "/status-lists";
/// One Token Status List (`application/statuslist+jwt`); lists are numbered from 1.
pub const STATUS_LIST: &str = "/status-lists/{list}";

pub const OPERATORS: &str = "/v1/operators";
pub const OPERATOR: &str = "/v1/operators/{id}";
pub const OPERATOR_VERIFICATION: &str = "/v1/operators/{id}/verification";
pub const OPERATOR_KEY: &str = "/v1/operators/{id}/key";
pub const OPERATOR_RECOVERY: &str = "/v1/operators/{id}/recovery";
pub const OPERATOR_RECOVERY_CONFIRM: &str = "/v1/operators/{id}/recovery/confirm";
pub const OPERATOR_AGENTS: &str = "/v1/operators/{id}/agents";
pub const OPERATOR_REVOCATIONS: &str = "/v1/operators/{id}/revocations";
pub const OPERATOR_APPROVALS: &str = "/v1/operators/{id}/approvals";
pub const OPERATOR_APPROVE: &str = "/v1/operators/{id}/approvals/approve";
pub const OPERATOR_DENY: &str = "/v1/operators/{id}/approvals/deny";
pub const OPERATOR_GRANTS: &str = "/v1/operators/{id}/grants";
pub const OPERATOR_GRANT_REVOKE: &str = "/v1/operators/{id}/grants/revoke";
/// A one-time login link to the operator console (operator-signed).
pub const OPERATOR_CONSOLE_LINK: &str = "/v1/operators/{id}/console-link";

pub const AGENTS: &str = "/v1/agents";
pub const AGENT: &str = "/v1/agents/{did}";
pub const AGENT_SCOPES: &str = "/v1/agents/{did}/scopes";
pub const AGENT_SUSPEND: &str = "/v1/agents/{did}/suspend";
pub const AGENT_REACTIVATE: &str = "/v1/agents/{did}/reactivate";
pub const AGENT_REVOKE: &str = "/v1/agents/{did}/revoke";

pub const CHALLENGE: &str = "/v1/challenge";
pub const TOKEN: &str = "/v1/token";
pub const INTROSPECT: &str = "/v1/introspect";
pub const REVOKE: &str = "/v1/revoke";

/// One path template and the methods routed on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    pub methods: &'static [Method],
}

const fn route(path: &'static str, methods: &'static [Method]) -> Route {
    Route { path, methods }
}

/// Every route of the API, each path once.
pub const ALL: &[Route] = &[
    route(HEALTH, &[Method::Get]),
    route(READY, &[Method::Get]),
    route(JWKS, &[Method::Get]),
    route(CONFIGURATION, &[Method::Get]),
    route(OAUTH_METADATA, &[Method::Get]),
    route(OAUTH_TOKEN, &[Method::Post]),
    route(OAUTH_AUTHORIZE, &[Method::Get, Method::Post]),
    route(OAUTH_DEVICE_AUTHORIZATION, &[Method::Post]),
    route(CONSOLE_APPROVE, &[Method::Get, Method::Post]),
    route(CONSOLE, &[Method::Get]),
    route(CONSOLE_LOGIN, &[Method::Get]),
    route(CONSOLE_AGENTS, &[Method::Get]),
    route(CONSOLE_AUDIT, &[Method::Get]),
    route(CONSOLE_DENY, &[Method::Post]),
    route(CONSOLE_LOGOUT, &[Method::Post]),
    route(CONSOLE_STATIC, &[Method::Get]),
    route(CONSOLE_PASSKEYS, &[Method::Get, Method::Post]),
    route(CONSOLE_PASSKEY_LOGIN, &[Method::Get, Method::Post]),
    route(STATUS_LISTS, &[Method::Get]),
    route(STATUS_LIST, &[Method::Get]),
    route(OPERATORS, &[Method::Post]),
    route(OPERATOR, &[Method::Get]),
    route(OPERATOR_VERIFICATION, &[Method::Get, Method::Post]),
    route(OPERATOR_KEY, &[Method::Post]),
    route(OPERATOR_RECOVERY, &[Method::Post]),
    route(OPERATOR_RECOVERY_CONFIRM, &[Method::Post]),
    route(OPERATOR_AGENTS, &[Method::Get]),
    route(OPERATOR_REVOCATIONS, &[Method::Get]),
    route(OPERATOR_APPROVALS, &[Method::Get]),
    route(OPERATOR_APPROVE, &[Method::Post]),
    route(OPERATOR_DENY, &[Method::Post]),
    route(OPERATOR_GRANTS, &[Method::Get]),
    route(OPERATOR_GRANT_REVOKE, &[Method::Post]),
    route(OPERATOR_CONSOLE_LINK, &[Method::Post]),
    route(AGENTS, &[Method::Post]),
    route(AGENT, &[Method::Get]),
    route(AGENT_SCOPES, &[Method::Put]),
    route(AGENT_SUSPEND, &[Method::Post]),
    route(AGENT_REACTIVATE, &[Method::Post]),
    route(AGENT_REVOKE, &[Method::Post]),
    route(CHALLENGE, &[Method::Post]),
    route(TOKEN, &[Method::Post]),
    route(INTROSPECT, &[Method::Post]),
    route(REVOKE, &[Method::Post]),
];

/// `/status-lists/{list}`.
pub fn status_list(list: u64) -> String {
    STATUS_LIST.replace("{list}", &list.to_string())
}

/// `/v1/operators/{id}`.
pub fn operator(id: &str) -> String {
    OPERATOR.replace("{id}", id)
}

/// `/v1/operators/{id}/verification`.
pub fn operator_verification(id: &str) -> String {
    OPERATOR_VERIFICATION.replace("{id}", id)
}

/// `/v1/operators/{id}/key`.
pub fn operator_key(id: &str) -> String {
    OPERATOR_KEY.replace("{id}", id)
}

/// `/v1/operators/{id}/agents`.
pub fn operator_agents(id: &str) -> String {
    OPERATOR_AGENTS.replace("{id}", id)
}

/// `/v1/operators/{id}/revocations`.
pub fn operator_revocations(id: &str) -> String {
    OPERATOR_REVOCATIONS.replace("{id}", id)
}

/// An operator route (`OPERATOR_APPROVALS`, `OPERATOR_APPROVE`, …) for operator `id`.
pub fn for_operator(template: &str, id: &str) -> String {
    template.replace("{id}", id)
}

/// `/v1/agents/{did}`.
pub fn agent(did: &str) -> String {
    AGENT.replace("{did}", did)
}

/// `/v1/agents/{did}/scopes`.
pub fn agent_scopes(did: &str) -> String {
    AGENT_SCOPES.replace("{did}", did)
}

/// `/v1/agents/{did}/suspend`.
pub fn agent_suspend(did: &str) -> String {
    AGENT_SUSPEND.replace("{did}", did)
}

/// `/v1/agents/{did}/reactivate`.
pub fn agent_reactivate(did: &str) -> String {
    AGENT_REACTIVATE.replace("{did}", did)
}

/// `/v1/agents/{did}/revoke`.
pub fn agent_revoke(did: &str) -> String {
    AGENT_REVOKE.replace("{did}", did)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DID: &str = "did:agent:example.com:6a3803d5f059902a1c6dafbc9ba47292";

    #[test]
    fn builders_fill_the_templates() {
        assert_eq!(operator("op_abc"), "/v1/operators/op_abc", "operator path");
        assert_eq!(
            operator_verification("op_abc"),
            "/v1/operators/op_abc/verification"
        );
        assert_eq!(operator_agents("op_abc"), "/v1/operators/op_abc/agents");
        assert_eq!(
            operator_revocations("op_abc"),
            "/v1/operators/op_abc/revocations"
        );
        assert_eq!(
            for_operator(OPERATOR_APPROVE, "op_abc"),
            "/v1/operators/op_abc/approvals/approve"
        );
        assert_eq!(status_list(2), "/status-lists/2");
        assert_eq!(agent(DID), format!("/v1/agents/{DID}"));
        assert_eq!(agent_scopes(DID), format!("/v1/agents/{DID}/scopes"));
        assert_eq!(agent_suspend(DID), format!("/v1/agents/{DID}/suspend"));
        assert_eq!(
            agent_reactivate(DID),
            format!("/v1/agents/{DID}/reactivate")
        );
        assert_eq!(agent_revoke(DID), format!("/v1/agents/{DID}/revoke"));
    }

    #[test]
    fn every_path_is_listed_once() {
        let mut paths: Vec<&str> = ALL.iter().map(|r| r.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ALL.len());
        assert!(ALL.iter().all(|r| !r.methods.is_empty()));
    }
}
