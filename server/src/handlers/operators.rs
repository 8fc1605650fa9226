//! Operators: registration (proof of possession of the root key), status, DNS verification
//! instructions and confirmation, the operator's agents and revocations.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use auth4agent_protocol::{Domain, Jwk, PublicKey, TxtRecord};

use super::{agent_view, audit, load_operator, operator_view};
use crate::app::AppState;
use crate::auth::{KidMismatch, SignedBody, verify_signed};
use crate::dns::TxtVerification;
use crate::errors::{AppError, AppResult};
use crate::ids;
use crate::store::{AgentStatus, Operator, OperatorStatus, StoreError};

#[derive(Deserialize)]
struct RegisterOperator {
    domain: String,
    public_key: Jwk,
}

/// Parses a domain an operator may claim: valid DNS name, not a public suffix.
pub fn registrable_domain(s: &str) -> AppResult<Domain> {
    let domain =
        Domain::parse(s).map_err(|e| AppError::bad_request("invalid_domain", e.to_string()))?;
    domain
        .ensure_registrable()
        .map_err(|e| AppError::bad_request("public_suffix_domain", e.to_string()))?;
    Ok(domain)
}

/// Parses a public JWK from a request body, or answers `invalid_key`.
pub fn body_key(jwk: &Jwk) -> AppResult<PublicKey> {
    PublicKey::from_jwk(jwk).map_err(|e| AppError::bad_request("invalid_key", e.to_string()))
}

/// `POST /v1/operators`, signed by the key in the body.
pub async fn register(
    State(state): State<AppState>,
    req: SignedBody,
) -> AppResult<(StatusCode, Json<Value>)> {
    let body: RegisterOperator = req.json()?;
    let domain = registrable_domain(&body.domain)?;
    let key = body_key(&body.public_key)?;
    let unverified = req.unverified()?;
    verify_signed(
        &state,
        &req,
        unverified,
        &key,
        KidMismatch::InvalidSignature,
    )
    .await?;

    // Unverified claims on a domain may coexist; once one operator has proven it, it owns it.
    if domain_owner(&state, &domain, None).await?.is_some() {
        return Err(operator_exists(&domain));
    }
    let operator = Operator {
        id: ids::operator_id(),
        domain: domain.as_str().to_owned(),
        public_key: *key.as_bytes(),
        thumbprint: key.thumbprint(),
        txt_token: ids::txt_token(),
        status: OperatorStatus::Unverified,
        domain_verified_at: None,
        verification_expires_at: None,
        created_at: state.clock.now(),
    };
    match state.store.insert_operator(operator.clone()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(operator_exists(&domain)),
        Err(e) => return Err(e.into()),
    }
    audit(
        &state,
        &operator.id,
        "operator.register",
        &operator.id,
        format!("domain={domain}"),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(operator_view(&operator, state.clock.now())),
    ))
}

fn operator_exists(domain: &Domain) -> AppError {
    AppError::conflict(
        "operator_exists",
        format!("an operator is already registered for {domain}"),
    )
}

/// Loads the operator named in the path and checks the request is signed by its root key.
async fn signed_by_operator(state: &AppState, id: &str, req: &SignedBody) -> AppResult<Operator> {
    let operator = load_operator(state, id).await?;
    let unverified = req.unverified()?;
    let key = state.keys.get(&operator.public_key)?;
    verify_signed(state, req, unverified, &key, KidMismatch::Forbidden).await?;
    Ok(operator)
}

/// `GET /v1/operators/{id}` (operator-signed).
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    let operator = signed_by_operator(&state, &id, &req).await?;
    Ok(Json(operator_view(&operator, state.clock.now())))
}

/// `GET /v1/operators/{id}/verification` (operator-signed): what to publish in DNS.
pub async fn instructions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    let operator = signed_by_operator(&state, &id, &req).await?;
    let domain = Domain::parse(&operator.domain)
        .map_err(|e| AppError::internal(format!("stored domain: {e}")))?;
    let record = TxtRecord::new(&domain, &operator.txt_token);
    Ok(Json(json!({
        "domain": operator.domain,
        "txt_record_name": record.name,
        "txt_record_value": record.value,
    })))
}

