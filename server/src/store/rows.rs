//! The one decoder of stored rows, shared by both backends. A backend exposes a result row's
//! columns through [`Columns`] (text, bytes and integers, by name); the functions here turn them
//! into the typed rows of [`super`] (`Did`, `Domain`, `ScopeSet`, `PublicKey`, statuses, Unix
//! times) once, as the row is read. A stored value that does not decode is
//! [`StoreError::Corrupt`]: an internal error, never the client's. Also the stored form of the
//! scopes column ([`scopes_column`]), the one column with an encoding of its own.

use std::fmt::Display;

use auth4agent_protocol::{Did, Domain, PublicKey, ScopeSet};

use super::{
    Agent, AgentStatus, ApprovalKind, AuditEvent, ConsoleSession, DeviceAuthorization,
    DeviceStatus, FlaggedEntry, Operator, OperatorRecovery, OperatorStatus, RememberedGrant,
    RevokedToken, SigningKeyRecord, StatusEntry, StatusListInfo, StoreError, StoredPasskey,
    UnixTime, WebauthnCeremony, keycache,
};

/// The columns of one result row, as plain values; implemented by each backend's row type.
pub(super) trait Columns {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
}

fn corrupt(column: &str, detail: impl Display) -> StoreError {
    StoreError::Corrupt(format!("column {column}: {detail}"))
}

/// Runs the decoding of one row, naming the row kind in a `Corrupt` message.
fn decode<T>(what: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    f().map_err(|e| match e {
        StoreError::Corrupt(message) => StoreError::Corrupt(format!("stored {what}: {message}")),
        e => e,
    })
}

fn time(row: &impl Columns, column: &str) -> Result<UnixTime, StoreError> {
    let v = row.int(column)?;
    u64::try_from(v).map_err(|_| corrupt(column, format!("negative time {v}")))
}

fn opt_time(row: &impl Columns, column: &str) -> Result<Option<UnixTime>, StoreError> {
    row.opt_int(column)?
        .map(|v| u64::try_from(v).map_err(|_| corrupt(column, format!("negative time {v}"))))
        .transpose()
}

fn did(row: &impl Columns, column: &str) -> Result<Did, StoreError> {
    let text = row.text(column)?;
    Did::parse(&text).map_err(|e| corrupt(column, format!("{text:?}: {e}")))
}

/// A domain as stored: valid and already normalized (as `Domain::as_str` wrote it).
fn domain(row: &impl Columns, column: &str) -> Result<Domain, StoreError> {
    let text = row.text(column)?;
    match Domain::parse(&text) {
        Ok(domain) if domain.as_str() == text => Ok(domain),
        Ok(_) => Err(corrupt(column, format!("{text:?} is not normalized"))),
        Err(e) => Err(corrupt(column, format!("{text:?}: {e}"))),
    }
}

fn public_key(row: &impl Columns, column: &str) -> Result<PublicKey, StoreError> {
    keycache::parse(&row.bytes(column)?).map_err(|e| corrupt(column, e))
}

/// The scopes column: a JSON array of valid scope tokens.
fn scopes(row: &impl Columns, column: &str) -> Result<ScopeSet, StoreError> {
    let text = row.text(column)?;
    let list: Vec<String> =
        serde_json::from_str(&text).map_err(|e| corrupt(column, format!("{text:?}: {e}")))?;
    ScopeSet::from_list(&list).map_err(|e| corrupt(column, format!("{text:?}: {e}")))
}

/// The stored form of a scope set: a JSON array, sorted, without duplicates.
pub(super) fn scopes_column(scopes: &ScopeSet) -> String {
    serde_json::Value::from(scopes.to_vec()).to_string()
}

pub(super) fn operator(row: &impl Columns) -> Result<Operator, StoreError> {
    decode("operator", || {
        let status = row.text("status")?;
        Ok(Operator {
            id: row.text("id")?,
            domain: domain(row, "domain")?,
            public_key: public_key(row, "public_key")?,
            thumbprint: row.text("thumbprint")?,
            txt_token: row.text("txt_token")?,
            status: OperatorStatus::parse(&status)
                .ok_or_else(|| corrupt("status", format!("{status:?}")))?,
            domain_verified_at: opt_time(row, "domain_verified_at")?,
            verification_expires_at: opt_time(row, "verification_expires_at")?,
            created_at: time(row, "created_at")?,
        })
    })
}

