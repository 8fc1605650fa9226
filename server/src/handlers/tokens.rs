//! `/v1/challenge`, `/v1/token`, `/v1/introspect` and `/v1/revoke`: adapters over
//! [`crate::service::issuance`] and [`crate::service::revocation`].

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{JsonBody, SignedBody};
use crate::errors::{AppError, AppResult};
use crate::service::revocation::Introspection;
use crate::service::{agents, issuance, revocation};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ChallengeRequest {
    did: String,
}

#[derive(Deserialize)]
pub struct TokenRequest {
    proof: String,
}

#[derive(Deserialize)]
pub struct TokenBody {
    token: String,
}

/// `POST /v1/challenge`: a single-use nonce for a registered agent.
pub async fn challenge(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ChallengeRequest>,
) -> AppResult<Json<Value>> {
    let did = agents::parse_did(&body.did)?;
    let challenge = issuance::challenge(&state, &did, state.clock.now()).await?;
    Ok(Json(json!({
        "challenge_id": challenge.id,
        "nonce": challenge.nonce,
        "expires_at": challenge.expires_at,
    })))
}

/// `POST /v1/token`: exchanges a proof answering a challenge for an access token.
pub async fn token(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenRequest>,
) -> AppResult<impl IntoResponse> {
    let issued = issuance::issue(&state, &body.proof, state.clock.now()).await?;
    // RFC 6749 §5.1: responses carrying tokens are not cached.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "token": issued.token,
            "token_type": "Bearer",
            "expires_at": issued.expires_at,
            "scope": issued.scope,
            "aud": issued.aud,
        })),
    ))
}

/// `POST /v1/introspect`: `{"active": false}` unless the token is active (see the service).
pub async fn introspect(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenBody>,
) -> AppResult<Json<Value>> {
    let Introspection::Active {
        claims,
        agent_status,
        operator_status,
        operator_id,
    } = revocation::introspect(&state, &body.token, state.clock.now()).await?
    else {
        return Ok(Json(json!({"active": false})));
    };
    let mut out = serde_json::to_value(&*claims).map_err(|e| AppError::internal(e.to_string()))?;
    if let Value::Object(map) = &mut out {
        map.insert("active".into(), Value::Bool(true));
        map.insert("token_type".into(), json!("Bearer"));
        map.insert("agent_status".into(), json!(agent_status.as_str()));
        map.insert("operator_status".into(), json!(operator_status));
        map.insert("operator_id".into(), json!(operator_id));
    }
    Ok(Json(out))
}

/// `POST /v1/revoke`: signed by the token's agent or that agent's operator (the service picks the key).
pub async fn revoke(State(state): State<AppState>, req: SignedBody) -> AppResult<Json<Value>> {
    let body: TokenBody = req.json()?;
    let jti = revocation::revoke_token(&state, &req.0, &body.token, state.clock.now()).await?;
    Ok(Json(json!({"revoked": true, "jti": jti})))
}
