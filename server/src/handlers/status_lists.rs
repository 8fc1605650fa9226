//! The Token Status Lists (draft-ietf-oauth-status-list-20 §8 and §9): `GET /status-lists/{list}`
//! (`application/statuslist+jwt`, cacheable until its window ends) and the aggregation
//! `GET /status-lists`, adapters over [`crate::service::status_lists`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use auth4agent_protocol::STATUS_LIST_MEDIA_TYPE;

use crate::errors::{AppError, AppResult};
use crate::service::status_lists;
use crate::state::AppState;

/// `GET /status-lists/{list}`: the signed list, `max-age` the rest of its window (at most `ttl`).
pub async fn list(State(state): State<AppState>, Path(list): Path<String>) -> AppResult<Response> {
    let number = list
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= 1 && list.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            AppError::not_found(
                "status_list_not_found",
                format!("{list:?} is not a status list number"),
            )
        })?;
    let now = state.clock.now();
    let signed = status_lists::signed_list(&state, number, now).await?;
    let max_age = signed.fresh_until.saturating_sub(now);
    let mut resp = signed.token.to_string().into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(STATUS_LIST_MEDIA_TYPE),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={max_age}"))
            .unwrap_or(HeaderValue::from_static("no-cache")),
    );
    // §8.1: public data, readable by browser-based verifiers.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(resp)
}

/// `GET /status-lists`: `{"status_lists": [uri, ...]}` (§9.3).
pub async fn aggregation(State(state): State<AppState>) -> AppResult<Response> {
    let uris = status_lists::aggregation(&state).await?;
    let mut resp = Json(json!({ "status_lists": uris })).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={}", state.config.status_list_ttl))
            .unwrap_or(HeaderValue::from_static("no-cache")),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(resp)
}
