//! `issue`: challenge → proof of possession (signed by the agent key) → access token; then refreshes the JWKS cache.

use auth4agent_api::routes::{self, JWKS};
use auth4agent_api::tokens::{ChallengeRequest, ChallengeResponse, TokenRequest, TokenResponse};
use std::num::NonZeroU64;

use auth4agent_protocol::{
    Did, KeySet, ProofClaims, ReceivedChallenge, RequestedToken, ScopeSet, sign_proof,
};
use serde_json::Value;

use super::Context;
use crate::cli::IssueArgs;
use crate::client::Client;
use crate::clock;
use crate::error::{CliError, Result};
use crate::home::Home;
use crate::output::{Report, to_json};

pub fn run(ctx: &Context, args: &IssueArgs) -> Result<Report> {
    let session = ctx.agent_session()?;
    let did = session.identity.did.clone();
    let agent = Did::parse(&did).map_err(|e| CliError::protocol(&e))?;
    let scope = ScopeSet::from_list(&args.scope.0).map_err(|e| {
        CliError::protocol(&e)
            .with_hint("scopes are short tokens such as read or files:write, separated by commas")
    })?;
    let challenge: ChallengeResponse = session
        .client
        .post(routes::CHALLENGE, &ChallengeRequest { did: did.clone() })?;
    let now = clock::unix_time();
    let claims = ProofClaims::answer(
        &agent,
        ReceivedChallenge {
            id: &challenge.challenge_id,
            nonce: &challenge.nonce,
        },
        &session.issuer,
        RequestedToken {
            scope: &scope,
            audience: &args.aud,
            ttl: args.ttl.and_then(NonZeroU64::new),
        },
        now,
    );
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
        answer.expires_at.saturating_sub(now.as_secs()),
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
