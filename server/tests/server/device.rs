//! The device authorization grant (RFC 8628) through the router: `POST /oauth/device_authorization`,
//! polling `POST /oauth/token` with the device_code grant (authorization_pending, slow_down, access_denied,
//! expired_token, invalid_grant), the operator's signed approvals (narrowing, denial, remembered grants),
//! approval scopes refused elsewhere with `approval_required`, one token per device code under concurrency,
//! and the limit on guessed user codes.

use auth4agent_protocol::{KeySet, UnixTime, Verifier};
use auth4agent_testkit::{Signer, sign};
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};

use crate::harness::{Agent, Harness, ISSUER, Operator, Resp, raw_request, send};

const RESOURCE: &str = "https://pay.example.com/api";

fn form(path: &str, body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn assertion(h: &Harness, agent: &Agent) -> String {
    sign::client_assertion(&agent.key, &agent.did, ISSUER, h.now())
}

async fn start(h: &Harness, agent: &Agent, extra: &[(&str, &str)]) -> Resp {
    let body = Signer::device_authorization_form(&assertion(h, agent), extra);
    h.send(form("/oauth/device_authorization", body)).await
}

/// Starts a device authorization for `scope` at [`RESOURCE`]; panics unless it is accepted.
async fn started(h: &Harness, agent: &Agent, scope: &str) -> Value {
    start(h, agent, &[("scope", scope), ("resource", RESOURCE)])
        .await
        .assert_ok(200)
        .clone()
}

async fn poll(h: &Harness, agent: &Agent, device_code: &str) -> Resp {
    let body = Signer::device_poll_form(&assertion(h, agent), device_code);
    h.send(form("/oauth/token", body)).await
}

fn code(started: &Value) -> &str {
    started["device_code"].as_str().unwrap()
}

#[track_caller]
fn assert_oauth(resp: &Resp, status: u16, error: &str, ours: &str) {
    assert_eq!(resp.status.as_u16(), status, "body: {}", resp.json);
    assert_eq!(resp.json["error"], error, "body: {}", resp.json);
    assert_eq!(resp.json["auth4agent_error"], ours, "body: {}", resp.json);
}

async fn set_policy(
    h: &Harness,
    op: &Operator,
    agent: &Agent,
    allowed: &[&str],
    approval: &[&str],
) {
    let body = json!({"allowed_scopes": allowed, "approval_scopes": approval});
    let path = format!("/v1/agents/{}/scopes", agent.did);
    let resp = h.send(h.signed(&op.key, "PUT", &path, Some(&body))).await;
    let agent = resp.assert_ok(200);
    assert_eq!(agent["approval_scopes"], json!(approval));
}

/// A verified operator with an agent allowed `read` that may get `payments:write` and `admin` on approval.
async fn policy_agent(h: &Harness, domain: &str) -> (Operator, Agent) {
    let (op, agent) = h.active_agent(domain, &["read"]).await;
    set_policy(h, &op, &agent, &["read"], &["admin", "payments:write"]).await;
    (op, agent)
}

async fn operator_call(
    h: &Harness,
    op: &Operator,
    method: &str,
    tail: &str,
    body: Option<&Value>,
) -> Resp {
    let path = format!("/v1/operators/{}/{tail}", op.id);
    h.send(h.signed(&op.key, method, &path, body)).await
}

async fn approve(h: &Harness, op: &Operator, body: Value) -> Resp {
    operator_call(h, op, "POST", "approvals/approve", Some(&body)).await
}

async fn deny(h: &Harness, op: &Operator, user_code: &str) -> Resp {
    operator_call(
        h,
        op,
        "POST",
        "approvals/deny",
        Some(&json!({"user_code": user_code})),
    )
    .await
}

async fn verified_claims(h: &Harness, token: &str) -> auth4agent_protocol::AccessTokenClaims {
    let jwks = h
        .send(raw_request("GET", "/.well-known/jwks.json", vec![], None))
        .await;
    let keys = KeySet::from_json(&jwks.json.to_string()).unwrap();
    Verifier::new(ISSUER, RESOURCE)
        .verify(token, &keys, UnixTime::from_secs(h.now()))
        .unwrap()
        .claims()
        .clone()
}

async fn audit_actions(h: &Harness) -> Vec<(String, String)> {
    h.store
        .list_audit(200)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.detail))
        .collect()
}

