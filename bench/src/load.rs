//! The measured loop: `concurrency` tasks each repeat one operation (challenge + token, a client credentials
//! token in one round trip, or introspection)
//! over a shared agent list for `warmup + duration`, closed-loop or paced at a total `rate` (wrk2 style:
//! latency counts from the scheduled start, so a stalled server is not hidden by coordinated omission).
//!
//! Each task owns one keep-alive connection ([`Conn`]). Request bodies that do not depend on the server's
//! answers (the challenge request per agent, the introspection request per token) are built before the
//! run; proofs are signed with the protocol crate's [`sign_proof`], as an agent does; answers are parsed
//! into borrowed fields.
//!
//! With [`Intervals`], the tasks also count each measured operation into shared [`IntervalCounters`] (one
//! relaxed atomic increment, no lock), and `drive` hands a [`crate::interval::IntervalSnapshot`] to the caller's
//! [`IntervalSink`] every `every` of the measured window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth4agent_api::oauth::{ASSERTION_TYPE_JWT_BEARER, GRANT_CLIENT_CREDENTIALS};
use auth4agent_protocol::{
    ClientAssertionClaims, Did, ProofClaims, ReceivedChallenge, RequestedToken, SigningKey,
    UnixTime, b64url_encode, encode_form, sign_client_assertion, sign_proof,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{Failure, TokenRequest};
use crate::clock;
use crate::http1::{Conn, ConnError, Target};
use crate::identity::AgentIdentity;
use crate::interval::{IntervalCounters, IntervalSink};

/// How long after the end of the run an operation still in flight is given before it counts as `timeout`.
const GRACE: Duration = Duration::from_secs(30);

/// What each iteration does.
#[derive(Clone)]
pub enum Operation {
    /// `POST /v1/challenge` then `POST /v1/token` with a signed proof.
    Issue(Arc<IssuePlan>),
    /// `POST /v1/introspect` of pre-issued tokens; a token reported inactive counts as an error.
    Introspect(Arc<Vec<Vec<u8>>>),
    /// `POST /oauth/token`: client credentials with a fresh client assertion each time (one round trip).
    ClientCredentials(Arc<IssuePlan>),
}

/// Everything an issuance needs that does not depend on the server's answers, built once.
pub struct IssuePlan {
    agents: Vec<PreparedAgent>,
    issuer: String,
    request: TokenRequest,
}

struct PreparedAgent {
    key: SigningKey,
    did: Did,
    challenge_body: Vec<u8>,
}

#[derive(Deserialize)]
struct ChallengeReply<'a> {
    challenge_id: &'a str,
    nonce: &'a str,
    #[expect(
        dead_code,
        reason = "required in the response, not needed by the proof"
    )]
    expires_at: u64,
}

#[derive(Deserialize)]
struct TokenReply<'a> {
    token: &'a str,
    expires_at: u64,
}

#[derive(Deserialize)]
struct OAuthTokenReply<'a> {
    access_token: &'a str,
    expires_in: u64,
}

#[derive(Deserialize)]
struct IntrospectionReply {
    active: bool,
}

impl IssuePlan {
    /// Prepares `agents` for proofs addressed to `issuer`.
    ///
    /// # Panics
    /// If `agents` is empty.
    pub fn new(agents: Vec<AgentIdentity>, issuer: &str, request: TokenRequest) -> IssuePlan {
        assert!(!agents.is_empty(), "no agents to drive");
        let agents: Vec<PreparedAgent> = agents
            .into_iter()
            .map(|a| PreparedAgent {
                challenge_body: serde_json::to_vec(&json!({ "did": a.did.as_str() }))
                    .expect("JSON"),
                key: a.key,
                did: a.did,
            })
            .collect();
        IssuePlan {
            agents,
            issuer: issuer.to_owned(),
            request,
        }
    }

