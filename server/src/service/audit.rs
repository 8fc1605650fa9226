//! The audit log: events built as of `now`, written to the `audit` tracing target and the store.

use crate::state::AppState;
use crate::store::{AuditEvent, UnixTime};

/// An audit event as of `now`, also written to the log; the caller stores it (see [`record`]), or
/// commits it with the write it describes (token issuance).
pub fn event(
    now: UnixTime,
    actor: &str,
    action: &str,
    subject: &str,
    detail: impl Into<String>,
) -> AuditEvent {
    let event = AuditEvent {
        at: now,
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail: detail.into(),
    };
    tracing::info!(target: "audit", actor, action, subject, detail = %event.detail, "audit");
    event
}

/// Appends to the audit log. A failed append is logged, never turned into a client error after the
/// action itself has happened.
pub async fn record(
    state: &AppState,
    now: UnixTime,
    actor: &str,
    action: &str,
    subject: &str,
    detail: impl Into<String>,
) {
    let event = event(now, actor, action, subject, detail);
    if let Err(e) = state.store.append_audit(event).await {
        tracing::error!(error = %e, action, subject, "could not append to the audit log");
    }
}
