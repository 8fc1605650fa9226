//! `verify`: offline verification of an access token against the issuer's keys (a `--jwks` file, or the verifier
//! crate's key source with the home's cache: see `verify_keys`), then of its Token Status List entry when it names
//! one (a saved list with `--status-list`, else the home's cached list while its window lasts, else fetched and
//! cached; `--no-status` skips it and says so), with optional online introspection. Offline with a fresh cached
//! JWKS and a fresh cached list it touches no network.

use auth4agent_api::routes;
use auth4agent_api::tokens::{IntrospectRequest, Introspection};
use std::time::Duration;

use auth4agent_protocol::{
    DEFAULT_LEEWAY, KeySet, StatusListRef, TokenStatus, UnixTime, VerifiedStatusList, Verifier,
    verify_status_list,
};
use serde_json::{Value, json};

use super::verify_keys::KeySource;
use super::{Context, read_token};
use crate::cli::VerifyArgs;
use crate::client::Client;
use crate::clock;
use crate::error::{CliError, Result};
use crate::output::{Report, to_json};

pub fn run(ctx: &Context, args: &VerifyArgs) -> Result<Report> {
    let token = read_token(&args.token)?;
    let server = match &ctx.server_flag {
        Some(server) => Some(server.clone()),
        None => ctx.home.saved_server()?,
    };
    let issuer = expected_issuer(ctx, args, server.as_deref())?;
    let keys = key_source(ctx, args, server.as_deref())?;

    let verifier = match &args.aud {
        Some(aud) => Verifier::new(issuer, aud.clone()),
        // Without --aud the command reports what the token says and who signed it; it decides nothing.
        None => Verifier::without_audience_check(issuer),
    }
    .leeway(args.leeway.map_or(DEFAULT_LEEWAY, Duration::from_secs));
    let now = clock::unix_time();
    // The key source refreshes keys past their max-age, and once on an unknown kid (never a --jwks file).
    let result = keys.verify(&verifier, &token, now)?;
    let verified = match result {
        Ok(verified) => verified,
        Err(err) => return Ok(invalid(err.code(), &err.to_string(), Value::Null, None)),
    };
    let claims = serde_json::to_value(verified.claims()).expect("claims serialize");
    // Online, the introspection answers for the agent's status, fresher than any list.
    let status = match (verified.status_list(), args.no_status, args.online) {
        (None, _, _) => StatusCheck::NoClaim,
        (Some(_), true, _) => StatusCheck::Skipped,
        (Some(_), false, true) => StatusCheck::Online,
        (Some(entry), false, false) => {
            let keys = keys.current(now)?;
            match check_status(ctx, args, entry, &keys, now, verifier.issuer())? {
                Ok(()) => StatusCheck::Valid(entry.clone()),
                Err((code, message)) => return Ok(invalid(code, &message, claims, None)),
            }
        }
    };
    if !args.online {
        return Ok(valid(claims, None, &status));
    }

    let server = ctx.server(server.as_deref())?;
    let client = Client::new(&server)?;
    let introspection: Introspection = client.post(
        routes::INTROSPECT,
        &IntrospectRequest {
            token: token.clone(),
        },
    )?;
    // Introspection is active only while the token is unrevoked, its agent active and its operator
    // verified (spec §13.1), so `active` alone decides; the statuses are shown by `valid`.
    if !introspection.is_active() {
        let message = "the server reports the token inactive: revoked, or its agent or operator is no longer in good standing";
        return Ok(invalid(
            "token_inactive",
            message,
            claims,
            Some(introspection),
        ));
    }
    Ok(valid(claims, Some(introspection), &status))
}

/// What became of the token's status list entry.
enum StatusCheck {
    /// The token names none.
    NoClaim,
    /// `--no-status`.
    Skipped,
    /// `--online`: the introspection decides.
    Online,
    /// Checked: valid.
    Valid(StatusListRef),
}

