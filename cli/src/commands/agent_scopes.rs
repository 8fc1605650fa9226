//! `agent-scopes set | list`: the operator decides what an agent may request (deny by default).

use reqwest::Method;
use serde_json::{Value, json};

use super::{Context, did_or_home, field};
use crate::cli::{AgentScopesCommand, DidArg, ScopesSetArgs};
use crate::error::Result;
use crate::output::Report;

pub fn run(ctx: &Context, cmd: AgentScopesCommand) -> Result<Report> {
    match cmd {
        AgentScopesCommand::Set(args) => set(ctx, &args),
        AgentScopesCommand::List(args) => list(ctx, &args),
    }
}

fn set(ctx: &Context, args: &ScopesSetArgs) -> Result<Report> {
    // Refuse before anything else: only the operator key may sign this.
    if ctx.home.try_operator()?.is_none() {
        return Err(ctx.no_operator("agent-scopes set"));
    }
    let did = did_or_home(ctx, args.did.as_deref())?;
    let session = ctx.operator_session("agent-scopes set")?;
    let body = json!({ "allowed_scopes": args.scopes.0 });
    let answer = session.client.signed(
        Method::PUT,
        &format!("/v1/agents/{did}/scopes"),
        Some(&body),
        &session.signer(),
    )?;
    let human = describe(&answer);
    Ok(Report::new(answer, human))
}

fn list(ctx: &Context, args: &DidArg) -> Result<Report> {
    let did = did_or_home(ctx, args.did.as_deref())?;
    let path = format!("/v1/agents/{did}");
    // The agent may read itself; anyone else needs the operator key.
    let answer = match ctx.home.try_agent()? {
        Some(agent) if agent.did == did => {
            let session = ctx.agent_session()?;
            session
                .client
                .signed(Method::GET, &path, None, &session.signer())?
        }
        _ => {
            if ctx.home.try_operator()?.is_none() {
                return Err(ctx.no_operator("agent-scopes list --did"));
            }
            let session = ctx.operator_session("agent-scopes list")?;
            session
                .client
                .signed(Method::GET, &path, None, &session.signer())?
        }
    };
    let human = describe(&answer);
    Ok(Report::new(answer, human))
}

fn describe(agent: &Value) -> String {
    let scopes: Vec<&str> = agent
        .get("allowed_scopes")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let scopes = if scopes.is_empty() {
        "(none)".to_string()
    } else {
        scopes.join(" ")
    };
    format!(
        "agent {} ({})\nallowed scopes: {scopes}",
        field(agent, "did"),
        field(agent, "status")
    )
}
