//! Challenges, token issuance (proof of possession, atomic single use), introspection (RFC 7662
//! shape) and token revocation.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Challenge as ProofChallenge, Confirmation, Error, KeySet,
    ScopeSet, UnverifiedProof, VerifiedToken, issue_token,
};

use super::{
    audit, audit_event, effective_status, load_agent, load_operator, operator_verified, parse_did,
    require_verified,
};
use crate::app::AppState;
use crate::auth::{KidMismatch, SignedBody, verify_signed};
use crate::errors::{AppError, AppResult};
use crate::ids;
use crate::store::{AgentStatus, Challenge, RevokedToken, StoreError};

#[derive(Deserialize)]
struct ChallengeRequest {
    did: String,
}

#[derive(Deserialize)]
struct TokenRequest {
    proof: String,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

/// `POST /v1/challenge`: a single-use nonce for a registered agent.
pub async fn challenge(State(state): State<AppState>, req: SignedBody) -> AppResult<Json<Value>> {
    let body: ChallengeRequest = req.json()?;
    let did = parse_did(&body.did)?;
    let agent = load_agent(&state, &did).await?;
    let challenge = Challenge {
        id: ids::challenge_id(),
        did: agent.did,
        nonce: ids::nonce(),
        expires_at: state.clock.now().saturating_add(state.config.challenge_ttl),
        used_at: None,
    };
    state.store.insert_challenge(challenge.clone()).await?;
    Ok(Json(json!({
        "challenge_id": challenge.id,
        "nonce": challenge.nonce,
        "expires_at": challenge.expires_at,
    })))
}

/// Maps a refused proof to its wire error.
fn proof_error(e: auth4agent_protocol::Error) -> AppError {
    use auth4agent_protocol::Error as P;
    match &e {
        P::InvalidScope(_) => AppError::bad_request("invalid_scope", e.to_string()),
        P::InvalidAudience(_) => AppError::bad_request("invalid_audience", e.to_string()),
        P::InvalidClaim("ttl", _) => AppError::bad_request("invalid_ttl", e.to_string()),
        _ => AppError::unauthorized("invalid_proof", format!("{}: {e}", e.code())),
    }
}

/// `POST /v1/token`: exchanges a proof answering a challenge for an access token.
pub async fn token(State(state): State<AppState>, req: SignedBody) -> AppResult<impl IntoResponse> {
    let body: TokenRequest = req.json()?;
    let proof = UnverifiedProof::decode(&body.proof).map_err(proof_error)?;
    let challenge = state
        .store
        .get_challenge(proof.challenge_id())
        .await?
        .ok_or_else(|| AppError::not_found("challenge_not_found", "no such challenge"))?;
    let now = state.clock.now();
    if challenge.used_at.is_some() {
        return Err(challenge_used());
    }
    if challenge.expires_at <= now {
        return Err(challenge_expired());
    }
    // The proof's binding to this DID is checked by `UnverifiedProof::verify` below.
    let did = parse_did(&challenge.did)?;
    let (agent, operator) = state
        .store
        .get_agent_with_operator(did.as_str())
        .await?
        .ok_or_else(|| AppError::not_found("agent_not_found", format!("no agent {did}")))?;
    let key = state.keys.get(&agent.public_key)?;
    let bound = ProofChallenge {
        id: challenge.id.clone(),
        nonce: challenge.nonce.clone(),
        expires_at: challenge.expires_at,
        did,
    };
    let claims = proof
        .verify(&key, &state.config.issuer, &bound, now, state.config.leeway)
        .map_err(proof_error)?;

    if agent.status != AgentStatus::Active {
        return Err(AppError::forbidden(
            "agent_not_active",
            format!("agent is {}", agent.status),
        ));
    }
    require_verified(&operator, now)?;
    let requested = ScopeSet::parse(&claims.scope)
        .map_err(|e| AppError::bad_request("invalid_scope", e.to_string()))?;
    let allowed = ScopeSet::from_list(&agent.allowed_scopes)
        .map_err(|e| AppError::internal(format!("stored scopes are invalid: {e}")))?;
    requested
        .ensure_allowed(&allowed)
        .map_err(|e| AppError::forbidden("scope_not_allowed", e.to_string()))?;
    let ttl = if claims.ttl == 0 {
        state.config.token_default_ttl
    } else {
        claims.ttl
    };
    if ttl > state.config.token_max_ttl {
        return Err(AppError::bad_request(
            "invalid_ttl",
            format!(
                "requested lifetime {ttl} s exceeds the maximum of {} s",
                state.config.token_max_ttl
            ),
        ));
    }

    let scope = requested.to_scope_string();
    let token_claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: agent.did.clone(),
        client_id: agent.did.clone(),
        aud: Audience::One(claims.token_aud.clone()),
        scope: scope.clone(),
        iat: now,
        nbf: None,
        exp: now.saturating_add(ttl),
        jti: ids::jti(),
        cnf: Confirmation {
            jkt: agent.thumbprint.clone(),
        },
    };
    let active = state.keyring.active();
    let event = audit_event(
        &state,
        &agent.did,
        "token.issue",
        &token_claims.jti,
        format!(
            "scope={scope:?} aud={:?} exp={} kid={}",
            claims.token_aud,
            token_claims.exp,
            active.kid()
        ),
    );
    // Single use and the audit row commit together, in the token path's only write.
    match state
        .store
        .redeem_challenge(&challenge.id, now, event)
        .await
    {
        Ok(()) => {}
        Err(StoreError::AlreadyUsed) => return Err(challenge_used()),
        Err(StoreError::Expired) => return Err(challenge_expired()),
        Err(StoreError::NotFound) => {
            return Err(AppError::not_found(
                "challenge_not_found",
                "no such challenge",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let token = issue_token(active.signing_key(), active.kid(), &token_claims)
        .map_err(|e| AppError::internal(format!("signing the token failed: {e}")))?;
    // RFC 6749 §5.1: responses carrying tokens are not cached.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "token": token,
            "token_type": "Bearer",
            "expires_at": token_claims.exp,
            "scope": scope,
            "aud": claims.token_aud,
        })),
    ))
}

