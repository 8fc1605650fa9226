//! Liveness (`/health`) and readiness (`/ready`: storage answers).

use auth4agent_api::{Health, Ready};
use axum::Json;
use axum::extract::State;

use crate::errors::{AppError, AppResult};
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health::ok(state.clock.now()))
}

pub async fn ready(State(state): State<AppState>) -> AppResult<Json<Ready>> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Ready::storage_reachable())),
        Err(e) => {
            tracing::warn!(error = %e, "storage is not reachable");
            Err(AppError::storage_unavailable(format!(
                "storage is not reachable: {e}"
            )))
        }
    }
}