pub(super) fn operator_recovery(row: &impl Columns) -> Result<OperatorRecovery, StoreError> {
    decode("operator recovery", || {
        Ok(OperatorRecovery {
            operator_id: row.text("operator_id")?,
            public_key: public_key(row, "public_key")?,
            thumbprint: row.text("thumbprint")?,
            txt_token: row.text("txt_token")?,
            created_at: time(row, "created_at")?,
            expires_at: time(row, "expires_at")?,
        })
    })
}

pub(super) fn agent(row: &impl Columns) -> Result<Agent, StoreError> {
    decode("agent", || {
        let status = row.text("status")?;
        Ok(Agent {
            did: did(row, "did")?,
            operator_id: row.text("operator_id")?,
            public_key: public_key(row, "public_key")?,
            thumbprint: row.text("thumbprint")?,
            status: AgentStatus::parse(&status)
                .ok_or_else(|| corrupt("status", format!("{status:?}")))?,
            allowed_scopes: scopes(row, "allowed_scopes")?,
            approval_scopes: scopes(row, "approval_scopes")?,
            created_at: time(row, "created_at")?,
            updated_at: time(row, "updated_at")?,
            revoked_at: opt_time(row, "revoked_at")?,
            status_entry: Some(status_entry(row)?),
        })
    })
}

/// A non-negative integer column.
fn count(row: &impl Columns, column: &str) -> Result<u64, StoreError> {
    let v = row.int(column)?;
    u64::try_from(v).map_err(|_| corrupt(column, format!("negative {v}")))
}

/// The agent's status-list entry: both columns set (SQLite leaves them nullable; the server always writes them).
fn status_entry(row: &impl Columns) -> Result<StatusEntry, StoreError> {
    let list = row.opt_int("status_list")?;
    let index = row.opt_int("status_index")?;
    match (list, index) {
        (Some(list), Some(index)) if list >= 1 && index >= 0 => Ok(StatusEntry {
            list: list as u64,
            index: index as u64,
        }),
        _ => Err(corrupt(
            "status_list",
            format!("entry {list:?}/{index:?} is not a list from 1 and an index from 0"),
        )),
    }
}

pub(super) fn status_list(row: &impl Columns) -> Result<StatusListInfo, StoreError> {
    decode("status list", || {
        Ok(StatusListInfo {
            list: count(row, "list")?,
            size: count(row, "size")?,
        })
    })
}

pub(super) fn flagged_entry(row: &impl Columns) -> Result<FlaggedEntry, StoreError> {
    decode("status entry", || {
        let agent_status = row.text("status")?;
        let operator_status = row.text("operator_status")?;
        Ok(FlaggedEntry {
            index: count(row, "status_index")?,
            agent_status: AgentStatus::parse(&agent_status)
                .ok_or_else(|| corrupt("status", format!("{agent_status:?}")))?,
            operator_status: OperatorStatus::parse(&operator_status)
                .ok_or_else(|| corrupt("operator_status", format!("{operator_status:?}")))?,
            verification_expires_at: opt_time(row, "verification_expires_at")?,
        })
    })
}

/// A text column where '' stands for "none".
fn opt_text(row: &impl Columns, column: &str) -> Result<Option<String>, StoreError> {
    let text = row.text(column)?;
    Ok((!text.is_empty()).then_some(text))
}