    fn claims(
        &self,
        agent: &PreparedAgent,
        challenge_id: &str,
        nonce: &str,
        now: UnixTime,
    ) -> ProofClaims {
        ProofClaims::answer(
            &agent.did,
            ReceivedChallenge {
                id: challenge_id,
                nonce,
            },
            &self.issuer,
            RequestedToken {
                scope: &self.request.scope,
                audience: &self.request.token_aud,
                ttl: None,
            },
            now,
        )
    }

    /// The signed proof answering a challenge, as an agent builds it with [`sign_proof`].
    fn proof(
        &self,
        agent: &PreparedAgent,
        challenge_id: &str,
        nonce: &str,
    ) -> Result<String, Failure> {
        sign_proof(
            &agent.key,
            &self.claims(agent, challenge_id, nonce, clock::unix_time()),
        )
        .map_err(|e| Failure(format!("sign_{}", e.code())))
    }
}

impl IssuePlan {
    /// The client credentials form for `agent`: a fresh assertion (signed as an agent's OAuth library
    /// would, with the protocol crate), the scopes and the audience as `resource`.
    fn client_credentials_form(&self, agent: &PreparedAgent) -> Result<Vec<u8>, Failure> {
        let jti = b64url_encode(&rand::random::<[u8; 16]>());
        let claims = ClientAssertionClaims::new(
            &agent.did,
            &self.issuer,
            clock::unix_time(),
            Duration::from_secs(60),
            jti,
        );
        let assertion = sign_client_assertion(&agent.key, &claims)
            .map_err(|e| Failure(format!("sign_{}", e.code())))?;
        let scope = self.request.scope.to_scope_string();
        Ok(encode_form([
            ("grant_type", GRANT_CLIENT_CREDENTIALS),
            ("client_assertion_type", ASSERTION_TYPE_JWT_BEARER),
            ("client_assertion", &assertion),
            ("scope", &scope),
            ("resource", &self.request.token_aud),
        ])
        .into_bytes())
    }
}

impl Operation {
    /// Client credentials tokens for `agents` (cycled), assertions addressed to `issuer`.
    pub fn client_credentials(
        agents: Vec<AgentIdentity>,
        issuer: &str,
        request: TokenRequest,
    ) -> Operation {
        Operation::ClientCredentials(Arc::new(IssuePlan::new(agents, issuer, request)))
    }

    /// Challenge + token for `agents` (cycled), proofs addressed to `issuer`.
    pub fn issue(agents: Vec<AgentIdentity>, issuer: &str, request: TokenRequest) -> Operation {
        Operation::Issue(Arc::new(IssuePlan::new(agents, issuer, request)))
    }

    /// Introspection of `tokens` (cycled).
    ///
    /// # Panics
    /// If `tokens` is empty.
    pub fn introspect(tokens: &[String]) -> Operation {
        assert!(!tokens.is_empty(), "no tokens to introspect");
        let bodies = tokens
            .iter()
            .map(|t| serde_json::to_vec(&json!({ "token": t })).expect("JSON"))
            .collect();
        Operation::Introspect(Arc::new(bodies))
    }

