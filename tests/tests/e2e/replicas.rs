//! Several server replicas on one PostgreSQL database, as behind a load balancer: three real
//! `auth4agent-server` processes sharing a database and one issuer URL. State written through one
//! replica is seen by the others, they sign with one shared key, and single use holds across them.
//!
//! These tests always run on PostgreSQL (whatever `AUTH4AGENT_TEST_BACKEND` says) and need
//! `AUTH4AGENT_TEST_DATABASE_URL`; without it they fail with instructions.

use std::collections::BTreeMap;
use std::sync::Barrier;

use auth4agent_e2e::Cli;
use auth4agent_protocol::{KeySet, UnixTime, Verifier};
use auth4agent_testkit::{Http, Signer, TestDatabase, free_port, unix_now};
use auth4agent_testkit::{TestDns, TestServer, TxtRecord};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{AUD, str_field};

/// Rate limits are per replica; these tests send bursts on purpose.
const NO_RATE_LIMIT: [&str; 6] = [
    "--rate-limit",
    "1000000",
    "--rate-limit-burst",
    "1000000",
    "--registration-rate-limit",
    "0",
];

/// Three replicas on one fresh database, one DNS server, one public issuer URL.
struct Cluster {
    dns: TestDns,
    replicas: Vec<TestServer>,
    issuer: String,
    homes: TempDir,
    // Dropped last: after every replica is killed.
    _database: TestDatabase,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    /// [`Cluster::start`] with extra flags for every replica.
    fn start_with(n: usize, extra: &[&str]) -> Cluster {
        let database = TestDatabase::create();
        let dns = TestDns::start();
        // The load balancer's address: nothing listens there, but every replica signs tokens as
        // it and checks request signatures against it.
        let issuer = format!("http://127.0.0.1:{}", free_port());
        // Started together, as an orchestrator would: they race to migrate and to create the
        // first signing key.
        let replicas = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let builder = TestServer::builder(dns.addr())
                        .database_url(database.url())
                        .issuer(issuer.clone())
                        .args(NO_RATE_LIMIT)
                        .args(extra.iter().copied());
                    scope.spawn(move || builder.start())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a replica started"))
                .collect()
        });
        let homes = tempfile::Builder::new()
            .prefix("auth4agent-e2e-replicas-")
            .tempdir()
            .expect("homes temp dir");
        Cluster {
            dns,
            replicas,
            issuer,
            homes,
            _database: database,
        }
    }

    /// Replica `i` (modulo the cluster's size, so helpers written for three work on two).
    fn http(&self, i: usize) -> &Http {
        self.replicas[i % self.replicas.len()].http()
    }

    fn url(&self, i: usize) -> String {
        self.replicas[i].url()
    }

    /// A CLI home whose saved server is replica `i`, expecting the cluster's public issuer.
    fn cli(&self, name: &str, i: usize) -> Cli {
        Cli::new(self.homes.path().join(name), self.url(i)).with_issuer(&self.issuer)
    }
}

fn jwks(http: &Http) -> Value {
    let response = http.get("/.well-known/jwks.json").expect("GET jwks");
    assert_eq!(response.status, 200, "{}", response.body);
    response.json().clone()
}

fn introspect(http: &Http, token: &str) -> Value {
    let response = http
        .post_json("/v1/introspect", &json!({ "token": token }), &[])
        .expect("introspect");
    assert_eq!(response.status, 200, "{}", response.body);
    response.json().clone()
}

