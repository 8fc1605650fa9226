//! Verify an auth4agent access token in a Rust service, offline, with `auth4agent-protocol`.
//!
//! ```text
//! verify_token JWKS_FILE ISSUER AUDIENCE TOKEN_FILE|-
//! ```
//! A real service fetches `<issuer>/.well-known/jwks.json` with its own HTTP client, caches it (the
//! server sends `Cache-Control`), and refetches when a token names an unknown `kid` (key rotation),
//! as `KeyRefresh` decides. Prints the claims as JSON; exit 0 valid, 1 invalid, 2 usage or I/O error.
//!
//! Built and run by the end-to-end tests: `cargo run -p auth4agent-protocol --example verify_token -- …`.

use std::io::Read;
use std::process::ExitCode;

use auth4agent_protocol::{Error, KeySet, UnixTime, VerifiedToken, Verifier};

/// The checks a service makes: EdDSA signature (strict), typ `at+jwt`, exact issuer, audience,
/// times (60 s leeway, lifetime ≤ 1 h), claim types. Then its own authorization: the scope.
fn authorize(
    token: &str,
    keys: &KeySet,
    issuer: &str,
    audience: &str,
    now: UnixTime,
) -> Result<VerifiedToken, Error> {
    let verified = Verifier::new(issuer, audience).verify(token, keys, now)?;
    verified.require_scope("read")?;
    Ok(verified)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [jwks_file, issuer, audience, token_file] = args.as_slice() else {
        eprintln!("usage: verify_token JWKS_FILE ISSUER AUDIENCE TOKEN_FILE|-");
        return ExitCode::from(2);
    };
    let read = |path: &str| -> std::io::Result<String> {
        let mut text = String::new();
        if path == "-" {
            std::io::stdin().read_to_string(&mut text)?;
        } else {
            text = std::fs::read_to_string(path)?;
        }
        Ok(text.trim().to_owned())
    };
    let (Ok(jwks), Ok(token)) = (read(jwks_file), read(token_file)) else {
        eprintln!("error: cannot read {jwks_file} or {token_file}");
        return ExitCode::from(2);
    };
    let keys = match KeySet::from_json(&jwks) {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("error: {jwks_file} is not a usable JWKS: {e}");
            return ExitCode::from(2);
        }
    };
    // The one place this program reads the clock; the protocol crate takes `now` as a parameter.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(UnixTime::EPOCH, |d| UnixTime::from_secs(d.as_secs()));

    match authorize(&token, &keys, issuer, audience, now) {
        Ok(verified) => {
            let claims = serde_json::to_string_pretty(verified.claims()).expect("claims serialize");
            println!("{claims}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invalid token: {e} ({})", e.code());
            ExitCode::from(1)
        }
    }
}
