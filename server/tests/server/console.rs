//! The operator console through the router, with the manual clock: a login link dies 60 s after it was made, a
//! session after 15 idle minutes or 8 hours however busy, and over https the cookie is `__Host-` prefixed and
//! `Secure` (the browser test, tests/tests/e2e/console.rs, runs over http on loopback).

use auth4agent_server::service::console;
use axum::body::Body;
use axum::http::{Request, header};
use tower::ServiceExt as _;

use crate::harness::{Harness, ISSUER, Operator, new_key, test_config};

struct Page {
    status: u16,
    set_cookie: Option<String>,
    body: String,
}

impl Page {
    fn signed_in(&self) -> bool {
        self.body.contains("Sign out")
    }
}

async fn fetch(h: &Harness, method: &str, path: &str, cookie: Option<&str>, form: &str) -> Page {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if !form.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let request = request.body(Body::from(form.to_owned())).unwrap();
    let response = h.app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Page {
        status,
        set_cookie,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// A fresh login link's path and query, from the signed endpoint.
async fn link(h: &Harness, op: &Operator) -> String {
    let path = format!("/v1/operators/{}/console-link", op.id);
    let resp = h.send(h.signed(&op.key, "POST", &path, None)).await;
    let body = resp.assert_ok(200);
    assert_eq!(body["expires_in"], 60, "{body}");
    assert_eq!(body["expires_at"], h.now() + 60, "{body}");
    body["login_url"]
        .as_str()
        .unwrap()
        .strip_prefix(ISSUER)
        .unwrap()
        .to_owned()
}

/// Opens `link`; the session cookie as a `Cookie` header value.
async fn sign_in(h: &Harness, link: &str) -> String {
    let page = fetch(h, "GET", link, None, "").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let cookie = page.set_cookie.expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_login_link_works_for_60_seconds() {
    let h = Harness::start().await;
    let op = h.register_operator("example.com").await;
    let late = link(&h, &op).await;
    h.clock.advance(60);
    let page = fetch(&h, "GET", &late, None, "").await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert!(page.body.contains("login_link_expired"), "{}", page.body);
    assert_eq!(page.set_cookie, None);

    let in_time = link(&h, &op).await;
    h.clock.advance(59);
    sign_in(&h, &in_time).await;
}

#[tokio::test]
async fn a_session_ends_after_15_idle_minutes_or_8_hours() {
    let h = Harness::start().await;
    let op = h.register_operator("example.com").await;
    let cookie = sign_in(&h, &link(&h, &op).await).await;
    h.clock.advance(15 * 60 - 1);
    assert!(
        fetch(&h, "GET", "/console", Some(&cookie), "")
            .await
            .signed_in()
    );
    // Seen just now: idle from here.
    h.clock.advance(15 * 60);
    let page = fetch(&h, "GET", "/console", Some(&cookie), "").await;
    assert!(
        !page.signed_in() && page.body.contains("auth4agent console"),
        "{}",
        page.body
    );
    let post = fetch(
        &h,
        "POST",
        "/console/deny",
        Some(&cookie),
        "user_code=BCDF-GHJK&csrf=x",
    )
    .await;
    assert_eq!(post.status, 401, "{}", post.body);
    assert!(post.body.contains("console_session_required"));

    // Busy every 10 minutes, a session still ends 8 hours after sign-in.
    let cookie = sign_in(&h, &link(&h, &op).await).await;
    for _ in 0..47 {
        h.clock.advance(600);
        assert!(
            fetch(&h, "GET", "/console/agents", Some(&cookie), "")
                .await
                .signed_in()
        );
    }
    h.clock.advance(600);
    assert!(
        !fetch(&h, "GET", "/console", Some(&cookie), "")
            .await
            .signed_in()
    );
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_secure() {
    let mut config = test_config();
    config.issuer = "https://console.example".into();
    let h = Harness::with_config(config).await;
    let op = crate::store_rows::operator("example.com", 1);
    h.store.insert_operator(op.clone()).await.unwrap();
    let made = console::create_link(&h.state, &op, h.now()).await.unwrap();
    let path = made.url.strip_prefix("https://console.example").unwrap();
    let page = fetch(&h, "GET", path, None, "").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let cookie = page.set_cookie.unwrap();
    assert!(cookie.starts_with("__Host-auth4agent_console="), "{cookie}");
    for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Strict", "; Secure"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
    let value = cookie.split(';').next().unwrap();
    assert!(
        fetch(&h, "GET", "/console", Some(value), "")
            .await
            .signed_in()
    );
    // The same id under the unprefixed name is not this issuer's cookie.
    let unprefixed = value.trim_start_matches("__Host-");
    assert!(
        !fetch(&h, "GET", "/console", Some(unprefixed), "")
            .await
            .signed_in()
    );
}

/// The approvals page shows a registration that asks for scopes as a new agent, with its name (escaped) and DID,
/// and without the "remember" choice, which has no meaning for it.
#[tokio::test]
async fn a_registration_request_shows_the_agents_name_and_no_remember_choice() {
    let h = Harness::start().await;
    let op = h.register_operator("example.com").await;
    h.verify_operator(&op).await;
    let key = new_key();
    let body = serde_json::json!({
        "domain": "example.com",
        "public_key": key.public_key().to_jwk(),
        "requested_scopes": ["files:read"],
        "name": "billing <bot>",
    });
    let registered = h
        .send(h.signed(&key, "POST", "/v1/agents", Some(&body)))
        .await;
    let did = registered.assert_ok(201)["did"]
        .as_str()
        .unwrap()
        .to_owned();

    let cookie = sign_in(&h, &link(&h, &op).await).await;
    let page = fetch(&h, "GET", "/console", Some(&cookie), "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("New agent"), "{}", page.body);
    assert!(page.body.contains("billing &#60;bot&#62;"), "{}", page.body);
    assert!(!page.body.contains("billing <bot>"), "the name is escaped");
    assert!(page.body.contains(&did), "{}", page.body);
    assert!(page.body.contains("files:read"), "{}", page.body);
    assert!(!page.body.contains("name=\"remember\""), "{}", page.body);
}
