//! Token issuance: a single-use challenge for a registered agent, then a proof answering it
//! exchanged for an access token. [`issue`] is the one function every token path calls: it checks
//! the agent, its operator and the scopes, consumes the challenge atomically with its audit row,
//! and signs the token.

use std::num::NonZeroU64;
use std::time::Duration;

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Challenge as ProofChallenge, Confirmation, Did, ScopeSet,
    UnverifiedProof, issue_token,
};

use super::agents::{load, not_found as agent_not_found};
use super::operators::require_verified;
use auth4agent_api::{ErrorCode, routes};

use super::dpop::{self, DpopHeader};
use super::{ServiceError, ServiceResult, audit};
use crate::ids;
use crate::state::AppState;
use crate::store::{
    Agent, AgentStatus, AuditEvent, IdentityVersion, Operator, StoreError, UnixTime,
};

/// A signed access token and what the agent is told about it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: UnixTime,
    pub scope: String,
    pub aud: String,
    /// `DPoP` when the request carried a valid DPoP proof of the agent key, else `Bearer`.
    pub token_type: &'static str,
}

/// Issues a challenge for a registered agent, valid for the configured lifetime. Stateless: the id
/// carries its expiry under the deployment's MAC, so nothing is written until it is redeemed.
pub async fn challenge(
    state: &AppState,
    did: &Did,
    now: UnixTime,
) -> ServiceResult<ProofChallenge> {
    if !state.known_agents.contains(did.as_str()) {
        let agent = load(state, did).await?;
        state.known_agents.insert(agent.did.as_str());
    }
    let expires_at = now.saturating_add(state.config.challenge_ttl);
    let challenge = state.challenges.mint(
        did,
        auth4agent_protocol::UnixTime::from_secs(expires_at),
        ids::challenge_unique(),
    );
    let did = challenge.did.as_str();
    if !state.outstanding.admit(did, &challenge.id, expires_at, now) {
        return Err(ServiceError::refused(
            ErrorCode::TooManyChallenges,
            format!(
                "{did} has {} challenges open; answer one or let them expire (60 s)",
                state.config.max_challenges_per_did
            ),
        ));
    }
    Ok(challenge)
}

/// Maps a refused proof to its wire code.
fn proof_error(e: auth4agent_protocol::Error) -> ServiceError {
    use auth4agent_protocol::Error as P;
    match &e {
        P::InvalidScope(_) => ServiceError::refused(ErrorCode::InvalidScope, e.to_string()),
        P::InvalidAudience(_) => ServiceError::refused(ErrorCode::InvalidAudience, e.to_string()),
        P::InvalidClaim("ttl", _) => ServiceError::refused(ErrorCode::InvalidTtl, e.to_string()),
        _ => ServiceError::refused(ErrorCode::InvalidProof, format!("{}: {e}", e.code())),
    }
}

fn challenge_not_found() -> ServiceError {
    ServiceError::refused(ErrorCode::ChallengeNotFound, "no such challenge")
}

fn challenge_used() -> ServiceError {
    ServiceError::refused(
        ErrorCode::ChallengeUsed,
        "this challenge was already answered; request a new one",
    )
}

fn challenge_expired() -> ServiceError {
    ServiceError::refused(
        ErrorCode::ChallengeExpired,
        "this challenge has expired; request a new one",
    )
}

/// Exchanges a proof answering a challenge for an access token, DPoP-bound when `dpop` holds a proof of the
/// agent's key for `POST` [`routes::TOKEN`].
pub async fn issue(
    state: &AppState,
    proof: &str,
    dpop: &DpopHeader,
    now: UnixTime,
) -> ServiceResult<IssuedToken> {
    let proof = UnverifiedProof::decode(proof).map_err(proof_error)?;
    // The DID is the proof's unverified `iss`: the nonce is derived for it, so a challenge answered by
    // another DID than it was issued to fails the nonce check once the signature has verified.
    let did = proof.did().map_err(proof_error)?;
    let bound = state
        .challenges
        .open(proof.challenge_id(), &did)
        .map_err(|_| challenge_not_found())?;
    let expires_at = bound.expires_at.as_secs();
    if expires_at <= now {
        return Err(challenge_expired());
    }
    // The stored rows come decoded: a DID, key or scope list that does not parse is corrupt data
    // (an internal error), never the client's.
    let (agent, operator, read_at) = state
        .store
        .get_agent_for_issuance(&did)
        .await?
        .ok_or_else(|| agent_not_found(did.as_str()))?;
    // Also checks the proof's binding to this DID.
    let claims = proof
        .verify(
            &agent.public_key,
            &state.config.issuer,
            &bound,
            auth4agent_protocol::UnixTime::from_secs(now),
            Duration::from_secs(state.config.leeway),
        )
        .map_err(proof_error)?;

    let requested = ScopeSet::parse(&claims.scope)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidScope, e.to_string()))?;
    let ttl = claims.ttl.map(NonZeroU64::get);
    let dpop_bound = dpop::bind(state, dpop, routes::TOKEN, &agent.thumbprint, now).await?;
    let request = Grant {
        agent: &agent,
        operator: &operator,
        read_at,
        scope: Some(requested),
        audience: claims.token_aud,
        ttl,
        dpop_bound,
    };
    let redemption = Redemption::Challenge {
        id: &bound.id,
        expires_at,
    };
    let issued = grant(state, request, redemption, now).await;
    if issued.is_ok() {
        state.outstanding.answered(did.as_str(), &bound.id);
    }
    issued
}