/// Registered, verified and granted through replica 1; issued through replica 2; revoked through
/// replica 3; replica 1 then reports the token inactive.
#[test]
fn state_written_through_one_replica_is_seen_by_the_others() {
    let cluster = Cluster::start(3);
    for i in 0..3 {
        let discovery = cluster
            .http(i)
            .get("/.well-known/auth4agent-configuration")
            .expect("discovery");
        assert_eq!(discovery.json()["issuer"], cluster.issuer.as_str());
    }
    let keys = jwks(cluster.http(0));
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1), "{keys}");
    for i in 1..3 {
        assert_eq!(
            jwks(cluster.http(i)),
            keys,
            "replicas started together share one signing key"
        );
    }

    // Operator and agent through replica 1.
    let operator = cluster.cli("operator", 0);
    operator.init_operator("replicas.example.com");
    let registered = operator.ok_json(["register", "operator"]);
    let operator_id = str_field(&registered, "id");
    let instructions = operator.ok_json(["verify-operator", "instructions"]);
    cluster.dns.set_txt(
        &str_field(&instructions, "txt_record_name"),
        vec![TxtRecord::from(
            str_field(&instructions, "txt_record_value").as_str(),
        )],
    );
    let confirmed = operator.ok_json(["verify-operator", "confirm"]);
    assert_eq!(confirmed["status"], "verified", "{confirmed}");

    let agent = cluster.cli("agent", 0);
    let did = str_field(&agent.init_agent("replicas.example.com"), "did");
    agent.ok_json(["register", "agent", "--operator-id", &operator_id]);
    let granted = operator.ok_json(["agent-scopes", "set", "--scopes", "read", "--did", &did]);
    assert_eq!(granted["status"], "active", "{granted}");

    // Replicas 2 and 3 see what replica 1 wrote.
    let r3 = cluster.url(2);
    let seen = operator.ok_json(["--server", &r3, "agent-scopes", "list", "--did", &did]);
    assert_eq!(seen["status"], "active", "{seen}");

    // A token through replica 2, valid on every replica.
    let r2 = cluster.url(1);
    let issued = agent.ok_json(["--server", &r2, "issue", "--scope", "read", "--aud", AUD]);
    let token = str_field(&issued, "token");
    let verified = Verifier::new(cluster.issuer.clone(), AUD)
        .verify(
            &token,
            &KeySet::from_json(&keys.to_string()).expect("JWKS"),
            UnixTime::from_secs(unix_now()),
        )
        .expect("the token verifies with the JWKS of replica 1");
    assert_eq!(verified.claims().sub, did);
    for i in 0..3 {
        let answer = introspect(cluster.http(i), &token);
        assert_eq!(answer["active"], true, "replica {}: {answer}", i + 1);
    }

    // Revoked through replica 3 (signed by the agent)...
    agent.ok_json_stdin(["--server", &r3, "revoke", "token", "--token", "-"], &token);
    // ...and replica 1 knows at once: revocations live in the shared database.
    let answer = introspect(cluster.http(0), &token);
    assert_eq!(answer["active"], false, "{answer}");
    assert_eq!(introspect(cluster.http(1), &token)["active"], false);

    // The operator's revocation list, read through replica 2, has it.
    let list = operator.ok_json(["--server", &r2, "revoke", "list"]);
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(1), "{list}");

    // Suspension through replica 2 stops issuance through replica 3 at once, though replica 3 has the
    // agent's rows from an issuance just before (PostgreSQL: its copy fails the redemption's version
    // check, so it reads the rows again).
    agent.ok_json(["--server", &r3, "issue", "--scope", "read", "--aud", AUD]);
    operator.ok_json(["--server", &r2, "revoke", "suspend", "--did", &did]);
    let refused = agent.run(["--server", &r3, "issue", "--scope", "read", "--aud", AUD]);
    assert!(!refused.success(), "{refused}");
    assert!(
        format!("{refused}").contains("agent_not_active"),
        "{refused}"
    );
}