    async fn run_once(&self, conn: &mut Conn, n: usize) -> Result<(), Failure> {
        match self {
            Operation::Issue(plan) => {
                let agent = &plan.agents[n % plan.agents.len()];
                let body = exchange(conn, "/v1/challenge", &agent.challenge_body).await?;
                let challenge: ChallengeReply = parse(body)?;
                let proof = plan.proof(agent, challenge.challenge_id, challenge.nonce)?;
                // A compact JWS is base64url and dots: nothing to escape.
                let mut body = Vec::with_capacity(proof.len() + 12);
                body.extend_from_slice(b"{\"proof\":\"");
                body.extend_from_slice(proof.as_bytes());
                body.extend_from_slice(b"\"}");
                let token: TokenReply = parse(exchange(conn, "/v1/token", &body).await?)?;
                if token.token.is_empty() || token.expires_at == 0 {
                    return Err(Failure("bad_response".into()));
                }
                Ok(())
            }
            Operation::ClientCredentials(plan) => {
                let agent = &plan.agents[n % plan.agents.len()];
                let form = plan.client_credentials_form(agent)?;
                let body = match conn
                    .post("/oauth/token", "application/x-www-form-urlencoded", &form)
                    .await
                {
                    Ok((200, body)) => body,
                    Ok((status, body)) => return Err(oauth_failure(status, body)),
                    Err(ConnError::Transport) => return Err(Failure("transport".into())),
                    Err(ConnError::BadResponse) => return Err(Failure("bad_response".into())),
                };
                let token: OAuthTokenReply = parse(body)?;
                if token.access_token.is_empty() || token.expires_in == 0 {
                    return Err(Failure("bad_response".into()));
                }
                Ok(())
            }
            Operation::Introspect(bodies) => {
                let body = &bodies[n % bodies.len()];
                let body = exchange(conn, "/v1/introspect", body).await?;
                match parse::<IntrospectionReply>(body)?.active {
                    true => Ok(()),
                    false => Err(Failure("inactive".into())),
                }
            }
        }
    }
}

/// One POST; a non-2xx answer becomes `http_<status>_<error code>`.
async fn exchange<'c>(conn: &'c mut Conn, path: &str, body: &[u8]) -> Result<&'c [u8], Failure> {
    match conn.post_json(path, body).await {
        Ok((status, body)) if (200..300).contains(&status) => Ok(body),
        Ok((status, body)) => Err(http_failure(status, body)),
        Err(ConnError::Transport) => Err(Failure("transport".into())),
        Err(ConnError::BadResponse) => Err(Failure("bad_response".into())),
    }
}

#[cold]
fn http_failure(status: u16, body: &[u8]) -> Failure {
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Failure(format!("http_{status}_{code}"))
}

/// A refused OAuth request becomes `http_<status>_<auth4agent_error>`.
#[cold]
fn oauth_failure(status: u16, body: &[u8]) -> Failure {
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["auth4agent_error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Failure(format!("http_{status}_{code}"))
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|_| Failure("bad_response".into()))
}

/// How hard and how long to drive.
#[derive(Clone, Copy, Debug)]
pub struct LoadSpec {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Total operations per second across all tasks; `None` = as fast as responses come back.
    pub rate: Option<f64>,
}

/// What a run measured (warm-up excluded, except `operations` and `reconnects`).
#[derive(Debug, Default)]
pub struct LoadOutcome {
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub latencies_us: Vec<u32>,
    pub measured: Duration,
    /// Operations run, warm-up included, successful or not: the denominator for CPU time per operation.
    pub operations: u64,
    /// Connections reopened after a transport error, warm-up included.
    pub reconnects: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Serialize, Debug, Default, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    /// p99.9.
    pub p999: f64,
    pub max: f64,
}

impl LoadOutcome {
    /// Total failed operations.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful operations per second over the measured window.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.measured.as_secs_f64()
    }

    /// Nearest-rank percentiles of successful operations.
    pub fn percentiles(&mut self) -> Percentiles {
        self.latencies_us.sort_unstable();
        let v = &self.latencies_us;
        if v.is_empty() {
            return Percentiles::default();
        }
        let at = |q: f64| {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            f64::from(v[rank - 1]) / 1000.0
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: f64::from(v[v.len() - 1]) / 1000.0,
        }
    }
}

/// Per-interval reporting of a run: every `every` of the measured window (and at its end, if a shorter
/// remainder is left), `sink` gets the interval's figures.
pub struct Intervals<'a> {
    pub every: Duration,
    pub sink: &'a mut dyn IntervalSink,
}

