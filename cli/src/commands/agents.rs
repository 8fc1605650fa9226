//! `agents list`: the operator's agents, a page at a time (or every page with `--all`), signed by the
//! operator key.

use auth4agent_api::AgentList;
use auth4agent_api::routes::{self, Method};

use super::Context;
use crate::cli::{AgentsCommand, AgentsListArgs};
use crate::error::Result;
use crate::output::{Report, terminal_safe};

pub fn run(ctx: &Context, cmd: AgentsCommand) -> Result<Report> {
    match cmd {
        AgentsCommand::List(args) => list(ctx, &args),
    }
}

fn list(ctx: &Context, args: &AgentsListArgs) -> Result<Report> {
    if ctx.home.try_operator()?.is_none() {
        return Err(ctx.no_operator("agents list"));
    }
    let session = ctx.operator_session("agents list")?;
    let base = routes::operator_agents(&session.operator_id()?);
    let mut cursor = args.cursor.clone();
    let mut listed = AgentList::default();
    loop {
        let mut query = Vec::new();
        if let Some(limit) = args.limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(cursor) = &cursor {
            query.push(format!("cursor={cursor}"));
        }
        let path = if query.is_empty() {
            base.clone()
        } else {
            format!("{base}?{}", query.join("&"))
        };
        let page: AgentList = session
            .client
            .signed(Method::Get, &path, &session.signer())?;
        listed.agents.extend(page.agents);
        listed.next_cursor = page.next_cursor;
        match (&listed.next_cursor, args.all) {
            (Some(next), true) => cursor = Some(next.clone()),
            _ => break,
        }
    }
    let mut human: Vec<String> = listed
        .agents
        .iter()
        .map(|a| {
            let scopes = if a.allowed_scopes.is_empty() {
                "-".to_owned()
            } else {
                a.allowed_scopes.join(",")
            };
            format!("{}  {}  {scopes}", a.did, a.status)
        })
        .collect();
    if listed.agents.is_empty() {
        human.push("no agents".to_owned());
    }
    if let Some(next) = &listed.next_cursor {
        human.push(format!(
            "more: auth4agent agents list --cursor {}",
            terminal_safe(next)
        ));
    }
    Ok(Report::body(&listed, human.join("\n")))
}