/// The token's entry in its status list: `Ok(Ok(()))` valid, `Ok(Err((code, message)))` refused (the list says
/// revoked or suspended, or a saved list does not verify), `Err` when no list can be had.
fn check_status(
    ctx: &Context,
    args: &VerifyArgs,
    entry: &StatusListRef,
    keys: &KeySet,
    now: UnixTime,
    issuer: &str,
) -> Result<std::result::Result<(), (&'static str, String)>> {
    let list = if let Some(file) = &args.status_list {
        let text = std::fs::read_to_string(file).map_err(|e| {
            CliError::usage(
                "invalid_status_list",
                format!("cannot read the status list file '{}': {e}", file.display()),
            )
            .with_hint("save one with `auth4agent status-list fetch --uri URI --out FILE`")
        })?;
        match verify_status_list(&text, keys, &entry.uri, now) {
            Ok(list) => list,
            Err(e) => {
                return Ok(Err((
                    "invalid_status_list",
                    format!("the saved status list is refused ({}): {e}", e.code()),
                )));
            }
        }
    } else {
        match cached_list(ctx, &entry.uri, keys, now)? {
            Some(list) => list,
            None => fetch_list(ctx, &entry.uri, keys, now, issuer)?,
        }
    };
    Ok(match list.status(entry.idx) {
        Ok(TokenStatus::Valid) => Ok(()),
        Ok(TokenStatus::Suspended) => Err((
            "agent_suspended",
            format!(
                "the token's agent is suspended (entry {} of {} is 2)",
                entry.idx, entry.uri
            ),
        )),
        Ok(TokenStatus::Invalid) => Err((
            "token_revoked",
            format!(
                "the token is revoked (entry {} of {} is 1)",
                entry.idx, entry.uri
            ),
        )),
        Ok(TokenStatus::Other(value)) => Err((
            "token_revoked",
            format!("entry {} of {} is {value}, not valid", entry.idx, entry.uri),
        )),
        Err(e) => Err((e.code(), e.to_string())),
    })
}

/// The home's cached list for `uri` while the issuer has not published the next one (`iat + ttl`).
fn cached_list(
    ctx: &Context,
    uri: &str,
    keys: &KeySet,
    now: UnixTime,
) -> Result<Option<VerifiedStatusList>> {
    let Some(text) = ctx.home.cached_status_list(uri)? else {
        return Ok(None);
    };
    Ok(verify_status_list(&text, keys, uri, now)
        .ok()
        .filter(|list| now < list.issued_at().saturating_add(list.ttl())))
}

/// Fetches the list at `uri`, verifies it and caches it in the home.
/// Only a list under the issuer is fetched (the token is the issuer's, but a URL elsewhere is not asked).
fn fetch_list(
    ctx: &Context,
    uri: &str,
    keys: &KeySet,
    now: UnixTime,
    issuer: &str,
) -> Result<VerifiedStatusList> {
    let unavailable = |message: String| {
        CliError::network("status_unavailable", message).with_hint(
            "check the network, or pass --status-list FILE (a saved list) or --no-status",
        )
    };
    if !uri.starts_with(&format!("{}/", issuer.trim_end_matches('/'))) {
        return Err(unavailable(format!(
            "the token's status list {uri} is not under its issuer {issuer}: not fetched"
        )));
    }
    let text = Client::new(uri)
        .and_then(|client| client.get_text(uri))
        .map_err(|e| unavailable(format!("cannot fetch the status list {uri}: {e}")))?;
    let list = verify_status_list(&text, keys, uri, now)
        .map_err(|e| unavailable(format!("the status list {uri} is not usable: {e}")))?;
    ctx.home.save_status_list(uri, &text)?;
    Ok(list)
}

/// `--iss`, else the issuer cached for the home's server, else that server's URL.
fn expected_issuer(ctx: &Context, args: &VerifyArgs, server: Option<&str>) -> Result<String> {
    if let Some(iss) = &args.iss {
        return Ok(iss.clone());
    }
    let Some(server) = server else {
        return Err(CliError::home(
            "no_issuer",
            format!(
                "cannot tell which issuer to expect: '{}' holds no identity and neither --iss nor --server was given",
                ctx.home.root().display()
            ),
        )
        .with_hint("pass --iss ISSUER (and --jwks FILE|URL), or use a home created by `auth4agent init`"));
    };
    Ok(ctx
        .home
        .cached_issuer(server)?
        .unwrap_or_else(|| server.to_string()))
}

/// `--jwks FILE|URL`, else the home's server's JWKS through the home's key-set cache.
fn key_source<'a>(
    ctx: &'a Context,
    args: &VerifyArgs,
    server: Option<&str>,
) -> Result<KeySource<'a>> {
    match &args.jwks {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            KeySource::remote(url, None)
        }
        Some(file) => KeySource::file(file),
        None => {
            let server = ctx.server(server)?;
            let jwks_uri = format!("{}{}", server.trim_end_matches('/'), routes::JWKS);
            KeySource::remote(&jwks_uri, Some(&ctx.home))
        }
    }
}

