//! The measured loop: `concurrency` tasks each repeat one operation (challenge + token, or introspection)
//! over a shared agent list for `warmup + duration`, closed-loop or paced at a total `rate` (wrk2 style:
//! latency counts from the scheduled start, so a stalled server is not hidden by coordinated omission).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::{Api, Failure, TokenRequest};
use crate::identity::AgentIdentity;

/// What each iteration does.
#[derive(Clone)]
pub enum Operation {
    /// `POST /v1/challenge` then `POST /v1/token` with a signed proof.
    Issue {
        agents: Arc<Vec<AgentIdentity>>,
        request: TokenRequest,
    },
    /// `POST /v1/introspect` of pre-issued tokens; a token reported inactive counts as an error.
    Introspect { tokens: Arc<Vec<String>> },
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

/// What a run measured (warm-up excluded).
#[derive(Debug, Default)]
pub struct LoadOutcome {
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub latencies_us: Vec<u32>,
    pub measured: Duration,
}

/// Latency percentiles in milliseconds.
#[derive(Serialize, Debug, Default, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
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
            max: f64::from(v[v.len() - 1]) / 1000.0,
        }
    }
}

impl Operation {
    async fn run_once(&self, api: &Api, n: usize) -> Result<(), Failure> {
        match self {
            Operation::Issue { agents, request } => {
                let agent = &agents[n % agents.len()];
                api.issue(&agent.key, agent.did.as_str(), request)
                    .await
                    .map(drop)
            }
            Operation::Introspect { tokens } => {
                match api.introspect(&tokens[n % tokens.len()]).await? {
                    true => Ok(()),
                    false => Err(Failure("inactive".into())),
                }
            }
        }
    }
}

/// Drives `op` against `api` as `spec` says.
pub async fn drive(api: &Api, op: &Operation, spec: LoadSpec) -> LoadOutcome {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let interval = spec
        .rate
        .map(|r| Duration::from_secs_f64(spec.concurrency as f64 / r));
    let mut tasks = Vec::with_capacity(spec.concurrency);
    for worker in 0..spec.concurrency {
        let api = api.clone();
        let op = op.clone();
        let counter = Arc::clone(&counter);
        let first = interval.map(|i| start + i.mul_f64(worker as f64 / spec.concurrency as f64));
        tasks.push(tokio::spawn(async move {
            let mut out = LoadOutcome::default();
            let mut scheduled = first;
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
                let result = op.run_once(&api, n).await;
                let elapsed = t0.elapsed();
                if t0 >= measure_from {
                    match result {
                        Ok(()) => {
                            out.ok += 1;
                            out.latencies_us
                                .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                        }
                        Err(Failure(kind)) => *out.errors.entry(kind).or_default() += 1,
                    }
                }
                if let (Some(at), Some(i)) = (scheduled.as_mut(), interval) {
                    *at += i;
                }
            }
            out
        }));
    }
    let mut total = LoadOutcome::default();
    for task in tasks {
        if let Ok(part) = task.await {
            total.ok += part.ok;
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
        assert_eq!(p.max, 100.0);
        assert_eq!(o.throughput(), 50.0);
    }
}
