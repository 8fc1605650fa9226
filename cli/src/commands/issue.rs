//! `issue`: an access token, by the challenge flow (challenge → proof of possession signed by the agent key → token)
//! or by the OAuth client credentials flow (one request with a `private_key_jwt` assertion); then refreshes the
//! JWKS cache. Both flows report the same fields. A scope that needs the operator's approval (the server answers
//! `approval_required`) goes through the device authorization grant (RFC 8628) instead: the user code, the
//! approval URL and its QR code on stderr, then polling (honouring `interval` and `slow_down`) until the
//! operator decides, the code expires or `--wait` is spent.

use auth4agent_api::routes::{self, JWKS};
use auth4agent_api::tokens::{ChallengeRequest, ChallengeResponse, TokenRequest, TokenResponse};
use std::num::NonZeroU64;
use std::time::Duration;

use std::time::Instant;

use auth4agent_api::oauth::{
    ASSERTION_TYPE_JWT_BEARER, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE,
};
use auth4agent_api::{DeviceAuthorizationResponse, OAuthTokenResponse};
use auth4agent_protocol::{
    ClientAssertionClaims, Did, DpopProofClaims, KeySet, ProofClaims, ReceivedChallenge,
    RequestedToken, ScopeSet, UnixTime, b64url_encode, encode_form, sign_client_assertion,
    sign_dpop_proof, sign_proof,
};
use serde_json::Value;

use super::{Context, Session};
use crate::cli::{Flow, IssueArgs};
use crate::client::Client;
use crate::clock;
use crate::error::{CliError, Result};
use crate::home::AgentIdentity;
use crate::home::Home;
use crate::output::{Report, terminal_safe, to_json};

/// Lifetime of a client assertion (the server accepts at most 300 s; it is used at once).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

pub fn run(ctx: &Context, args: &IssueArgs) -> Result<Report> {
    if args.flow == Flow::ClientCredentials && args.ttl.is_some() {
        return Err(CliError::usage(
            "ttl_not_supported",
            "--ttl is not available with --flow client-credentials: the server grants its default lifetime",
        ));
    }
    let session = ctx.agent_session()?;
    let did = session.identity.did.clone();
    let agent = Did::parse(&did).map_err(|e| CliError::protocol(&e))?;
    let scope = ScopeSet::from_list(&args.scope.0).map_err(|e| {
        CliError::protocol(&e)
            .with_hint("scopes are short tokens such as read or files:write, separated by commas")
    })?;
    let now = clock::unix_time();
    let direct = match args.flow {
        Flow::Challenge => by_challenge(&session, &agent, &scope, args),
        Flow::ClientCredentials => by_client_credentials(&session, &agent, &scope, args, now),
    };
    let mut report_notes = Vec::new();
    let answer = match direct {
        Err(e) if e.code == "approval_required" => {
            if args.ttl.is_some() {
                report_notes.push(
                    "note: --ttl does not apply to an approved request: the token has the server's default lifetime"
                        .to_owned(),
                );
            }
            by_device_authorization(&session, &agent, &scope, args)?
        }
        other => other?,
    };
    let now = clock::unix_time();

    if let Err(err) = refresh_jwks(&session.client, &ctx.home) {
        report_notes.push(format!("warning: could not refresh the cached JWKS: {err}"));
    }
    // The `--json` document is the server's answer plus the agent's DID.
    let mut doc = to_json(&answer);
    if let Some(obj) = doc.as_object_mut() {
        obj.entry("did").or_insert(Value::String(did.clone()));
    }
    let mut report = Report::new(doc, answer.token.clone()).note(format!(
        "issued a token for {did}: scope \"{}\", aud \"{}\", expires {}",
        answer.scope,
        answer.aud,
        crate::duration::format_instant(answer.expires_at, now.as_secs()),
    ));
    report.notes.extend(report_notes);
    Ok(report)
}

/// Challenge, then a proof answering it, for a token.
fn by_challenge(
    session: &Session<AgentIdentity>,
    agent: &Did,
    scope: &ScopeSet,
    args: &IssueArgs,
) -> Result<TokenResponse> {
    let challenge: ChallengeResponse = session.client.post(
        routes::CHALLENGE,
        &ChallengeRequest {
            did: agent.as_str().to_owned(),
        },
    )?;
    let claims = ProofClaims::answer(
        agent,
        ReceivedChallenge {
            id: &challenge.challenge_id,
            nonce: &challenge.nonce,
        },
        &session.issuer,
        RequestedToken {
            scope,
            audience: &args.aud,
            ttl: args.ttl.and_then(NonZeroU64::new),
        },
        clock::unix_time(),
    );
    let proof = sign_proof(&session.key, &claims).map_err(|e| CliError::protocol(&e))?;
    session.client.post(routes::TOKEN, &TokenRequest { proof })
}

/// One OAuth request: the client credentials grant with a client assertion signed by the agent key. The answer
/// is reported in the challenge flow's shape.
fn by_client_credentials(
    session: &Session<AgentIdentity>,
    agent: &Did,
    scope: &ScopeSet,
    args: &IssueArgs,
    now: UnixTime,
) -> Result<TokenResponse> {
    client_credentials(session, agent, Some(scope), &args.aud, now, false)
}

