//! Prometheus metrics on their own listener (`--metrics-listen`): after real traffic they count
//! requests by route and status, time issuance and the store, count refusals by code, rate-limited
//! requests, DNS check outcomes and open connections. The public listener does not serve them.

use auth4agent_testkit::{Backend, Http, free_port};
use serde_json::json;

use crate::support::{AUD, World};

/// The sample lines of `metric` (its name, then `{` or a space) that contain every label in `labels`.
fn samples<'a>(text: &'a str, metric: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .collect()
}

/// The value of the first sample of `metric` with `labels`; panics (showing the text) if there is none.
#[track_caller]
fn value(text: &str, metric: &str, labels: &[&str]) -> f64 {
    let found = samples(text, metric, labels);
    let line = found
        .first()
        .unwrap_or_else(|| panic!("no {metric} sample with {labels:?} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn metrics_count_real_traffic_on_their_own_listener() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let world = World::with(|b| {
        b.args([
            "--metrics-listen",
            &metrics_addr,
            "--rate-limit",
            "5",
            "--rate-limit-burst",
            "20",
        ])
    });
    let (_operator, agent) = world.operator_and_agent();
    agent
        .cli
        .ok_json(["issue", "--scope", "read", "--aud", AUD]);
    let http = world.server.http();
    let unknown = json!({ "did": "did:agent:example.com:0123456789abcdef0123456789abcdef" });
    let mut limited = 0;
    for _ in 0..40 {
        let answer = http
            .post_json("/v1/challenge", &unknown, &[])
            .expect("challenge");
        limited += usize::from(answer.status == 429);
    }
    assert!(limited > 0, "the flood was rate-limited");

    let metrics = Http::new(format!("http://{metrics_addr}"));
    let scraped = metrics.get("/metrics").expect("GET /metrics");
    assert_eq!(scraped.status, 200, "{scraped:?}");
    assert!(
        scraped
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{scraped:?}"
    );
    let text = &scraped.body;
    assert!(
        value(
            text,
            "auth4agent_http_requests_total",
            &[
                r#"route="/v1/token""#,
                r#"status="200""#,
                r#"method="POST""#
            ]
        ) >= 1.0
    );
    assert!(
        value(
            text,
            "auth4agent_token_issue_duration_seconds_count",
            &[r#"flow="challenge""#]
        ) >= 1.0
    );
    assert!(
        value(
            text,
            "auth4agent_refusals_total",
            &[r#"code="agent_not_found""#]
        ) >= 1.0
    );
    assert_eq!(
        value(
            text,
            "auth4agent_refusals_total",
            &[r#"code="rate_limited""#]
        ),
        limited as f64
    );
    assert_eq!(
        value(text, "auth4agent_rate_limited_total", &[]),
        limited as f64
    );
    assert!(
        value(
            text,
            "auth4agent_dns_checks_total",
            &[r#"outcome="verified""#]
        ) >= 1.0
    );
    let store = match world.server.backend() {
        Backend::Sqlite => [r#"backend="sqlite""#, r#"kind="write""#],
        Backend::Postgres => [r#"backend="postgresql""#, r#"kind="operation""#],
    };
    assert!(
        value(
            text,
            "auth4agent_store_operation_duration_seconds_count",
            &store
        ) >= 1.0
    );
    assert!(value(text, "auth4agent_connections_open", &[]) >= 1.0);

    let public = http.get("/metrics").expect("GET /metrics on the API");
    assert_eq!(public.status, 404, "metrics are not public: {public:?}");
}
