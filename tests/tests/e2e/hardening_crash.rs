//! Crash durability: writers register agents, approve them with scopes, change scopes, suspend,
//! reactivate and revoke them, issue and revoke tokens and register operators, recording every
//! write the server acknowledged; the server is SIGKILLed at a random moment, restarted on the same
//! database, and every acknowledged write must be there, the JWKS byte-identical, and every token
//! issued before the kill must still verify offline and (unless revoked or its agent is no longer
//! active) online. A write that was in flight at the kill may or may not have happened; what the
//! server says after the restart is taken as its outcome from then on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use auth4agent_protocol::{Did, Domain, Jwk, KeySet, PublicKey, UnixTime, Verifier};
use auth4agent_testkit::{Http, HttpResponse, Signer, unix_now};
use serde_json::{Value, json};

use crate::hardening_support::{
    ApiAgent, ApiOperator, NO_RATE_LIMIT, expect, introspect_active, jwks_body, try_signed,
    try_token, verified_operator,
};
use crate::support::{AUD, World, str_field, strings};

/// Kill/restart rounds.
const ROUNDS: usize = 5;
/// Concurrent writers.
const WRITERS: usize = 2;

/// What the server stores about an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AgentState {
    status: &'static str,
    scopes: Vec<String>,
}

impl AgentState {
    fn new(status: &'static str, scopes: &[&str]) -> AgentState {
        AgentState {
            status,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// An acknowledged (`Done`), unacknowledged (`InFlight`) or absent (`No`) write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    No,
    InFlight,
    Done,
}

struct TrackedAgent {
    agent: ApiAgent,
    /// The last acknowledged state (`None`: the registration was never acknowledged).
    acked: Option<AgentState>,
    /// The state the unacknowledged write would leave.
    in_flight: Option<AgentState>,
}

struct TrackedToken {
    token: String,
    jti: String,
    did: String,
    revoked: Write,
    /// A suspension or revocation of its agent after it was issued: its token cutoff makes the token
    /// inactive for good (spec §13.1), even after a reactivation. In flight at a kill, the cutoff
    /// may or may not have been written (it is written before the status change).
    cut_off: Write,
    /// Whether it was checked after a restart already (checked tokens are re-checked at the end).
    checked: bool,
}

struct TrackedOperator {
    signer: Signer,
    /// `None` while the registration is unacknowledged.
    id: Option<String>,
    /// Checked after a restart already (an unverified operator does not change afterwards).
    checked: bool,
}

/// Everything one writer did, across all rounds.
#[derive(Default)]
struct Ledger {
    agents: Vec<TrackedAgent>,
    tokens: Vec<TrackedToken>,
    operators: Vec<TrackedOperator>,
    acknowledged: usize,
    lifecycles: usize,
    /// Writes in flight at a kill that the restarted server has (`.0`) or has not (`.1`).
    in_flight_outcomes: (usize, usize),
}

/// The server went away (after the kill was ordered).
struct Killed;

/// Runs the writes a killed server interrupts.
struct Writer<'a> {
    http: Http,
    issuer: String,
    operator: &'a ApiOperator,
    ledger: &'a mut Ledger,
    name: usize,
    kill_ordered: &'a AtomicBool,
}

impl Writer<'_> {
    /// A sent request: an answer with `status`, or [`Killed`] if the server is gone.
    fn check(
        &mut self,
        sent: reqwest::Result<HttpResponse>,
        status: u16,
        what: &str,
    ) -> Result<HttpResponse, Killed> {
        match sent {
            Ok(response) => {
                assert_eq!(response.status, status, "{what}: {response:?}");
                self.ledger.acknowledged += 1;
                Ok(response)
            }
            Err(e) => {
                assert!(
                    self.kill_ordered.load(Ordering::SeqCst),
                    "{what} failed before the server was killed: {e}"
                );
                Err(Killed)
            }
        }
    }

    /// Sends an agent write expected to leave the agent `after`.
    fn agent_write(
        &mut self,
        index: usize,
        after: AgentState,
        what: &str,
        send: impl FnOnce(&Http, &ApiOperator, &str) -> reqwest::Result<HttpResponse>,
    ) -> Result<HttpResponse, Killed> {
        self.ledger.agents[index].in_flight = Some(after.clone());
        let did = self.ledger.agents[index].agent.did.clone();
        let sent = send(&self.http, self.operator, &did);
        let response = self.check(sent, 200, what)?;
        let tracked = &mut self.ledger.agents[index];
        tracked.acked = Some(after);
        tracked.in_flight = None;
        Ok(response)
    }