/// The client credentials grant for `aud` (and `scope`, else every scope the agent is allowed); with `dpop`, the
/// request carries a DPoP proof of the agent key (RFC 9449 §5), so the token comes back of type `DPoP`.
pub fn client_credentials(
    session: &Session<AgentIdentity>,
    agent: &Did,
    scope: Option<&ScopeSet>,
    aud: &str,
    now: UnixTime,
    dpop: bool,
) -> Result<TokenResponse> {
    let jti = b64url_encode(&rand::random::<[u8; 16]>());
    let claims = ClientAssertionClaims::new(agent, &session.issuer, now, ASSERTION_LIFETIME, jti);
    let assertion =
        sign_client_assertion(&session.key, &claims).map_err(|e| CliError::protocol(&e))?;
    let scope = scope.map(ScopeSet::to_scope_string);
    let mut params = vec![
        ("grant_type", GRANT_CLIENT_CREDENTIALS),
        ("client_assertion_type", ASSERTION_TYPE_JWT_BEARER),
        ("client_assertion", &assertion),
        ("resource", aud),
    ];
    if let Some(scope) = &scope {
        params.push(("scope", scope));
    }
    let form = encode_form(params);
    let proof = if dpop {
        let htu = format!("{}{}", session.issuer, routes::OAUTH_TOKEN);
        let claims = DpopProofClaims::new(
            "POST",
            &htu,
            now,
            b64url_encode(&rand::random::<[u8; 16]>()),
            None,
        );
        Some(sign_dpop_proof(&session.key, &claims).map_err(|e| CliError::protocol(&e))?)
    } else {
        None
    };
    let answer: OAuthTokenResponse =
        session
            .client
            .post_form_with(routes::OAUTH_TOKEN, form, proof.as_deref())?;
    Ok(TokenResponse {
        aud: aud.to_owned(),
        expires_at: now.as_secs().saturating_add(answer.expires_in),
        scope: answer.scope,
        token: answer.access_token,
        token_type: answer.token_type,
    })
}

/// A fresh client assertion by the agent for the server.
fn assertion(session: &Session<AgentIdentity>, agent: &Did) -> Result<String> {
    let jti = b64url_encode(&rand::random::<[u8; 16]>());
    let claims = ClientAssertionClaims::new(
        agent,
        &session.issuer,
        clock::unix_time(),
        ASSERTION_LIFETIME,
        jti,
    );
    sign_client_assertion(&session.key, &claims).map_err(|e| CliError::protocol(&e))
}

/// The device authorization grant (RFC 8628): asks, shows the approver where to go, polls until decided.
fn by_device_authorization(
    session: &Session<AgentIdentity>,
    agent: &Did,
    scope: &ScopeSet,
    args: &IssueArgs,
) -> Result<TokenResponse> {
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let scope_text = scope.to_scope_string();
    let first = assertion(session, agent)?;
    let mut params = vec![
        ("client_assertion_type", ASSERTION_TYPE_JWT_BEARER),
        ("client_assertion", first.as_str()),
        ("scope", scope_text.as_str()),
        ("resource", args.aud.as_str()),
    ];
    if let Some(message) = &args.binding_message {
        params.push(("binding_message", message.as_str()));
    }
    let started: DeviceAuthorizationResponse = session
        .client
        .post_form(routes::OAUTH_DEVICE_AUTHORIZATION, encode_form(params))?;
    show_approval(
        &started.user_code,
        &started.verification_uri_complete,
        started.expires_in,
        args.wait,
    );
    let mut interval = started.interval.max(1);
    loop {
        let poll = assertion(session, agent)?;
        let form = encode_form([
            ("grant_type", GRANT_DEVICE_CODE),
            ("client_assertion_type", ASSERTION_TYPE_JWT_BEARER),
            ("client_assertion", &poll),
            ("device_code", &started.device_code),
        ]);
        match session
            .client
            .post_form::<OAuthTokenResponse>(routes::OAUTH_TOKEN, form)
        {
            Ok(answer) => {
                let now = clock::unix_time();
                return Ok(TokenResponse {
                    aud: args.aud.clone(),
                    expires_at: now.as_secs().saturating_add(answer.expires_in),
                    scope: answer.scope,
                    token: answer.access_token,
                    token_type: answer.token_type,
                });
            }
            Err(e) if e.code == "authorization_pending" => {}
            // RFC 8628 §3.5: every slow_down adds 5 seconds, for this and all later polls.
            Err(e) if e.code == "slow_down" => interval += 5,
            Err(e) => return Err(e),
        }
        let pause = Duration::from_secs(interval);
        if Instant::now() + pause > deadline {
            return Err(CliError::failure(
                "approval_timeout",
                format!(
                    "no decision on {} within --wait {}s",
                    started.user_code, args.wait
                ),
            )
            .with_hint("ask the operator to run `auth4agent approvals list`, or raise --wait"));
        }
        std::thread::sleep(pause);
    }
}

/// Tells the person at the terminal (stderr) how the operator approves: the user code, the URL and its QR
/// code (of `verification_uri_complete`). Every server-provided string goes through `terminal_safe`.
pub(crate) fn show_approval(user_code: &str, uri_complete: &str, expires_in: u64, wait: u64) {
    let code = terminal_safe(user_code);
    eprintln!("approval needed: the operator must approve this request");
    eprintln!("  code: {code}");
    eprintln!("  open: {}", terminal_safe(uri_complete));
    eprintln!("  or, with the operator key: auth4agent approvals approve {code}");
    if let Some(qr) = qr_code(uri_complete) {
        eprintln!("{qr}");
    }
    eprintln!("waiting up to {wait}s for the decision (the request expires in {expires_in}s)...");
}

/// A QR code of `text` drawn with Unicode half blocks (two modules per character cell), light on dark so it
/// reads on a dark terminal.
pub(crate) fn qr_code(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
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
