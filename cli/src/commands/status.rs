//! `status`: where this home (or profile) stands. The local identities; whether the server answers
//! (`GET /health`); for the agent, its status and allowed and approval scopes as the server sees them (its own
//! signed `GET /v1/agents/{did}`, with the registration request of a `login`); for the operator, its
//! verification status and expiry (`GET /v1/operators/{id}`, signed); and the cached tokens with their expiry.
//! A server that does not answer is reported, not an error: the local part is still shown. Times are shown with
//! `format_instant`; `--json` keeps Unix seconds.

use auth4agent_api::agents::Agent;
use auth4agent_api::health::Health;
use auth4agent_api::operators::Operator;
use auth4agent_api::routes::{self, Method};
use serde_json::{Value, json};

use super::Context;
use crate::client::Client;
use crate::clock;
use crate::duration::format_instant;
use crate::error::{CliError, Result};
use crate::output::{Report, terminal_safe};

pub fn run(ctx: &Context) -> Result<Report> {
    let operator = ctx.home.try_operator()?;
    let agent = ctx.home.try_agent()?;
    if operator.is_none() && agent.is_none() {
        return Err(CliError::home(
            "no_identity",
            format!("'{}' holds no identity", ctx.home.root().display()),
        )
        .with_hint("onboard an agent with `auth4agent login`, or create an identity with `auth4agent init`"));
    }
    let now = clock::now();
    let mut lines = vec![format!("home: {}", ctx.home.root().display())];
    let server = ctx.server(ctx.home.saved_server()?.as_deref())?;
    let answers = Client::new(&server).and_then(|c| c.get::<Health>(routes::HEALTH));
    let mut doc = json!({
        "home": ctx.home.root().display().to_string(),
        "server": server,
        "server_answers": answers.is_ok(),
    });
    match &answers {
        Ok(health) => lines.push(format!("server: {server} ({})", health.status)),
        Err(e) => {
            lines.push(format!("server: {server} does not answer: {e}"));
            doc["server_error"] = json!(e.code);
        }
    }

    if let Some(identity) = &agent {
        lines.push(format!("agent: {}", identity.did));
        let mut entry = json!({ "identity": identity });
        if answers.is_ok() {
            match agent_at_server(ctx, &identity.did) {
                Ok(seen) => {
                    lines.push(format!("  status: {}", seen.status));
                    lines.push(format!("  allowed scopes: {}", list(&seen.allowed_scopes)));
                    lines.push(format!(
                        "  approval scopes: {}",
                        list(&seen.approval_scopes)
                    ));
                    if let Some(r) = &seen.registration {
                        lines.push(format!(
                            "  registration {}: {} (asked for {}; expires {})",
                            terminal_safe(&r.user_code),
                            r.status,
                            list(&r.requested_scopes),
                            format_instant(r.expires_at, now)
                        ));
                    }
                    entry["server_view"] = serde_json::to_value(&seen).expect("JSON serializes");
                }
                Err(e) => {
                    lines.push(format!("  the server's view is unavailable: {e}"));
                    entry["error"] = json!(e.code);
                }
            }
        }
        doc["agent"] = entry;
    }

    if let Some(identity) = &operator {
        lines.push(format!(
            "operator: {} ({})",
            identity.id.as_deref().unwrap_or("not registered"),
            identity.domain
        ));
        let mut entry = json!({ "identity": identity });
        if answers.is_ok() && identity.id.is_some() {
            match operator_at_server(ctx) {
                Ok(seen) => {
                    let expiry = seen
                        .verification_expires_at
                        .map(|at| format!(", verification expires {}", format_instant(at, now)))
                        .unwrap_or_default();
                    lines.push(format!("  status: {}{expiry}", seen.status));
                    entry["server_view"] = serde_json::to_value(&seen).expect("JSON serializes");
                }
                Err(e) => {
                    lines.push(format!("  the server's view is unavailable: {e}"));
                    entry["error"] = json!(e.code);
                }
            }
        }
        doc["operator"] = entry;
    }

    let tokens = ctx.home.cached_tokens()?;
    let cached: Vec<Value> = tokens
        .iter()
        .map(|t| {
            json!({
                "aud": t.aud,
                "scope": t.scope,
                "token_type": t.token_type,
                "expires_at": t.expires_at,
                "expired": t.expires_at <= now,
                "did": t.did,
                "server": t.server,
            })
        })
        .collect();
    if tokens.is_empty() {
        lines.push("cached tokens: none".to_owned());
    } else {
        lines.push("cached tokens:".to_owned());
        for t in &tokens {
            lines.push(format!(
                "  {} {} scope \"{}\": expires {}",
                t.token_type,
                t.aud,
                t.scope,
                format_instant(t.expires_at, now)
            ));
        }
    }
    doc["tokens"] = Value::Array(cached);
    Ok(Report::new(doc, lines.join("\n")))
}

fn list(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "(none)".to_owned()
    } else {
        scopes.join(" ")
    }
}

/// The agent as the server sees it, read with the agent's own signed request.
fn agent_at_server(ctx: &Context, did: &str) -> Result<Agent> {
    let session = ctx.agent_session()?;
    session
        .client
        .signed(Method::Get, &routes::agent(did), &session.signer())
}

/// The operator as the server sees it, read with the operator's signed request.
fn operator_at_server(ctx: &Context) -> Result<Operator> {
    let session = ctx.operator_session("status")?;
    let path = routes::operator(&session.operator_id()?);
    session.client.signed(Method::Get, &path, &session.signer())
}