/// What an issuance asks for, after its credential (a proof or a client assertion) verified.
pub struct Grant<'a> {
    pub agent: &'a Agent,
    pub operator: &'a Operator,
    /// The version the agent and operator rows were read at: the redemption is written only if it still
    /// holds (else they are read again and every rule checked again).
    pub read_at: IdentityVersion,
    /// `None`: every scope the agent is allowed.
    pub scope: Option<ScopeSet>,
    pub audience: String,
    /// `None`: the configured default lifetime.
    pub ttl: Option<u64>,
    /// The request carried a valid DPoP proof of the agent key: the token's type is `DPoP`.
    pub dpop_bound: bool,
}

/// What makes an issuance single-use: consumed in the same transaction as its audit row.
#[derive(Clone, Copy)]
pub enum Redemption<'a> {
    /// A stateless challenge whose MAC and expiry were checked: recorded as redeemed until `expires_at`.
    Challenge { id: &'a str, expires_at: UnixTime },
    ClientAssertion {
        signer: &'a str,
        jti: &'a str,
        expires_at: UnixTime,
    },
    /// An approved device authorization of `did` (RFC 8628), by the SHA-256 of its device code: its scopes
    /// may include the agent's approval scopes.
    DeviceCode { hash: &'a str, did: &'a Did },
}

/// The rules every token path shares: the agent is active, its operator verified now, the scopes
/// allowed, the lifetime within bounds; then the credential is consumed with its audit row, and the
/// token signed. Rows read from a cache that another replica may have outdated are checked by the
/// redemption itself; if they changed, they are read again and every rule applied again.
pub async fn grant(
    state: &AppState,
    request: Grant<'_>,
    redemption: Redemption<'_>,
    now: UnixTime,
) -> ServiceResult<IssuedToken> {
    if request.read_at == IdentityVersion::CURRENT {
        return grant_once(state, &request, redemption, now).await;
    }
    // The device grant's redemption cannot check a version: it needs current rows from the start. A
    // copy is trusted for a token only through the redemption's check, and never for a refusal: a
    // refusal from a copy (the agent pending, a scope not allowed, …) may be out of date, so it is
    // decided again on current rows.
    if !matches!(redemption, Redemption::DeviceCode { .. }) {
        match grant_once(state, &request, redemption, now).await {
            Err(ServiceError::Storage(StoreError::Stale) | ServiceError::Refused { .. }) => {}
            done => return done,
        }
    }
    let (agent, operator) = state
        .store
        .get_agent_with_operator(&request.agent.did)
        .await?
        .ok_or_else(|| agent_not_found(request.agent.did.as_str()))?;
    let current = Grant {
        agent: &agent,
        operator: &operator,
        read_at: IdentityVersion::CURRENT,
        scope: request.scope.clone(),
        audience: request.audience.clone(),
        ..request
    };
    grant_once(state, &current, redemption, now).await
}

