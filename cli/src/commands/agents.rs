//! `agents list`: the operator's agents, a page at a time (or every page with `--all`), signed by the
//! operator key.

use auth4agent_api::AgentList;
use auth4agent_api::routes;

use super::{Context, Page};
use crate::cli::{AgentsCommand, PageArgs};
use crate::error::Result;
use crate::output::{Report, terminal_safe};

pub fn run(ctx: &Context, cmd: AgentsCommand) -> Result<Report> {
    match cmd {
        AgentsCommand::List(args) => list(ctx, &args),
    }
}

impl Page for AgentList {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }

    fn extend(&mut self, next: AgentList) {
        self.agents.extend(next.agents);
        self.next_cursor = next.next_cursor;
    }
}

fn list(ctx: &Context, args: &PageArgs) -> Result<Report> {
    if ctx.home.try_operator()?.is_none() {
        return Err(ctx.no_operator("agents list"));
    }
    let session = ctx.operator_session("agents list")?;
    let listed: AgentList =
        session.pages(&routes::operator_agents(&session.operator_id()?), args)?;
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