    fn set_scopes(&mut self, index: usize, scopes: &[&str]) -> Result<(), Killed> {
        let body = json!({ "allowed_scopes": scopes });
        self.agent_write(
            index,
            AgentState::new("active", scopes),
            "set scopes",
            |http, op, did| {
                try_signed(
                    http,
                    &op.signer,
                    "PUT",
                    &format!("/v1/agents/{did}/scopes"),
                    Some(&body),
                )
            },
        )?;
        Ok(())
    }

    fn status_change(
        &mut self,
        index: usize,
        action: &str,
        status: &'static str,
    ) -> Result<(), Killed> {
        let scopes = self.ledger.agents[index]
            .acked
            .as_ref()
            .map(|s| s.scopes.clone())
            .unwrap_or_default();
        let after = AgentState { status, scopes };
        let cuts = matches!(action, "suspend" | "revoke");
        let did = self.ledger.agents[index].agent.did.clone();
        let mark = |ledger: &mut Ledger, write: Write| {
            for token in ledger.tokens.iter_mut().filter(|t| t.did == did) {
                if token.cut_off != Write::Done {
                    token.cut_off = write;
                }
            }
        };
        if cuts {
            mark(self.ledger, Write::InFlight);
        }
        self.agent_write(index, after, action, |http, op, did| {
            try_signed(
                http,
                &op.signer,
                "POST",
                &format!("/v1/agents/{did}/{action}"),
                None,
            )
        })?;
        if cuts {
            mark(self.ledger, Write::Done);
        }
        Ok(())
    }

    fn register_agent(&mut self) -> Result<usize, Killed> {
        let signer = Signer::generate();
        let did = did_of(&signer, &self.operator.domain);
        let body = json!({ "operator_id": self.operator.id, "public_key": signer.public_jwk() });
        self.ledger.agents.push(TrackedAgent {
            agent: ApiAgent {
                signer,
                did: did.clone(),
            },
            acked: None,
            in_flight: Some(AgentState::new("pending", &[])),
        });
        let index = self.ledger.agents.len() - 1;
        let sent = try_signed(
            &self.http,
            &self.ledger.agents[index].agent.signer,
            "POST",
            "/v1/agents",
            Some(&body),
        );
        let registered = self.check(sent, 201, "register agent")?;
        assert_eq!(registered.json()["did"], did.as_str());
        let tracked = &mut self.ledger.agents[index];
        tracked.acked = tracked.in_flight.take();
        Ok(index)
    }

    fn issue(&mut self, index: usize, scope: &str) -> Result<usize, Killed> {
        let sent = try_token(
            &self.http,
            &self.issuer,
            &self.ledger.agents[index].agent,
            scope,
        );
        let issued = self.check(sent, 200, "issue a token")?;
        let token = str_field(issued.json(), "token");
        let jti = unverified_claim(&token, "jti");
        self.ledger.tokens.push(TrackedToken {
            token,
            jti,
            did: self.ledger.agents[index].agent.did.clone(),
            revoked: Write::No,
            cut_off: Write::No,
            checked: false,
        });
        Ok(self.ledger.tokens.len() - 1)
    }

    fn revoke_token(&mut self, token: usize) -> Result<(), Killed> {
        self.ledger.tokens[token].revoked = Write::InFlight;
        let body = json!({ "token": self.ledger.tokens[token].token });
        let sent = try_signed(
            &self.http,
            &self.operator.signer,
            "POST",
            "/v1/revoke",
            Some(&body),
        );
        let revoked = self.check(sent, 200, "revoke a token")?;
        assert_eq!(revoked.json()["revoked"], true, "{revoked:?}");
        self.ledger.tokens[token].revoked = Write::Done;
        Ok(())
    }

    fn register_operator(&mut self) -> Result<(), Killed> {
        let signer = Signer::generate();
        let domain = format!(
            "w{}-{}.crash.example.net",
            self.name,
            self.ledger.operators.len()
        );
        let body = json!({ "domain": domain, "public_key": signer.public_jwk() });
        let sent = try_signed(&self.http, &signer, "POST", "/v1/operators", Some(&body));
        self.ledger.operators.push(TrackedOperator {
            signer,
            id: None,
            checked: false,
        });
        let registered = self.check(sent, 201, "register an operator")?;
        let tracked = self.ledger.operators.last_mut().expect("just pushed");
        tracked.id = Some(str_field(registered.json(), "id"));
        Ok(())
    }

    /// One agent's life: registration, approval, tokens, scope change, suspension and
    /// reactivation, a token revocation, and for every third agent its revocation.
    fn lifecycle(&mut self) -> Result<(), Killed> {
        let n = self.ledger.lifecycles;
        self.ledger.lifecycles += 1;
        if n.is_multiple_of(4) {
            self.register_operator()?;
        }
        let agent = self.register_agent()?;
        self.set_scopes(agent, &["read"])?;
        let first = self.issue(agent, "read")?;
        self.set_scopes(agent, &["read", "write"])?;
        self.issue(agent, "read write")?;
        self.status_change(agent, "suspend", "suspended")?;
        self.status_change(agent, "reactivate", "active")?;
        self.revoke_token(first)?;
        if n % 3 == 2 {
            self.status_change(agent, "revoke", "revoked")?;
        }
        Ok(())
    }

