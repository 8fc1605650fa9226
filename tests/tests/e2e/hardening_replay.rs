//! Replay races: one proof sent 1,000 times at once yields one token; one signed request (`jti`)
//! sent 1,000 times at once is served once; both stay consumed across a crash and restart.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use auth4agent_protocol::{KeySet, SIGNATURE_HEADER, UnixTime, Verifier};
use auth4agent_testkit::{HttpResponse, unix_now};
use serde_json::json;

use crate::hardening_support::{
    NO_RATE_LIMIT, active_agent, assert_healthy, expect, fresh_proof, jwks_body, verified_operator,
};
use crate::support::{AUD, World, str_field};

/// How many copies of one request are sent.
const COPIES: usize = 1_000;
/// How many requests are in flight at once.
const IN_FLIGHT: usize = 64;

/// Sends `COPIES` requests made by `send` from `IN_FLIGHT` threads; returns the responses.
fn flood(send: impl Fn() -> reqwest::Result<HttpResponse> + Sync) -> Vec<HttpResponse> {
    let next = AtomicUsize::new(0);
    let responses = Mutex::new(Vec::with_capacity(COPIES));
    std::thread::scope(|scope| {
        for _ in 0..IN_FLIGHT {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < COPIES {
                    let response = send().expect("the server answers every copy");
                    responses.lock().expect("lock").push(response);
                }
            });
        }
    });
    responses.into_inner().expect("lock")
}

/// `(status, error code)` → count, for one readable assertion message.
fn tally(responses: &[HttpResponse]) -> BTreeMap<(u16, String), usize> {
    let mut counts = BTreeMap::new();
    for r in responses {
        let code = r.error_code().unwrap_or("").to_owned();
        *counts.entry((r.status, code)).or_insert(0) += 1;
    }
    counts
}

#[track_caller]
fn assert_exactly_one_success(responses: &[HttpResponse], success: u16, refusal: (u16, &str)) {
    let counts = tally(responses);
    let expected = BTreeMap::from([
        ((success, String::new()), 1),
        ((refusal.0, refusal.1.to_owned()), responses.len() - 1),
    ]);
    assert_eq!(counts, expected, "(status, error) → count");
}

#[test]
fn one_proof_sent_a_thousand_times_at_once_yields_one_token() {
    let mut world = World::with(|b| b.args(NO_RATE_LIMIT));
    let issuer = world.server.url();
    let operator = verified_operator(&world, "replay.example.com");
    let agent = active_agent(&world, &operator, &["read"]);
    let http = world.server.http().clone();
    let proof = fresh_proof(&http, &issuer, &agent, "read");
    let body = json!({ "proof": proof });

    let started = Instant::now();
    let responses = flood(|| http.post_json("/v1/token", &body, &[]));
    assert_eq!(responses.len(), COPIES);
    eprintln!("{COPIES} token requests in {:?}", started.elapsed());
    assert_exactly_one_success(&responses, 200, (409, "challenge_used"));

    // The one token is a real token of this server for this agent.
    let winner = responses.iter().find(|r| r.status == 200).expect("one 200");
    let token = str_field(winner.json(), "token");
    let keys = KeySet::from_json(&jwks_body(&http)).expect("JWKS");
    let verified = Verifier::new(issuer.clone(), AUD)
        .verify(&token, &keys, UnixTime::from_secs(unix_now()))
        .expect("the token verifies");
    assert_eq!(verified.claims().sub, agent.did);

    // The challenge stays consumed across a crash.
    world.server.kill().expect("the server was running");
    world.server.start_again();
    let http = world.server.http();
    let again = http.post_json("/v1/token", &body, &[]).expect("token");
    expect(&again, 409, Some("challenge_used"));
    assert_healthy(http, "the replay flood");
}

#[test]
fn one_signed_request_sent_a_thousand_times_at_once_is_served_once() {
    let mut world = World::with(|b| b.args(NO_RATE_LIMIT));
    let operator = verified_operator(&world, "jti.example.com");
    let http = world.server.http().clone();
    let path = format!("/v1/operators/{}", operator.id);
    let signature = operator.signer.sign("GET", &http.url(&path), b"");
    let header = [(SIGNATURE_HEADER, signature.as_str())];

    let started = Instant::now();
    let responses = flood(|| http.send("GET", &path, None, &header));
    assert_eq!(responses.len(), COPIES);
    eprintln!("{COPIES} signed requests in {:?}", started.elapsed());
    assert_exactly_one_success(&responses, 200, (409, "request_replayed"));

    // A write endpoint too: one scope change, however many copies race.
    let agent = active_agent(&world, &operator, &["read"]);
    let scopes_path = format!("/v1/agents/{}/scopes", agent.did);
    let scopes_body = json!({ "allowed_scopes": ["read", "write"] }).to_string();
    let scopes_signature =
        operator
            .signer
            .sign("PUT", &http.url(&scopes_path), scopes_body.as_bytes());
    let responses = flood(|| {
        http.send(
            "PUT",
            &scopes_path,
            Some(scopes_body.clone().into_bytes()),
            &[(SIGNATURE_HEADER, scopes_signature.as_str())],
        )
    });
    assert_exactly_one_success(&responses, 200, (409, "request_replayed"));

    // The jti stays consumed across a crash (the signature is still within its lifetime).
    world.server.kill().expect("the server was running");
    world.server.start_again();
    let http = world.server.http();
    let again = http.send("GET", &path, None, &header).expect("replay");
    expect(&again, 409, Some("request_replayed"));
    // ...while a fresh signature by the same key is served.
    let fresh = crate::hardening_support::try_signed(http, &operator.signer, "GET", &path, None)
        .expect("fresh");
    expect(&fresh, 200, None);
    assert_healthy(http, "the replay flood");
}

#[test]
fn consumed_challenge_and_jti_survive_a_graceful_restart() {
    let mut world = World::with(|b| b.args(NO_RATE_LIMIT));
    let issuer = world.server.url();
    let operator = verified_operator(&world, "restart.example.com");
    let agent = active_agent(&world, &operator, &["read"]);
    let http = world.server.http().clone();
    let proof = fresh_proof(&http, &issuer, &agent, "read");
    let body = json!({ "proof": proof });
    expect(
        &http.post_json("/v1/token", &body, &[]).expect("token"),
        200,
        None,
    );
    let path = format!("/v1/agents/{}", agent.did);
    let signature = agent.signer.sign("GET", &http.url(&path), b"");
    let header = [(SIGNATURE_HEADER, signature.as_str())];
    expect(
        &http.send("GET", &path, None, &header).expect("get"),
        200,
        None,
    );

    world.server.restart();

    let http = world.server.http();
    expect(
        &http.post_json("/v1/token", &body, &[]).expect("token"),
        409,
        Some("challenge_used"),
    );
    expect(
        &http.send("GET", &path, None, &header).expect("get"),
        409,
        Some("request_replayed"),
    );
}
