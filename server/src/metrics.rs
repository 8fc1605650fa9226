//! Operational metrics in the Prometheus text format, served on their own listener (`--metrics-listen`)
//! so they are never public. Without that flag no recorder is installed and every `record_*` call is a
//! check of one flag ([`enabled`]).
//!
//! The names, all prefixed `auth4agent_`:
//! - `http_requests_total{route,method,status}` and `http_request_duration_seconds{route}`;
//! - `token_issue_duration_seconds{flow}`: a token request answered 200, from its arrival to the signed
//!   token (`flow` is `challenge` for `/v1/token`, `oauth` for `/oauth/token`);
//! - `store_operation_duration_seconds{backend,kind}`: a SQLite write (queue to commit) or read, a
//!   PostgreSQL operation (pool checkout to release);
//! - `dns_checks_total{outcome}`, `refusals_total{code}`, `rate_limited_total`;
//! - `connections_open`, `connections_refused_total{reason}`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for latencies, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// How often histogram state is compacted when no scrape comes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Whether a recorder is installed: without one, the hot paths skip building labels at all.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether metrics are being collected (`--metrics-listen` was given).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the process-wide recorder; `None` if one is installed already.
pub fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .ok()?
        .install_recorder()
        .ok()?;
    ENABLED.store(true, Ordering::Relaxed);
    Some(handle)
}

/// Serves `GET /metrics` from `handle` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let upkeep = handle.clone();
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    );
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
    upkeep.abort();
}

/// One answered request; a refusal's code is counted too, and a token issued is timed as issuance.
pub fn record_request(
    route: &str,
    method: &str,
    status: u16,
    refusal: Option<&str>,
    elapsed: Duration,
) {
    if !enabled() {
        return;
    }
    if let Some(code) = refusal {
        record_refusal(code);
    }
    if status == 200 {
        match route {
            auth4agent_api::routes::TOKEN => record_issuance("challenge", elapsed),
            auth4agent_api::routes::OAUTH_TOKEN => record_issuance("oauth", elapsed),
            _ => {}
        }
    }
    metrics::counter!(
        "auth4agent_http_requests_total",
        "route" => route.to_owned(),
        "method" => method.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("auth4agent_http_request_duration_seconds", "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
}

fn record_issuance(flow: &'static str, elapsed: Duration) {
    metrics::histogram!("auth4agent_token_issue_duration_seconds", "flow" => flow)
        .record(elapsed.as_secs_f64());
}

pub fn record_store(backend: &'static str, kind: &'static str, elapsed: Duration) {
    if !enabled() {
        return;
    }
    metrics::histogram!(
        "auth4agent_store_operation_duration_seconds",
        "backend" => backend,
        "kind" => kind
    )
    .record(elapsed.as_secs_f64());
}

pub fn record_dns_check(outcome: &'static str) {
    if !enabled() {
        return;
    }
    metrics::counter!("auth4agent_dns_checks_total", "outcome" => outcome).increment(1);
}

fn record_refusal(code: &str) {
    metrics::counter!("auth4agent_refusals_total", "code" => code.to_owned()).increment(1);
}

pub fn record_rate_limited() {
    if !enabled() {
        return;
    }
    metrics::counter!("auth4agent_rate_limited_total").increment(1);
}

pub fn record_open_connections(open: usize) {
    if !enabled() {
        return;
    }
    metrics::gauge!("auth4agent_connections_open").set(open as f64);
}

pub fn record_connection_refused(reason: &'static str) {
    if !enabled() {
        return;
    }
    metrics::counter!("auth4agent_connections_refused_total", "reason" => reason).increment(1);
}
