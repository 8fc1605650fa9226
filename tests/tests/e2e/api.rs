//! The server API signed by hand: refusals the CLI would never send (an agent signing its own
//! scope change, replays, signatures bound to another method, path or body).

use std::num::NonZeroU64;

use serde_json::json;

use crate::support::{World, strings};

#[test]
fn agent_signature_cannot_set_scopes() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let path = format!("/v1/agents/{}/scopes", agent.did);
    let body = json!({ "allowed_scopes": ["admin", "read", "write"] });

    let refused = http.signed(&agent.signer(), "PUT", &path, Some(&body));
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, Some("forbidden")),
        "{refused:?}"
    );
    assert_eq!(
        strings(&operator.agent(&agent.did)["allowed_scopes"]),
        ["read", "write"]
    );

    // The same request signed by the operator passes: the refusal was about the signer.
    let granted = http.signed(&operator.signer(), "PUT", &path, Some(&body));
    assert_eq!(granted.status, 200, "{granted:?}");
    assert_eq!(
        strings(&granted.json()["allowed_scopes"]),
        ["admin", "read", "write"]
    );
}

#[test]
fn signed_requests_are_single_use() {
    let world = World::new();
    let (operator, _agent) = world.operator_and_agent();
    let http = world.server.http();
    let path = format!("/v1/operators/{}", operator.id);
    let signature = operator.signer().sign("GET", &http.url(&path), b"");
    let header = [(auth4agent_protocol::SIGNATURE_HEADER, signature.as_str())];

    let first = http.send("GET", &path, None, &header).expect("first");
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.json()["id"], operator.id.as_str());
    let replay = http.send("GET", &path, None, &header).expect("replay");
    assert_eq!(
        (replay.status, replay.error_code()),
        (409, Some("request_replayed")),
        "{replay:?}"
    );
}

#[test]
fn signatures_bind_method_path_and_body() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let signer = operator.signer();
    let operator_path = format!("/v1/operators/{}", operator.id);

    let unsigned = http
        .send("GET", &operator_path, None, &[])
        .expect("unsigned");
    assert_eq!(
        (unsigned.status, unsigned.error_code()),
        (401, Some("missing_signature")),
        "{unsigned:?}"
    );

    let other_path = signer.sign("GET", &http.url(&format!("{operator_path}/agents")), b"");
    let moved = http
        .send(
            "GET",
            &operator_path,
            None,
            &[(auth4agent_protocol::SIGNATURE_HEADER, &other_path)],
        )
        .expect("moved");
    assert_eq!(
        (moved.status, moved.error_code()),
        (401, Some("htu_mismatch")),
        "{moved:?}"
    );

    let verification = format!("{operator_path}/verification");
    let as_get = signer.sign("GET", &http.url(&verification), b"");
    let posted = http
        .send(
            "POST",
            &verification,
            None,
            &[(auth4agent_protocol::SIGNATURE_HEADER, &as_get)],
        )
        .expect("posted");
    assert_eq!(
        (posted.status, posted.error_code()),
        (401, Some("htm_mismatch")),
        "{posted:?}"
    );

    let scopes = format!("/v1/agents/{}/scopes", agent.did);
    let signed_body = json!({ "allowed_scopes": ["read"] }).to_string();
    let sent_body = json!({ "allowed_scopes": ["read", "admin"] }).to_string();
    let signature = signer.sign("PUT", &http.url(&scopes), signed_body.as_bytes());
    let swapped = http
        .send(
            "PUT",
            &scopes,
            Some(sent_body.into_bytes()),
            &[(auth4agent_protocol::SIGNATURE_HEADER, &signature)],
        )
        .expect("swapped");
    assert_eq!(
        (swapped.status, swapped.error_code()),
        (401, Some("body_hash_mismatch")),
        "{swapped:?}"
    );
    assert_eq!(
        strings(&operator.agent(&agent.did)["allowed_scopes"]),
        ["read", "write"]
    );
}

#[test]
fn tokens_come_only_from_a_fresh_challenge() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let challenge = http
        .post_json("/v1/challenge", &json!({ "did": agent.did }), &[])
        .expect("challenge");
    assert_eq!(challenge.status, 200, "{challenge:?}");
    let doc = challenge.json();
    assert!(
        doc["challenge_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ch_")),
        "{doc}"
    );
    assert_eq!(doc["nonce"].as_str().map(str::len), Some(43), "{doc}");
    let expires = doc["expires_at"].as_u64().expect("expires_at");
    assert!(
        expires <= crate::support::unix_now() + 61,
        "challenges live at most 60 s"
    );

    let unknown = http
        .post_json(
            "/v1/challenge",
            &json!({ "did": format!("did:agent:example.com:{}", "0".repeat(32)) }),
            &[],
        )
        .expect("challenge");
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, Some("agent_not_found")),
        "{unknown:?}"
    );

    let bogus = http
        .post_json("/v1/token", &json!({ "proof": "a.b.c" }), &[])
        .expect("token");
    assert_eq!(
        (bogus.status, bogus.error_code()),
        (401, Some("invalid_proof")),
        "{bogus:?}"
    );
}