#[tokio::test]
async fn metadata_advertises_the_device_grant() {
    let h = Harness::start().await;
    let resp = h
        .send(raw_request(
            "GET",
            "/.well-known/oauth-authorization-server",
            vec![],
            None,
        ))
        .await;
    let doc = resp.assert_ok(200);
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{ISSUER}/oauth/device_authorization")
    );
    assert_eq!(
        doc["grant_types_supported"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
}

#[tokio::test]
async fn pending_slow_down_then_a_narrowed_approval_gives_one_token() {
    let h = Harness::start().await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    let resp = start(
        &h,
        &agent,
        &[
            ("scope", "read payments:write admin"),
            ("resource", RESOURCE),
            ("binding_message", "Pay invoice #4411"),
        ],
    )
    .await;
    assert_eq!(resp.headers[header::CACHE_CONTROL], "no-store");
    let answer = resp.assert_ok(200).clone();
    let user_code = answer["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .filter(|&c| c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{user_code}"
    );
    assert_eq!(
        answer["verification_uri"],
        format!("{ISSUER}/console/approve")
    );
    assert_eq!(
        answer["verification_uri_complete"],
        format!("{ISSUER}/console/approve?user_code={user_code}")
    );
    assert_eq!(answer["expires_in"], 600);
    assert_eq!(answer["interval"], 5);
    assert_eq!(code(&answer).len(), 43);

    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "authorization_pending",
        "authorization_pending",
    );
    // Polled again at once: slow down, and the interval is now 10 s.
    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "slow_down",
        "slow_down",
    );
    h.clock.advance(5);
    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "slow_down",
        "slow_down",
    );
    h.clock.advance(15);
    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "authorization_pending",
        "authorization_pending",
    );

    // The operator sees it, with what the agent said.
    let listed = operator_call(&h, &op, "GET", "approvals", None).await;
    let listed = listed.assert_ok(200)["approvals"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["did"], agent.did);
    assert_eq!(listed[0]["user_code"], user_code);
    assert_eq!(
        listed[0]["scopes"],
        json!(["admin", "payments:write", "read"])
    );
    assert_eq!(listed[0]["resource"], RESOURCE);
    assert_eq!(listed[0]["binding_message"], "Pay invoice #4411");
    assert_eq!(listed[0]["age"], 20);

    // Narrowing only: a scope that was not requested is refused.
    approve(
        &h,
        &op,
        json!({"user_code": user_code, "scopes": ["files:write"]}),
    )
    .await
    .assert_error(400, "invalid_scope");
    // Case and dashes do not matter.
    let typed = user_code.to_lowercase().replace('-', "");
    let decision = approve(
        &h,
        &op,
        json!({"user_code": typed, "scopes": ["read", "payments:write"]}),
    )
    .await;
    let decision = decision.assert_ok(200);
    assert_eq!(decision["status"], "approved");
    assert_eq!(decision["scopes"], json!(["payments:write", "read"]));
    approve(&h, &op, json!({"user_code": user_code}))
        .await
        .assert_error(409, "approval_decided");
    assert_eq!(
        operator_call(&h, &op, "GET", "approvals", None)
            .await
            .assert_ok(200)["approvals"],
        json!([])
    );

    h.clock.advance(10);
    let token = poll(&h, &agent, code(&answer)).await;
    assert_eq!(token.headers[header::CACHE_CONTROL], "no-store");
    let token = token.assert_ok(200).clone();
    assert_eq!(token["scope"], "payments:write read");
    assert_eq!(token["token_type"], "Bearer");
    let claims = verified_claims(&h, token["access_token"].as_str().unwrap()).await;
    assert_eq!(claims.sub, agent.did);
    assert_eq!(claims.aud.as_slice(), [RESOURCE]);
    assert_eq!(claims.scope, "payments:write read");

    // The code is consumed.
    h.clock.advance(10);
    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "invalid_grant",
        "invalid_grant",
    );

    let actions = audit_actions(&h).await;
    let find = |action: &str| {
        actions
            .iter()
            .filter(|(a, _)| a == action)
            .collect::<Vec<_>>()
    };
    assert_eq!(find("device.request").len(), 1);
    let approved = find("device.approve");
    assert_eq!(approved.len(), 1);
    assert!(approved[0].1.contains("method=cli_key"), "{approved:?}");
    let issued = find("token.issue");
    assert!(
        issued.iter().any(|(_, d)| d.contains("grant=device_code")),
        "{issued:?}"
    );
}

