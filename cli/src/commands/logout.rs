//! `logout [--revoke]`: removes a home's identities, keys and cached tokens; with `--revoke`, the agent is
//! revoked at the server first, and nothing is removed if that fails.

use auth4agent_api::agents::Agent;
use auth4agent_api::routes::{self, Method};
use serde_json::json;

use super::Context;
use crate::error::{CliError, Result};
use crate::home::Role;
use crate::output::Report;

pub fn run(ctx: &Context, revoke: bool) -> Result<Report> {
    let home = &ctx.home;
    if !home.has_identity(Role::Operator) && !home.has_identity(Role::Agent) {
        return Err(CliError::home(
            "no_identity",
            format!("'{}' holds no identity", home.root().display()),
        )
        .with_hint("pass --home DIR or --profile NAME"));
    }
    let mut revoked = None;
    if revoke {
        let agent = home.agent()?;
        if home.try_operator()?.is_none() {
            return Err(ctx.no_operator("logout --revoke"));
        }
        let session = ctx.operator_session("logout --revoke")?;
        let answer: Agent = session.client.signed(
            Method::Post,
            &routes::agent_revoke(&agent.did),
            &session.signer(),
        )?;
        revoked = Some(answer.did);
    }
    let mut removed = Vec::new();
    let paths = [
        home.identity_path(Role::Agent),
        home.key_path(Role::Agent),
        home.identity_path(Role::Operator),
        home.key_path(Role::Operator),
        home.tokens_path(),
        home.jwks_path(),
        home.jwks_cache_path(),
    ];
    for path in paths {
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::io("remove", &path, &e)),
        }
    }
    let mut human = String::new();
    if let Some(did) = &revoked {
        human.push_str(&format!("revoked agent {did}\n"));
    }
    human.push_str(&format!("removed {}", removed.join(", ")));
    Ok(Report::new(
        json!({ "revoked": revoked, "removed": removed }),
        human,
    ))
}
