//! Rate limits: a flood of challenge or registration requests from one client gets 429
//! `rate_limited` with an integer `Retry-After`, endpoints outside the limit keep answering, and the
//! client is admitted again once it has waited as told. (Other clients' latency under a flood is a
//! benchmark, not a test: see the bench crate.)

use std::time::Duration;

use auth4agent_testkit::{Http, HttpResponse, Signer};
use serde_json::json;

use crate::hardening_support::{addr, assert_healthy, try_register_operator, try_signed};
use crate::support::World;

/// Requests per second, and burst, of the server under test.
const RATE: u64 = 2;
const BURST: usize = 5;
/// Requests in one flood.
const FLOOD: usize = 30;
/// Tokens that may refill while a flood runs on a loaded machine.
const SLACK: usize = 5;

/// The `Retry-After` of a 429, checked to be a JSON `rate_limited` refusal with integer seconds.
#[track_caller]
fn retry_after(response: &HttpResponse) -> u64 {
    assert_eq!(response.status, 429, "{response:?}");
    assert_eq!(response.error_code(), Some("rate_limited"), "{response:?}");
    assert!(
        response.json()["message"].is_string(),
        "a message: {response:?}"
    );
    let value = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {response:?}"));
    let seconds: u64 = value
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not integer seconds: {value:?}"));
    assert!(
        (1..=60).contains(&seconds),
        "Retry-After {seconds} out of range"
    );
    seconds
}

/// Splits a flood's answers into the admitted ones and the longest `Retry-After` of the refused.
#[track_caller]
fn split(responses: &[HttpResponse]) -> (Vec<&HttpResponse>, usize, u64) {
    let mut admitted = Vec::new();
    let mut limited = 0;
    let mut wait = 0;
    for response in responses {
        if response.status == 429 {
            limited += 1;
            wait = wait.max(retry_after(response));
        } else {
            admitted.push(response);
        }
    }
    (admitted, limited, wait)
}

fn unknown_did() -> String {
    format!(
        "did:agent:example.com:{}",
        "0123456789abcdef0123456789abcdef"
    )
}

fn challenge(http: &Http) -> HttpResponse {
    http.post_json("/v1/challenge", &json!({ "did": unknown_did() }), &[])
        .expect("challenge")
}

/// Empties this client's bucket: challenges until one is refused.
fn drain(http: &Http) {
    for _ in 0..=FLOOD {
        if challenge(http).status == 429 {
            return;
        }
    }
    panic!("{FLOOD} challenges in a row were admitted");
}

#[test]
fn floods_of_challenges_and_registrations_get_429_with_retry_after() {
    let world = World::with(|b| {
        b.args([
            "--rate-limit",
            &RATE.to_string(),
            "--rate-limit-burst",
            &BURST.to_string(),
        ])
    });
    let http = world.server.http();
    assert!(addr(&world).ip().is_loopback());

    // Challenges: the burst is admitted (and answered on its merits), the rest are refused.
    let responses: Vec<HttpResponse> = (0..FLOOD).map(|_| challenge(http)).collect();
    let (admitted, limited, wait) = split(&responses);
    assert!(
        admitted.len() >= BURST && admitted.len() <= BURST + SLACK,
        "about the burst ({BURST}) is admitted, got {}",
        admitted.len()
    );
    for response in &admitted {
        assert_eq!(
            response.error_code(),
            Some("agent_not_found"),
            "{response:?}"
        );
    }
    assert!(
        limited >= FLOOD - BURST - SLACK,
        "{limited} of {FLOOD} limited"
    );

    // Endpoints outside the limit still answer this client.
    assert_healthy(http, "a flood of challenges");
    assert_eq!(
        http.get("/.well-known/jwks.json").expect("jwks").status,
        200
    );

    // Every limited endpoint shares the client's bucket: registrations are refused too, before
    // any work is done for them.
    drain(http);
    let (_, refused) = try_register_operator(http, "limited.example.com").expect("register");
    retry_after(&refused);

    // Waiting as told is enough.
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(100));
    let again = challenge(http);
    assert_eq!(again.error_code(), Some("agent_not_found"), "{again:?}");

    // Registrations alone: once the bucket is full again, a flood of them is limited the same way.
    std::thread::sleep(Duration::from_millis(1000 * BURST as u64 / RATE + 200));
    let signers: Vec<Signer> = (0..FLOOD).map(|_| Signer::generate()).collect();
    let signed: Vec<(String, String)> = signers
        .iter()
        .enumerate()
        .map(|(i, signer)| {
            let body = json!({ "domain": format!("flood{i}.example.com"), "public_key": signer.public_jwk() })
                .to_string();
            let signature = signer.sign("POST", &http.url("/v1/operators"), body.as_bytes());
            (body, signature)
        })
        .collect();
    let responses: Vec<HttpResponse> = signed
        .iter()
        .map(|(body, signature)| {
            http.send(
                "POST",
                "/v1/operators",
                Some(body.clone().into_bytes()),
                &[(auth4agent_protocol::SIGNATURE_HEADER, signature)],
            )
            .expect("register")
        })
        .collect();
    let (admitted, limited, _) = split(&responses);
    assert!(
        admitted.len() >= BURST && admitted.len() <= BURST + SLACK,
        "about the burst ({BURST}) of registrations is admitted, got {}",
        admitted.len()
    );
    for response in &admitted {
        assert_eq!(response.status, 201, "{response:?}");
    }
    assert!(
        limited >= FLOOD - BURST - SLACK,
        "{limited} of {FLOOD} limited"
    );

    // Agent registrations share the same bucket...
    drain(http);
    let agent = Signer::generate();
    let body =
        json!({ "operator_id": "op_aaaaaaaaaaaaaaaaaaaaaaaaaa", "public_key": agent.public_jwk() });
    let refused = try_signed(http, &agent, "POST", "/v1/agents", Some(&body)).expect("agent");
    retry_after(&refused);
    // ...while signed administrative calls are not limited: an operator admitted in the flood
    // reads its record with the bucket empty.
    let (signer, registered) = signers
        .iter()
        .zip(&responses)
        .find(|(_, r)| r.status == 201)
        .expect("one admitted registration");
    let id = registered.json()["id"].as_str().expect("id");
    let status = try_signed(http, signer, "GET", &format!("/v1/operators/{id}"), None)
        .expect("operator status");
    assert_eq!(status.status, 200, "{status:?}");
    assert_healthy(http, "a flood of registrations");
}

