//! Liveness (`/health`) and readiness (`/ready`: storage answers).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::errors::{AppError, AppResult};
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"status": "ok", "timestamp": state.clock.now()}))
}

pub async fn ready(State(state): State<AppState>) -> AppResult<Json<Value>> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "storage is not reachable");
            Err(AppError::storage_unavailable(format!(
                "storage is not reachable: {e}"
            )))
        }
    }
}