/// Drives `op` against `target` as `spec` says, reporting to `intervals` if given.
pub async fn drive(
    target: &Target,
    op: &Operation,
    spec: LoadSpec,
    intervals: Option<Intervals<'_>>,
) -> LoadOutcome {
    let counters = intervals
        .as_ref()
        .map(|_| Arc::new(IntervalCounters::default()));
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let interval = spec
        .rate
        .map(|r| Duration::from_secs_f64(spec.concurrency as f64 / r));
    let mut tasks = Vec::with_capacity(spec.concurrency);
    for worker in 0..spec.concurrency {
        let mut conn = Conn::new(target.clone());
        let op = op.clone();
        let counter = Arc::clone(&counter);
        let counters = counters.clone();
        let first = interval.map(|i| start + i.mul_f64(worker as f64 / spec.concurrency as f64));
        tasks.push(tokio::spawn(async move {
            let mut out = LoadOutcome::default();
            let mut scheduled = first;
            let deadline = tokio::time::sleep_until((end + GRACE).into());
            tokio::pin!(deadline);
            loop {
                let t0 = match scheduled {
                    Some(at) => {
                        if at >= end {
                            break;
                        }
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                if t0 >= end {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (result, timed_out) = tokio::select! {
                    biased;
                    r = op.run_once(&mut conn, n) => (r, false),
                    () = &mut deadline => (Err(Failure("timeout".into())), true),
                };
                let elapsed = t0.elapsed();
                out.operations += 1;
                if t0 >= measure_from {
                    match result {
                        Ok(()) => {
                            out.ok += 1;
                            let us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
                            out.latencies_us.push(us);
                            if let Some(c) = &counters {
                                c.ok(us);
                            }
                        }
                        Err(Failure(kind)) => {
                            *out.errors.entry(kind).or_default() += 1;
                            if let Some(c) = &counters {
                                c.error();
                            }
                        }
                    }
                }
                if timed_out {
                    break;
                }
                if let (Some(at), Some(i)) = (scheduled.as_mut(), interval) {
                    *at += i;
                }
            }
            out.reconnects = conn.reconnects;
            out
        }));
    }
    if let (Some(intervals), Some(counters)) = (intervals, &counters) {
        report_intervals(intervals, counters, measure_from, end).await;
    }
    let mut total = LoadOutcome::default();
    for task in tasks {
        if let Ok(part) = task.await {
            total.ok += part.ok;
            total.operations += part.operations;
            total.reconnects += part.reconnects;
            total.latencies_us.extend(part.latencies_us);
            for (k, v) in part.errors {
                *total.errors.entry(k).or_default() += v;
            }
        }
    }
    total.measured = end
        .saturating_duration_since(measure_from)
        .max(Duration::from_millis(1));
    total
}

/// Hands `counters` to the sink at every tick of the window `measure_from..end`; lengths and elapsed times are
/// the actual ones (a busy runtime may wake the ticker late).
async fn report_intervals(
    intervals: Intervals<'_>,
    counters: &IntervalCounters,
    measure_from: Instant,
    end: Instant,
) {
    let every = intervals.every.max(Duration::from_millis(10));
    // Only operations started at `measure_from` or later are counted: the first interval starts there even if
    // this task wakes late.
    tokio::time::sleep_until(measure_from.into()).await;
    intervals.sink.window_started();
    let mut previous = measure_from;
    for k in 1u32.. {
        let at = (measure_from + every * k).min(end);
        if at.saturating_duration_since(measure_from + every * (k - 1)) < Duration::from_millis(1) {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let now = Instant::now();
        let snapshot = counters.take(now - measure_from, now - previous);
        intervals.sink.interval(&snapshot);
        previous = now;
        if at >= end {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut o = LoadOutcome {
            ok: 100,
            latencies_us: (1..=100).rev().map(|i| i * 1000).collect(),
            measured: Duration::from_secs(2),
            ..LoadOutcome::default()
        };
        let p = o.percentiles();
        assert_eq!(p.p50, 50.0);
        assert_eq!(p.p90, 90.0);
        assert_eq!(p.p99, 99.0);
        assert_eq!(p.p999, 100.0);
        assert_eq!(p.max, 100.0);
        assert_eq!(o.throughput(), 50.0);
    }
}