async fn grant_once(
    state: &AppState,
    request: &Grant<'_>,
    redemption: Redemption<'_>,
    now: UnixTime,
) -> ServiceResult<IssuedToken> {
    let &Grant {
        agent,
        operator,
        read_at,
        ref scope,
        ref audience,
        ttl,
        dpop_bound,
    } = request;
    let scope = scope.clone();
    let audience = audience.clone();
    if agent.status != AgentStatus::Active {
        return Err(ServiceError::refused(
            ErrorCode::AgentNotActive,
            format!("agent is {}", agent.status),
        ));
    }
    require_verified(operator, now)?;
    let allowed = &agent.allowed_scopes;
    let approvable = allowed.union(&agent.approval_scopes);
    let approved = matches!(redemption, Redemption::DeviceCode { .. });
    let requested = match scope {
        Some(requested) => {
            ensure_allowed(
                &requested,
                agent,
                if approved { &approvable } else { allowed },
            )?;
            requested
        }
        None if allowed.is_empty() => {
            return Err(ServiceError::refused(
                ErrorCode::ScopeNotAllowed,
                "the agent is allowed no scope",
            ));
        }
        None => allowed.clone(),
    };
    let ttl = ttl.unwrap_or(state.config.token_default_ttl);
    if ttl > state.config.token_max_ttl {
        return Err(ServiceError::refused(
            ErrorCode::InvalidTtl,
            format!(
                "requested lifetime {ttl} s exceeds the maximum of {} s",
                state.config.token_max_ttl
            ),
        ));
    }

    let scope = requested.to_scope_string();
    let entry = agent.status_entry.ok_or_else(|| {
        ServiceError::internal(format!("agent {} has no status list entry", agent.did))
    })?;
    let token_claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: agent.did.to_string(),
        client_id: agent.did.to_string(),
        aud: Audience::One(audience.clone()),
        scope: scope.clone(),
        iat: now,
        nbf: None,
        exp: now.saturating_add(ttl),
        jti: ids::jti(),
        cnf: Confirmation {
            jkt: agent.thumbprint.clone(),
        },
        status: Some(super::status_lists::status_claim(state, entry)),
    };
    let active = state.keyring.active(now);
    let event = audit::event(
        now,
        agent.did.as_str(),
        "token.issue",
        &token_claims.jti,
        format!(
            "scope={scope:?} aud={audience:?} exp={} kid={}{}{}",
            token_claims.exp,
            active.kid(),
            match redemption {
                Redemption::Challenge { .. } => "",
                Redemption::ClientAssertion { .. } => " grant=client_credentials",
                Redemption::DeviceCode { .. } => " grant=device_code",
            },
            if dpop_bound { " token_type=DPoP" } else { "" }
        ),
    );
    redeem(state, redemption, now, event, read_at).await?;
    let token = issue_token(active.signing_key(), active.kid(), &token_claims)
        .map_err(|e| ServiceError::internal(format!("signing the token failed: {e}")))?;
    Ok(IssuedToken {
        token,
        expires_at: token_claims.exp,
        scope,
        aud: audience,
        token_type: if dpop_bound { "DPoP" } else { "Bearer" },
    })
}

/// Refuses a scope outside `allowed`: `approval_required` if every refused scope is one of the agent's
/// approval scopes (the device authorization grant can get it), else `scope_not_allowed`.
fn ensure_allowed(requested: &ScopeSet, agent: &Agent, allowed: &ScopeSet) -> ServiceResult<()> {
    let Some(scope) = requested.first_not_in(allowed) else {
        return Ok(());
    };
    if requested.is_subset_of(&allowed.union(&agent.approval_scopes)) {
        return Err(ServiceError::refused(
            ErrorCode::ApprovalRequired,
            format!(
                "scope {scope:?} needs an operator's approval: request it with the device authorization grant \
                 (POST /oauth/device_authorization, then poll /oauth/token)"
            ),
        ));
    }
    Err(ServiceError::refused(
        ErrorCode::ScopeNotAllowed,
        format!("scope {scope:?} is not allowed"),
    ))
}

/// Consumes the credential and writes the audit row, in the token path's only write.
async fn redeem(
    state: &AppState,
    redemption: Redemption<'_>,
    now: UnixTime,
    event: AuditEvent,
    read_at: IdentityVersion,
) -> ServiceResult<()> {
    match redemption {
        Redemption::Challenge { id, expires_at } => {
            match state
                .store
                .redeem_challenge(id, expires_at, event, read_at)
                .await
            {
                Ok(()) => Ok(()),
                Err(StoreError::AlreadyUsed) => Err(challenge_used()),
                Err(e) => Err(e.into()),
            }
        }
        Redemption::ClientAssertion {
            signer,
            jti,
            expires_at,
        } => match state
            .store
            .redeem_client_assertion(signer, jti, expires_at, event, read_at)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Replayed) => Err(super::refusals::assertion_replayed()),
            Err(e) => Err(e.into()),
        },
        Redemption::DeviceCode { hash, did } => {
            match state.store.redeem_device_code(hash, did, now, event).await {
                Ok(()) => Ok(()),
                Err(StoreError::Expired) => Err(super::refusals::device_code_expired()),
                Err(StoreError::AlreadyUsed | StoreError::NotFound | StoreError::Conflict(_)) => {
                    Err(super::refusals::device_code_used())
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
