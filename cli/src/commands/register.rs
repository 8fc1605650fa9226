//! `register operator` / `register agent`: the server learns a public key, signed by that very key.

use reqwest::Method;
use serde_json::json;

use super::{Context, field};
use crate::cli::{RegisterAgentArgs, RegisterCommand};
use crate::error::{CliError, Result};
use crate::output::Report;

pub fn run(ctx: &Context, cmd: RegisterCommand) -> Result<Report> {
    match cmd {
        RegisterCommand::Operator => operator(ctx),
        RegisterCommand::Agent(args) => agent(ctx, &args),
    }
}

fn operator(ctx: &Context) -> Result<Report> {
    let mut session = ctx.operator_session("register operator")?;
    let body = json!({
        "domain": session.identity.domain,
        "public_key": session.key.public_key().to_jwk(),
    });
    let answer = session.client.signed(
        Method::POST,
        "/v1/operators",
        Some(&body),
        &session.signer(),
    )?;
    let id = field(&answer, "id").to_string();
    session.identity.id = Some(id.clone());
    ctx.home.save_operator(&session.identity)?;
    let human = format!(
        "Registered operator {id} for {} (status {})\nnext: auth4agent verify-operator instructions",
        field(&answer, "domain"),
        field(&answer, "status"),
    );
    Ok(Report::new(answer, human))
}

fn agent(ctx: &Context, args: &RegisterAgentArgs) -> Result<Report> {
    let operator_id = match &args.operator_id {
        Some(id) => id.clone(),
        None => ctx
            .home
            .try_operator()?
            .and_then(|op| op.id)
            .ok_or_else(|| {
                CliError::usage(
                    "missing_operator_id",
                    "which operator should approve this agent?",
                )
                .with_hint("pass --operator-id ID (printed by `auth4agent register operator`)")
            })?,
    };
    let mut session = ctx.agent_session()?;
    let body = json!({
        "operator_id": operator_id,
        "public_key": session.key.public_key().to_jwk(),
    });
    let answer =
        session
            .client
            .signed(Method::POST, "/v1/agents", Some(&body), &session.signer())?;
    session.identity.operator_id = Some(operator_id.clone());
    ctx.home.save_agent(&session.identity)?;
    let human = format!(
        "Registered agent {} with operator {operator_id} (status {})\nnext: the operator runs auth4agent agent-scopes set --did {} --scopes ...",
        field(&answer, "did"),
        field(&answer, "status"),
        field(&answer, "did"),
    );
    Ok(Report::new(answer, human))
}
