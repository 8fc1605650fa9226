//! What a command prints: one JSON document on stdout with `--json`, concise human text otherwise; errors on stderr
//! (colored only on a terminal and when `NO_COLOR` is unset).

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::Value;

use crate::error::{CliError, Exit};

/// The result of a command that ran to completion (it may still report a failure, e.g. an invalid token).
pub struct Report {
    /// The `--json` document.
    pub json: Value,
    /// Human text for stdout (may be empty).
    pub human: String,
    /// Human-only remarks for stderr (e.g. details next to a token printed on stdout).
    pub notes: Vec<String>,
    /// Set when the command's answer is "no" (exit non-zero) but it still printed its document.
    pub failure: Option<CliError>,
}

impl Report {
    pub fn new(json: Value, human: impl Into<String>) -> Report {
        Report {
            json,
            human: human.into(),
            notes: Vec::new(),
            failure: None,
        }
    }

    /// A report whose `--json` document is a server answer (an `auth4agent_api` type) as received.
    pub fn body(body: &impl Serialize, human: impl Into<String>) -> Report {
        Report::new(to_json(body), human)
    }

    pub fn note(mut self, note: impl Into<String>) -> Report {
        self.notes.push(note.into());
        self
    }
}

/// A wire type as a JSON document (members sorted, as every document the CLI prints).
pub fn to_json(body: &impl Serialize) -> Value {
    serde_json::to_value(body).expect("wire types serialize to JSON")
}

/// Output settings, fixed once from the flags and the environment.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
    pub color: bool,
    pub stderr_is_tty: bool,
}

impl Output {
    pub fn detect(json: bool) -> Output {
        let stderr_is_tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            json,
            color: stderr_is_tty && !no_color,
            stderr_is_tty,
        }
    }

    /// Prints the report and returns the exit code.
    pub fn report(&self, report: Report) -> Exit {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&report.json).expect("JSON serializes")
            );
        } else {
            if !report.human.is_empty() {
                let text = terminal_safe(report.human.trim_end_matches('\n'));
                let _ = writeln!(stdout, "{text}");
            }
            for note in &report.notes {
                eprintln!("{}", terminal_safe(note));
            }
        }
        let _ = stdout.flush();
        match report.failure {
            Some(err) => {
                self.error_line(&err);
                err.exit
            }
            None => Exit::Ok,
        }
    }

    /// Prints an error: one line on stderr; with `--json`, also the `{error, message, hint}` document on stdout so
    /// that stdout always holds exactly one JSON document.
    pub fn error(&self, err: &CliError) -> Exit {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&err.to_json()).expect("JSON serializes")
            );
        }
        self.error_line(err);
        err.exit
    }

    fn error_line(&self, err: &CliError) {
        eprintln!("{}", self.error_text(err));
    }

    /// The error line: our own prefix (colored on a terminal), then the error with every control
    /// character escaped, since its message may quote the server or a token.
    fn error_text(&self, err: &CliError) -> String {
        let prefix = if self.color {
            "\x1b[1;31merror:\x1b[0m"
        } else {
            "error:"
        };
        format!("{prefix} {}", terminal_safe(&err.to_string()))
    }

    /// Progress text on stderr, only when stderr is a terminal (never with `--json` or in a pipe).
    pub fn progress(&self, text: &str) {
        if self.stderr_is_tty {
            eprint!("\r\x1b[2K{text}");
            let _ = std::io::stderr().flush();
        }
    }

    pub fn progress_done(&self) {
        if self.stderr_is_tty {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }
}

/// `text` with every control character except newline and tab (C0, DEL, C1: ESC and OSC sequences,
/// bells, carriage returns) written as a visible `\u{..}` escape. Applied to everything printed for
/// people, because names, messages and claims come from the network or from a token; `--json`
/// output is escaped by the JSON encoder already.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod terminal_tests {
    use super::*;

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(
            terminal_safe("plain text\n\tindented"),
            "plain text\n\tindented"
        );
        assert_eq!(
            terminal_safe("a\x1b]0;owned\x07b\rc\u{9b}31m\x7f"),
            "a\\u{1b}]0;owned\\u{7}b\\u{d}c\\u{9b}31m\\u{7f}"
        );
    }

    #[test]
    fn server_messages_in_errors_cannot_drive_the_terminal() {
        let err = CliError::failure(
            "forbidden",
            "server refused (HTTP 403): \x1b[2J\x1b]8;;https://evil.example\x07click",
        );
        let plain = Output {
            json: false,
            color: false,
            stderr_is_tty: false,
        };
        let text = plain.error_text(&err);
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(
            text.starts_with("error: server refused (HTTP 403): \\u{1b}[2J"),
            "{text:?}"
        );
        let colored = Output {
            color: true,
            ..plain
        };
        let text = colored.error_text(&err);
        assert_eq!(
            text.matches('\x1b').count(),
            2,
            "only our own color codes: {text:?}"
        );
    }
}
