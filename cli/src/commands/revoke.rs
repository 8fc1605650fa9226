//! `revoke token | agent | suspend | reactivate | list`: operator-signed, except that an agent may revoke its own token.

use auth4agent_protocol::{UnverifiedJws, typ};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Context, field, parse_did, read_token};
use crate::cli::RevokeCommand;
use crate::error::{CliError, Result};
use crate::output::Report;

pub fn run(ctx: &Context, cmd: RevokeCommand) -> Result<Report> {
    match cmd {
        RevokeCommand::Token(args) => token(ctx, &args.token),
        RevokeCommand::Agent(args) => agent_action(ctx, &args.did, "revoke"),
        RevokeCommand::Suspend(args) => agent_action(ctx, &args.did, "suspend"),
        RevokeCommand::Reactivate(args) => agent_action(ctx, &args.did, "reactivate"),
        RevokeCommand::List => list(ctx),
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
    let body = json!({ "token": token });
    let own_token = ctx.home.try_agent()?.is_some_and(|agent| agent.did == sub);
    let answer = if own_token {
        let session = ctx.agent_session()?;
        session
            .client
            .signed(Method::POST, "/v1/revoke", Some(&body), &session.signer())?
    } else {
        if ctx.home.try_operator()?.is_none() {
            return Err(ctx.no_operator("revoke token").with_hint(
                "an agent may revoke only its own tokens; run this in the home of the token's agent or of its operator",
            ));
        }
        let session = ctx.operator_session("revoke token")?;
        session
            .client
            .signed(Method::POST, "/v1/revoke", Some(&body), &session.signer())?
    };
    let human = format!("revoked token {} of {sub}", field(&answer, "jti"));
    Ok(Report::new(answer, human))
}

fn agent_action(ctx: &Context, did: &str, action: &str) -> Result<Report> {
    let did = parse_did(did)?;
    let command = match action {
        "revoke" => "revoke agent".to_string(),
        other => format!("revoke {other}"),
    };
    if ctx.home.try_operator()?.is_none() {
        return Err(ctx.no_operator(&command));
    }
    let session = ctx.operator_session(&command)?;
    let answer = session.client.signed(
        Method::POST,
        &format!("/v1/agents/{did}/{action}"),
        None,
        &session.signer(),
    )?;
    let human = format!(
        "agent {} is now {}",
        field(&answer, "did"),
        field(&answer, "status")
    );
    Ok(Report::new(answer, human))
}

fn list(ctx: &Context) -> Result<Report> {
    if ctx.home.try_operator()?.is_none() {
        return Err(ctx.no_operator("revoke list"));
    }
    let session = ctx.operator_session("revoke list")?;
    let path = format!("/v1/operators/{}/revocations", session.operator_id()?);
    let answer = session
        .client
        .signed(Method::GET, &path, None, &session.signer())?;
    let mut lines = Vec::new();
    for agent in answer
        .get("agents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        lines.push(format!(
            "agent {} revoked at {}",
            field(agent, "did"),
            agent["revoked_at"]
        ));
    }
    for token in answer
        .get("tokens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        lines.push(format!(
            "token {} of {} revoked at {} (expires {})",
            field(token, "jti"),
            field(token, "did"),
            token["revoked_at"],
            token["expires_at"]
        ));
    }
    if lines.is_empty() {
        lines.push("no revocations".into());
    }
    Ok(Report::new(answer, lines.join("\n")))
}