/// `POST /v1/operators/{id}/verification` (operator-signed): looks the TXT record up now.
pub async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    let operator = signed_by_operator(&state, &id, &req).await?;
    let domain = registrable_domain(&operator.domain)?;
    if let Some(owner) = domain_owner(&state, &domain, Some(&operator.id)).await? {
        return Err(AppError::conflict(
            "operator_exists",
            format!("{domain} is already verified by operator {}", owner.id),
        ));
    }
    let outcome = state.dns.verify(&domain, &operator.txt_token).await;
    let now = state.clock.now();
    match outcome {
        TxtVerification::Verified => {
            let expires = now.saturating_add(state.config.verification_lifetime);
            let updated = match state
                .store
                .set_operator_verified(&operator.id, now, expires)
                .await
            {
                Ok(updated) => updated,
                // Another operator proved the same domain a moment earlier.
                Err(StoreError::Conflict(_)) => return Err(operator_exists(&domain)),
                Err(e) => return Err(e.into()),
            };
            audit(
                &state,
                &operator.id,
                "operator.verify",
                &operator.id,
                format!("success domain={domain}"),
            )
            .await;
            Ok(Json(operator_view(&updated, now)))
        }
        failure => {
            let err = dns_failure(&domain, &operator.txt_token, failure);
            audit(
                &state,
                &operator.id,
                "operator.verify_failed",
                &operator.id,
                format!("{}: {}", err.code, err.message),
            )
            .await;
            // A definite answer (no record, wrong record) withdraws a current verification: the proof is
            // gone. A lookup failure proves nothing either way and changes nothing (spec §10.4).
            if matches!(err.code, "dns_record_not_found" | "dns_record_mismatch")
                && operator.status == OperatorStatus::Verified
            {
                state.store.set_operator_unverified(&operator.id).await?;
                audit(
                    &state,
                    &operator.id,
                    "operator.unverify",
                    &operator.id,
                    format!("explicit check: {}", err.code),
                )
                .await;
            }
            Err(err)
        }
    }
}

/// The operator that has proven `domain`, other than `except`, if any.
async fn domain_owner(
    state: &AppState,
    domain: &Domain,
    except: Option<&str>,
) -> AppResult<Option<Operator>> {
    Ok(state
        .store
        .get_operator_by_domain(domain.as_str())
        .await?
        .filter(|op| op.status == OperatorStatus::Verified && Some(op.id.as_str()) != except))
}

/// The wire error for a failed TXT check.
fn dns_failure(domain: &Domain, token: &str, outcome: TxtVerification) -> AppError {
    let record = TxtRecord::new(domain, token);
    match outcome {
        TxtVerification::Verified => AppError::internal("verified outcome treated as failure"),
        TxtVerification::NoRecord => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "dns_record_not_found",
            format!(
                "no TXT record at {}; publish {:?} there",
                record.name, record.value
            ),
        ),
        TxtVerification::WrongValue { found } => {
            let shown: Vec<String> = found
                .iter()
                .take(5)
                .map(|v| v.chars().take(200).collect())
                .collect();
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "dns_record_mismatch",
                format!(
                    "TXT records at {} are {:?}; expected {:?}",
                    record.name, shown, record.value
                ),
            )
        }
        TxtVerification::LookupFailed(message) => AppError::new(
            StatusCode::BAD_GATEWAY,
            "dns_lookup_failed",
            format!("looking up {} failed: {message}", record.name),
        ),
    }
}

/// `GET /v1/operators/{id}/agents` (operator-signed).
pub async fn agents(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    let operator = signed_by_operator(&state, &id, &req).await?;
    let agents = state.store.list_agents(&operator.id).await?;
    let views = agents
        .iter()
        .map(agent_view)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(json!({ "agents": views })))
}

/// `GET /v1/operators/{id}/revocations` (operator-signed): revoked tokens still stored and revoked agents.
pub async fn revocations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: SignedBody,
) -> AppResult<Json<Value>> {
    let operator = signed_by_operator(&state, &id, &req).await?;
    let now = state.clock.now();
    let mut tokens = state.store.list_revoked_tokens(&operator.id).await?;
    // Rows outlive the token by the leeway (see `background::purge`); the list shows live tokens only.
    tokens.retain(|t| t.expires_at > now);
    let agents = state.store.list_agents(&operator.id).await?;
    Ok(Json(json!({
        "tokens": tokens.iter().map(|t| json!({
            "jti": t.jti, "did": t.did, "revoked_at": t.revoked_at, "expires_at": t.expires_at,
        })).collect::<Vec<_>>(),
        "agents": agents.iter().filter(|a| a.status == AgentStatus::Revoked).map(|a| json!({
            "did": a.did, "revoked_at": a.revoked_at,
        })).collect::<Vec<_>>(),
    })))
}
