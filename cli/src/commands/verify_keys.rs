//! The trusted keys of `verify`: a JWKS file as given, or the verifier crate's [`RemoteKeySet`] (the key source
//! services use: `max-age` and `ETag`, one refetch per cooldown on an unknown `kid`, stale-if-error for a bounded
//! time, no redirects, a size cap), for a `--jwks` URL or the home's server. For the server, its cache lives in
//! the home between runs (`jwks.json` and its freshness record `jwks.cache.json`), so a fresh cache verifies with
//! no network at all.

use std::sync::Arc;

use auth4agent_protocol::{Error as TokenError, KeySet, UnixTime, VerifiedToken, Verifier};
use auth4agent_verifier::{Config, RemoteKeySet, VerifyError};

use crate::error::{CliError, Exit, Result};
use crate::home::Home;

/// Where `verify` gets the issuer's keys.
pub enum KeySource<'a> {
    /// A JWKS file (`--jwks FILE`): exactly these keys, never refreshed.
    File(Arc<KeySet>),
    /// A JWKS over HTTP: `--jwks URL` (no home cache), or the server's, cached in `home`.
    Remote {
        keys: RemoteKeySet,
        home: Option<&'a Home>,
        runtime: tokio::runtime::Runtime,
    },
}

impl<'a> KeySource<'a> {
    pub fn file(path: &str) -> Result<KeySource<'a>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(
                "invalid_jwks",
                format!("cannot read the JWKS file '{path}': {e}"),
            )
            .with_hint("pass a JWKS file or an http(s) URL to --jwks")
        })?;
        let keys = KeySet::from_json(&text).map_err(|e| {
            CliError::usage("invalid_jwks", format!("{path} is not a usable JWKS: {e}"))
                .with_hint("pass a JWKS file or an http(s) URL to --jwks")
        })?;
        Ok(KeySource::File(Arc::new(keys)))
    }

    /// The JWKS at `jwks_uri`; with `home`, its cache is restored from the home and saved back after a fetch.
    pub fn remote(jwks_uri: &str, home: Option<&'a Home>) -> Result<KeySource<'a>> {
        let config = Config {
            // One run verifies one token: nothing to keep in memory.
            cache_capacity: 0,
            ..Config::default()
        };
        let default_max_age = config.default_max_age.as_secs();
        let keys = RemoteKeySet::new(jwks_uri, config).map_err(|e| {
            CliError::usage(
                "invalid_jwks",
                format!("cannot fetch a JWKS from {jwks_uri}: {e}"),
            )
            .with_hint("a JWKS URL is https, or http on loopback")
        })?;
        if let Some(home) = home
            && let Some(snapshot) = home.key_set_snapshot(jwks_uri, default_max_age)?
            && keys.restore(&snapshot).is_err()
        {
            return Err(CliError::home(
                "invalid_jwks",
                format!("{} is not a usable JWKS", home.jwks_path().display()),
            )
            .with_hint("refresh the cached keys with `auth4agent jwks`, or pass --jwks FILE|URL"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                CliError::new(Exit::Failure, "internal", format!("cannot start I/O: {e}"))
            })?;
        Ok(KeySource::Remote {
            keys,
            home,
            runtime,
        })
    }

    /// Verifies `token` at `now`. `Ok(Err(_))` is a verdict on the token; `Err` means no verdict could be
    /// reached: no keys could be had, or an unknown `kid` could not be looked up because the issuer is
    /// unreachable.
    pub fn verify(
        &self,
        verifier: &Verifier,
        token: &str,
        now: UnixTime,
    ) -> Result<std::result::Result<VerifiedToken, TokenError>> {
        let (keys, runtime) = match self {
            KeySource::File(keys) => return Ok(verifier.verify(token, keys, now)),
            KeySource::Remote { keys, runtime, .. } => (keys, runtime),
        };
        let result = runtime.block_on(keys.verify(verifier, token, now));
        self.save()?;
        match result {
            Ok(verified) => Ok(Ok(verified)),
            Err(VerifyError::Token(error))
                if error.code() == "unknown_kid" && keys.status().last_error.is_some() =>
            {
                Err(unavailable(
                    keys,
                    "the token's key is not in the cached JWKS",
                ))
            }
            Err(VerifyError::Token(error)) => Ok(Err(error)),
            Err(error) => Err(unavailable(keys, &error.to_string())),
        }
    }

    /// The keys verification used (for the token's status list, signed by the same issuer).
    pub fn current(&self, now: UnixTime) -> Result<Arc<KeySet>> {
        match self {
            KeySource::File(keys) => Ok(keys.clone()),
            KeySource::Remote { keys, runtime, .. } => runtime
                .block_on(keys.current(now))
                .map_err(|e| unavailable(keys, &e.to_string())),
        }
    }

    /// Keeps what this run fetched for the next one.
    fn save(&self) -> Result<()> {
        if let KeySource::Remote {
            keys,
            home: Some(home),
            ..
        } = self
            && keys.status().fetches > 0
            && let Some(snapshot) = keys.snapshot()
        {
            home.save_key_set_snapshot(keys.url(), &snapshot)?;
        }
        Ok(())
    }
}

fn unavailable(keys: &RemoteKeySet, reason: &str) -> CliError {
    let status = keys.status();
    let detail = status.last_error.map_or_else(String::new, |e| {
        format!(" (fetching {}: {e})", status.jwks_uri)
    });
    CliError::network("keys_unavailable", format!("{reason}{detail}"))
        .with_hint("check the network, or pass --jwks FILE")
}