#[tokio::test]
async fn a_denied_request_is_access_denied() {
    let h = Harness::start().await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    let answer = started(&h, &agent, "payments:write").await;
    let user_code = answer["user_code"].as_str().unwrap();
    let decision = deny(&h, &op, user_code).await;
    assert_eq!(decision.assert_ok(200)["status"], "denied");
    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "access_denied",
        "access_denied",
    );
    approve(&h, &op, json!({"user_code": user_code}))
        .await
        .assert_error(409, "approval_decided");
    assert!(
        audit_actions(&h)
            .await
            .iter()
            .any(|(a, d)| a == "device.deny" && d.contains("method=cli_key"))
    );
}

#[tokio::test]
async fn an_unapproved_request_expires() {
    let mut config = crate::harness::test_config();
    config.device_code_ttl = 30;
    let h = Harness::with_config(config).await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    let answer = started(&h, &agent, "admin").await;
    assert_eq!(answer["expires_in"], 30);
    h.clock.advance(30);
    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "expired_token",
        "expired_token",
    );
    approve(&h, &op, json!({"user_code": answer["user_code"]}))
        .await
        .assert_error(410, "approval_expired");
    h.clock.advance(10);
    assert_oauth(
        &poll(&h, &agent, code(&answer)).await,
        400,
        "expired_token",
        "expired_token",
    );
    let expired: Vec<_> = audit_actions(&h)
        .await
        .into_iter()
        .filter(|(a, _)| a == "device.expire")
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
}

#[tokio::test]
async fn another_agents_device_code_is_an_invalid_grant() {
    let h = Harness::start().await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    let other = h.register_agent(&op).await;
    h.set_scopes(&op, &other, &["read"]).await.assert_ok(200);
    let answer = started(&h, &agent, "payments:write").await;
    approve(&h, &op, json!({"user_code": answer["user_code"]}))
        .await
        .assert_ok(200);
    assert_oauth(
        &poll(&h, &other, code(&answer)).await,
        400,
        "invalid_grant",
        "invalid_grant",
    );
    assert_oauth(
        &poll(&h, &agent, "not-a-device-code").await,
        400,
        "invalid_grant",
        "invalid_grant",
    );
    // The rightful agent still gets its token.
    assert_eq!(
        poll(&h, &agent, code(&answer)).await.assert_ok(200)["scope"],
        "payments:write"
    );
    // A replayed assertion is a failed client authentication, whatever the device code.
    let replayed = assertion(&h, &agent);
    let body = Signer::device_poll_form(&replayed, code(&answer));
    h.send(form("/oauth/token", body.clone())).await;
    assert_oauth(
        &h.send(form("/oauth/token", body)).await,
        401,
        "invalid_client",
        "client_assertion_replayed",
    );
}

#[tokio::test]
async fn allowed_scopes_alone_are_approved_at_once() {
    let h = Harness::start().await;
    let (_op, agent) = policy_agent(&h, "alpha.example.com").await;
    let answer = started(&h, &agent, "read").await;
    let token = poll(&h, &agent, code(&answer)).await;
    assert_eq!(token.assert_ok(200)["scope"], "read");
    // No scope: every allowed scope, approved at once too.
    let answer = start(&h, &agent, &[("resource", RESOURCE)])
        .await
        .assert_ok(200)
        .clone();
    assert_eq!(
        poll(&h, &agent, code(&answer)).await.assert_ok(200)["scope"],
        "read"
    );
}

