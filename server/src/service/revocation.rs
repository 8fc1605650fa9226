//! Introspection (RFC 7662 shape) and token revocation, both over this server's own tokens, and the operator's
//! revocations list, paged.

use auth4agent_protocol::{AccessTokenClaims, Did, Error, KeySet, VerifiedToken};

use super::agents::load_with_operator;
use super::operators::is_verified;
use super::signatures::{self, KidMismatch, SignedRequest};
use auth4agent_api::ErrorCode;

use super::{ServiceError, ServiceResult, audit, pages};
use crate::state::AppState;
use crate::store::{Agent, AgentStatus, Operator, RevokedToken, UnixTime};

/// What introspection says of a token.
#[derive(Debug, Clone)]
pub enum Introspection {
    /// Does not verify, revoked, or its agent or operator is not in good standing.
    Inactive,
    Active {
        claims: Box<AccessTokenClaims>,
        agent_status: AgentStatus,
        operator_status: auth4agent_api::OperatorStatus,
        operator_id: String,
    },
}

/// Verifies one of this server's own tokens against its live keys: its issuer, no audience
/// matching, its maximum token lifetime, and no leeway (leeway absorbs skew between two clocks;
/// here the clock that judges is the one that issued). `check_time: false` skips the time checks
/// (revocation of an expired token). A `kid` unknown here may have been rotated in by another
/// replica: reload the keys once and retry.
async fn verify_own_token(
    state: &AppState,
    token: &str,
    now: UnixTime,
    check_time: bool,
) -> Result<VerifiedToken, Error> {
    let verify = |keys: &KeySet| {
        if check_time {
            state
                .own_tokens
                .verify(token, keys, auth4agent_protocol::UnixTime::from_secs(now))
        } else {
            state.own_tokens.verify_ignoring_time(token, keys)
        }
    };
    let verified = verify(&state.keyring.key_set(now));
    if state.keyring.reload_for_unknown_kid(&verified, now).await {
        return verify(&state.keyring.key_set(now));
    }
    verified
}

/// Active only if the token verifies, is not revoked, and its agent is active under a verified
/// operator, with the key the token is bound to.
pub async fn introspect(
    state: &AppState,
    token: &str,
    now: UnixTime,
) -> ServiceResult<Introspection> {
    let verified = match verify_own_token(state, token, now, true).await {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(code = e.code(), "introspection: token does not verify");
            return Ok(Introspection::Inactive);
        }
    };
    let claims = verified.claims();
    if state.store.is_token_revoked(&claims.jti).await? {
        return Ok(Introspection::Inactive);
    }
    // The server's own token names a DID it stored; anything else is no agent of this server.
    let Ok(did) = Did::parse(&claims.sub) else {
        return Ok(Introspection::Inactive);
    };
    let Some((agent, operator)) = state.store.get_agent_with_operator(&did).await? else {
        return Ok(Introspection::Inactive);
    };
    if agent.status != AgentStatus::Active
        || !is_verified(&operator, now)
        || agent.thumbprint != claims.cnf.jkt
    {
        return Ok(Introspection::Inactive);
    }
    // Issued at or before the agent's last suspension or revocation, or its operator's last lapse: never
    // active again, whatever the status now.
    if let Some(cutoff) = state.store.token_cutoff(&did, &operator.id).await?
        && claims.iat <= cutoff
    {
        return Ok(Introspection::Inactive);
    }
    Ok(Introspection::Active {
        claims: Box::new(claims.clone()),
        agent_status: agent.status,
        // Only a verified operator's token is active.
        operator_status: auth4agent_api::OperatorStatus::Verified,
        operator_id: operator.id,
    })
}

/// Revokes `token`, on a request signed by the token's agent or that agent's operator. Tokens past
/// their expiry may still be revoked (idempotently). Returns the token's `jti`.
pub async fn revoke_token(
    state: &AppState,
    req: &SignedRequest,
    token: &str,
    now: UnixTime,
) -> ServiceResult<String> {
    let verified = verify_own_token(state, token, now, false)
        .await
        .map_err(|e| {
            ServiceError::refused(ErrorCode::InvalidToken, format!("{}: {e}", e.code()))
        })?;
    let claims = verified.claims();
    // The token verified under this server's own key: its `sub` is a DID the server stored, so
    // one that does not parse is the server's fault, not the client's.
    let did = Did::parse(&claims.sub)
        .map_err(|e| ServiceError::internal(format!("own token's sub: {e}")))?;
    let (agent, operator) = load_with_operator(state, &did).await?;
    let unverified = req.unverified()?;
    let (key, actor) = if unverified.kid() == agent.thumbprint {
        (agent.public_key, agent.did.to_string())
    } else {
        (operator.public_key, operator.id.clone())
    };
    signatures::verify_decoded(state, req, unverified, &key, KidMismatch::Forbidden, now).await?;
    let newly = state
        .store
        .revoke_token(RevokedToken {
            jti: claims.jti.clone(),
            did: agent.did.clone(),
            operator_id: operator.id.clone(),
            expires_at: claims.exp,
            revoked_at: now,
        })
        .await?;
    if newly {
        let detail = format!("sub={}", agent.did);
        audit::record(state, now, &actor, "token.revoke", &claims.jti, detail).await;
    }
    Ok(claims.jti.clone())
}

/// One page of [`revocations`].
#[derive(Debug, Default)]
pub struct RevocationsPage {
    pub tokens: Vec<RevokedToken>,
    pub agents: Vec<Agent>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// Cursor prefixes: a position among the token entries, or among the agent entries.
const TOKENS: &str = "t:";
const AGENTS: &str = "a:";

/// What the operator has revoked, one page of at most `limit` entries: its agents' revoked tokens still live at
/// `now` (newest revocation first), then its revoked agents (in agent-list order), resuming after `cursor`.
pub async fn revocations(
    state: &AppState,
    operator: &Operator,
    cursor: Option<&str>,
    limit: Option<u32>,
    now: UnixTime,
) -> ServiceResult<RevocationsPage> {
    let limit = pages::limit(limit)?;
    let (in_agents, token_after, agent_after) = match cursor {
        None => (false, None, None),
        Some(c) if pages::decode(c, AGENTS).is_ok() => (
            true,
            None,
            super::operators::decode_agent_cursor_with(c, AGENTS)?,
        ),
        Some(c) => (false, pages::decode(c, TOKENS)?, None),
    };
    let mut page = RevocationsPage::default();
    if !in_agents {
        page.tokens = state
            .store
            .list_revoked_tokens_page(&operator.id, now, token_after, limit + 1)
            .await?;
        if page.tokens.len() > limit as usize {
            page.tokens.truncate(limit as usize);
            let last = page.tokens.last().expect("a full page");
            page.next_cursor = Some(pages::encode(TOKENS, last.revoked_at, &last.jti));
            return Ok(page);
        }
    }
    let room = limit - page.tokens.len() as u32;
    page.agents = state
        .store
        .list_revoked_agents_page(&operator.id, agent_after, room + 1)
        .await?;
    if page.agents.len() > room as usize {
        page.agents.truncate(room as usize);
        page.next_cursor = Some(match page.agents.last() {
            Some(last) => pages::encode(AGENTS, last.created_at, last.did.as_str()),
            None => pages::start(AGENTS),
        });
    }
    Ok(page)
}