fn challenge_used() -> AppError {
    AppError::conflict(
        "challenge_used",
        "this challenge was already answered; request a new one",
    )
}

fn challenge_expired() -> AppError {
    AppError::new(
        StatusCode::GONE,
        "challenge_expired",
        "this challenge has expired; request a new one",
    )
}

/// Verifies one of this server's own tokens against its live keys: its issuer, no audience
/// matching, its maximum token lifetime, and no leeway (leeway absorbs skew between two clocks;
/// here the clock that judges is the one that issued). `check_time: false` skips the time checks
/// (revocation of an expired token). A `kid`
/// unknown here may have been rotated in by another replica: reload the keys once and retry.
async fn verify_own_token(
    state: &AppState,
    token: &str,
    now: u64,
    check_time: bool,
) -> Result<VerifiedToken, Error> {
    let verify = |keys: &KeySet| {
        if check_time {
            state.own_tokens.verify(token, keys, now)
        } else {
            state.own_tokens.verify_ignoring_time(token, keys)
        }
    };
    let verified = verify(&state.keyring.key_set(now));
    if matches!(verified, Err(Error::UnknownKid(_))) && state.keyring.reload_for_unknown_kid().await
    {
        return verify(&state.keyring.key_set(now));
    }
    verified
}

/// `POST /v1/introspect`: `{"active": false}` unless the token verifies, is not revoked, and its
/// agent is active under a verified operator.
pub async fn introspect(State(state): State<AppState>, req: SignedBody) -> AppResult<Json<Value>> {
    let body: TokenBody = req.json()?;
    let now = state.clock.now();
    let inactive = || Json(json!({"active": false}));
    let verified = match verify_own_token(&state, &body.token, now, true).await {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(code = e.code(), "introspection: token does not verify");
            return Ok(inactive());
        }
    };
    let claims = verified.claims();
    if state.store.is_token_revoked(&claims.jti).await? {
        return Ok(inactive());
    }
    let Some((agent, operator)) = state.store.get_agent_with_operator(&claims.sub).await? else {
        return Ok(inactive());
    };
    if agent.status != AgentStatus::Active
        || !operator_verified(&operator, now)
        || agent.thumbprint != claims.cnf.jkt
    {
        return Ok(inactive());
    }
    let mut out = serde_json::to_value(claims).map_err(|e| AppError::internal(e.to_string()))?;
    if let Value::Object(map) = &mut out {
        map.insert("active".into(), Value::Bool(true));
        map.insert("token_type".into(), json!("Bearer"));
        map.insert("agent_status".into(), json!(agent.status.as_str()));
        map.insert(
            "operator_status".into(),
            json!(effective_status(&operator, now)),
        );
        map.insert("operator_id".into(), json!(operator.id));
    }
    Ok(Json(out))
}

/// `POST /v1/revoke`: signed by the token's agent or that agent's operator. Tokens past their
/// expiry may still be revoked (idempotently).
pub async fn revoke(State(state): State<AppState>, req: SignedBody) -> AppResult<Json<Value>> {
    let body: TokenBody = req.json()?;
    let now = state.clock.now();
    let verified = verify_own_token(&state, &body.token, now, false)
        .await
        .map_err(|e| AppError::unauthorized("invalid_token", format!("{}: {e}", e.code())))?;
    let claims = verified.claims();
    let did = parse_did(&claims.sub)?;
    let agent = load_agent(&state, &did).await?;
    let operator = load_operator(&state, &agent.operator_id).await?;
    let unverified = req.unverified()?;
    let (key, actor) = if unverified.kid() == agent.thumbprint {
        (state.keys.get(&agent.public_key)?, agent.did.clone())
    } else {
        (state.keys.get(&operator.public_key)?, operator.id.clone())
    };
    verify_signed(&state, &req, unverified, &key, KidMismatch::Forbidden).await?;
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
        audit(
            &state,
            &actor,
            "token.revoke",
            &claims.jti,
            format!("sub={}", agent.did),
        )
        .await;
    }
    Ok(Json(json!({"revoked": true, "jti": claims.jti})))
}
