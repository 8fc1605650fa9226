//! `whoami`, `health`, `set-server`, `jwks`: the home's identities, the server's liveness, the saved server URL, and
//! the cached key set.

use auth4agent_api::health::{Health, Ready};
use auth4agent_api::routes;
use auth4agent_protocol::{Jwks, KeySet};
use serde_json::{Value, json};

use super::Context;
use crate::client::Client;
use crate::error::{CliError, Result};
use crate::home::Role;
use crate::output::Report;

pub fn whoami(ctx: &Context) -> Result<Report> {
    let operator = ctx.home.try_operator()?;
    let agent = ctx.home.try_agent()?;
    if operator.is_none() && agent.is_none() {
        return Err(CliError::home(
            "no_identity",
            format!("'{}' holds no identity", ctx.home.root().display()),
        )
        .with_hint("create one with `auth4agent init --operator ...` or `auth4agent init ...`, or pass --home DIR"));
    }
    let mut lines = vec![format!("home: {}", ctx.home.root().display())];
    if let Some(op) = &operator {
        lines.push(format!(
            "operator: {} ({}), server {}, key {}",
            op.id.as_deref().unwrap_or("not registered"),
            op.domain,
            op.server,
            op.thumbprint
        ));
    }
    if let Some(agent) = &agent {
        lines.push(format!(
            "agent: {}{}, server {}, key {}",
            agent.did,
            agent
                .operator_id
                .as_deref()
                .map(|id| format!(" (operator {id})"))
                .unwrap_or_default(),
            agent.server,
            agent.thumbprint
        ));
    }
    let doc = json!({
        "home": ctx.home.root().display().to_string(),
        "operator": operator,
        "agent": agent,
    });
    Ok(Report::new(doc, lines.join("\n")))
}

pub fn health(ctx: &Context) -> Result<Report> {
    let server = ctx.server(ctx.home.saved_server()?.as_deref())?;
    let client = Client::new(&server)?;
    let health: Health = client.get(routes::HEALTH)?;
    let ready = client.get::<Ready>(routes::READY);
    let mut doc = json!({
        "server": server,
        "status": health.status,
        "timestamp": health.timestamp,
        "ready": ready.is_ok(),
    });
    let mut report = Report::new(doc.clone(), format!("{server}: {}, ready", health.status));
    if let Err(err) = ready {
        doc["error"] = Value::String(err.code.clone());
        report = Report::new(doc, format!("{server}: {}, NOT ready", health.status));
        report.failure = Some(err);
    }
    Ok(report)
}

pub fn set_server(ctx: &Context, url: &str) -> Result<Report> {
    let mut updated = Vec::new();
    if let Some(mut op) = ctx.home.try_operator()? {
        op.server = url.to_string();
        op.issuer = ctx.issuer_flag.clone();
        ctx.home.save_operator(&op)?;
        updated.push(format!("{}.json", Role::Operator.name()));
    }
    if let Some(mut agent) = ctx.home.try_agent()? {
        agent.server = url.to_string();
        agent.issuer = ctx.issuer_flag.clone();
        ctx.home.save_agent(&agent)?;
        updated.push(format!("{}.json", Role::Agent.name()));
    }
    if updated.is_empty() {
        return Err(CliError::home(
            "no_identity",
            format!(
                "'{}' holds no identity to save a server into",
                ctx.home.root().display()
            ),
        )
        .with_hint("create an identity with `auth4agent init`, or pass --home DIR"));
    }
    // The cached keys belong to the old server; the next verify or issue fetches the new server's.
    let jwks = ctx.home.jwks_path();
    let jwks_removed = match std::fs::remove_file(&jwks) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(CliError::io("remove", &jwks, &e)),
    };
    let mut human = format!("server set to {url} in {}", updated.join(" and "));
    if jwks_removed {
        human.push_str("\nthe cached JWKS of the old server was removed");
    }
    Ok(Report::new(
        json!({ "server": url, "updated": updated, "jwks_cache_removed": jwks_removed }),
        human,
    ))
}

pub fn jwks(ctx: &Context) -> Result<Report> {
    let server = ctx.server(ctx.home.saved_server()?.as_deref())?;
    let client = Client::new(&server)?;
    let text = super::issue::refresh_jwks(&client, &ctx.home)?;
    let doc: Jwks = serde_json::from_str(&text).map_err(|e| {
        CliError::network(
            "invalid_jwks",
            format!("{}{} is not a JWKS: {e}", client.base(), routes::JWKS),
        )
    })?;
    let keys = KeySet::from_json(&text).map(|set| set.len()).unwrap_or(0);
    let kids: Vec<&str> = doc.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
    let human = format!(
        "{keys} signing key(s) cached in {}\n{}",
        ctx.home.jwks_path().display(),
        kids.join("\n")
    );
    Ok(Report::body(&doc, human))
}
