//! `issue`: an access token, by the challenge flow (challenge → proof of possession signed by the agent key → token)
//! or by the OAuth client credentials flow (one request with a `private_key_jwt` assertion); then refreshes the
//! JWKS cache. Both flows report the same fields.

use auth4agent_api::OAuthTokenResponse;
use auth4agent_api::oauth::{ASSERTION_TYPE_JWT_BEARER, GRANT_CLIENT_CREDENTIALS};
use auth4agent_api::routes::{self, JWKS};
use auth4agent_api::tokens::{ChallengeRequest, ChallengeResponse, TokenRequest, TokenResponse};
use auth4agent_protocol::{
    ClientAssertionClaims, Did, KeySet, ProofClaims, b64url_encode, encode_form,
    sign_client_assertion, sign_proof,
};
use serde_json::Value;

use super::{Context, Session};
use crate::cli::{Flow, IssueArgs};
use crate::client::Client;
use crate::clock;
use crate::error::{CliError, Result};
use crate::home::AgentIdentity;
use crate::home::Home;
use crate::output::{Report, to_json};

/// Lifetime of the proof itself (the contract allows at most 60 s).
const PROOF_LIFETIME: u64 = 60;
/// Lifetime of a client assertion (the server accepts at most 300 s; it is used at once).
const ASSERTION_LIFETIME: u64 = 60;

pub fn run(ctx: &Context, args: &IssueArgs) -> Result<Report> {
    if args.flow == Flow::ClientCredentials && args.ttl.is_some() {
        return Err(CliError::usage(
            "ttl_not_supported",
            "--ttl is not available with --flow client-credentials: the server grants its default lifetime",
        ));
    }
    let session = ctx.agent_session()?;
    let did = session.identity.did.clone();
    let now = clock::now();
    let answer = match args.flow {
        Flow::Challenge => by_challenge(&session, args)?,
        Flow::ClientCredentials => by_client_credentials(&session, args, now)?,
    };

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

/// Challenge, then a proof answering it, for a token.
fn by_challenge(session: &Session<AgentIdentity>, args: &IssueArgs) -> Result<TokenResponse> {
    let did = session.identity.did.clone();
    let challenge: ChallengeResponse = session
        .client
        .post(routes::CHALLENGE, &ChallengeRequest { did: did.clone() })?;
    let now = clock::now();
    let claims = ProofClaims {
        iss: did.clone(),
        sub: did,
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
    session.client.post(routes::TOKEN, &TokenRequest { proof })
}

/// One OAuth request: the client credentials grant with a client assertion signed by the agent key. The answer
/// is reported in the challenge flow's shape.
fn by_client_credentials(
    session: &Session<AgentIdentity>,
    args: &IssueArgs,
    now: u64,
) -> Result<TokenResponse> {
    let did = Did::parse(&session.identity.did).map_err(|e| CliError::protocol(&e))?;
    let jti = b64url_encode(&rand::random::<[u8; 16]>());
    let claims = ClientAssertionClaims::new(&did, &session.issuer, now, ASSERTION_LIFETIME, jti);
    let assertion =
        sign_client_assertion(&session.key, &claims).map_err(|e| CliError::protocol(&e))?;
    let scope = args.scope.to_scope_string();
    let form = encode_form([
        ("grant_type", GRANT_CLIENT_CREDENTIALS),
        ("client_assertion_type", ASSERTION_TYPE_JWT_BEARER),
        ("client_assertion", &assertion),
        ("scope", &scope),
        ("resource", &args.aud),
    ]);
    let answer: OAuthTokenResponse = session.client.post_form(routes::OAUTH_TOKEN, form)?;
    Ok(TokenResponse {
        aud: args.aud.clone(),
        expires_at: now.saturating_add(answer.expires_in),
        scope: answer.scope,
        token: answer.access_token,
        token_type: answer.token_type,
    })
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