/// A fresh challenge for `did`: `(challenge_id, nonce)`.
fn challenge(http: &auth4agent_testkit::Http, did: &str) -> (String, String) {
    let answer = http
        .post_json("/v1/challenge", &json!({ "did": did }), &[])
        .expect("challenge");
    assert_eq!(answer.status, 200, "{answer:?}");
    (
        crate::support::str_field(answer.json(), "challenge_id"),
        crate::support::str_field(answer.json(), "nonce"),
    )
}

#[test]
fn one_challenge_yields_one_token_under_concurrency() {
    let world = World::new();
    let (_operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let url = world.server.url();
    let signer = agent.signer();
    let (id, nonce) = challenge(http, &agent.did);
    let proof = signer.proof(
        &agent.did,
        &url,
        &id,
        &nonce,
        "read",
        crate::support::AUD,
        None,
    );

    let barrier = std::sync::Barrier::new(8);
    let answers: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    http.post_json("/v1/token", &json!({ "proof": proof }), &[])
                        .expect("token")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let issued: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        issued.len(),
        1,
        "exactly one token per challenge: {answers:?}"
    );
    for refused in answers.iter().filter(|a| a.status != 200) {
        assert_eq!(
            (refused.status, refused.error_code()),
            (409, Some("challenge_used")),
            "{refused:?}"
        );
    }
    assert_eq!(issued[0].json()["token_type"], "Bearer");
    assert_eq!(issued[0].json()["scope"], "read");
}

#[test]
fn proofs_are_bound_to_server_and_refusals_keep_the_challenge() {
    let world = World::new();
    let (operator, agent) = world.operator_and_agent();
    let http = world.server.http();
    let url = world.server.url();
    let signer = agent.signer();
    let aud = crate::support::AUD;
    let (id, nonce) = challenge(http, &agent.did);

    // Addressed to another server.
    let elsewhere = signer.proof(
        &agent.did,
        "http://127.0.0.1:1",
        &id,
        &nonce,
        "read",
        aud,
        None,
    );
    let refused = http
        .post_json("/v1/token", &json!({ "proof": elsewhere }), &[])
        .expect("token");
    assert_eq!(
        (refused.status, refused.error_code()),
        (401, Some("invalid_proof")),
        "{refused:?}"
    );
    // Wrong nonce.
    let guessed = signer.proof(&agent.did, &url, &id, "AAAA", "read", aud, None);
    let refused = http
        .post_json("/v1/token", &json!({ "proof": guessed }), &[])
        .expect("token");
    assert_eq!(
        (refused.status, refused.error_code()),
        (401, Some("invalid_proof")),
        "{refused:?}"
    );
    // Scope not allowed.
    let greedy = signer.proof(&agent.did, &url, &id, &nonce, "admin", aud, None);
    let refused = http
        .post_json("/v1/token", &json!({ "proof": greedy }), &[])
        .expect("token");
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, Some("scope_not_allowed")),
        "{refused:?}"
    );
    // Signed by another key than the agent's.
    let operator_signer = operator.signer();
    let forged = operator_signer.proof(&agent.did, &url, &id, &nonce, "read", aud, None);
    let refused = http
        .post_json("/v1/token", &json!({ "proof": forged }), &[])
        .expect("token");
    assert_eq!(
        (refused.status, refused.error_code()),
        (401, Some("invalid_proof")),
        "{refused:?}"
    );

    // None of these consumed the challenge.
    let good = signer.proof(
        &agent.did,
        &url,
        &id,
        &nonce,
        "read",
        aud,
        NonZeroU64::new(120),
    );
    let issued = http
        .post_json("/v1/token", &json!({ "proof": good }), &[])
        .expect("token");
    assert_eq!(issued.status, 200, "{issued:?}");
    let again = http
        .post_json("/v1/token", &json!({ "proof": good }), &[])
        .expect("token");
    assert_eq!(
        (again.status, again.error_code()),
        (409, Some("challenge_used")),
        "{again:?}"
    );
}

#[test]
fn unauthenticated_endpoints_are_rate_limited() {
    let world = World::with(|server| server.args(["--rate-limit", "1", "--rate-limit-burst", "3"]));
    let http = world.server.http();
    let did = format!("did:agent:example.com:{}", "0".repeat(32));
    let answers: Vec<_> = (0..10)
        .map(|_| {
            http.post_json("/v1/challenge", &json!({ "did": did }), &[])
                .expect("challenge")
        })
        .collect();
    let limited: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(
        !limited.is_empty(),
        "10 requests against a burst of 3: {answers:?}"
    );
    for answer in &limited {
        assert_eq!(answer.error_code(), Some("rate_limited"));
        let retry = answer.header("retry-after").expect("Retry-After");
        assert!(
            retry.parse::<u64>().is_ok_and(|s| s >= 1),
            "Retry-After {retry:?}"
        );
    }
    // Liveness is never limited.
    assert_eq!(http.get("/health").expect("health").status, 200);
}

