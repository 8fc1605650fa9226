//! `profiles`: the homes under a home root (the default one and each `profiles/NAME/`) with their identities.

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::home::Home;
use crate::output::Report;

pub fn list(root: &Path) -> Result<Report> {
    let mut homes: Vec<(Option<String>, Home)> = vec![(None, Home::new(root.to_path_buf()))];
    let dir = root.join("profiles");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| crate::cli::parse_profile(n).is_ok())
            .collect();
        names.sort();
        for name in names {
            homes.push((Some(name.clone()), Home::new(dir.join(name))));
        }
    }
    let mut docs = Vec::new();
    let mut lines = Vec::new();
    for (name, home) in homes {
        let operator = home.try_operator()?;
        let agent = home.try_agent()?;
        if name.is_none() && operator.is_none() && agent.is_none() {
            continue;
        }
        let label = name.clone().unwrap_or_else(|| "(default)".into());
        let mut line = label;
        if let Some(op) = &operator {
            line.push_str(&format!(
                "  operator {} ({}), server {}",
                op.id.as_deref().unwrap_or("not registered"),
                op.domain,
                op.server
            ));
        }
        if let Some(agent) = &agent {
            line.push_str(&format!("  agent {}, server {}", agent.did, agent.server));
        }
        if operator.is_none() && agent.is_none() {
            line.push_str("  (no identity)");
        }
        lines.push(line);
        docs.push(json!({
            "profile": name,
            "home": home.root().display().to_string(),
            "operator": operator,
            "agent": agent,
        }));
    }
    if docs.is_empty() && !root.exists() {
        return Err(CliError::home(
            "no_identity",
            format!("'{}' holds no identity or profile", root.display()),
        ));
    }
    Ok(Report::new(Value::Array(docs), lines.join("\n")))
}