#[tokio::test]
async fn refused_device_authorizations() {
    let h = Harness::start().await;
    let (_op, agent) = policy_agent(&h, "alpha.example.com").await;
    let resp = start(
        &h,
        &agent,
        &[("scope", "read files:delete"), ("resource", RESOURCE)],
    )
    .await;
    assert_oauth(&resp, 400, "invalid_scope", "scope_not_allowed");
    let resp = start(&h, &agent, &[("scope", "read")]).await;
    assert_oauth(&resp, 400, "invalid_target", "invalid_target");
    let resp = start(&h, &agent, &[("scope", "read"), ("resource", "not a uri")]).await;
    assert_oauth(&resp, 400, "invalid_target", "invalid_target");
    let long = "x".repeat(65);
    let resp = start(
        &h,
        &agent,
        &[("resource", RESOURCE), ("binding_message", &long)],
    )
    .await;
    assert_oauth(&resp, 400, "invalid_request", "invalid_binding_message");
    let resp = start(
        &h,
        &agent,
        &[("resource", RESOURCE), ("binding_message", "a\u{1b}[2Jb")],
    )
    .await;
    assert_oauth(&resp, 400, "invalid_request", "invalid_binding_message");
    let body = auth4agent_protocol::encode_form([("resource", RESOURCE)]);
    let resp = h.send(form("/oauth/device_authorization", body)).await;
    assert_oauth(&resp, 401, "invalid_client", "invalid_client_assertion");
    // A replayed assertion.
    let once = assertion(&h, &agent);
    let body = Signer::device_authorization_form(&once, &[("resource", RESOURCE)]);
    h.send(form("/oauth/device_authorization", body.clone()))
        .await
        .assert_ok(200);
    let resp = h.send(form("/oauth/device_authorization", body)).await;
    assert_oauth(&resp, 401, "invalid_client", "client_assertion_replayed");
}

#[tokio::test]
async fn approval_scopes_are_refused_on_the_other_paths() {
    let h = Harness::start().await;
    let (_op, agent) = policy_agent(&h, "alpha.example.com").await;
    let ch = h.challenge(&agent.did).await;
    let proof = h.proof(&agent, &ch, "read payments:write", None);
    h.token_with_proof(&proof)
        .await
        .assert_error(403, "approval_required");
    let ch = h.challenge(&agent.did).await;
    let proof = h.proof(&agent, &ch, "files:delete", None);
    h.token_with_proof(&proof)
        .await
        .assert_error(403, "scope_not_allowed");
    let body = Signer::token_form(
        &assertion(&h, &agent),
        &[("scope", "payments:write"), ("resource", RESOURCE)],
    );
    let resp = h.send(form("/oauth/token", body)).await;
    assert_oauth(&resp, 400, "invalid_scope", "approval_required");
    assert!(
        resp.json["error_description"]
            .as_str()
            .unwrap()
            .contains("device authorization"),
        "{}",
        resp.json
    );
}

#[tokio::test]
async fn concurrent_polls_of_an_approved_code_give_one_token() {
    let h = Harness::start().await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    let answer = started(&h, &agent, "payments:write").await;
    approve(&h, &op, json!({"user_code": answer["user_code"]}))
        .await
        .assert_ok(200);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let app = h.app.clone();
        let body = Signer::device_poll_form(&assertion(&h, &agent), code(&answer));
        tasks.push(tokio::spawn(async move {
            send(&app, form("/oauth/token", body)).await
        }));
    }
    let mut tokens = 0;
    for task in tasks {
        let resp = task.await.unwrap();
        match resp.status.as_u16() {
            200 => tokens += 1,
            _ => assert_oauth(&resp, 400, "invalid_grant", "invalid_grant"),
        }
    }
    assert_eq!(tokens, 1);
    let issued = audit_actions(&h)
        .await
        .into_iter()
        .filter(|(a, d)| a == "token.issue" && d.contains("grant=device_code"))
        .count();
    assert_eq!(issued, 1);
}

