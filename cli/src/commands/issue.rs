//! `issue`: challenge → proof of possession (signed by the agent key) → access token; then refreshes the JWKS cache.

use auth4agent_api::routes::{self, JWKS};
use auth4agent_api::tokens::{ChallengeRequest, ChallengeResponse, TokenRequest, TokenResponse};
use auth4agent_protocol::{KeySet, ProofClaims, sign_proof};
use serde_json::Value;

use super::Context;
use crate::cli::IssueArgs;
use crate::client::Client;
use crate::clock;
use crate::error::{CliError, Result};
use crate::home::Home;
use crate::output::{Report, to_json};

/// Lifetime of the proof itself (the contract allows at most 60 s).
const PROOF_LIFETIME: u64 = 60;

pub fn run(ctx: &Context, args: &IssueArgs) -> Result<Report> {
    let session = ctx.agent_session()?;
    let did = session.identity.did.clone();
    let challenge: ChallengeResponse = session
        .client
        .post(routes::CHALLENGE, &ChallengeRequest { did: did.clone() })?;
    let now = clock::now();
    let claims = ProofClaims {
        iss: did.clone(),
        sub: did.clone(),
        aud: session.issuer.clone(),
        challenge_id: challenge.challenge_id,
        nonce: challenge.nonce,
        scope: args.scope.to_scope_string(),
        token_aud: args.aud.clone(),
        ttl: args.ttl.unwrap_or(0),
        iat: now,
        exp: now + PROOF_LIFETIME,
    };
    let proof = sign_proof(&session.key, &claims).map_err(|e| CliError::protocol(&e))?;
    let answer: TokenResponse = session
        .client
        .post(routes::TOKEN, &TokenRequest { proof })?;

    let mut report_notes = Vec::new();
    if let Err(err) = refresh_jwks(&session.client, &ctx.home) {
        report_notes.push(format!("warning: could not refresh the cached JWKS: {err}"));
    }
    // The `--json` document is the server's answer plus the agent's DID.
    let mut doc = to_json(&answer);
    if let Some(obj) = doc.as_object_mut() {
        obj.entry("did").or_insert(Value::String(did.clone()));
    }
    let mut report = Report::new(doc, answer.token.clone()).note(format!(
        "issued a token for {did}: scope \"{}\", aud \"{}\", expires at {} (in {}s)",
        answer.scope,
        answer.aud,
        answer.expires_at,
        answer.expires_at.saturating_sub(now),
    ));
    report.notes.extend(report_notes);
    Ok(report)
}

/// Downloads the server's JWKS, checks it parses as a key set, and caches it in the home.
pub fn refresh_jwks(client: &Client, home: &Home) -> Result<String> {
    let text = client.get_text(JWKS)?;
    KeySet::from_json(&text).map_err(|e| {
        CliError::network(
            "invalid_jwks",
            format!("{}{JWKS} is not a usable JWKS: {e}", client.base()),
        )
    })?;
    home.save_jwks(&text)?;
    Ok(text)
}
