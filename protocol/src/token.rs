//! The access-token profile (RFC 9068): claims, issuance, and the `Verifier` that alone can produce a
//! [`VerifiedToken`].

use std::borrow::Cow;

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did::Did;
use crate::encoding::b64url_decode;
use crate::error::{Error, Result};
use crate::jwks::KeySet;
use crate::jws::{self, Segments, typ};
use crate::keys::SigningKey;
use crate::scope::ScopeSet;
use crate::strict_json::{self, Fields, Member, MemberSeed, ObjectSeed, fill};

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
        // The same steps, in the same order, as `UnverifiedJws::decode` then `verify`, but the claims are parsed
        // straight into borrowed fields instead of a `Map` that would then be copied out.
        let segments = Segments::split(token)?;
        let header_json = b64url_decode(segments.header)?;
        let header = jws::parse_header(&header_json, typ::ACCESS_TOKEN)?;
        let payload = b64url_decode(segments.payload)?;
        let fields = strict_json::parse_object::<ClaimFields<'_>>(&payload)?
            .ok_or(Error::PayloadNotObject)?;
        let signature = jws::decode_signature(segments.signature)?;
        let key = keys
            .get(&header.kid)
            .ok_or_else(|| Error::UnknownKid(header.kid.clone().into_owned()))?;
        key.verify_strict(segments.signing_input.as_bytes(), &signature)?;
        let claims = fields.check()?;
        if claims.iss != self.issuer {
            return Err(Error::WrongIssuer(claims.iss.into_owned()));
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
            claims: AccessTokenClaims {
                iss: claims.iss.into_owned(),
                sub: claims.sub.into_owned(),
                client_id: claims.client_id.into_owned(),
                aud: claims.aud,
                scope: claims.scope.into_owned(),
                iat: claims.iat,
                nbf: claims.nbf,
                exp: claims.exp,
                jti: claims.jti.into_owned(),
                cnf: Confirmation {
                    jkt: claims.jkt.into_owned(),
                },
            },
            kid: header.kid.into_owned(),
        })
    }
}

/// The access-token claims as found in the payload, before any claim check.
#[derive(Default)]
struct ClaimFields<'a> {
    iss: Option<Member<'a>>,
    sub: Option<Member<'a>>,
    client_id: Option<Member<'a>>,
    aud: Option<Member<'a>>,
    scope: Option<Member<'a>>,
    jti: Option<Member<'a>>,
    cnf: Option<Option<CnfFields<'a>>>,
    iat: Option<Member<'a>>,
    nbf: Option<Member<'a>>,
    exp: Option<Member<'a>>,
}

impl<'de> Fields<'de> for ClaimFields<'de> {
    fn capture<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<Option<bool>, A::Error> {
        let slot = match key {
            "iss" => &mut self.iss,
            "sub" => &mut self.sub,
            "client_id" => &mut self.client_id,
            "aud" => &mut self.aud,
            "scope" => &mut self.scope,
            "jti" => &mut self.jti,
            "iat" => &mut self.iat,
            "nbf" => &mut self.nbf,
            "exp" => &mut self.exp,
            "cnf" => return fill::<_, ObjectSeed<CnfFields<'de>>>(&mut self.cnf, map).map(Some),
            _ => return Ok(None),
        };
        fill::<_, MemberSeed>(slot, map).map(Some)
    }
}

/// The members of `cnf` the checks read.
#[derive(Default)]
struct CnfFields<'a> {
    jkt: Option<Member<'a>>,
}

impl<'de> Fields<'de> for CnfFields<'de> {
    fn capture<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<Option<bool>, A::Error> {
        match key {
            "jkt" => fill::<_, MemberSeed>(&mut self.jkt, map).map(Some),
            _ => Ok(None),
        }
    }
}

/// Access-token claims that passed the claim checks, borrowing from the payload.
struct CheckedClaims<'a> {
    iss: Cow<'a, str>,
    sub: Cow<'a, str>,
    client_id: Cow<'a, str>,
    aud: Audience,
    scope: Cow<'a, str>,
    iat: u64,
    nbf: Option<u64>,
    exp: u64,
    jti: Cow<'a, str>,
    jkt: Cow<'a, str>,
}

impl<'a> ClaimFields<'a> {
    /// The claim checks, in a fixed order (which decides the error when several claims are wrong).
    fn check(self) -> Result<CheckedClaims<'a>> {
        let iss = string_member(self.iss, "iss")?;
        let sub = string_member(self.sub, "sub")?;
        Did::validate(&sub).map_err(|_| Error::WrongSubject)?;
        let client_id = string_member(self.client_id, "client_id")?;
        if client_id != sub {
            return Err(Error::InvalidClaim("client_id", "must equal sub".into()));
        }
        let aud = match self.aud {
            None => return Err(Error::MissingClaim("aud")),
            Some(Member::Str(a)) if !a.is_empty() => Audience::One(a.into_owned()),
            Some(Member::Other(Value::Array(items))) => Audience::Many(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) if !s.is_empty() => Ok(s),
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
        let scope = string_member(self.scope, "scope")?;
        ScopeSet::validate(&scope)?;
        let jti = string_member(self.jti, "jti")?;
        if jti.is_empty() {
            return Err(Error::InvalidClaim("jti", "must not be empty".into()));
        }
        let jkt = match self.cnf {
            None => return Err(Error::MissingClaim("cnf")),
            Some(Some(cnf)) => string_member(cnf.jkt, "jkt")?,
            Some(None) => return Err(Error::InvalidClaim("cnf", "must be an object".into())),
        };
        let iat = date_member(self.iat, "iat")?.ok_or(Error::MissingClaim("iat"))?;
        let nbf = date_member(self.nbf, "nbf")?;
        let exp = date_member(self.exp, "exp")?.ok_or(Error::MissingClaim("exp"))?;
        Ok(CheckedClaims {
            iss,
            sub,
            client_id,
            aud,
            scope,
            iat,
            nbf,
            exp,
            jti,
            jkt,
        })
    }
}

/// A required string claim (as [`jws::string_claim`]).
fn string_member<'a>(member: Option<Member<'a>>, name: &'static str) -> Result<Cow<'a, str>> {
    match member {
        None => Err(Error::MissingClaim(name)),
        Some(Member::Str(s)) => Ok(s),
        Some(_) => Err(Error::InvalidClaim(name, "must be a string".into())),
    }
}

/// A NumericDate claim (as [`jws::numeric_date`]): a non-negative JSON integer.
fn date_member(member: Option<Member<'_>>, name: &'static str) -> Result<Option<u64>> {
    match member {
        None => Ok(None),
        Some(Member::UInt(n)) => Ok(Some(n)),
        Some(_) => Err(Error::InvalidNumericDate(name)),
    }
}
