//! Fetch hygiene for the documents a service reads from the issuer (RFC 8414 metadata, the JWKS, status lists): `https` unless
//! loopback, no redirects, a response size cap, connect and total timeouts, `ETag` / `If-None-Match`, and the
//! freshness lifetime from `Cache-Control: max-age`.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};

use crate::FetchError;

/// Largest document accepted (64 KiB): a JWKS of a few keys is well under 2 KiB.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Parses `url` and refuses anything but `https`, or `http` to a loopback host (127.0.0.0/8, ::1, localhost).
pub fn checked_url(url: &str) -> Result<Url, FetchError> {
    let parsed = Url::parse(url).map_err(|e| FetchError::BadUrl(format!("{url:?}: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        _ => Err(FetchError::BadUrl(format!(
            "{url:?}: https is required (http only to a loopback host)"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What a conditional GET answered.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// 200: the body, its `ETag` and `max-age` (if sent).
    Fresh {
        body: Vec<u8>,
        etag: Option<String>,
        max_age: Option<Duration>,
    },
    /// 304: the cached copy stands; a new `max-age` if sent.
    NotModified { max_age: Option<Duration> },
}

/// An HTTP client with the hygiene above.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    pub(crate) fn new(connect_timeout: Duration, timeout: Duration) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!("auth4agent-verifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Http(e.to_string()))?;
        Ok(Fetcher { client })
    }

    /// GET `url` (with `If-None-Match: etag` when given), reading at most [`MAX_DOCUMENT_BYTES`].
    pub(crate) async fn get(&self, url: &Url, etag: Option<&str>) -> Result<Fetched, FetchError> {
        self.get_as(url, etag, "application/json", MAX_DOCUMENT_BYTES)
            .await
    }

    /// [`Self::get`] asking for `accept`, reading at most `limit` bytes (a status list is larger than a
    /// JWKS).
    pub(crate) async fn get_as(
        &self,
        url: &Url,
        etag: Option<&str>,
        accept: &'static str,
        limit: usize,
    ) -> Result<Fetched, FetchError> {
        let mut request = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, accept);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let max_age = max_age(response.headers());
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_MODIFIED if etag.is_some() => {
                return Ok(Fetched::NotModified { max_age });
            }
            status => return Err(FetchError::Status(status.as_u16())),
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(FetchError::TooLarge(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?
        {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Fresh {
            body,
            etag,
            max_age,
        })
    }
}

/// `max-age` from `Cache-Control` (`no-cache` / `no-store` count as 0; the caller clamps).
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=")
                && let Ok(secs) = secs.trim_matches('"').parse::<u64>()
            {
                found = Some(Duration::from_secs(secs));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback_only() {
        for ok in [
            "https://auth.example.com/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://127.3.4.5/jwks",
            "http://[::1]:9/jwks",
            "http://localhost:1/jwks",
        ] {
            assert!(checked_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://auth.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example.com/jwks",
            "ftp://127.0.0.1/jwks",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(checked_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_max_age() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(CACHE_CONTROL, "public, max-age=300".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::from_secs(300)));
        headers.insert(CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::ZERO));
    }
}