    fn run(mut self) {
        while self.lifecycle().is_ok() {}
    }
}

/// The DID the server derives for `signer`'s key under `domain`.
fn did_of(signer: &Signer, domain: &str) -> String {
    let jwk: Jwk = serde_json::from_value(signer.public_jwk()).expect("JWK");
    let key = PublicKey::from_jwk(&jwk).expect("public key");
    let domain = Domain::parse(domain).expect("domain");
    Did::from_key(&domain, &key).as_str().to_owned()
}

/// A claim of a compact JWS, read without verification (to index tokens).
fn unverified_claim(jwt: &str, name: &str) -> String {
    let payload = jwt.split('.').nth(1).expect("a payload segment");
    let payload = auth4agent_protocol::b64url_decode(payload).expect("base64url payload");
    let claims: Value = serde_json::from_slice(&payload).expect("JSON payload");
    str_field(&claims, name)
}

/// What the server says now, read with signed requests.
struct ServerView {
    agents: BTreeMap<String, AgentState>,
    revoked_jtis: BTreeSet<String>,
}

fn status_name(status: &str) -> &'static str {
    match status {
        "pending" => "pending",
        "active" => "active",
        "suspended" => "suspended",
        "revoked" => "revoked",
        other => panic!("unknown agent status {other:?}"),
    }
}

