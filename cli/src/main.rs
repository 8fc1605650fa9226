//! `auth4agent`: parse the flags once, run one command, print its report, exit with a documented code.

mod cli;
mod client;
mod clock;
mod commands;
mod duration;
mod error;
mod home;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::commands::Context;
use crate::error::Exit;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let out = Output::detect(cli.json);
    let exit = match home::resolve(
        cli.home,
        std::env::var_os("AUTH4AGENT_HOME"),
        std::env::var_os("HOME"),
    )
    .and_then(|root| Ok((root.clone(), with_profile(root, cli.profile)?)))
    {
        Err(err) => out.error(&err),
        Ok((root, _)) if matches!(cli.command, cli::Command::Profiles(_)) => {
            match commands::profiles::list(&root) {
                Ok(report) => out.report(report),
                Err(err) => out.error(&err),
            }
        }
        Ok((_, root)) => {
            let ctx = Context {
                home: home::Home::new(root),
                server_flag: cli.server,
                issuer_flag: cli.issuer,
                out,
            };
            match commands::run(&ctx, cli.command) {
                Ok(report) => out.report(report),
                Err(err) => out.error(&err),
            }
        }
    };
    ExitCode::from(exit as u8)
}

/// The profile's home under the home root: `--profile`, else a non-empty `$AUTH4AGENT_PROFILE` (validated as
/// the flag is).
fn with_profile(
    root: std::path::PathBuf,
    flag: Option<String>,
) -> error::Result<std::path::PathBuf> {
    let name = match flag {
        Some(name) => name,
        None => match std::env::var("AUTH4AGENT_PROFILE") {
            Ok(name) if !name.is_empty() => cli::parse_profile(&name).map_err(|e| {
                error::CliError::usage("invalid_profile", format!("AUTH4AGENT_PROFILE: {e}"))
            })?,
            _ => return Ok(root),
        },
    };
    Ok(root.join("profiles").join(name))
}

/// clap's own output for help and version; for usage errors also, with `--json`, one error document on stdout.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) || err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        let _ = err.print();
        return ExitCode::from(if err.use_stderr() {
            Exit::Usage as u8
        } else {
            0
        });
    }
    if std::env::args_os().any(|arg| arg == "--json") {
        let message = err.render().to_string();
        let first = message
            .lines()
            .next()
            .unwrap_or("usage error")
            .trim_start_matches("error: ");
        let doc = serde_json::json!({ "error": "usage_error", "message": first });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("JSON serializes")
        );
    }
    let _ = err.print();
    ExitCode::from(Exit::Usage as u8)
}
