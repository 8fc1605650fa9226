//! Signed administrative requests in the DPoP shape (RFC 9449): a short-lived JWS binding the HTTP method, the URL,
//! the SHA-256 of the body and a single-use `jti`, signed by the key allowed to make the call.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::encoding::sha256_b64url;
use crate::error::{Error, Result};
use crate::jws::{self, UnverifiedJws, constant_time_eq, required_date, string_claim, typ};
use crate::keys::{PublicKey, SigningKey};
use crate::time::UnixTime;

/// The HTTP header that carries the signed request.
pub const SIGNATURE_HEADER: &str = "Auth4Agent-Signature";
/// Lifetime written by [`sign_request`].
pub(crate) const REQUEST_LIFETIME: Duration = Duration::from_secs(60);
/// Longest accepted lifetime (`exp - iat`).
pub const MAX_REQUEST_LIFETIME: Duration = Duration::from_secs(120);
/// Longest accepted `jti`.
pub(crate) const MAX_JTI_LEN: usize = 128;

/// The claims of a signed request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RequestClaims {
    pub htm: String,
    pub htu: String,
    pub ath: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// Signs a request: `htm` = method, `htu` = `url` without query or fragment, `ath` = base64url(SHA-256(body)),
/// `kid` = the key's thumbprint. `jti` must be fresh randomness (at least 128 bits) supplied by the caller.
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    url: &str,
    body: &[u8],
    now: UnixTime,
    jti: &str,
) -> Result<String> {
    let claims = RequestClaims {
        htm: method.to_owned(),
        htu: strip_query(url).to_owned(),
        ath: sha256_b64url(body),
        iat: now.as_secs(),
        exp: now.saturating_add(REQUEST_LIFETIME).as_secs(),
        jti: jti.to_owned(),
    };
    jws::sign(key, typ::REQUEST, &key.public_key().thumbprint(), &claims)
}

/// A structurally valid signed request, not yet verified.
#[derive(Debug, Clone)]
pub struct UnverifiedRequest {
    jws: UnverifiedJws,
}

/// A signed request whose signature and bindings verified. The caller must still consume [`Self::jti`] once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    claims: RequestClaims,
    kid: String,
}

impl VerifiedRequest {
    /// The single-use identifier; store `(kid, jti)` until [`Self::exp`] and refuse a second use.
    pub fn jti(&self) -> &str {
        &self.claims.jti
    }

    /// When the request stops being acceptable; the replay record may be purged after it (plus leeway).
    pub fn exp(&self) -> UnixTime {
        UnixTime::from_secs(self.claims.exp)
    }

    /// The signer's key thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// All claims.
    pub fn claims(&self) -> &RequestClaims {
        &self.claims
    }
}

impl UnverifiedRequest {
    /// Parses a signed request (`typ` must be `auth4agent-req+jwt`).
    pub fn decode(compact: &str) -> Result<UnverifiedRequest> {
        Ok(UnverifiedRequest {
            jws: UnverifiedJws::decode(compact, typ::REQUEST)?,
        })
    }

    /// The signer's claimed key thumbprint. The caller decides which key must sign; this only has to match it.
    pub fn kid(&self) -> &str {
        self.jws.kid()
    }

    /// Verifies against the key that is allowed to make this call and the request actually received.
    pub fn verify(
        self,
        key: &PublicKey,
        method: &str,
        url: &str,
        body: &[u8],
        now: UnixTime,
        leeway: Duration,
    ) -> Result<VerifiedRequest> {
        let kid = key.thumbprint();
        if self.jws.kid() != kid {
            return Err(Error::UnknownKid(self.jws.kid().to_owned()));
        }
        let verified = self.jws.verify(key)?;
        let c = &verified.claims;
        let htm = string_claim(c, "htm")?;
        if htm != method {
            return Err(Error::HtmMismatch {
                expected: method.to_owned(),
                found: htm.to_owned(),
            });
        }
        let htu = string_claim(c, "htu")?;
        if normalize_url(htu) != normalize_url(url) {
            return Err(Error::HtuMismatch {
                expected: strip_query(url).to_owned(),
                found: htu.to_owned(),
            });
        }
        let ath = string_claim(c, "ath")?;
        if !constant_time_eq(ath.as_bytes(), sha256_b64url(body).as_bytes()) {
            return Err(Error::BodyHashMismatch);
        }
        let iat = required_date(c, "iat")?;
        let exp = required_date(c, "exp")?;
        jws::check_times(iat, exp, now, leeway, MAX_REQUEST_LIFETIME)?;
        let jti = string_claim(c, "jti")?;
        if jti.len() < 16 || jti.len() > MAX_JTI_LEN {
            return Err(Error::InvalidClaim(
                "jti",
                "must be 16 to 128 characters".into(),
            ));
        }
        Ok(VerifiedRequest {
            claims: RequestClaims {
                htm: htm.to_owned(),
                htu: htu.to_owned(),
                ath: ath.to_owned(),
                iat,
                exp,
                jti: jti.to_owned(),
            },
            kid,
        })
    }
}

pub(crate) fn strip_query(url: &str) -> &str {
    url.find(['?', '#']).map_or(url, |i| &url[..i])
}

/// RFC 9449 §4.3: compare without query and fragment, after case and default-port normalization of
/// scheme and authority.
pub(crate) fn normalize_url(url: &str) -> String {
    let url = strip_query(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let mut authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => Some(":443"),
        "http" => Some(":80"),
        _ => None,
    };
    if let Some(port) = default_port
        && authority.ends_with(port)
    {
        authority.truncate(authority.len() - port.len());
    }
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn url_normalization() {
        assert_eq!(
            normalize_url("HTTPS://Auth.Example.com:443/v1/x?y=1#z"),
            "https://auth.example.com/v1/x"
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/"
        );
        assert_ne!(
            normalize_url("http://a.example/v1/x"),
            normalize_url("http://a.example/v1/y")
        );
    }
}
