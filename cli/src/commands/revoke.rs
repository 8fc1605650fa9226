//! `revoke token | agent | suspend | reactivate | list`: operator-signed, except that an agent may revoke its own token.

use auth4agent_api::agents::Agent;
use auth4agent_api::operators::Revocations;
use auth4agent_api::routes::{self, Method};
use auth4agent_api::tokens::{RevokeRequest, RevokeResponse};
use auth4agent_protocol::{UnverifiedJws, typ};
use serde_json::Value;

use super::{Context, Page, parse_did, read_token};
use crate::cli::{PageArgs, RevokeCommand};
use crate::error::{CliError, Result};
use crate::output::{Report, terminal_safe};

pub fn run(ctx: &Context, cmd: RevokeCommand) -> Result<Report> {
    match cmd {
        RevokeCommand::Token(args) => token(ctx, &args.token),
        RevokeCommand::Agent(args) => agent_action(ctx, &args.did, AgentAction::Revoke),
        RevokeCommand::Suspend(args) => agent_action(ctx, &args.did, AgentAction::Suspend),
        RevokeCommand::Reactivate(args) => agent_action(ctx, &args.did, AgentAction::Reactivate),
        RevokeCommand::List(args) => list(ctx, &args),
    }
}

fn token(ctx: &Context, arg: &str) -> Result<Report> {
    let token = read_token(arg)?;
    // Only to choose the signing key; the server verifies the token itself.
    let unverified = UnverifiedJws::decode(&token, typ::ACCESS_TOKEN).map_err(|e| {
        CliError::usage(e.code(), format!("this is not an access token: {e}"))
            .with_hint("pass the token printed by `auth4agent issue`")
    })?;
    let sub = unverified
        .claims()
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let body = RevokeRequest {
        token: token.clone(),
    };
    let own_token = ctx.home.try_agent()?.is_some_and(|agent| agent.did == sub);
    let answer: RevokeResponse = if own_token {
        let session = ctx.agent_session()?;
        session
            .client
            .signed_json(Method::Post, routes::REVOKE, &body, &session.signer())?
    } else {
        if ctx.home.try_operator()?.is_none() {
            return Err(ctx.no_operator("revoke token").with_hint(
                "an agent may revoke only its own tokens; run this in the home of the token's agent or of its operator",
            ));
        }
        let session = ctx.operator_session("revoke token")?;
        session
            .client
            .signed_json(Method::Post, routes::REVOKE, &body, &session.signer())?
    };
    let human = format!("revoked token {} of {sub}", answer.jti);
    Ok(Report::body(&answer, human))
}

/// An operator-signed change of an agent's status.
#[derive(Clone, Copy)]
enum AgentAction {
    Revoke,
    Suspend,
    Reactivate,
}

fn agent_action(ctx: &Context, did: &str, action: AgentAction) -> Result<Report> {
    let did = parse_did(did)?;
    let (command, path) = match action {
        AgentAction::Revoke => ("revoke agent", routes::agent_revoke(did.as_str())),
        AgentAction::Suspend => ("revoke suspend", routes::agent_suspend(did.as_str())),
        AgentAction::Reactivate => ("revoke reactivate", routes::agent_reactivate(did.as_str())),
    };
    if ctx.home.try_operator()?.is_none() {
        return Err(ctx.no_operator(command));
    }
    let session = ctx.operator_session(command)?;
    let answer: Agent = session
        .client
        .signed(Method::Post, &path, &session.signer())?;
    let human = format!("agent {} is now {}", answer.did, answer.status);
    Ok(Report::body(&answer, human))
}

impl Page for Revocations {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }

    fn extend(&mut self, next: Revocations) {
        self.tokens.extend(next.tokens);
        self.agents.extend(next.agents);
        self.next_cursor = next.next_cursor;
    }
}

fn list(ctx: &Context, args: &PageArgs) -> Result<Report> {
    if ctx.home.try_operator()?.is_none() {
        return Err(ctx.no_operator("revoke list"));
    }
    let session = ctx.operator_session("revoke list")?;
    let answer: Revocations =
        session.pages(&routes::operator_revocations(&session.operator_id()?), args)?;
    let now = crate::clock::now();
    let at = |t: u64| crate::duration::format_instant(t, now);
    let mut lines = Vec::new();
    for agent in &answer.agents {
        lines.push(format!(
            "agent {} revoked {}",
            agent.did,
            at(agent.revoked_at)
        ));
    }
    for token in &answer.tokens {
        lines.push(format!(
            "token {} of {} revoked {} (expires {})",
            token.jti,
            token.did,
            at(token.revoked_at),
            at(token.expires_at)
        ));
    }
    if lines.is_empty() {
        lines.push("no revocations".into());
    }
    if let Some(next) = &answer.next_cursor {
        lines.push(format!(
            "more: auth4agent revoke list --cursor {}",
            terminal_safe(next)
        ));
    }
    Ok(Report::body(&answer, lines.join("\n")))
}
