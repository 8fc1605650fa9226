//! `issue`: challenge → proof of possession (signed by the agent key) → access token; then refreshes the JWKS cache.

use auth4agent_protocol::{KeySet, ProofClaims, sign_proof};
use serde_json::{Value, json};

use super::{Context, field};
use crate::cli::IssueArgs;
use crate::client::{Client, JWKS_PATH};
use crate::clock;
use crate::error::{CliError, Result};
use crate::home::Home;
use crate::output::Report;

/// Lifetime of the proof itself (the contract allows at most 60 s).
const PROOF_LIFETIME: u64 = 60;

pub fn run(ctx: &Context, args: &IssueArgs) -> Result<Report> {
    let session = ctx.agent_session()?;
    let did = session.identity.did.clone();
    let challenge = session
        .client
        .post("/v1/challenge", &json!({ "did": did }))?;
    let challenge_id = required(&challenge, "challenge_id")?;
    let nonce = required(&challenge, "nonce")?;
    let now = clock::now();
    let claims = ProofClaims {
        iss: did.clone(),
        sub: did.clone(),
        aud: session.issuer.clone(),
        challenge_id,
        nonce,
        scope: args.scope.to_scope_string(),
        token_aud: args.aud.clone(),
        ttl: args.ttl.unwrap_or(0),
        iat: now,
        exp: now + PROOF_LIFETIME,
    };
    let proof = sign_proof(&session.key, &claims).map_err(|e| CliError::protocol(&e))?;
    let mut answer = session
        .client
        .post("/v1/token", &json!({ "proof": proof }))?;
    let token = required(&answer, "token")?;

    let mut report_notes = Vec::new();
    if let Err(err) = refresh_jwks(&session.client, &ctx.home) {
        report_notes.push(format!("warning: could not refresh the cached JWKS: {err}"));
    }
    if let Some(obj) = answer.as_object_mut() {
        obj.entry("did").or_insert(Value::String(did.clone()));
    }
    let expires_at = answer
        .get("expires_at")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut report = Report::new(answer.clone(), token).note(format!(
        "issued a token for {did}: scope \"{}\", aud \"{}\", expires at {expires_at} (in {}s)",
        field(&answer, "scope"),
        field(&answer, "aud"),
        expires_at.saturating_sub(now),
    ));
    report.notes.extend(report_notes);
    Ok(report)
}

/// Downloads the server's JWKS, checks it parses as a key set, and caches it in the home.
pub fn refresh_jwks(client: &Client, home: &Home) -> Result<String> {
    let text = client.get_text(JWKS_PATH)?;
    KeySet::from_json(&text).map_err(|e| {
        CliError::network(
            "invalid_jwks",
            format!("{}{JWKS_PATH} is not a usable JWKS: {e}", client.base()),
        )
    })?;
    home.save_jwks(&text)?;
    Ok(text)
}

fn required(doc: &Value, name: &str) -> Result<String> {
    doc.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            CliError::network(
                "unexpected_response",
                format!("the server's answer has no {name:?}"),
            )
            .with_hint("check that --server points at an auth4agent server")
        })
}