fn valid(claims: Value, online: Option<Introspection>, status: &StatusCheck) -> Report {
    let mut human = String::from("valid token");
    for name in ["sub", "scope", "aud", "iss", "exp", "jti"] {
        if let Some(value) = claims.get(name) {
            let shown = match (name, value.as_u64()) {
                // A time for a person (the claim itself stays Unix seconds in --json).
                ("exp", Some(exp)) => crate::duration::format_instant(exp, crate::clock::now()),
                _ => value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string()),
            };
            human.push_str(&format!("\n  {name}: {shown}"));
        }
    }
    let mut doc = json!({ "valid": true, "claims": claims });
    match status {
        StatusCheck::NoClaim => {}
        StatusCheck::Skipped => {
            human.push_str("\n  status: not checked (--no-status)");
            doc["status"] = json!({ "checked": false, "reason": "--no-status" });
        }
        StatusCheck::Online => {
            doc["status"] =
                json!({ "checked": false, "reason": "--online: introspection decides" });
        }
        StatusCheck::Valid(entry) => {
            human.push_str(&format!(
                "\n  status: valid (entry {} of {})",
                entry.idx, entry.uri
            ));
            doc["status"] =
                json!({ "checked": true, "value": "valid", "idx": entry.idx, "uri": entry.uri });
        }
    }
    if let Some(online) = online {
        if let Some(token) = &online.token {
            human.push_str(&format!(
                "\n  agent_status: {}\n  operator_status: {}",
                token.agent_status, token.operator_status
            ));
        }
        doc["online"] = to_json(&online);
    }
    Report::new(doc, human)
}

fn invalid(code: &str, message: &str, claims: Value, online: Option<Introspection>) -> Report {
    let mut doc = json!({ "valid": false, "claims": claims, "error": code, "message": message });
    if let Some(online) = online {
        doc["online"] = to_json(&online);
    }
    let mut failure = CliError::failure(code, format!("invalid token: {message}"));
    if let Some(hint) = hint_for(code) {
        failure = failure.with_hint(hint);
    }
    let mut report = Report::new(doc, "");
    report.failure = Some(failure);
    report
}

fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "expired" | "token_inactive" => "get a new token with `auth4agent issue`",
        "wrong_audience" => "the token was issued for another audience (--aud)",
        "wrong_issuer" => "the token comes from another server: pass --iss with its issuer",
        "unknown_kid" => {
            "the JWKS lacks the token's signing key: refresh it with `auth4agent jwks` or pass --jwks"
        }
        "bad_signature" => "the token was altered, or signed by a key this JWKS does not trust",
        "not_yet_valid" | "issued_in_future" => {
            "check that this machine's clock is correct (or raise --leeway)"
        }
        "wrong_typ" | "missing_typ" => "this is not an access token (typ at+jwt)",
        "token_revoked" => "the agent was revoked: its operator must register a new one",
        "agent_suspended" => {
            "the agent is suspended, or its operator's domain verification lapsed: ask the operator"
        }
        "invalid_status_list" => {
            "save a current list of this token with `auth4agent status-list fetch --uri URI`"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use auth4agent_protocol::{AccessTokenClaims, Audience, Confirmation, SigningKey, issue_token};

    use super::*;
    use crate::error::Exit;
    use crate::home::{AgentIdentity, Home};
    use crate::output::Output;

    const ISSUER: &str = "http://issuer.test";

    /// A home whose agent points at an unreachable server, with a cached JWKS: verification must stay offline.
    fn offline_home(dir: &std::path::Path, server_key: &SigningKey) -> Context {
        let home = Home::new(dir.to_path_buf());
        home.save_agent(&AgentIdentity {
            domain: "example.com".into(),
            server: "http://127.0.0.1:9".into(),
            did: "did:agent:example.com:00112233445566778899aabbccddeeff".into(),
            operator_id: None,
            thumbprint: "unused".into(),
            issuer: Some(ISSUER.into()),
        })
        .unwrap();
        let kid = server_key.public_key().thumbprint();
        let keys = KeySet::from_keys([(kid, server_key.public_key())]).unwrap();
        home.save_jwks(&serde_json::to_string(&keys.to_jwks()).unwrap())
            .unwrap();
        Context {
            home,
            server_flag: None,
            issuer_flag: None,
            out: Output {
                json: true,
                color: false,
                stderr_is_tty: false,
            },
        }
    }

    fn token(key: &SigningKey, iat: u64, exp: u64) -> String {
        let did = "did:agent:example.com:00112233445566778899aabbccddeeff".to_string();
        let claims = AccessTokenClaims {
            iss: ISSUER.into(),
            sub: did.clone(),
            client_id: did,
            aud: Audience::One("svc".into()),
            scope: "read write".into(),
            iat,
            nbf: None,
            exp,
            jti: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            cnf: Confirmation { jkt: "x".into() },
            status: None,
        };
        issue_token(key, &key.public_key().thumbprint(), &claims).unwrap()
    }

    fn args(token_file: &std::path::Path, aud: Option<&str>) -> VerifyArgs {
        VerifyArgs {
            token: token_file.display().to_string(),
            jwks: None,
            iss: None,
            aud: aud.map(str::to_string),
            leeway: None,
            online: false,
            status_list: None,
            no_status: false,
        }
    }

    #[test]
    fn offline_verification_with_the_cached_jwks() {
        let dir = tempfile::tempdir().unwrap();
        let server_key = SigningKey::from_seed(&[3u8; 32]);
        let ctx = offline_home(dir.path(), &server_key);
        let now = clock::now();
        let file = dir.path().join("tok");

        std::fs::write(&file, token(&server_key, now, now + 900)).unwrap();
        let report = run(&ctx, &args(&file, Some("svc"))).unwrap();
        assert!(report.failure.is_none());
        assert_eq!(report.json["valid"], true);
        assert_eq!(report.json["claims"]["scope"], "read write");

        let report = run(&ctx, &args(&file, Some("other"))).unwrap();
        assert_eq!(report.json["valid"], false);
        assert_eq!(report.json["error"], "wrong_audience");
        assert_eq!(report.failure.unwrap().exit, Exit::Failure);

        std::fs::write(&file, token(&server_key, now - 2000, now - 1100)).unwrap();
        let report = run(&ctx, &args(&file, None)).unwrap();
        assert_eq!(report.json["error"], "expired");

        // Signed by a key the JWKS does not hold; the refresh attempt hits the unreachable server.
        let stranger = SigningKey::from_seed(&[4u8; 32]);
        std::fs::write(&file, token(&stranger, now, now + 900)).unwrap();
        let err = run(&ctx, &args(&file, None))
            .err()
            .expect("refresh must fail offline");
        assert_eq!(err.exit, Exit::Network);
    }

    /// The home's cache follows the verifier crate's rules: past its max-age the keys are refetched, served stale
    /// while the server is unreachable within stale-if-error (24 h from the last fetch), then no longer.
    #[test]
    fn a_stale_cached_jwks_is_bounded_by_stale_if_error() {
        let dir = tempfile::tempdir().unwrap();
        let server_key = SigningKey::from_seed(&[3u8; 32]);
        let ctx = offline_home(dir.path(), &server_key);
        let now = clock::now();
        let file = dir.path().join("tok");
        std::fs::write(&file, token(&server_key, now, now + 900)).unwrap();
        let jwks_uri = "http://127.0.0.1:9/.well-known/jwks.json";
        let snapshot = |fetched_at: u64| auth4agent_verifier::KeySetSnapshot {
            jwks: ctx.home.cached_jwks().unwrap().unwrap(),
            etag: None,
            fetched_at,
            fresh_until: fetched_at + 300,
        };

        ctx.home
            .save_key_set_snapshot(jwks_uri, &snapshot(now - 3600))
            .unwrap();
        let report = run(&ctx, &args(&file, Some("svc"))).unwrap();
        assert_eq!(report.json["valid"], true, "stale within the bound");

        ctx.home
            .save_key_set_snapshot(jwks_uri, &snapshot(now - 25 * 3600))
            .unwrap();
        let err = run(&ctx, &args(&file, Some("svc")))
            .err()
            .expect("past stale-if-error");
        assert_eq!(
            (err.code.as_str(), err.exit),
            ("keys_unavailable", Exit::Network)
        );

        // A cache of another server's JWKS is not used: nothing fresh to verify with, nothing reachable.
        ctx.home
            .save_key_set_snapshot("http://127.0.0.1:10/.well-known/jwks.json", &snapshot(now))
            .unwrap();
        let err = run(&ctx, &args(&file, Some("svc")))
            .err()
            .expect("not this server's");
        assert_eq!(err.exit, Exit::Network);
    }

    #[test]
    fn explicit_issuer_and_jwks_file_need_no_identity() {
        let dir = tempfile::tempdir().unwrap();
        let server_key = SigningKey::from_seed(&[5u8; 32]);
        let keys = KeySet::from_keys([(
            server_key.public_key().thumbprint(),
            server_key.public_key(),
        )])
        .unwrap();
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, serde_json::to_string(&keys.to_jwks()).unwrap()).unwrap();
        let file = dir.path().join("tok");
        let now = clock::now();
        std::fs::write(&file, token(&server_key, now, now + 60)).unwrap();
        let ctx = Context {
            home: Home::new(dir.path().join("empty-home")),
            server_flag: None,
            issuer_flag: None,
            out: Output {
                json: true,
                color: false,
                stderr_is_tty: false,
            },
        };
        let mut a = args(&file, None);
        let err = run(&ctx, &a).err().expect("no issuer known");
        assert_eq!((err.code.as_str(), err.exit), ("no_issuer", Exit::Home));
        a.iss = Some(ISSUER.into());
        a.jwks = Some(jwks.display().to_string());
        assert_eq!(run(&ctx, &a).unwrap().json["valid"], true);
        a.iss = Some("http://elsewhere".into());
        assert_eq!(run(&ctx, &a).unwrap().json["error"], "wrong_issuer");
    }
}