#[test]
fn http_layer_errors_are_json() {
    let world = World::new();
    let http = world.server.http();
    let wrong_method = http
        .send("GET", "/v1/token", None, &[])
        .expect("GET /v1/token");
    assert_eq!(
        (wrong_method.status, wrong_method.error_code()),
        (405, Some("method_not_allowed"))
    );
    assert!(
        wrong_method
            .header("allow")
            .is_some_and(|a| a.contains("POST")),
        "{wrong_method:?}"
    );

    let not_json = http
        .send("POST", "/v1/challenge", Some(b"{not json".to_vec()), &[])
        .expect("bad JSON");
    assert_eq!(
        (not_json.status, not_json.error_code()),
        (400, Some("invalid_json")),
        "{not_json:?}"
    );

    let duplicate = http
        .send(
            "POST",
            "/v1/introspect",
            Some(br#"{"token":"a","token":"b"}"#.to_vec()),
            &[],
        )
        .expect("duplicate member");
    assert_eq!(
        (duplicate.status, duplicate.error_code()),
        (400, Some("invalid_json")),
        "{duplicate:?}"
    );

    let huge = json!({ "token": "x".repeat(70 * 1024) });
    let too_large = http
        .post_json("/v1/introspect", &huge, &[])
        .expect("large body");
    assert_eq!(
        (too_large.status, too_large.error_code()),
        (413, Some("payload_too_large")),
        "{too_large:?}"
    );
}

/// `agents list` pages through the operator's agents: `--limit` and `--cursor` one page at a time,
/// `--all` every page.
#[test]
fn the_cli_lists_agents_a_page_at_a_time() {
    let world = World::new();
    let operator = world.verified_operator("operator", "pages.example.com");
    let dids: Vec<String> = (0..3)
        .map(|i| world.registered_agent(&format!("agent{i}"), &operator).did)
        .collect();
    let first = operator.cli.ok_json(["agents", "list", "--limit", "2"]);
    assert_eq!(first["agents"].as_array().unwrap().len(), 2, "{first}");
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = operator
        .cli
        .ok_json(["agents", "list", "--limit", "2", "--cursor", &cursor]);
    assert_eq!(rest["agents"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest["next_cursor"].is_null(), "{rest}");
    let all = operator
        .cli
        .ok_json(["agents", "list", "--all", "--limit", "1"]);
    assert_eq!(sorted_dids(&all["agents"]), sorted(dids));
    assert!(
        all["agents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "pending")
    );
}

/// `revoke list` pages through the revocations, tokens first, then agents: `--limit` counts both kinds, and
/// `--all` gathers every page.
#[test]
fn the_cli_lists_revocations_a_page_at_a_time() {
    let world = World::new();
    let operator = world.verified_operator("operator", "revpages.example.com");
    let agent = world.active_agent("agent", &operator, "read");
    for _ in 0..2 {
        let token = agent.token("read");
        operator
            .cli
            .ok_json_stdin(["revoke", "token", "--token", "-"], &token);
    }
    let gone: Vec<String> = (0..2)
        .map(|i| world.registered_agent(&format!("gone{i}"), &operator).did)
        .collect();
    for did in &gone {
        operator.cli.ok_json(["revoke", "agent", "--did", did]);
    }

    let count = |page: &serde_json::Value| {
        (
            page["tokens"].as_array().unwrap().len(),
            page["agents"].as_array().unwrap().len(),
        )
    };
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["revoke", "list", "--limit", "3"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = operator.cli.ok_json(args);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        pages.push(count(&page));
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, vec![(2, 1), (0, 1)], "tokens first, then agents");

    // A page that ends exactly with the last token entry still leads on to the agents.
    let first = operator.cli.ok_json(["revoke", "list", "--limit", "2"]);
    assert_eq!(count(&first), (2, 0), "{first}");
    let cursor = first["next_cursor"].as_str().expect("agents follow");
    let second = operator
        .cli
        .ok_json(["revoke", "list", "--limit", "2", "--cursor", cursor]);
    assert_eq!(count(&second), (0, 2), "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");

    let all = operator
        .cli
        .ok_json(["revoke", "list", "--all", "--limit", "1"]);
    assert_eq!(count(&all), (2, 2), "{all}");
    assert_eq!(sorted_dids(&all["agents"]), sorted(gone));

    // A cursor the server did not give is refused.
    operator
        .cli
        .run(["revoke", "list", "--cursor", "bm90LWEtY3Vyc29y"])
        .assert_error("invalid_request");
}

/// The `did`s of a list's entries, sorted.
fn sorted_dids(entries: &serde_json::Value) -> Vec<String> {
    sorted(
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["did"].as_str().unwrap().to_owned())
            .collect(),
    )
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}
