//! Operators: registration (`POST /v1/operators`), the operator object, the DNS TXT instructions
//! (`GET /v1/operators/{id}/verification`) and the revocations list (`GET /v1/operators/{id}/revocations`).

use auth4agent_protocol::Jwk;
use serde::{Deserialize, Serialize};

/// `POST /v1/operators` body, signed by the key it registers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RegisterOperator {
    /// The domain to claim; the server normalizes it.
    pub domain: String,
    pub public_key: Jwk,
}

/// `POST /v1/operators/{id}/key` body, signed by the operator's current (old) key: the new root key
/// and `key_change`, an `auth4agent-key-change+jwt` signed by the new key (spec §10.5).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChangeOperatorKey {
    pub public_key: Jwk,
    pub key_change: String,
}

/// `POST /v1/operators/{id}/recovery` and `POST /v1/operators/{id}/recovery/confirm` body, signed by the
/// key it names: the new root key of an operator that lost its key (spec §10.6).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RecoverOperator {
    pub public_key: Jwk,
}

/// `POST /v1/operators/{id}/recovery`: the TXT record proving the domain for the new key, and until when.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RecoveryInstructions {
    pub domain: String,
    pub expires_at: u64,
    pub txt_record_name: String,
    pub txt_record_value: String,
}

/// An operator's status as reported: `verified` only while its domain proof is current.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum OperatorStatus {
    Unverified,
    Verified,
}

impl OperatorStatus {
    /// Every status.
    pub const ALL: [OperatorStatus; 2] = [OperatorStatus::Unverified, OperatorStatus::Verified];

    /// The status whose [`Self::as_str`] form is `s` (the server stores statuses in this form).
    pub fn parse(s: &str) -> Option<OperatorStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            OperatorStatus::Unverified => "unverified",
            OperatorStatus::Verified => "verified",
        }
    }
}

impl std::fmt::Display for OperatorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operator object (spec/protocol.md §10.2). The two verification times are `null` until a first proof.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub created_at: u64,
    pub domain: String,
    pub domain_verified_at: Option<u64>,
    pub id: String,
    pub status: OperatorStatus,
    pub verification_expires_at: Option<u64>,
}

/// `GET /v1/operators/{id}/verification`: the DNS TXT record to publish.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VerificationInstructions {
    pub domain: String,
    pub txt_record_name: String,
    pub txt_record_value: String,
}

/// `GET /v1/operators/{id}/revocations`: one page of revoked tokens not yet expired, then revoked agents (the
/// query is an [`AgentListQuery`](crate::AgentListQuery): `limit` entries of both kinds together, `cursor`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Revocations {
    pub agents: Vec<RevokedAgent>,
    pub tokens: Vec<RevokedToken>,
    /// The cursor of the next page; `None` (null) on the last page.
    pub next_cursor: Option<String>,
}

/// A revoked agent in [`Revocations`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RevokedAgent {
    pub did: String,
    pub revoked_at: u64,
}

/// A revoked token in [`Revocations`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RevokedToken {
    pub did: String,
    pub expires_at: u64,
    pub jti: String,
    pub revoked_at: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Serializes to exactly `text` (the server's bytes) and parses back to `value`.
    fn same_bytes<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: &T,
        text: &str,
    ) {
        assert_eq!(serde_json::to_string(value).unwrap(), text);
        assert_eq!(&serde_json::from_str::<T>(text).unwrap(), value);
    }

    #[test]
    fn operator_times_are_null_until_verified() {
        let mut op = Operator {
            created_at: 1767225600,
            domain: "example.com".into(),
            domain_verified_at: None,
            id: "op_aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            status: OperatorStatus::Unverified,
            verification_expires_at: None,
        };
        same_bytes(
            &op,
            r#"{"created_at":1767225600,"domain":"example.com","domain_verified_at":null,"id":"op_aaaaaaaaaaaaaaaaaaaaaaaaaa","status":"unverified","verification_expires_at":null}"#,
        );
        op.status = OperatorStatus::Verified;
        op.domain_verified_at = Some(1767225700);
        op.verification_expires_at = Some(1769817700);
        same_bytes(
            &op,
            r#"{"created_at":1767225600,"domain":"example.com","domain_verified_at":1767225700,"id":"op_aaaaaaaaaaaaaaaaaaaaaaaaaa","status":"verified","verification_expires_at":1769817700}"#,
        );
    }

    #[test]
    fn statuses_parse_from_their_names() {
        for status in OperatorStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                Value::from(status.as_str())
            );
            assert_eq!(OperatorStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OperatorStatus::parse("bogus"), None);
    }

    #[test]
    fn instructions_match_the_txt_record_example() {
        let example: Value =
            serde_json::from_str(include_str!("../../spec/examples/txt_record.json")).unwrap();
        let parsed: VerificationInstructions = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(parsed.txt_record_name, "_auth4agent.example.com");
        assert_eq!(serde_json::to_value(&parsed).unwrap(), example);
    }

    #[test]
    fn revocations_list_both_kinds() {
        let did = "did:agent:example.com:6a3803d5f059902a1c6dafbc9ba47292";
        same_bytes(
            &Revocations {
                agents: vec![RevokedAgent {
                    did: did.into(),
                    revoked_at: 1767225800,
                }],
                tokens: vec![RevokedToken {
                    did: did.into(),
                    expires_at: 1767226500,
                    jti: "tQ2kGd3iX0b1S7yKp9cWmA".into(),
                    revoked_at: 1767225700,
                }],
                next_cursor: Some("c".into()),
            },
            &format!(
                r#"{{"agents":[{{"did":"{did}","revoked_at":1767225800}}],"tokens":[{{"did":"{did}","expires_at":1767226500,"jti":"tQ2kGd3iX0b1S7yKp9cWmA","revoked_at":1767225700}}],"next_cursor":"c"}}"#
            ),
        );
        same_bytes(
            &Revocations::default(),
            r#"{"agents":[],"tokens":[],"next_cursor":null}"#,
        );
    }

    #[test]
    fn register_body_is_the_signed_request_example() {
        let example: Value =
            serde_json::from_str(include_str!("../../spec/examples/signed_request.json")).unwrap();
        let text = example["body"].as_str().unwrap();
        let parsed: RegisterOperator = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.domain, "example.com");
        assert_eq!(parsed.public_key.kty, "OKP");
        // Through a `Value` (sorted members) the body is the example's exact bytes.
        let value = serde_json::to_value(&parsed).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
    }
}
