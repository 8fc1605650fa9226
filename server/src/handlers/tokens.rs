//! `/v1/challenge`, `/v1/token`, `/v1/introspect` and `/v1/revoke`: adapters over
//! [`crate::service::issuance`] and [`crate::service::revocation`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;

use auth4agent_api::{
    ActiveToken, ChallengeRequest, ChallengeResponse, IntrospectRequest, Introspection,
    RevokeRequest, RevokeResponse, TokenRequest, TokenResponse,
};

use crate::auth::{JsonBody, SignedBody, dpop_header};
use crate::errors::AppResult;
use crate::service::revocation::Introspection as Standing;
use crate::service::{agents, issuance, revocation};
use crate::state::AppState;

/// `POST /v1/challenge`: a single-use nonce for a registered agent.
pub async fn challenge(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ChallengeRequest>,
) -> AppResult<Json<ChallengeResponse>> {
    let did = agents::parse_did(&body.did)?;
    let challenge = issuance::challenge(&state, &did, state.clock.now()).await?;
    Ok(Json(ChallengeResponse {
        challenge_id: challenge.id,
        nonce: challenge.nonce,
        expires_at: challenge.expires_at.as_secs(),
    }))
}

/// `POST /v1/token`: exchanges a proof answering a challenge for an access token (of type `DPoP` with a
/// `DPoP` proof of the agent key).
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TokenRequest>,
) -> AppResult<impl IntoResponse> {
    let dpop = dpop_header(&headers);
    let issued = issuance::issue(&state, &body.proof, &dpop, state.clock.now()).await?;
    // RFC 6749 §5.1: responses carrying tokens are not cached.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(TokenResponse {
            token: issued.token,
            token_type: issued.token_type.into(),
            expires_at: issued.expires_at,
            scope: issued.scope,
            aud: issued.aud,
        }),
    ))
}

/// `POST /v1/introspect`: `{"active": false}` unless the token is active (see the service).
pub async fn introspect(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<IntrospectRequest>,
) -> AppResult<Json<Introspection>> {
    let standing = revocation::introspect(&state, &body.token, state.clock.now()).await?;
    Ok(Json(match standing {
        Standing::Inactive => Introspection::inactive(),
        Standing::Active {
            claims,
            agent_status,
            operator_status,
            operator_id,
        } => Introspection::active(ActiveToken::new(
            &claims,
            "Bearer",
            agent_status,
            operator_status,
            operator_id,
        )),
    }))
}

/// `POST /v1/revoke`: signed by the token's agent or that agent's operator (the service picks the key).
pub async fn revoke(
    State(state): State<AppState>,
    req: SignedBody,
) -> AppResult<Json<RevokeResponse>> {
    let body: RevokeRequest = req.json()?;
    let jti = revocation::revoke_token(&state, &req.0, &body.token, state.clock.now()).await?;
    Ok(Json(RevokeResponse { revoked: true, jti }))
}