/// The stored form of an optional text: '' for `None`.
pub(super) fn opt_text_column(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

pub(super) fn device_authorization(row: &impl Columns) -> Result<DeviceAuthorization, StoreError> {
    decode("device authorization", || {
        let status = row.text("status")?;
        let interval = row.int("interval_secs")?;
        let kind = row.text("kind")?;
        Ok(DeviceAuthorization {
            kind: ApprovalKind::parse(&kind).ok_or_else(|| corrupt("kind", format!("{kind:?}")))?,
            agent_name: opt_text(row, "agent_name")?,
            device_code_hash: row.text("device_code_hash")?,
            user_code: row.text("user_code")?,
            did: did(row, "did")?,
            operator_id: row.text("operator_id")?,
            scopes: scopes(row, "scopes")?,
            resource: row.text("resource")?,
            binding_message: opt_text(row, "binding_message")?,
            status: DeviceStatus::parse(&status)
                .ok_or_else(|| corrupt("status", format!("{status:?}")))?,
            granted_scopes: scopes(row, "granted_scopes")?,
            decided_by: opt_text(row, "decided_by")?,
            interval: u64::try_from(interval)
                .map_err(|_| corrupt("interval_secs", format!("negative {interval}")))?,
            last_poll_at: opt_time(row, "last_poll_at")?,
            slow_down_at: opt_time(row, "slow_down_at")?,
            created_at: time(row, "created_at")?,
            expires_at: time(row, "expires_at")?,
            decided_at: opt_time(row, "decided_at")?,
        })
    })
}

pub(super) fn remembered_grant(row: &impl Columns) -> Result<RememberedGrant, StoreError> {
    decode("remembered grant", || {
        Ok(RememberedGrant {
            id: row.text("id")?,
            did: did(row, "did")?,
            operator_id: row.text("operator_id")?,
            resource: row.text("resource")?,
            scopes: scopes(row, "scopes")?,
            created_at: time(row, "created_at")?,
            expires_at: time(row, "expires_at")?,
            revoked_at: opt_time(row, "revoked_at")?,
        })
    })
}

pub(super) fn revoked_token(row: &impl Columns) -> Result<RevokedToken, StoreError> {
    decode("revoked token", || {
        Ok(RevokedToken {
            jti: row.text("jti")?,
            did: did(row, "did")?,
            operator_id: row.text("operator_id")?,
            expires_at: time(row, "expires_at")?,
            revoked_at: time(row, "revoked_at")?,
        })
    })
}

pub(super) fn audit_event(row: &impl Columns) -> Result<AuditEvent, StoreError> {
    decode("audit event", || {
        Ok(AuditEvent {
            at: time(row, "at")?,
            actor: row.text("actor")?,
            action: row.text("action")?,
            subject: row.text("subject")?,
            detail: row.text("detail")?,
        })
    })
}

pub(super) fn console_session(row: &impl Columns) -> Result<ConsoleSession, StoreError> {
    decode("console session", || {
        Ok(ConsoleSession {
            session_hash: row.text("session_hash")?,
            operator_id: row.text("operator_id")?,
            csrf_token: row.text("csrf_token")?,
            method: row.text("method")?,
            created_at: time(row, "created_at")?,
            last_seen_at: time(row, "last_seen_at")?,
            expires_at: time(row, "expires_at")?,
        })
    })
}

/// Why [`super::Store::redeem_console_link`] consumed nothing, from the link's `used_at` and
/// `expires_at` as they are now (`None`: no such link).
pub(super) fn console_link_miss(
    found: Option<(Option<UnixTime>, UnixTime)>,
    now: UnixTime,
) -> StoreError {
    match found {
        None => StoreError::NotFound,
        Some((Some(_), _)) => StoreError::AlreadyUsed,
        Some((None, expires_at)) if expires_at <= now => StoreError::Expired,
        // Consumed between the update and this read: someone else won.
        Some((None, _)) => StoreError::AlreadyUsed,
    }
}

pub(super) fn console_link_state(
    row: &impl Columns,
) -> Result<(Option<UnixTime>, UnixTime), StoreError> {
    decode("console link", || {
        Ok((opt_time(row, "used_at")?, time(row, "expires_at")?))
    })
}

pub(super) fn passkey(row: &impl Columns) -> Result<StoredPasskey, StoreError> {
    decode("passkey", || {
        Ok(StoredPasskey {
            credential_id: row.text("credential_id")?,
            operator_id: row.text("operator_id")?,
            passkey: row.text("passkey")?,
            created_at: time(row, "created_at")?,
        })
    })
}

pub(super) fn webauthn_ceremony(row: &impl Columns) -> Result<WebauthnCeremony, StoreError> {
    decode("webauthn ceremony", || {
        Ok(WebauthnCeremony {
            id: row.text("id")?,
            operator_id: row.text("operator_id")?,
            purpose: row.text("purpose")?,
            state: row.text("state")?,
            expires_at: time(row, "expires_at")?,
        })
    })
}

pub(super) fn signing_key(row: &impl Columns) -> Result<SigningKeyRecord, StoreError> {
    decode("signing key", || {
        Ok(SigningKeyRecord {
            kid: row.text("kid")?,
            pkcs8_pem: zeroize::Zeroizing::new(row.text("pkcs8_pem")?),
            created_at: time(row, "created_at")?,
            activates_at: time(row, "activates_at")?,
            retired_at: opt_time(row, "retired_at")?,
            not_after: opt_time(row, "not_after")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use auth4agent_protocol::SigningKey;

    use super::*;

    /// A row as a map of column values.
    #[derive(Default)]
    struct Fake(HashMap<&'static str, Value>);

    #[derive(Clone)]
    enum Value {
        Text(String),
        Bytes(Vec<u8>),
        Int(Option<i64>),
    }

    fn mismatch(column: &str) -> StoreError {
        StoreError::Corrupt(format!("column {column}: wrong type"))
    }

    impl Columns for Fake {
        fn text(&self, column: &str) -> Result<String, StoreError> {
            match self.0.get(column) {
                Some(Value::Text(s)) => Ok(s.clone()),
                _ => Err(mismatch(column)),
            }
        }
        fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
            match self.0.get(column) {
                Some(Value::Bytes(b)) => Ok(b.clone()),
                _ => Err(mismatch(column)),
            }
        }
        fn int(&self, column: &str) -> Result<i64, StoreError> {
            self.opt_int(column)?.ok_or_else(|| mismatch(column))
        }
        fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
            match self.0.get(column) {
                Some(Value::Int(v)) => Ok(*v),
                _ => Err(mismatch(column)),
            }
        }
    }

    fn agent_row() -> Fake {
        let key = SigningKey::from_seed(&[3; 32]).public_key();
        let domain = Domain::parse("example.com").unwrap();
        let text = |s: &str| Value::Text(s.to_owned());
        Fake(HashMap::from([
            ("did", text(Did::from_key(&domain, &key).as_str())),
            ("operator_id", text("op_1")),
            ("public_key", Value::Bytes(key.as_bytes().to_vec())),
            ("thumbprint", text(&key.thumbprint())),
            ("status", text("active")),
            ("allowed_scopes", text(r#"["a:read","b:write"]"#)),
            ("approval_scopes", text(r#"["pay"]"#)),
            ("created_at", Value::Int(Some(10))),
            ("updated_at", Value::Int(Some(11))),
            ("revoked_at", Value::Int(None)),
            ("status_list", Value::Int(Some(1))),
            ("status_index", Value::Int(Some(0))),
        ]))
    }

    #[test]
    fn a_good_row_decodes_to_typed_values() {
        let agent = agent(&agent_row()).unwrap();
        assert_eq!(agent.did.domain(), "example.com");
        assert!(agent.did.matches_key(&agent.public_key));
        assert_eq!(agent.status, AgentStatus::Active);
        assert_eq!(
            agent.allowed_scopes,
            ScopeSet::from_list(["b:write", "a:read"]).unwrap()
        );
        assert_eq!(
            scopes_column(&agent.allowed_scopes),
            r#"["a:read","b:write"]"#
        );
        assert_eq!(agent.revoked_at, None);
    }

    #[test]
    fn every_undecodable_value_is_corrupt() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let cases = [
            ("did", Value::Text("did:agent:nope".into())),
            ("public_key", Value::Bytes(identity.to_vec())),
            ("public_key", Value::Bytes(vec![7; 31])),
            ("status", Value::Text("Active".into())),
            ("allowed_scopes", Value::Text(r#"["bad scope"]"#.into())),
            ("allowed_scopes", Value::Text("read".into())),
            ("created_at", Value::Int(Some(-1))),
        ];
        for (column, value) in cases {
            let mut row = agent_row();
            row.0.insert(column, value);
            match agent(&row) {
                Err(StoreError::Corrupt(message)) => {
                    assert!(message.starts_with("stored agent: column "), "{message}");
                    assert!(message.contains(column), "{message}");
                }
                other => panic!("{column}: expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_stored_domain_must_be_normalized() {
        let key = SigningKey::from_seed(&[4; 32]).public_key();
        let text = |s: &str| Value::Text(s.to_owned());
        let mut row = Fake(HashMap::from([
            ("id", text("op_1")),
            ("domain", text("example.com")),
            ("public_key", Value::Bytes(key.as_bytes().to_vec())),
            ("thumbprint", text(&key.thumbprint())),
            ("txt_token", text("t")),
            ("status", text("verified")),
            ("domain_verified_at", Value::Int(Some(1))),
            ("verification_expires_at", Value::Int(Some(2))),
            ("created_at", Value::Int(Some(0))),
        ]));
        assert_eq!(operator(&row).unwrap().domain.as_str(), "example.com");
        for bad in ["Example.com", "example.com.", "not a domain"] {
            row.0.insert("domain", text(bad));
            assert!(
                matches!(operator(&row), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
    }
}
