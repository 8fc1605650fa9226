//! `agent-scopes set | list`: the operator decides what an agent may request (deny by default), and what it
//! may get only after the operator approves each request (approval scopes).

use auth4agent_api::agents::{Agent, SetScopes};
use auth4agent_api::routes::{self, Method};

use super::{Context, did_or_home};
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
    let body = SetScopes {
        allowed_scopes: args.scopes.0.clone(),
        approval_scopes: args.approval_scopes.as_ref().map(|s| s.0.clone()),
    };
    let answer: Agent = session.client.signed_json(
        Method::Put,
        &routes::agent_scopes(&did),
        &body,
        &session.signer(),
    )?;
    Ok(Report::body(&answer, describe(&answer)))
}

fn list(ctx: &Context, args: &DidArg) -> Result<Report> {
    let did = did_or_home(ctx, args.did.as_deref())?;
    let path = routes::agent(&did);
    // The agent may read itself; anyone else needs the operator key.
    let answer: Agent = match ctx.home.try_agent()? {
        Some(agent) if agent.did == did => {
            let session = ctx.agent_session()?;
            session
                .client
                .signed(Method::Get, &path, &session.signer())?
        }
        _ => {
            if ctx.home.try_operator()?.is_none() {
                return Err(ctx.no_operator("agent-scopes list --did"));
            }
            let session = ctx.operator_session("agent-scopes list")?;
            session
                .client
                .signed(Method::Get, &path, &session.signer())?
        }
    };
    Ok(Report::body(&answer, describe(&answer)))
}

fn describe(agent: &Agent) -> String {
    let list = |scopes: &[String]| {
        if scopes.is_empty() {
            "(none)".to_string()
        } else {
            scopes.join(" ")
        }
    };
    format!(
        "agent {} ({})\nallowed scopes: {}\napproval scopes: {}",
        agent.did,
        agent.status,
        list(&agent.allowed_scopes),
        list(&agent.approval_scopes)
    )
}
