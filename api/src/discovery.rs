//! Discovery: the document at `GET /.well-known/auth4agent-configuration` (spec/protocol.md §15.1): issuer,
//! JWKS URL, the absolute URL of each endpoint, the server's limits, and the `typ` values it uses.

use serde::{Deserialize, Serialize};

/// The discovery document. Clients check `issuer` before using anything else in it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Configuration {
    pub endpoints: Endpoints,
    pub issuer: String,
    pub jwks_uri: String,
    pub limits: Limits,
    /// The RFC 8414 authorization server metadata (absent from servers without the OAuth endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_authorization_server: Option<String>,
    pub proof_typ: String,
    pub request_signature_header: String,
    pub request_typ: String,
    pub signing_alg_values_supported: Vec<String>,
    /// The Token Status List aggregation (draft-ietf-oauth-status-list-20 §9; absent from servers without
    /// status lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list_aggregation_endpoint: Option<String>,
    pub token_types_supported: Vec<String>,
}

/// Absolute URL of each endpoint, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub agents: String,
    pub challenge: String,
    pub health: String,
    pub introspect: String,
    pub jwks: String,
    /// The OAuth token endpoint (absent from servers without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_token: Option<String>,
    pub operators: String,
    pub ready: String,
    pub revoke: String,
    pub token: String,
}

/// The server's configured limits, in bytes or seconds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Challenge lifetime, s (at most 60).
    pub challenge_ttl: u64,
    /// Clock-skew tolerance the server applies, s.
    pub leeway: u64,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: u64,
    /// Requests per second per client on the rate-limited endpoints (§15.4), enforced per server process;
    /// `0`: not limited. Absent from servers older than this member (read as 0: unknown).
    #[serde(default)]
    pub rate_limit: f64,
    /// Burst size of that limit.
    #[serde(default)]
    pub rate_limit_burst: u32,
    /// Largest `exp - iat` of a signed request, s.
    pub request_max_age: u64,
    /// Token lifetime when the proof's `ttl` is 0 or absent, s.
    pub token_default_ttl: u64,
    /// Largest token lifetime granted, s.
    pub token_max_ttl: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// spec/protocol.md §15.1's example, members sorted as the server sends them.
    const EXAMPLE: &str = concat!(
        r#"{"endpoints":{"agents":"https://auth.example.com/v1/agents","challenge":"https://auth.example.com/v1/challenge","#,
        r#""health":"https://auth.example.com/health","introspect":"https://auth.example.com/v1/introspect","#,
        r#""jwks":"https://auth.example.com/.well-known/jwks.json","oauth_token":"https://auth.example.com/oauth/token","#,
        r#""operators":"https://auth.example.com/v1/operators","#,
        r#""ready":"https://auth.example.com/ready","revoke":"https://auth.example.com/v1/revoke","#,
        r#""token":"https://auth.example.com/v1/token"},"issuer":"https://auth.example.com","#,
        r#""jwks_uri":"https://auth.example.com/.well-known/jwks.json","#,
        r#""limits":{"challenge_ttl":60,"leeway":60,"max_body_bytes":65536,"rate_limit":20.0,"#,
        r#""rate_limit_burst":100,"request_max_age":120,"#,
        r#""token_default_ttl":900,"token_max_ttl":3600},"#,
        r#""oauth_authorization_server":"https://auth.example.com/.well-known/oauth-authorization-server","#,
        r#""proof_typ":"auth4agent-proof+jwt","#,
        r#""request_signature_header":"Auth4Agent-Signature","request_typ":"auth4agent-req+jwt","#,
        r#""signing_alg_values_supported":["EdDSA"],"#,
        r#""status_list_aggregation_endpoint":"https://auth.example.com/status-lists","#,
        r#""token_types_supported":["at+jwt"]}"#
    );

    #[test]
    fn round_trips_the_spec_example() {
        let doc: Configuration = serde_json::from_str(EXAMPLE).unwrap();
        assert_eq!(doc.issuer, "https://auth.example.com");
        assert_eq!(doc.limits.max_body_bytes, 65536);
        assert_eq!(doc.endpoints.token, "https://auth.example.com/v1/token");
        assert_eq!(serde_json::to_string(&doc).unwrap(), EXAMPLE);
    }

    #[test]
    fn unknown_members_are_ignored() {
        let mut value: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        value["future_member"] = serde_json::json!(true);
        value["endpoints"]["device"] = serde_json::json!("https://auth.example.com/v1/device");
        let doc: Configuration = serde_json::from_value(value).unwrap();
        assert_eq!(serde_json::to_string(&doc).unwrap(), EXAMPLE);
    }
}
