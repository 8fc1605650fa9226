//! `register operator` / `register agent`: the server learns a public key, signed by that very key.

use auth4agent_api::agents::{Agent, RegisterAgent};
use auth4agent_api::operators::{Operator, RegisterOperator};
use auth4agent_api::routes::{self, Method};

use super::Context;
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
    let body = RegisterOperator {
        domain: session.identity.domain.clone(),
        public_key: session.key.public_key().to_jwk(),
    };
    let answer: Operator =
        session
            .client
            .signed_json(Method::Post, routes::OPERATORS, &body, &session.signer())?;
    session.identity.id = Some(answer.id.clone());
    ctx.home.save_operator(&session.identity)?;
    let human = format!(
        "Registered operator {} for {} (status {})\nnext: auth4agent verify-operator instructions",
        answer.id, answer.domain, answer.status,
    );
    Ok(Report::body(&answer, human))
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
    let body = RegisterAgent {
        domain: None,
        name: None,
        operator_id: Some(operator_id.clone()),
        public_key: session.key.public_key().to_jwk(),
        requested_scopes: None,
    };
    let answer: Agent =
        session
            .client
            .signed_json(Method::Post, routes::AGENTS, &body, &session.signer())?;
    session.identity.operator_id = Some(operator_id.clone());
    ctx.home.save_agent(&session.identity)?;
    let human = format!(
        "Registered agent {} with operator {operator_id} (status {})\nnext: the operator runs auth4agent agent-scopes set --did {} --scopes ...",
        answer.did, answer.status, answer.did,
    );
    Ok(Report::body(&answer, human))
}
