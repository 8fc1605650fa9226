//! `console`: asks the server, in a request signed by the operator key, for a one-time login link to the browser
//! operator console (single use, valid 60 s), prints it (stdout) with a QR code (stderr, for a phone), and opens
//! it in a browser when one is at hand (`$BROWSER`, or `xdg-open` with a display, or macOS `open`); never fails
//! for want of one.

use std::process::{Command, Stdio};

use auth4agent_api::ConsoleLink;
use auth4agent_api::routes::{self, Method};

use super::Context;
use super::issue::qr_code;
use crate::cli::ConsoleArgs;
use crate::error::Result;
use crate::output::{Report, terminal_safe};

pub fn run(ctx: &Context, args: &ConsoleArgs) -> Result<Report> {
    let session = ctx.operator_session("console")?;
    let path = routes::for_operator(routes::OPERATOR_CONSOLE_LINK, &session.operator_id()?);
    let link: ConsoleLink = session
        .client
        .signed(Method::Post, &path, &session.signer())?;
    if let Some(qr) = qr_code(&link.login_url) {
        eprintln!("{qr}");
    }
    let opened = !args.no_open && open_browser(&link.login_url);
    let human = format!(
        "{}\nthe link signs in once, within {} s{}",
        terminal_safe(&link.login_url),
        link.expires_in,
        if opened {
            "; opened in your browser"
        } else {
            ""
        }
    );
    Ok(Report::body(&link, human))
}

/// Starts a browser on `url` if one is at hand; whether one was started.
fn open_browser(url: &str) -> bool {
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(list) if !list.trim().is_empty() => list.split(':').map(str::to_owned).collect(),
        _ if cfg!(target_os = "macos") => vec!["open".to_owned()],
        _ if std::env::var_os("DISPLAY").is_some()
            || std::env::var_os("WAYLAND_DISPLAY").is_some() =>
        {
            vec!["xdg-open".to_owned()]
        }
        _ => Vec::new(),
    };
    candidates.iter().any(|program| {
        Command::new(program)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .is_ok()
    })
}
