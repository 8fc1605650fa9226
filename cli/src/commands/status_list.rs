//! `status-list fetch`: saves a Token Status List (`statuslist+jwt`, draft-ietf-oauth-status-list-20) as the
//! server serves it, for `verify --status-list FILE` where the server cannot be reached.

use auth4agent_api::routes;
use serde_json::json;

use super::Context;
use crate::cli::{StatusListCommand, StatusListFetchArgs};
use crate::client::Client;
use crate::error::{CliError, Result};
use crate::output::Report;

pub fn run(ctx: &Context, command: StatusListCommand) -> Result<Report> {
    match command {
        StatusListCommand::Fetch(args) => fetch(ctx, &args),
    }
}

fn fetch(ctx: &Context, args: &StatusListFetchArgs) -> Result<Report> {
    let uri = match &args.uri {
        Some(uri) => uri.clone(),
        None => {
            let server = ctx.server(ctx.home.saved_server()?.as_deref())?;
            format!(
                "{}{}",
                server.trim_end_matches('/'),
                routes::status_list(args.list.unwrap_or(1))
            )
        }
    };
    let text = Client::new(&uri)?.get_text(&uri)?;
    let text = text.trim_end();
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .map_err(|e| CliError::io("write", path, &e))?;
            Ok(Report::new(
                json!({ "uri": uri, "saved": path.display().to_string(), "bytes": text.len() }),
                format!("saved the status list {uri} to {}", path.display()),
            ))
        }
        // The token alone on stdout (or inside the --json document).
        None => Ok(Report::new(
            json!({ "uri": uri, "status_list": text }),
            text.to_owned(),
        )),
    }
}
