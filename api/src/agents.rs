//! Agents: registration (`POST /v1/agents`, optionally asking for scopes, which puts the registration in the
//! operator's approval queue), the agent object with its DID document (and, for an agent that asked, where its
//! registration request stands), the operator's list of agents (`GET /v1/operators/{id}/agents`) and the
//! scopes body (`PUT /v1/agents/{did}/scopes`).

use auth4agent_protocol::Jwk;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/agents` body, signed by the agent key it registers. The operator is named by `operator_id` or by
/// `domain` (the operator that has proven it), exactly one of the two. With `requested_scopes` the registration
/// enters the operator's approval queue; without, the agent waits for `PUT /v1/agents/{did}/scopes`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RegisterAgent {
    /// The operator's proven domain, instead of `operator_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// A name for the approver to recognize the agent by (at most 64 printable characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
    pub public_key: Jwk,
    /// The scopes the agent needs: the operator approves them (possibly fewer) in its approval queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_scopes: Option<Vec<String>>,
}

/// Where an agent's registration request stands (an agent registered with `requested_scopes`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AgentRegistration {
    pub expires_at: u64,
    /// The scopes approved (the agent's allowed scopes); empty until approved.
    pub granted_scopes: Vec<String>,
    /// Seconds the agent waits between polls of `GET /v1/agents/{did}`.
    pub interval: u64,
    /// The name the agent gave (untrusted text).
    pub name: Option<String>,
    /// The scopes asked for, sorted.
    pub requested_scopes: Vec<String>,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    /// `XXXX-XXXX`: the code the operator approves.
    pub user_code: String,
    /// The approval page under the issuer.
    pub verification_uri: String,
    /// The approval page with the user code filled in.
    pub verification_uri_complete: String,
}

/// `PUT /v1/agents/{did}/scopes` body (operator-signed): replaces the agent's allowed scopes and, when
/// given, its approval scopes (absent keeps them).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SetScopes {
    pub allowed_scopes: Vec<String>,
    /// Scopes issued only after an operator approves the request (device authorization grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_scopes: Option<Vec<String>>,
}

/// An agent's lifecycle status (spec/protocol.md §11.3).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Pending,
    Active,
    Suspended,
    Revoked,
}

impl AgentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [AgentStatus; 4] = [
        AgentStatus::Pending,
        AgentStatus::Active,
        AgentStatus::Suspended,
        AgentStatus::Revoked,
    ];

    /// The status whose [`Self::as_str`] form is `s` (the server stores statuses in this form).
    pub fn parse(s: &str) -> Option<AgentStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Pending => "pending",
            AgentStatus::Active => "active",
            AgentStatus::Suspended => "suspended",
            AgentStatus::Revoked => "revoked",
        }
    }
}

impl std::fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The agent object (spec/protocol.md §11.2). `revoked_at` is `null` until the agent is revoked.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// Sorted in ascending byte order.
    pub allowed_scopes: Vec<String>,
    /// Scopes issued only after an operator's approval; sorted. Absent from older servers.
    #[serde(default)]
    pub approval_scopes: Vec<String>,
    pub created_at: u64,
    pub did: String,
    /// The W3C DID document, as `auth4agent_protocol::did_document` builds it.
    pub did_document: Value,
    pub operator_id: String,
    /// The registration request, for an agent registered with `requested_scopes`: in the registration's
    /// answer and in `GET /v1/agents/{did}`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<AgentRegistration>,
    pub revoked_at: Option<u64>,
    pub status: AgentStatus,
    pub updated_at: u64,
}

/// `GET /v1/operators/{id}/agents`: one page, in registration order (then DID).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct AgentList {
    pub agents: Vec<Agent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The query of `GET /v1/operators/{id}/agents` (not covered by the request signature, which binds the path).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct AgentListQuery {
    /// Page size, 1 to [`MAX_AGENT_PAGE`]; default [`DEFAULT_AGENT_PAGE`].
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

/// Agents per page when `limit` is absent.
pub const DEFAULT_AGENT_PAGE: u32 = 100;
/// Largest `limit` accepted.
pub const MAX_AGENT_PAGE: u32 = 1000;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys() -> Value {
        serde_json::from_str(include_str!("../../spec/examples/keys.json")).unwrap()
    }

    #[test]
    fn agent_round_trips_with_its_did_document() {
        let keys = keys();
        let did = keys["agent"]["did"].as_str().unwrap();
        let document = keys["agent"]["did_document"].clone();
        let agent = Agent {
            allowed_scopes: vec!["files:read".into(), "tickets:write".into()],
            approval_scopes: vec!["payments:write".into()],
            created_at: 1767225600,
            did: did.into(),
            did_document: document.clone(),
            operator_id: "op_aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            registration: None,
            revoked_at: None,
            status: AgentStatus::Active,
            updated_at: 1767225650,
        };
        let text = format!(
            r#"{{"allowed_scopes":["files:read","tickets:write"],"approval_scopes":["payments:write"],"created_at":1767225600,"did":"{did}","did_document":{},"operator_id":"op_aaaaaaaaaaaaaaaaaaaaaaaaaa","revoked_at":null,"status":"active","updated_at":1767225650}}"#,
            serde_json::to_string(&document).unwrap()
        );
        assert_eq!(serde_json::to_string(&agent).unwrap(), text);
        assert_eq!(serde_json::from_str::<Agent>(&text).unwrap(), agent);

        let list = AgentList {
            agents: vec![agent.clone()],
            next_cursor: Some("c".into()),
        };
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            format!(r#"{{"agents":[{text}],"next_cursor":"c"}}"#)
        );
        assert_eq!(
            serde_json::to_string(&AgentList::default()).unwrap(),
            r#"{"agents":[],"next_cursor":null}"#
        );
    }

    #[test]
    fn statuses_are_lowercase() {
        for (status, name) in [
            (AgentStatus::Pending, "pending"),
            (AgentStatus::Active, "active"),
            (AgentStatus::Suspended, "suspended"),
            (AgentStatus::Revoked, "revoked"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
            assert_eq!(status.as_str(), name);
            assert_eq!(AgentStatus::parse(name), Some(status));
        }
        assert_eq!(AgentStatus::ALL.len(), 4);
        assert_eq!(AgentStatus::parse("Active"), None);
    }

    #[test]
    fn request_bodies() {
        let keys = keys();
        let body = json!({"operator_id": "op_aaaaaaaaaaaaaaaaaaaaaaaaaa", "public_key": keys["agent"]["public_jwk"]});
        let parsed: RegisterAgent = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
        let scopes = SetScopes {
            allowed_scopes: vec!["files:read".into()],
            approval_scopes: None,
        };
        assert_eq!(
            serde_json::to_string(&scopes).unwrap(),
            r#"{"allowed_scopes":["files:read"]}"#
        );
        let both: SetScopes =
            serde_json::from_str(r#"{"allowed_scopes":[],"approval_scopes":["admin"]}"#).unwrap();
        assert_eq!(both.approval_scopes, Some(vec!["admin".into()]));
    }
}