/// A challenge for an unknown DID sent from the loopback address `source`, with `forwarded` as
/// `X-Forwarded-For` when given; returns the status.
fn challenge_from(world: &World, source: [u8; 4], forwarded: Option<&str>) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let mut request = client
        .post(format!("{}/v1/challenge", world.server.url()))
        .header("content-type", "application/json")
        .body(json!({ "did": unknown_did() }).to_string());
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().expect("challenge").status().as_u16()
}

fn limited_world(extra: &[&str]) -> World {
    World::with(|b| {
        b.args([
            "--rate-limit",
            &RATE.to_string(),
            "--rate-limit-burst",
            &BURST.to_string(),
        ])
        .args(extra.iter().copied())
    })
}

fn count_429(statuses: impl IntoIterator<Item = u16>) -> usize {
    statuses.into_iter().filter(|&s| s == 429).count()
}

#[test]
fn rotating_source_addresses_within_one_prefix_share_one_bucket() {
    let world = limited_world(&["--client-ipv4-prefix", "24"]);
    // Every request from another address of 127.0.3.0/24.
    let statuses: Vec<u16> = (1..=FLOOD as u8)
        .map(|host| challenge_from(&world, [127, 0, 3, host], None))
        .collect();
    let limited = count_429(statuses);
    assert!(
        limited >= FLOOD - BURST - SLACK,
        "{limited} of {FLOOD} limited across one /24"
    );
    assert_ne!(
        challenge_from(&world, [127, 0, 4, 1], None),
        429,
        "another /24 has its own bucket"
    );
}

#[test]
fn forwarding_headers_name_the_client_only_from_a_trusted_proxy() {
    let world = limited_world(&["--trusted-proxy", "127.0.5.1"]);
    let proxy = [127, 0, 5, 1];
    // Through the proxy, each of FLOOD clients sends one request: none is limited.
    let through_proxy: Vec<u16> = (1..=FLOOD as u8)
        .map(|host| challenge_from(&world, proxy, Some(&format!("198.51.100.{host}"))))
        .collect();
    assert_eq!(
        count_429(through_proxy),
        0,
        "distinct clients behind the proxy"
    );

    // A client that is not the proxy cannot pick its bucket by sending the header itself.
    let spoofed: Vec<u16> = (1..=FLOOD as u8)
        .map(|host| challenge_from(&world, [127, 0, 5, 2], Some(&format!("203.0.113.{host}"))))
        .collect();
    assert!(count_429(spoofed) >= FLOOD - BURST - SLACK);

    // Through the proxy, hops the client wrote left of the proxy's entry are ignored: the right-most
    // untrusted hop is the client.
    let prepended: Vec<u16> = (1..=FLOOD as u8)
        .map(|host| {
            challenge_from(
                &world,
                proxy,
                Some(&format!("203.0.113.{host}, 192.0.2.77")),
            )
        })
        .collect();
    assert!(count_429(prepended) >= FLOOD - BURST - SLACK);
}
