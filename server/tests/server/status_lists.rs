//! Token Status Lists through the router: every token names its agent's entry, lists of a small size
//! so that registrations cross into list 2, the served list verifies with the JWKS and shows what the
//! database says within one ttl window (suspension, reactivation, revocation, a lapsed operator), the
//! aggregation and metadata name the lists, and an unknown list is `status_list_not_found`.

use auth4agent_protocol::{
    KeySet, TokenStatus, UnixTime, VerifiedStatusList, b64url_decode, verify_status_list,
};
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::harness::*;

const TTL: u64 = 60;

async fn harness() -> Harness {
    let mut config = test_config();
    config.status_list_size = 4;
    config.status_list_ttl = TTL;
    Harness::with_config(config).await
}

/// The raw answer to `GET path`: status, content type, cache-control, body.
async fn get_raw(h: &Harness, path: &str) -> (u16, String, String, String) {
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (content_type, cache) = (header(header::CONTENT_TYPE), header(header::CACHE_CONTROL));
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        content_type,
        cache,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

async fn jwks(h: &Harness) -> KeySet {
    let resp = h.send(json_get("/.well-known/jwks.json")).await;
    KeySet::from_json(&resp.json.to_string()).unwrap()
}

fn json_get(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

/// The token's `status.status_list`: (uri, idx).
fn entry_of(token: &str) -> (String, u64) {
    let payload: Value =
        serde_json::from_slice(&b64url_decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let entry = &payload["status"]["status_list"];
    (
        entry["uri"].as_str().unwrap().to_owned(),
        entry["idx"].as_u64().unwrap(),
    )
}

/// Fetches and verifies the list at `uri` now.
async fn list_at(h: &Harness, uri: &str) -> VerifiedStatusList {
    let path = uri.strip_prefix(ISSUER).unwrap();
    let (status, content_type, cache, body) = get_raw(h, path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/statuslist+jwt");
    let max_age: u64 = cache
        .strip_prefix("public, max-age=")
        .unwrap_or_else(|| panic!("{cache}"))
        .parse()
        .unwrap();
    assert!(max_age <= TTL, "{cache}");
    verify_status_list(&body, &jwks(h).await, uri, UnixTime::from_secs(h.now())).unwrap()
}

/// The status of `token`'s entry in the list served after the current window has passed.
async fn status_next_window(h: &Harness, token: &str) -> TokenStatus {
    h.clock.advance(TTL);
    let (uri, idx) = entry_of(token);
    list_at(h, &uri).await.status(idx).unwrap()
}

#[tokio::test]
async fn tokens_name_entries_and_lists_follow_the_database_within_one_ttl() {
    let h = harness().await;
    let (op, agent) = h.active_agent("example.com", &["read"]).await;
    let token = h.token(&agent, "read").await;
    let (uri, idx) = entry_of(&token);
    assert_eq!(
        (uri.as_str(), idx),
        (&*format!("{ISSUER}/status-lists/1"), 0)
    );
    let list = list_at(&h, &uri).await;
    assert_eq!(list.status(0).unwrap(), TokenStatus::Valid);
    assert_eq!(list.list().len(), 4, "the configured size");
    assert_eq!(list.ttl().as_secs(), TTL);
    assert_eq!(list.issued_at().as_secs() % TTL, 0, "iat on the window");
    // The introspection shows the same entry.
    assert_eq!(
        h.introspect(&token).await["status"]["status_list"]["idx"],
        0
    );

    // Suspended: the list signed in this window still says valid; the next window's says suspended.
    let path = format!("/v1/agents/{}", agent.did);
    h.send(h.signed(&op.key, "POST", &format!("{path}/suspend"), None))
        .await
        .assert_ok(200);
    let (_, _, _, before) = get_raw(&h, "/status-lists/1").await;
    let (_, _, _, again) = get_raw(&h, "/status-lists/1").await;
    assert_eq!(before, again, "one window, one list");
    assert_eq!(status_next_window(&h, &token).await, TokenStatus::Suspended);
    // Reactivated: valid again.
    h.send(h.signed(&op.key, "POST", &format!("{path}/reactivate"), None))
        .await
        .assert_ok(200);
    assert_eq!(status_next_window(&h, &token).await, TokenStatus::Valid);
    // Revoked: invalid for good.
    h.send(h.signed(&op.key, "POST", &format!("{path}/revoke"), None))
        .await
        .assert_ok(200);
    assert_eq!(status_next_window(&h, &token).await, TokenStatus::Invalid);
    assert_eq!(status_next_window(&h, &token).await, TokenStatus::Invalid);
}

#[tokio::test]
async fn registrations_cross_into_the_next_list_and_a_lapse_suspends_its_agents() {
    let h = harness().await;
    let (op, first) = h.active_agent("example.com", &["read"]).await;
    let mut tokens = vec![h.token(&first, "read").await];
    for _ in 0..4 {
        let agent = h.register_agent(&op).await;
        h.set_scopes(&op, &agent, &["read"]).await.assert_ok(200);
        tokens.push(h.token(&agent, "read").await);
    }
    let entries: Vec<(String, u64)> = tokens.iter().map(|t| entry_of(t)).collect();
    let uri = |n: u64| format!("{ISSUER}/status-lists/{n}");
    assert_eq!(
        entries,
        [
            (uri(1), 0),
            (uri(1), 1),
            (uri(1), 2),
            (uri(1), 3),
            (uri(2), 0)
        ]
    );

    // The aggregation and both metadata documents name the lists.
    let aggregation = h.send(json_get("/status-lists")).await;
    assert_eq!(
        aggregation.assert_ok(200)["status_lists"],
        serde_json::json!([uri(1), uri(2)])
    );
    for doc in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/auth4agent-configuration",
    ] {
        let resp = h.send(json_get(doc)).await;
        assert_eq!(
            resp.assert_ok(200)["status_list_aggregation_endpoint"],
            format!("{ISSUER}/status-lists")
        );
    }

    // A list verifies only for its own uri.
    let (_, _, _, second) = get_raw(&h, "/status-lists/2").await;
    let keys = jwks(&h).await;
    let now = UnixTime::from_secs(h.now());
    assert_eq!(
        verify_status_list(&second, &keys, &uri(1), now)
            .unwrap_err()
            .code(),
        "status_list_uri_mismatch"
    );
    assert_eq!(
        verify_status_list(&second, &keys, &uri(2), now)
            .unwrap()
            .status(4)
            .unwrap_err()
            .code(),
        "status_index_out_of_range"
    );

    // The operator's proof lapses (30 days, no re-verification here): every agent of it is suspended.
    h.clock.advance(30 * 86_400);
    for token in &tokens {
        let (uri, idx) = entry_of(token);
        assert_eq!(
            list_at(&h, &uri).await.status(idx).unwrap(),
            TokenStatus::Suspended
        );
    }

    // Unknown lists.
    for path in [
        "/status-lists/3",
        "/status-lists/0",
        "/status-lists/x",
        "/status-lists/+1",
    ] {
        let resp = h.send(json_get(path)).await;
        resp.assert_error(404, "status_list_not_found");
    }
}