#[tokio::test]
async fn a_remembered_grant_approves_at_once_until_it_expires_or_is_revoked() {
    let h = Harness::start().await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    let answer = started(&h, &agent, "payments:write").await;
    let decision = approve(
        &h,
        &op,
        json!({"user_code": answer["user_code"], "remember_seconds": 3600}),
    )
    .await;
    let grant = decision.assert_ok(200)["remembered_grant"].clone();
    assert_eq!(grant["scopes"], json!(["payments:write"]));
    assert_eq!(grant["resource"], RESOURCE);
    assert_eq!(grant["expires_at"], h.now() + 3600);
    poll(&h, &agent, code(&answer)).await.assert_ok(200);

    // Same agent, same resource, covered scopes: approved at once.
    let again = started(&h, &agent, "read payments:write").await;
    assert_eq!(
        poll(&h, &agent, code(&again)).await.assert_ok(200)["scope"],
        "payments:write read"
    );
    // Another resource, or a scope the grant does not cover: pending.
    let elsewhere = start(
        &h,
        &agent,
        &[
            ("scope", "payments:write"),
            ("resource", "https://other.example.com"),
        ],
    )
    .await
    .assert_ok(200)
    .clone();
    assert_oauth(
        &poll(&h, &agent, code(&elsewhere)).await,
        400,
        "authorization_pending",
        "authorization_pending",
    );
    let wider = started(&h, &agent, "admin payments:write").await;
    assert_oauth(
        &poll(&h, &agent, code(&wider)).await,
        400,
        "authorization_pending",
        "authorization_pending",
    );

    let listed = operator_call(&h, &op, "GET", "grants", None).await;
    let listed = listed.assert_ok(200)["grants"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], grant["id"]);

    // Past its expiry it approves nothing.
    h.clock.advance(3600);
    let late = started(&h, &agent, "payments:write").await;
    assert_oauth(
        &poll(&h, &agent, code(&late)).await,
        400,
        "authorization_pending",
        "authorization_pending",
    );
    assert_eq!(
        operator_call(&h, &op, "GET", "grants", None)
            .await
            .assert_ok(200)["grants"],
        json!([])
    );

    // A second grant, revoked: approves nothing either.
    approve(
        &h,
        &op,
        json!({"user_code": late["user_code"], "remember_seconds": 600}),
    )
    .await
    .assert_ok(200);
    let grants = operator_call(&h, &op, "GET", "grants", None).await;
    let id = grants.assert_ok(200)["grants"][0]["id"].clone();
    let revoked = operator_call(
        &h,
        &op,
        "POST",
        "grants/revoke",
        Some(&json!({"grant_id": id})),
    )
    .await;
    assert_eq!(revoked.assert_ok(200)["revoked_at"], h.now());
    operator_call(
        &h,
        &op,
        "POST",
        "grants/revoke",
        Some(&json!({"grant_id": id})),
    )
    .await
    .assert_error(404, "grant_not_found");
    let after = started(&h, &agent, "payments:write").await;
    assert_oauth(
        &poll(&h, &agent, code(&after)).await,
        400,
        "authorization_pending",
        "authorization_pending",
    );
    // remember is bounded.
    approve(
        &h,
        &op,
        json!({"user_code": after["user_code"], "remember_seconds": 0}),
    )
    .await
    .assert_error(400, "invalid_ttl");
}