fn server_view(http: &Http, operator: &ApiOperator) -> ServerView {
    // Every page of the agent list (1,000 at a time).
    let mut agents = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/operators/{}/agents?limit=1000", operator.id);
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let list = expect(
            &try_signed(http, &operator.signer, "GET", &path, None).expect("list agents"),
            200,
            None,
        );
        for a in list["agents"].as_array().expect("agents") {
            let state = AgentState {
                status: status_name(a["status"].as_str().expect("status")),
                scopes: strings(&a["allowed_scopes"]),
            };
            agents.insert(str_field(a, "did"), state);
        }
        match list["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // Every page of the revocations list (token entries come first, then agents).
    let mut revoked_jtis = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/operators/{}/revocations?limit=1000", operator.id);
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect(
            &try_signed(http, &operator.signer, "GET", &path, None).expect("list revocations"),
            200,
            None,
        );
        revoked_jtis.extend(
            page["tokens"]
                .as_array()
                .expect("tokens")
                .iter()
                .map(|t| str_field(t, "jti")),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    ServerView {
        agents,
        revoked_jtis,
    }
}

/// Checks every acknowledged write of `ledger` against the restarted server and resolves the
/// in-flight ones to what the server kept. Returns the number of agents the ledger accounts for.
fn check_ledger(
    http: &Http,
    issuer: &str,
    view: &ServerView,
    keys: &KeySet,
    ledger: &mut Ledger,
    all_tokens: bool,
) -> usize {
    let outcomes = &mut ledger.in_flight_outcomes;
    ledger.agents.retain_mut(|tracked| {
        let did = &tracked.agent.did;
        let actual = view.agents.get(did);
        match (&tracked.acked, &tracked.in_flight) {
            (Some(acked), None) => assert_eq!(
                actual,
                Some(acked),
                "acknowledged agent state lost for {did}"
            ),
            (Some(acked), Some(maybe)) => assert!(
                actual == Some(acked) || actual == Some(maybe),
                "agent {did}: expected {acked:?} (acknowledged) or {maybe:?} (in flight at the kill), found {actual:?}"
            ),
            (None, Some(maybe)) => assert!(
                actual.is_none() || actual == Some(maybe),
                "agent {did} (registration in flight at the kill): found {actual:?}"
            ),
            (None, None) => unreachable!("an agent is tracked from its registration on"),
        }
        if let Some(maybe) = tracked.in_flight.take() {
            if actual == Some(&maybe) && tracked.acked.as_ref() != Some(&maybe) {
                outcomes.0 += 1;
            } else {
                outcomes.1 += 1;
            }
        }
        tracked.acked = actual.cloned();
        tracked.acked.is_some()
    });

    let verifier = Verifier::new(issuer, AUD);
    let now = UnixTime::from_secs(unix_now());
    for token in &mut ledger.tokens {
        if token.checked && !all_tokens {
            continue;
        }
        let verified = verifier
            .verify(&token.token, keys, now)
            .unwrap_or_else(|e| {
                panic!("a token issued before the kill no longer verifies offline: {e}")
            });
        assert_eq!(verified.claims().sub, token.did);
        let listed = view.revoked_jtis.contains(&token.jti);
        match token.revoked {
            Write::Done => assert!(listed, "acknowledged token revocation lost: {}", token.jti),
            Write::No => assert!(!listed, "token {} revoked without a request", token.jti),
            Write::InFlight if listed => ledger.in_flight_outcomes.0 += 1,
            Write::InFlight => ledger.in_flight_outcomes.1 += 1,
        }
        token.revoked = if listed { Write::Done } else { Write::No };
        let agent_active = view
            .agents
            .get(&token.did)
            .is_some_and(|a| a.status == "active");
        let active = introspect_active(http, &token.token);
        let uncut = agent_active && !listed;
        match token.cut_off {
            Write::Done => assert!(
                !active,
                "token {} active after its agent's suspension",
                token.jti
            ),
            Write::No => assert_eq!(
                active, uncut,
                "introspection of token {} (agent {}, active: {agent_active}, revoked: {listed})",
                token.jti, token.did
            ),
            // The suspension died with the server: its cutoff may have landed.
            Write::InFlight => {
                assert!(
                    !active || uncut,
                    "token {} active though not expected",
                    token.jti
                );
                if uncut {
                    token.cut_off = if active { Write::No } else { Write::Done };
                }
            }
        }
        token.checked = true;
    }

    // An operator registration in flight at the kill has no known id; only acknowledged ones count.
    for operator in &mut ledger.operators {
        let Some(id) = operator.id.as_deref() else {
            continue;
        };
        if operator.checked {
            continue;
        }
        let path = format!("/v1/operators/{id}");
        let status = try_signed(http, &operator.signer, "GET", &path, None).expect("status");
        assert_eq!(expect(&status, 200, None)["status"], "unverified");
        operator.checked = true;
    }
    ledger.agents.len()
}

#[test]
fn acknowledged_writes_survive_repeated_sigkill() {
    let mut world = World::with(|b| b.args(NO_RATE_LIMIT));
    let issuer = world.server.url();
    let operator = verified_operator(&world, "crash.example.com");
    let jwks_before = jwks_body(world.server.http());
    let mut ledgers: Vec<Ledger> = (0..WRITERS).map(|_| Ledger::default()).collect();
    let started = Instant::now();

    for round in 0..ROUNDS {
        let kill_ordered = AtomicBool::new(false);
        let http = world.server.http().clone();
        let server = &mut world.server;
        std::thread::scope(|scope| {
            for (name, ledger) in ledgers.iter_mut().enumerate() {
                let writer = Writer {
                    http: http.clone(),
                    issuer: issuer.clone(),
                    operator: &operator,
                    ledger,
                    name,
                    kill_ordered: &kill_ordered,
                };
                scope.spawn(move || writer.run());
            }
            std::thread::sleep(Duration::from_millis(rand::random_range(300..1200)));
            kill_ordered.store(true, Ordering::SeqCst);
            server.kill().expect("the server was running");
        });
        world.server.start_again();

        let http = world.server.http();
        assert_eq!(
            jwks_body(http),
            jwks_before,
            "round {round}: the JWKS changed across the crash"
        );
        let keys = KeySet::from_json(&jwks_before).expect("JWKS");
        let view = server_view(http, &operator);
        let last = round + 1 == ROUNDS;
        let tracked: usize = ledgers
            .iter_mut()
            .map(|ledger| check_ledger(http, &issuer, &view, &keys, ledger, last))
            .sum();
        assert_eq!(
            view.agents.len(),
            tracked,
            "round {round}: the server lists agents nobody registered"
        );
        let operator_now = try_signed(
            http,
            &operator.signer,
            "GET",
            &format!("/v1/operators/{}", operator.id),
            None,
        )
        .expect("operator status");
        assert_eq!(expect(&operator_now, 200, None)["status"], "verified");
    }

    let acknowledged: usize = ledgers.iter().map(|l| l.acknowledged).sum();
    let tokens: usize = ledgers.iter().map(|l| l.tokens.len()).sum();
    let agents: usize = ledgers.iter().map(|l| l.agents.len()).sum();
    let kept: usize = ledgers.iter().map(|l| l.in_flight_outcomes.0).sum();
    let lost: usize = ledgers.iter().map(|l| l.in_flight_outcomes.1).sum();
    eprintln!(
        "{ROUNDS} SIGKILL rounds in {:?}: {acknowledged} acknowledged writes, {agents} agents, {tokens} tokens; \
         of the agent and revocation writes in flight at a kill, {kept} were kept and {lost} not",
        started.elapsed()
    );
    assert!(
        tokens >= WRITERS,
        "the writers issued too few tokens to test anything ({tokens})"
    );
}
