//! DPoP at the token endpoints (RFC 9449 §5): a token request carrying a `DPoP` proof of the agent's own key
//! gets a token of type `DPoP`. The proof is verified for `POST` and the endpoint's public URL (issuer + path),
//! its key must be the agent's registered key (the token's `cnf.jkt`), and its `jti` is consumed once across
//! replicas in the store, in the agent key's namespace of single-use identifiers (shared with its signed requests),
//! until the proof would be refused as too old anyway.

use std::time::Duration;

use auth4agent_api::ErrorCode;
use auth4agent_protocol::{DPOP_HEADER, DPOP_MAX_AGE, DpopRules, verify_dpop_proof};

use super::{ServiceError, ServiceResult};
use crate::state::AppState;
use crate::store::{StoreError, UnixTime};

/// What the `DPoP` header(s) of a token request held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpopHeader {
    Missing,
    /// More than one header: refused, whatever they say (RFC 9449 §4.3 check 1).
    Many,
    NotAscii,
    One(String),
}

/// Whether the token to be issued is DPoP-bound: `Ok(false)` without a `DPoP` header, `Ok(true)` when the
/// proof is valid for `POST {issuer}{path}`, signed by the agent key whose thumbprint is `jkt`, and not seen
/// before. Any other proof is refused (`invalid_dpop_proof`, `dpop_proof_replayed`).
pub async fn bind(
    state: &AppState,
    header: &DpopHeader,
    path: &str,
    jkt: &str,
    now: UnixTime,
) -> ServiceResult<bool> {
    let compact = match header {
        DpopHeader::Missing => return Ok(false),
        DpopHeader::Many => return Err(invalid(format!("more than one {DPOP_HEADER} header"))),
        DpopHeader::NotAscii => {
            return Err(invalid(format!("the {DPOP_HEADER} header is not ASCII")));
        }
        DpopHeader::One(compact) => compact,
    };
    let url = state.url(path);
    let rules = DpopRules {
        method: "POST",
        url: &url,
        now: auth4agent_protocol::UnixTime::from_secs(now),
        max_age: DPOP_MAX_AGE,
        leeway: Duration::from_secs(state.config.leeway),
        access_token: None,
        nonce: None,
    };
    let proof = verify_dpop_proof(compact.trim(), &rules)
        .map_err(|e| invalid(format!("{}: {e}", e.code())))?;
    proof.require_jkt(jkt).map_err(|e| {
        invalid(format!(
            "{}: the proof's key is not the agent's key",
            e.code()
        ))
    })?;
    let keep_until = proof.replay_until().as_secs().saturating_add(1);
    match state
        .store
        .consume_request_jti(jkt, proof.jti(), keep_until)
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::Replayed) => Err(ServiceError::refused(
            ErrorCode::DpopProofReplayed,
            "this DPoP proof (jti) was already used; make a new proof for every request",
        )),
        Err(e) => Err(e.into()),
    }
}

fn invalid(message: String) -> ServiceError {
    ServiceError::refused(ErrorCode::InvalidDpopProof, message)
}
