//! The CLI's one error type: what went wrong, a stable code, what to do next, and the exit code it maps to.

use std::fmt;

/// Exit codes, documented in `--help` (see [`crate::cli::EXIT_CODES_HELP`]) and in `cli/README.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: the operation failed or was refused (server refusal, invalid token, domain not verified).
    Failure = 1,
    /// 2: usage error (bad flags or arguments).
    Usage = 2,
    /// 3: the server could not be reached or did not answer like an auth4agent server.
    Network = 3,
    /// 4: a local problem with the home directory, an identity or a key file.
    Home = 4,
}

/// A failure reported to the user: one line on stderr, `error: <message> (<code>); hint: <hint>`.
#[derive(Debug, Clone)]
pub struct CliError {
    pub exit: Exit,
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T> = std::result::Result<T, CliError>;

impl CliError {
    pub fn new(exit: Exit, code: impl Into<String>, message: impl Into<String>) -> CliError {
        CliError {
            exit,
            code: code.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn failure(code: impl Into<String>, message: impl Into<String>) -> CliError {
        CliError::new(Exit::Failure, code, message)
    }

    pub fn usage(code: impl Into<String>, message: impl Into<String>) -> CliError {
        CliError::new(Exit::Usage, code, message)
    }

    pub fn network(code: impl Into<String>, message: impl Into<String>) -> CliError {
        CliError::new(Exit::Network, code, message)
    }

    pub fn home(code: impl Into<String>, message: impl Into<String>) -> CliError {
        CliError::new(Exit::Home, code, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O failure on a path in the home directory.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> CliError {
        CliError::home(
            "home_io_error",
            format!("cannot {action} '{}': {err}", path.display()),
        )
        .with_hint(
            "check that the home directory exists and is yours (see --home / AUTH4AGENT_HOME)",
        )
    }

    /// A refusal from the protocol library (local validation, token verification).
    pub fn protocol(err: &auth4agent_protocol::Error) -> CliError {
        CliError::failure(err.code(), err.to_string())
    }

    /// The JSON document printed on stdout for this error in `--json` mode.
    pub fn to_json(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({ "error": self.code, "message": self.message });
        if let Some(hint) = &self.hint {
            doc["hint"] = serde_json::Value::String(hint.clone());
        }
        doc
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}
