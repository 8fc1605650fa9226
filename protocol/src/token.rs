//! The access-token profile (RFC 9068): claims, issuance, and the `Verifier` that alone can produce a
//! [`VerifiedToken`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::did::Did;
use crate::error::{Error, Result};
use crate::jwks::KeySet;
use crate::jws::{self, UnverifiedJws, numeric_date, required_date, string_claim, typ};
use crate::keys::SigningKey;
use crate::scope::ScopeSet;

/// Default clock-skew allowance, in seconds.
pub const DEFAULT_LEEWAY: u64 = 60;
/// Default longest accepted token lifetime (`exp - iat`), in seconds.
pub const DEFAULT_MAX_LIFETIME: u64 = 3600;

/// `aud`: one audience or a non-empty list (RFC 7519 §4.1.3).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` is among the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(list) => list.iter().any(|a| a == aud),
        }
    }

    /// All audiences.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Audience::One(a) => std::slice::from_ref(a),
            Audience::Many(list) => list,
        }
    }
}

/// The `cnf` claim (RFC 7800) binding the token to the agent key by RFC 7638 thumbprint (RFC 9449 §6.1 `jkt`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    pub jkt: String,
}

/// The claims of an access token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: Audience,
    pub scope: String,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub exp: u64,
    pub jti: String,
    pub cnf: Confirmation,
}

/// Signs an access token with header `{"alg":"EdDSA","kid":kid,"typ":"at+jwt"}`.
pub fn issue_token(key: &SigningKey, kid: &str, claims: &AccessTokenClaims) -> Result<String> {
    jws::sign(key, typ::ACCESS_TOKEN, kid, claims)
}

/// An access token that passed every check of a [`Verifier`]. Only the verifier can construct one.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    claims: AccessTokenClaims,
    kid: String,
}

impl VerifiedToken {
    /// The verified claims.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.claims
    }

    /// The `kid` of the key that signed the token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The agent DID (`sub`).
    pub fn agent(&self) -> Result<Did> {
        Did::parse(&self.claims.sub)
    }

    /// The granted scopes.
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.claims.scope).unwrap_or_default()
    }
}

/// Verifies access tokens offline against a trusted [`KeySet`].
#[derive(Debug, Clone)]
pub struct Verifier {
    issuer: String,
    audiences: Vec<String>,
    leeway: u64,
    max_lifetime: u64,
}

impl Verifier {
    /// A verifier for tokens from `issuer`, with a 60 s leeway and a 1 h maximum lifetime. Without
    /// [`Self::audience`], any well-formed audience is accepted.
    pub fn new(issuer: impl Into<String>) -> Verifier {
        Verifier {
            issuer: issuer.into(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
        }
    }

    /// Adds an acceptable audience (call again for more).
    pub fn audience(mut self, aud: impl Into<String>) -> Verifier {
        self.audiences.push(aud.into());
        self
    }

    /// Sets the clock-skew allowance in seconds.
    pub fn leeway(mut self, secs: u64) -> Verifier {
        self.leeway = secs;
        self
    }

    /// Sets the longest accepted lifetime (`exp - iat`) in seconds.
    pub fn max_lifetime(mut self, secs: u64) -> Verifier {
        self.max_lifetime = secs;
        self
    }

    /// Full verification at time `now`: structure, header, key by `kid`, `verify_strict`, then claims and times.
    pub fn verify(&self, token: &str, keys: &KeySet, now: u64) -> Result<VerifiedToken> {
        self.verify_inner(token, keys, Some(now))
    }

    /// Like [`Self::verify`] but without the time checks; for revoking a token that may already have expired.
    pub fn verify_ignoring_time(&self, token: &str, keys: &KeySet) -> Result<VerifiedToken> {
        self.verify_inner(token, keys, None)
    }

    fn verify_inner(&self, token: &str, keys: &KeySet, now: Option<u64>) -> Result<VerifiedToken> {
        let jws = UnverifiedJws::decode(token, typ::ACCESS_TOKEN)?;
        let key = keys
            .get(jws.kid())
            .ok_or_else(|| Error::UnknownKid(jws.kid().to_owned()))?;
        let verified = jws.verify(key)?;
        let claims = parse_claims(&verified.claims)?;
        if claims.iss != self.issuer {
            return Err(Error::WrongIssuer(claims.iss));
        }
        if claims.aud.as_slice().is_empty() {
            return Err(Error::EmptyAudience);
        }
        if !self.audiences.is_empty() && !self.audiences.iter().any(|a| claims.aud.contains(a)) {
            return Err(Error::WrongAudience);
        }
        if let Some(now) = now {
            jws::check_times(claims.iat, claims.exp, now, self.leeway, self.max_lifetime)?;
            if claims
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
            {
                return Err(Error::NotYetValid);
            }
        }
        Ok(VerifiedToken {
            claims,
            kid: verified.header.kid,
        })
    }
}

fn parse_claims(c: &Map<String, Value>) -> Result<AccessTokenClaims> {
    let iss = string_claim(c, "iss")?.to_owned();
    let sub = string_claim(c, "sub")?;
    Did::parse(sub).map_err(|_| Error::WrongSubject)?;
    let client_id = string_claim(c, "client_id")?;
    if client_id != sub {
        return Err(Error::InvalidClaim("client_id", "must equal sub".into()));
    }
    let aud = match c.get("aud") {
        None => return Err(Error::MissingClaim("aud")),
        Some(Value::String(a)) if !a.is_empty() => Audience::One(a.clone()),
        Some(Value::Array(items)) => Audience::Many(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(Error::InvalidClaim(
                        "aud",
                        "entries must be non-empty strings".into(),
                    )),
                })
                .collect::<Result<_>>()?,
        ),
        Some(_) => {
            return Err(Error::InvalidClaim(
                "aud",
                "must be a string or an array".into(),
            ));
        }
    };
    let scope = string_claim(c, "scope")?;
    ScopeSet::parse(scope)?;
    let jti = string_claim(c, "jti")?;
    if jti.is_empty() {
        return Err(Error::InvalidClaim("jti", "must not be empty".into()));
    }
    let jkt = match c.get("cnf") {
        None => return Err(Error::MissingClaim("cnf")),
        Some(Value::Object(cnf)) => string_claim(cnf, "jkt")?.to_owned(),
        Some(_) => return Err(Error::InvalidClaim("cnf", "must be an object".into())),
    };
    Ok(AccessTokenClaims {
        iss,
        sub: sub.to_owned(),
        client_id: client_id.to_owned(),
        aud,
        scope: scope.to_owned(),
        iat: required_date(c, "iat")?,
        nbf: numeric_date(c, "nbf")?,
        exp: required_date(c, "exp")?,
        jti: jti.to_owned(),
        cnf: Confirmation { jkt },
    })
}
