//! `completions <shell>` and the hidden `man`: generated from the clap definitions.

use clap::CommandFactory;
use serde_json::json;

use crate::cli::Cli;
use crate::error::{CliError, Result};
use crate::output::Report;

pub fn completions(shell: clap_complete::Shell) -> Result<Report> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "auth4agent", &mut buf);
    let script = String::from_utf8(buf).expect("completion scripts are UTF-8");
    Ok(Report::new(
        json!({ "shell": shell.to_string(), "script": script }),
        script,
    ))
}

pub fn man() -> Result<Report> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .map_err(|e| {
            CliError::failure("man_page_error", format!("cannot render the man page: {e}"))
        })?;
    let page = String::from_utf8(buf).expect("roff is UTF-8");
    Ok(Report::new(json!({ "man": page }), page))
}
