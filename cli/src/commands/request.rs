//! `request METHOD URL`: calls a protected service the way an agent should. The token's audience is the URL's
//! origin; a token cached in the home (`tokens.json`, 0600) for this server, agent, audience and scope set is reused
//! while it has more than a minute left, else a new one is obtained with the client credentials grant and a DPoP
//! proof (so it is DPoP-bound, RFC 9449 §5). The request carries `Authorization: DPoP <token>` and a fresh DPoP
//! proof for its method and URL (with `ath`, the token's hash). The response is printed: its body on stdout (control
//! characters escaped), the status on stderr; with `--json` an envelope `{status, headers, body, token}`. Exit 0
//! only for a 2xx status. Redirects are not followed (a proof names one URL).

use std::io::Read;
use std::time::Duration;

use auth4agent_protocol::{
    DPOP_HEADER, Did, DpopProofClaims, ScopeSet, b64url_encode, sign_dpop_proof,
};
use serde_json::{Map, Value, json};

use super::Context;
use super::issue::client_credentials;
use crate::cli::RequestArgs;
use crate::client::root_cause;
use crate::clock;
use crate::error::{CliError, Result};
use crate::home::{CachedToken, Role};
use crate::output::Report;

/// A cached token is reused only while it has more than this left.
const MIN_REMAINING: u64 = 60;

pub fn run(ctx: &Context, args: &RequestArgs) -> Result<Report> {
    let identity = ctx.home.agent()?;
    let server = ctx.server(Some(&identity.server))?;
    let url = reqwest::Url::parse(&args.url)
        .map_err(|e| CliError::usage("invalid_url", format!("invalid URL: {e}")))?;
    let aud = url.origin().ascii_serialization();
    let scope = args
        .scope
        .as_ref()
        .map(|list| ScopeSet::from_list(&list.0))
        .transpose()
        .map_err(|e| CliError::protocol(&e))?;
    let requested_scope = scope
        .as_ref()
        .map(ScopeSet::to_scope_string)
        .unwrap_or_default();
    let body = read_data(args.data.as_deref())?;
    let now = clock::now();

    let mut cache = ctx.home.cached_tokens()?;
    cache.retain(|t| t.expires_at > now);
    let same = |t: &CachedToken| {
        t.server == server
            && t.did == identity.did
            && t.aud == aud
            && t.requested_scope == requested_scope
    };
    let (token, reused) = match cache
        .iter()
        .find(|t| same(t) && t.expires_at.saturating_sub(now) > MIN_REMAINING)
    {
        Some(cached) => (cached.clone(), true),
        None => {
            let session = ctx.agent_session()?;
            let agent = Did::parse(&identity.did).map_err(|e| CliError::protocol(&e))?;
            let answer = client_credentials(
                &session,
                &agent,
                scope.as_ref(),
                &aud,
                clock::unix_time(),
                true,
            )?;
            let fresh = CachedToken {
                server: server.clone(),
                did: identity.did.clone(),
                aud: aud.clone(),
                requested_scope: requested_scope.clone(),
                scope: answer.scope,
                token: answer.token,
                token_type: answer.token_type,
                expires_at: answer.expires_at,
            };
            cache.retain(|t| !same(t));
            cache.push(fresh.clone());
            ctx.home.save_tokens(&cache)?;
            (fresh, false)
        }
    };

    let key = ctx.home.load_key(Role::Agent, &identity.thumbprint)?;
    let dpop = token.token_type.eq_ignore_ascii_case("DPoP");
    let method = reqwest::Method::from_bytes(args.method.as_bytes())
        .map_err(|_| CliError::usage("invalid_method", "not an HTTP method"))?;
    let http = reqwest::blocking::Client::builder()
        .user_agent(concat!("auth4agent-cli/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| CliError::network("http_client_error", format!("cannot set up HTTP: {e}")))?;
    let mut request = http.request(method, url.clone());
    if dpop {
        let claims = DpopProofClaims::new(
            &args.method,
            url.as_str(),
            clock::unix_time(),
            b64url_encode(&rand::random::<[u8; 16]>()),
            Some(&token.token),
        );
        let proof = sign_dpop_proof(&key, &claims).map_err(|e| CliError::protocol(&e))?;
        request = request
            .header(
                reqwest::header::AUTHORIZATION,
                format!("DPoP {}", token.token),
            )
            .header(DPOP_HEADER, proof);
    } else {
        request = request.bearer_auth(&token.token);
    }
    let has_content_type = args
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    for (name, value) in &args.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(body) = body {
        if !has_content_type {
            let json = serde_json::from_slice::<Value>(&body).is_ok();
            request = request.header(
                reqwest::header::CONTENT_TYPE,
                if json {
                    "application/json"
                } else {
                    "application/octet-stream"
                },
            );
        }
        request = request.body(body);
    }
    let response = request.send().map_err(|e| {
        CliError::network(
            "service_unreachable",
            format!("request to {aud} failed: {}", root_cause(&e)),
        )
    })?;

    let status = response.status();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        let value = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.clone(), value]),
            None => {
                headers.insert(name.as_str().to_owned(), value);
            }
        }
    }
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let bytes = crate::client::read_capped(response, url.as_str())?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body_json = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::String(text.clone()));

    // A refused cached token is forgotten, so the next run gets a new one.
    if reused && status == reqwest::StatusCode::UNAUTHORIZED {
        cache.retain(|t| !same(t));
        ctx.home.save_tokens(&cache)?;
    }

    let doc = json!({
        "status": status.as_u16(),
        "headers": headers,
        "body": body_json,
        "token": {
            "aud": token.aud,
            "scope": token.scope,
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "reused": reused,
        },
    });
    let mut report = Report::new(doc, text).note(format!(
        "HTTP {} ({} token for {}{})",
        status,
        token.token_type,
        token.aud,
        if reused { ", cached" } else { "" }
    ));
    if !status.is_success() {
        let mut err =
            CliError::failure("http_error_status", format!("{aud} answered HTTP {status}"));
        if let Some(challenge) = challenge {
            err = err.with_hint(format!("WWW-Authenticate: {challenge}"));
        }
        report.failure = Some(err);
    }
    Ok(report)
}

/// The `--data` body: the text itself, or `@FILE` (`@-`: stdin).
fn read_data(data: Option<&str>) -> Result<Option<Vec<u8>>> {
    let Some(data) = data else { return Ok(None) };
    match data.strip_prefix('@') {
        None => Ok(Some(data.as_bytes().to_vec())),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::usage("invalid_data", format!("cannot read stdin: {e}")))?;
            Ok(Some(buf))
        }
        Some(path) => std::fs::read(path)
            .map(Some)
            .map_err(|e| CliError::usage("invalid_data", format!("cannot read '{path}': {e}"))),
    }
}