#[tokio::test]
async fn user_codes_of_another_operator_are_unknown_and_guessing_is_limited() {
    let h = Harness::start().await;
    let (_op, agent) = policy_agent(&h, "alpha.example.com").await;
    let other = h.register_operator("beta.example.com").await;
    h.verify_operator(&other).await;
    let answer = started(&h, &agent, "admin").await;
    approve(&h, &other, json!({"user_code": answer["user_code"]}))
        .await
        .assert_error(404, "approval_not_found");
    approve(&h, &other, json!({"user_code": "AAAA-1111"}))
        .await
        .assert_error(400, "invalid_user_code");
    for i in 0..9 {
        let guess = format!(
            "BCDF-GHJ{}",
            ["K", "L", "M", "N", "P", "Q", "R", "S", "T"][i]
        );
        deny(&h, &other, &guess)
            .await
            .assert_error(404, "approval_not_found");
    }
    // Ten misses spent: even the right code is refused for now.
    let limited = deny(&h, &other, answer["user_code"].as_str().unwrap()).await;
    limited.assert_error(429, "rate_limited");
    assert_eq!(limited.headers[header::RETRY_AFTER], "30");
    // Other operators are not affected; the request is still pending.
    let listed = operator_call(&h, &_op, "GET", "approvals", None).await;
    assert_eq!(
        listed.assert_ok(200)["approvals"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn the_list_long_polls_for_a_request() {
    let h = Harness::start().await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    // The query is not signed: the signature covers the path.
    let path = format!("/v1/operators/{}/approvals", op.id);
    let sig = sign::request_signature(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now()),
    );
    let request = raw_request("GET", &format!("{path}?wait=60"), vec![], Some(&sig));
    let app = h.app.clone();
    let waiting = tokio::spawn(async move { send(&app, request).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let answer = started(&h, &agent, "admin").await;
    let listed = waiting.await.unwrap();
    let sig = sign::request_signature(
        &op.key,
        "GET",
        &format!("{ISSUER}{path}"),
        b"",
        UnixTime::from_secs(h.now()),
    );
    h.send(raw_request(
        "GET",
        &format!("{path}?wait=soon"),
        vec![],
        Some(&sig),
    ))
    .await
    .assert_error(400, "invalid_request");
    let listed = listed.assert_ok(200)["approvals"].clone();
    assert_eq!(listed[0]["user_code"], answer["user_code"], "{listed}");
}

#[tokio::test]
async fn setting_allowed_scopes_alone_keeps_the_approval_scopes() {
    let h = Harness::start().await;
    let (op, agent) = policy_agent(&h, "alpha.example.com").await;
    let resp = h.set_scopes(&op, &agent, &["read", "write"]).await;
    let body = resp.assert_ok(200);
    assert_eq!(body["allowed_scopes"], json!(["read", "write"]));
    assert_eq!(body["approval_scopes"], json!(["admin", "payments:write"]));
    set_policy(&h, &op, &agent, &["read"], &[]).await;
    let resp = start(&h, &agent, &[("scope", "admin"), ("resource", RESOURCE)]).await;
    assert_oauth(&resp, 400, "invalid_scope", "scope_not_allowed");
}

#[tokio::test]
async fn the_approval_page_says_how_to_approve_and_reveals_nothing() {
    let h = Harness::start().await;
    let page = |query: &str| {
        let uri = format!("/console/approve{query}");
        h.send(raw_request("GET", &uri, vec![], None))
    };
    let resp = page("?user_code=wdjb-mjht").await;
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(
        resp.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let csp = resp.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(resp.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(resp.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(resp.headers[header::REFERRER_POLICY], "no-referrer");
    let html = page_text(&h, "?user_code=wdjb-mjht").await;
    assert!(
        html.contains("auth4agent approvals approve WDJB-MJHT"),
        "{html}"
    );
    // Whatever the query holds, nothing of it is echoed unless it is a valid code.
    let html = page_text(&h, "?user_code=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert!(
        !html.contains("alert(1)")
            && !html.contains("<script>")
            && html.contains("not a valid code"),
        "{html}"
    );
    let html = page_text(&h, "").await;
    assert!(html.contains("approvals approve XXXX-XXXX"), "{html}");
}

async fn page_text(h: &Harness, query: &str) -> String {
    use tower::ServiceExt as _;
    let request = raw_request("GET", &format!("/console/approve{query}"), vec![], None);
    let resp = h.app.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}