/// One proof sent to all three replicas at once, many copies each, round after round: exactly
/// one token per proof, every other copy refused as `challenge_used`.
#[test]
fn one_proof_raced_across_replicas_yields_one_token() {
    const ROUNDS: usize = 20;
    const COPIES_PER_REPLICA: usize = 4;

    let cluster = Cluster::start(3);
    let (did, signer) = api_agent(&cluster);
    let keys = KeySet::from_json(&jwks(cluster.http(0)).to_string()).expect("JWKS");
    let mut jtis = std::collections::BTreeSet::new();

    for round in 0..ROUNDS {
        // The challenge comes from a rotating replica; the proof goes to all of them.
        let challenge = cluster
            .http(round % 3)
            .post_json("/v1/challenge", &json!({ "did": did }), &[])
            .expect("challenge");
        assert_eq!(challenge.status, 200, "{}", challenge.body);
        let proof = signer.proof(
            &did,
            &cluster.issuer,
            &str_field(challenge.json(), "challenge_id"),
            &str_field(challenge.json(), "nonce"),
            "read",
            AUD,
            None,
        );
        let body = json!({ "proof": proof });
        let senders = 3 * COPIES_PER_REPLICA;
        let barrier = Barrier::new(senders);
        let responses: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..senders)
                .map(|i| {
                    let http = cluster.http(i % 3).clone();
                    let (barrier, body) = (&barrier, &body);
                    scope.spawn(move || {
                        barrier.wait();
                        http.post_json("/v1/token", body, &[])
                            .expect("token request")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sender"))
                .collect()
        });
        let mut tally = BTreeMap::new();
        for r in &responses {
            *tally
                .entry((r.status, r.error_code().unwrap_or("").to_owned()))
                .or_insert(0usize) += 1;
        }
        let expected = BTreeMap::from([
            ((200, String::new()), 1),
            ((409, "challenge_used".to_owned()), senders - 1),
        ]);
        assert_eq!(tally, expected, "round {round}: (status, error) → count");
        let winner = responses.iter().find(|r| r.status == 200).expect("one 200");
        let token = str_field(winner.json(), "token");
        let verified = Verifier::new(cluster.issuer.clone(), AUD)
            .verify(&token, &keys, UnixTime::from_secs(unix_now()))
            .expect("the token verifies");
        assert!(
            jtis.insert(verified.claims().jti.clone()),
            "a fresh token each round"
        );
    }
    assert_eq!(jtis.len(), ROUNDS);
}

/// Challenge from replica `i`, proof, token from replica `i`: the token.
fn issue(cluster: &Cluster, i: usize, did: &str, signer: &Signer) -> String {
    let challenge = cluster
        .http(i)
        .post_json("/v1/challenge", &json!({ "did": did }), &[])
        .expect("challenge");
    assert_eq!(challenge.status, 200, "{}", challenge.body);
    let proof = signer.proof(
        did,
        &cluster.issuer,
        &str_field(challenge.json(), "challenge_id"),
        &str_field(challenge.json(), "nonce"),
        "read",
        AUD,
        None,
    );
    let response = cluster
        .http(i)
        .post_json("/v1/token", &json!({ "proof": proof }), &[])
        .expect("token");
    assert_eq!(response.status, 200, "{}", response.body);
    str_field(response.json(), "token")
}

fn kids(http: &Http) -> Vec<String> {
    jwks(http)["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| str_field(k, "kid"))
        .collect()
}

/// `keys rotate --now` (the emergency switch, no publish-ahead) while the replicas run: a replica
/// that has the new key signs with it at once, and a replica that has not reloaded yet still accepts
/// those tokens (it reloads on the unknown `kid`) and publishes both keys.
#[test]
fn an_immediate_rotation_made_while_replicas_run_is_honoured_by_all() {
    let mut cluster = Cluster::start(3);
    let (did, signer) = api_agent(&cluster);
    let before = issue(&cluster, 0, &did, &signer);
    let old_kid = crate::support::token_kid(&before);

    let rotated = cluster.replicas[0].admin(["keys", "rotate", "--now"]);
    assert!(rotated.status.success(), "keys rotate failed: {rotated:?}");
    let new_kid = String::from_utf8_lossy(&rotated.stdout).trim().to_owned();
    assert_ne!(new_kid, old_kid);

    // Replica 2 restarts (a rolling deploy) and signs with the new key; replicas 1 and 3 have not
    // reloaded yet (their periodic reload is a minute apart).
    cluster.replicas[1].restart();
    let after = issue(&cluster, 1, &did, &signer);
    assert_eq!(crate::support::token_kid(&after), new_kid);
    for i in [0, 2] {
        let answer = introspect(cluster.http(i), &after);
        assert_eq!(answer["active"], true, "replica {}: {answer}", i + 1);
        let published = kids(cluster.http(i));
        assert!(
            published.contains(&old_kid) && published.contains(&new_kid),
            "replica {} publishes both keys: {published:?}",
            i + 1
        );
    }
    // The token signed before the rotation stays valid everywhere.
    for i in 0..3 {
        assert_eq!(introspect(cluster.http(i), &before)["active"], true);
    }
}

/// Publish-ahead across replicas (issue 17 §6): after `keys rotate`, both replicas list the new key
/// in their JWKS while every token still carries the old kid; from the activation on, tokens of both
/// replicas carry the new kid; tokens of the old key stay valid on both, offline and by introspection.
#[test]
fn a_rotation_is_published_on_every_replica_before_it_signs() {
    const PUBLISH_AHEAD: u64 = 6;
    let cluster = Cluster::start_with(2, &["--key-reload-interval", "1s"]);
    let (did, signer) = api_agent(&cluster);
    let before = issue(&cluster, 0, &did, &signer);
    let old_kid = crate::support::token_kid(&before);

    let t0 = unix_now();
    let rotated = cluster.replicas[0].admin([
        "keys",
        "rotate",
        "--key-publish-ahead",
        &format!("{PUBLISH_AHEAD}s"),
    ]);
    let t1 = unix_now();
    assert!(rotated.status.success(), "keys rotate failed: {rotated:?}");
    let new_kid = String::from_utf8_lossy(&rotated.stdout).trim().to_owned();
    assert_ne!(new_kid, old_kid);
    // The activation lies in [t0, t1] + PUBLISH_AHEAD.

    // Both replicas publish the new key within their reload interval...
    for i in 0..2 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while !kids(cluster.http(i)).contains(&new_kid) {
            assert!(
                std::time::Instant::now() < deadline,
                "replica {} does not publish the new key",
                i + 1
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let published = kids(cluster.http(i));
        assert!(published.contains(&old_kid), "{published:?}");
    }
    // ...while both still sign with the old one.
    let mut old_tokens = vec![before];
    for i in 0..2 {
        let token = issue(&cluster, i, &did, &signer);
        assert!(
            unix_now() < t0 + PUBLISH_AHEAD,
            "the test ran too slowly to issue before the activation"
        );
        assert_eq!(
            crate::support::token_kid(&token),
            old_kid,
            "replica {}: no token carries the new kid before its activation",
            i + 1
        );
        old_tokens.push(token);
    }

    // From the activation on, both sign with the new key (no reload needed: they hold it already).
    while unix_now() <= t1 + PUBLISH_AHEAD {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut new_tokens = Vec::new();
    for i in 0..2 {
        let token = issue(&cluster, i, &did, &signer);
        assert_eq!(
            crate::support::token_kid(&token),
            new_kid,
            "replica {}",
            i + 1
        );
        new_tokens.push(token);
    }

    // Every token verifies, offline against either replica's JWKS and by introspection on both.
    for i in 0..2 {
        let keys = KeySet::from_json(&jwks(cluster.http(i)).to_string()).expect("JWKS");
        assert!(
            keys.get(&old_kid).is_some(),
            "the retired key stays published"
        );
        for token in old_tokens.iter().chain(&new_tokens) {
            Verifier::new(cluster.issuer.clone(), AUD)
                .verify(token, &keys, UnixTime::from_secs(unix_now()))
                .expect("the token verifies with the JWKS");
            assert_eq!(introspect(cluster.http(i), token)["active"], true);
        }
    }
}

/// `--key-rotation-interval` on two replicas: the one holding the background lock adds one next key
/// per interval, published on both replicas before it signs, and both switch to it.
#[test]
fn the_scheduled_rotation_adds_one_key_per_interval_across_replicas() {
    let cluster = Cluster::start_with(
        2,
        &[
            "--key-rotation-interval",
            "12s",
            "--key-publish-ahead",
            "4s",
            "--key-reload-interval",
            "1s",
        ],
    );
    let (did, signer) = api_agent(&cluster);
    let first = kids(cluster.http(0));
    assert_eq!(first.len(), 1, "{first:?}");
    let first_kid = first[0].clone();
    // The next key is added 4 s before the first one has signed for 12 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let next_kid = loop {
        let published = kids(cluster.http(0));
        if let Some(next) = published.iter().find(|k| **k != first_kid) {
            break next.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled key: {published:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let seen = std::time::Instant::now();
    // Published ahead: for about the publish-ahead, tokens of both replicas keep the first kid.
    for i in 0..2 {
        let token = issue(&cluster, i, &did, &signer);
        if seen.elapsed() < std::time::Duration::from_secs(2) {
            assert_eq!(
                crate::support::token_kid(&token),
                first_kid,
                "replica {}",
                i + 1
            );
        }
    }
    // Added at `a`, seen by `a + 1`, it activates 4 s after `a` (at the latest 1 s later, if the
    // leader's pass came late).
    std::thread::sleep(std::time::Duration::from_secs(6));
    for i in 0..2 {
        assert!(
            kids(cluster.http(i)).contains(&next_kid),
            "replica {}",
            i + 1
        );
        let token = issue(&cluster, i, &did, &signer);
        assert_eq!(
            crate::support::token_kid(&token),
            next_kid,
            "replica {}",
            i + 1
        );
    }
    // One key per interval, whichever replica leads: 2 keys, or 3 if the next interval began.
    let published = kids(cluster.http(1));
    assert!(
        (2..=3).contains(&published.len()),
        "one key added per interval: {published:?}"
    );
}

/// A request signed for `issuer + path` (the public URL every replica checks `htu` against), sent to
/// the replica behind `http`.
fn signed(
    http: &Http,
    issuer: &str,
    signer: &Signer,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> auth4agent_testkit::HttpResponse {
    let body = body.map(|b| b.to_string().into_bytes());
    let signature = signer.sign(
        method,
        &format!("{issuer}{path}"),
        body.as_deref().unwrap_or_default(),
    );
    http.send(
        method,
        path,
        body,
        &[(auth4agent_protocol::SIGNATURE_HEADER, &signature)],
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A verified operator and an active agent made over the API, each step through another replica;
/// returns the agent's DID and key.
fn api_agent(cluster: &Cluster) -> (String, Signer) {
    let (did, agent, _operator) = api_agent_and_operator(cluster);
    (did, agent)
}

/// [`api_agent`], with the operator's key and id too.
fn api_agent_and_operator(cluster: &Cluster) -> (String, Signer, (Signer, String)) {
    let issuer = cluster.issuer.as_str();
    let domain = "race.replicas.example.com";
    let operator = Signer::generate();
    let body = json!({ "domain": domain, "public_key": operator.public_jwk() });
    let response = signed(
        cluster.http(0),
        issuer,
        &operator,
        "POST",
        "/v1/operators",
        Some(&body),
    );
    assert_eq!(response.status, 201, "{}", response.body);
    let operator_id = str_field(response.json(), "id");
    let path = format!("/v1/operators/{operator_id}/verification");
    let instructions = signed(cluster.http(1), issuer, &operator, "GET", &path, None);
    assert_eq!(instructions.status, 200, "{}", instructions.body);
    cluster.dns.set_txt(
        &str_field(instructions.json(), "txt_record_name"),
        vec![TxtRecord::from(
            str_field(instructions.json(), "txt_record_value").as_str(),
        )],
    );
    let confirmed = signed(cluster.http(2), issuer, &operator, "POST", &path, None);
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);

    let agent = Signer::generate();
    let body = json!({ "operator_id": operator_id, "public_key": agent.public_jwk() });
    let registered = signed(
        cluster.http(0),
        issuer,
        &agent,
        "POST",
        "/v1/agents",
        Some(&body),
    );
    assert_eq!(registered.status, 201, "{}", registered.body);
    let did = str_field(registered.json(), "did");
    let granted = signed(
        cluster.http(1),
        issuer,
        &operator,
        "PUT",
        &format!("/v1/agents/{did}/scopes"),
        Some(&json!({ "allowed_scopes": ["read"] })),
    );
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(granted.json()["status"], "active", "{}", granted.body);
    (did, agent, (operator, operator_id))
}

/// One client assertion sent to all three replicas at once: exactly one token, every other copy
/// refused as `client_assertion_replayed` (the jti store is the shared database).
#[test]
fn one_client_assertion_raced_across_replicas_yields_one_token() {
    const ROUNDS: usize = 10;
    const COPIES_PER_REPLICA: usize = 4;

    let cluster = Cluster::start(3);
    let (did, signer) = api_agent(&cluster);
    for round in 0..ROUNDS {
        let assertion = signer.client_assertion(&did, &cluster.issuer);
        let form = Signer::token_form(&assertion, &[("resource", AUD)]);
        let senders = 3 * COPIES_PER_REPLICA;
        let barrier = Barrier::new(senders);
        let responses: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..senders)
                .map(|i| {
                    let http = cluster.http(i % 3).clone();
                    let (barrier, form) = (&barrier, &form);
                    scope.spawn(move || {
                        barrier.wait();
                        http.post_form("/oauth/token", form).expect("token request")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sender"))
                .collect()
        });
        let mut tally = BTreeMap::new();
        for r in &responses {
            let code = r.json()["auth4agent_error"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            *tally.entry((r.status, code)).or_insert(0usize) += 1;
        }
        let expected = BTreeMap::from([
            ((200, String::new()), 1),
            ((401, "client_assertion_replayed".to_owned()), senders - 1),
        ]);
        assert_eq!(
            tally, expected,
            "round {round}: (status, auth4agent_error) → count"
        );
    }
}

/// One device authorization, approved through another replica than the one it started on; then every
/// replica is polled at once with the device code, many times each: exactly one token (the store's one
/// conditional UPDATE on the shared database), every other poll `invalid_grant`.
#[test]
fn an_approved_device_code_polled_across_replicas_yields_one_token() {
    const POLLS_PER_REPLICA: usize = 4;

    let cluster = Cluster::start(3);
    let issuer = cluster.issuer.as_str();
    let (did, agent, (operator, operator_id)) = api_agent_and_operator(&cluster);
    let policy = signed(
        cluster.http(2),
        issuer,
        &operator,
        "PUT",
        &format!("/v1/agents/{did}/scopes"),
        Some(&json!({ "allowed_scopes": ["read"], "approval_scopes": ["payments:write"] })),
    );
    assert_eq!(policy.status, 200, "{}", policy.body);
    for round in 0..3 {
        let form = Signer::device_authorization_form(
            &agent.client_assertion(&did, issuer),
            &[("scope", "payments:write"), ("resource", AUD)],
        );
        let started = cluster
            .http(round % 3)
            .post_form("/oauth/device_authorization", &form)
            .expect("device authorization");
        assert_eq!(started.status, 200, "{}", started.body);
        let device_code = str_field(started.json(), "device_code");
        let user_code = str_field(started.json(), "user_code");
        let approved = signed(
            cluster.http((round + 1) % 3),
            issuer,
            &operator,
            "POST",
            &format!("/v1/operators/{operator_id}/approvals/approve"),
            Some(&json!({ "user_code": user_code })),
        );
        assert_eq!(approved.status, 200, "{}", approved.body);

        let senders = 3 * POLLS_PER_REPLICA;
        let forms: Vec<String> = (0..senders)
            .map(|_| Signer::device_poll_form(&agent.client_assertion(&did, issuer), &device_code))
            .collect();
        let barrier = Barrier::new(senders);
        let responses: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = forms
                .iter()
                .enumerate()
                .map(|(i, form)| {
                    let http = cluster.http(i % 3).clone();
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        http.post_form("/oauth/token", form).expect("poll")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sender"))
                .collect()
        });
        let mut tally = BTreeMap::new();
        for r in &responses {
            let code = r.json()["auth4agent_error"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            *tally.entry((r.status, code)).or_insert(0usize) += 1;
        }
        let expected = BTreeMap::from([
            ((200, String::new()), 1),
            ((400, "invalid_grant".to_owned()), senders - 1),
        ]);
        assert_eq!(
            tally, expected,
            "round {round}: (status, auth4agent_error) → count"
        );
    }
}

/// The replicas sign status lists on demand from the shared database: a suspension written through one
/// is in the list every replica serves from the next window on, and in one window they serve the same
/// bytes (deterministic `iat`, Ed25519).
#[test]
fn replicas_serve_identical_status_lists() {
    let cluster = Cluster::start_with(3, &["--status-list-ttl", "2", "--status-list-size", "4"]);
    let operator = cluster.cli("operator", 0);
    operator.init_operator("lists.example.com");
    let operator_id = str_field(&operator.ok_json(["register", "operator"]), "id");
    let instructions = operator.ok_json(["verify-operator", "instructions"]);
    cluster.dns.set_txt(
        &str_field(&instructions, "txt_record_name"),
        vec![TxtRecord::from(
            str_field(&instructions, "txt_record_value").as_str(),
        )],
    );
    operator.ok_json(["verify-operator", "confirm"]);
    // Registrations through every replica take distinct entries from the shared counters.
    let mut dids = Vec::new();
    for i in 0..5 {
        let agent = cluster.cli(&format!("agent{i}"), i % 3);
        let did = str_field(&agent.init_agent("lists.example.com"), "did");
        agent.ok_json(["register", "agent", "--operator-id", &operator_id]);
        dids.push(did);
    }
    operator.ok_json(["agent-scopes", "set", "--scopes", "read", "--did", &dids[0]]);
    operator.ok_json([
        "--server",
        &cluster.url(1),
        "revoke",
        "suspend",
        "--did",
        &dids[0],
    ]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let keys = KeySet::from_json(&jwks(cluster.http(0)).to_string()).expect("JWKS");
    let uri = format!("{}/status-lists/1", cluster.issuer);
    for _attempt in 0..10 {
        let bodies: Vec<String> = (0..3)
            .map(|i| {
                let served = cluster.http(i).get("/status-lists/1").expect("GET list");
                assert_eq!(served.status, 200, "{}", served.body);
                served.body
            })
            .collect();
        let lists: Vec<_> = bodies
            .iter()
            .map(|b| {
                auth4agent_protocol::verify_status_list(
                    b,
                    &keys,
                    &uri,
                    UnixTime::from_secs(unix_now()),
                )
                .expect("each replica's list verifies")
            })
            .collect();
        for list in &lists {
            assert_eq!(
                list.status(0).unwrap(),
                auth4agent_protocol::TokenStatus::Suspended
            );
        }
        if lists.iter().all(|l| l.issued_at() == lists[0].issued_at()) {
            assert_eq!(
                bodies[0], bodies[1],
                "one window, one state: the same bytes"
            );
            assert_eq!(
                bodies[0], bodies[2],
                "one window, one state: the same bytes"
            );
            let aggregation = cluster.http(2).get("/status-lists").expect("aggregation");
            assert_eq!(
                aggregation.json()["status_lists"],
                json!([uri, format!("{}/status-lists/2", cluster.issuer)])
            );
            return;
        }
        // A window ended between the three requests: ask again.
    }
    panic!("the three replicas never answered within one window");
}
