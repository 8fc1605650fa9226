//! The access-token profile (RFC 9068): claims, issuance, and the `Verifier` that alone can produce a
//! [`VerifiedToken`].

use std::borrow::Cow;
use std::time::Duration;

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::did::Did;
use crate::encoding::b64url_decode;
use crate::error::{Error, Result};
use crate::jwks::KeySet;
use crate::jws::{self, Segments, typ};
use crate::keys::{PublicKey, SigningKey};
use crate::scope::ScopeSet;
use crate::status_list::{StatusClaim, StatusListRef};
use crate::strict_json::{self, Fields, Member, MemberSeed, ObjectSeed, fill};
use crate::time::UnixTime;

/// Default clock-skew allowance.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default longest accepted token lifetime (`exp - iat`).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);

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
    /// Where the token's status is published (draft-ietf-oauth-status-list-20 §6.2): the agent's entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClaim>,
}

/// Signs an access token with header `{"alg":"EdDSA","kid":kid,"typ":"at+jwt"}`.
pub fn issue_token(key: &SigningKey, kid: &str, claims: &AccessTokenClaims) -> Result<String> {
    jws::sign(key, typ::ACCESS_TOKEN, kid, claims)
}

/// An access token that passed every check of a [`Verifier`]. Only the verifier can construct one, so a function
/// taking a `VerifiedToken` cannot be handed an unchecked token. Its values were validated once, by the verifier;
/// the accessors return them without parsing again.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    claims: AccessTokenClaims,
    did: Did,
    scopes: ScopeSet,
    kid: String,
}

impl VerifiedToken {
    /// The agent the token was issued to (`sub`, which equals `client_id`).
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The granted scopes (`scope`).
    pub fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// Refuses with [`Error::InsufficientScope`] unless `scope` was granted: the authorization decision a
    /// service makes after verification (spec §7.2).
    pub fn require_scope(&self, scope: &str) -> Result<()> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(Error::InsufficientScope {
                required: scope.to_owned(),
            })
        }
    }

    /// The issuer (`iss`): the one the verifier expects.
    pub fn issuer(&self) -> &str {
        &self.claims.iss
    }

    /// The audience (`aud`).
    pub fn audience(&self) -> &Audience {
        &self.claims.aud
    }

    /// The token's unique identifier (`jti`), for revocation lists and introspection.
    pub fn jti(&self) -> &str {
        &self.claims.jti
    }

    /// When the token was issued (`iat`).
    pub fn issued_at(&self) -> UnixTime {
        UnixTime::from_secs(self.claims.iat)
    }

    /// When the token becomes valid (`nbf`), if it says.
    pub fn not_before(&self) -> Option<UnixTime> {
        self.claims.nbf.map(UnixTime::from_secs)
    }

    /// When the token expires (`exp`).
    pub fn expires_at(&self) -> UnixTime {
        UnixTime::from_secs(self.claims.exp)
    }

    /// The RFC 7638 thumbprint of the agent key the token is bound to (`cnf.jkt`): a service demanding proof of
    /// possession checks that a signed request's key has this thumbprint.
    pub fn thumbprint(&self) -> &str {
        &self.claims.cnf.jkt
    }

    /// The status list entry the token names (`status.status_list`), if it has one: a service checks it
    /// against the issuer's list (see [`verify_status_list`](crate::verify_status_list)).
    pub fn status_list(&self) -> Option<&StatusListRef> {
        self.claims.status.as_ref().map(|s| &s.status_list)
    }

    /// The `kid` of the key that signed the token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The verified claims as they appear on the wire (to display or forward them).
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.claims
    }
}

/// Which audiences a [`Verifier`] accepts.
#[derive(Debug, Clone)]
enum AudienceRule {
    /// At least one `aud` value must be one of these (never empty).
    OneOf(Vec<String>),
    /// Any well-formed audience: see [`Verifier::without_audience_check`].
    Unchecked,
}

/// Verifies access tokens offline against a trusted [`KeySet`].
#[derive(Debug, Clone)]
pub struct Verifier {
    issuer: String,
    audiences: AudienceRule,
    leeway: Duration,
    max_lifetime: Duration,
}

impl Verifier {
    /// A verifier for tokens from `issuer` (compared exactly) meant for `audience` (one of the token's `aud` values
    /// must equal it), with a [60 s leeway](DEFAULT_LEEWAY) and a [1 h maximum lifetime](DEFAULT_MAX_LIFETIME).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Verifier {
        Verifier {
            issuer: issuer.into(),
            audiences: AudienceRule::OneOf(vec![audience.into()]),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
        }
    }

    /// A verifier that accepts tokens minted for **any audience**, i.e. for every other service as well.
    ///
    /// Only an issuer checking its own tokens (introspection, revocation) should use this; a tool that merely
    /// shows what a token says may too. A service deciding whether to serve a request must use [`Self::new`]
    /// with its own audience: otherwise a token an agent obtained for another service works here too.
    pub fn without_audience_check(issuer: impl Into<String>) -> Verifier {
        Verifier {
            issuer: issuer.into(),
            audiences: AudienceRule::Unchecked,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
        }
    }

    /// Accepts `audience` as well (call again for more). On a verifier made by [`Self::without_audience_check`]
    /// this turns the audience check on, with `audience` the only accepted one.
    pub fn accept_audience(mut self, audience: impl Into<String>) -> Verifier {
        match &mut self.audiences {
            AudienceRule::OneOf(list) => list.push(audience.into()),
            AudienceRule::Unchecked => self.audiences = AudienceRule::OneOf(vec![audience.into()]),
        }
        self
    }

    /// The issuer this verifier accepts tokens from.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Sets the clock-skew allowance (whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Verifier {
        self.leeway = leeway;
        self
    }

    /// Sets the longest accepted lifetime `exp - iat` (whole seconds).
    pub fn max_lifetime(mut self, max_lifetime: Duration) -> Verifier {
        self.max_lifetime = max_lifetime;
        self
    }

    /// Full verification at time `now`: structure, header, key by `kid`, `verify_strict`, then claims and times.
    /// A `kid` missing from `keys` is [`Error::UnknownKid`]: see [`KeyRefresh`](crate::KeyRefresh) for when to
    /// refetch the key set and retry.
    pub fn verify(&self, token: &str, keys: &KeySet, now: UnixTime) -> Result<VerifiedToken> {
        self.verify_inner(token, keys, Some(now))
    }

    /// Like [`Self::verify`] but without the time checks; for revoking a token that may already have expired.
    pub fn verify_ignoring_time(&self, token: &str, keys: &KeySet) -> Result<VerifiedToken> {
        self.verify_inner(token, keys, None)
    }

    fn verify_inner(
        &self,
        token: &str,
        keys: &KeySet,
        now: Option<UnixTime>,
    ) -> Result<VerifiedToken> {
        // The same steps, in the same order, as `UnverifiedJws::decode` then `verify`, but the claims are parsed
        // straight into borrowed fields instead of a `Map` that would then be copied out.
        let segments = Segments::split(token)?;
        // A header byte-identical to the one this crate writes for a trusted key needs no decoding: it could
        // only parse to that kid with `alg` EdDSA and `typ` at+jwt. Any other header takes the full parse.
        let header_json;
        let header = match keys.by_access_token_header(segments.header) {
            Some((kid, key)) => TokenHeader::Known { kid, key },
            None => {
                header_json = b64url_decode(segments.header)?;
                TokenHeader::Parsed(jws::parse_header(&header_json, typ::ACCESS_TOKEN)?)
            }
        };
        let payload = b64url_decode(segments.payload)?;
        let fields = strict_json::parse_object::<ClaimFields<'_>>(&payload)?
            .ok_or(Error::PayloadNotObject)?;
        let signature = jws::decode_signature(segments.signature)?;
        let (kid, key) = match header {
            TokenHeader::Known { kid, key } => (kid.to_owned(), key),
            TokenHeader::Parsed(header) => {
                let kid = header.kid.into_owned();
                let key = keys
                    .get(&kid)
                    .ok_or_else(|| Error::UnknownKid(kid.clone()))?;
                (kid, key)
            }
        };
        key.verify_strict(segments.signing_input.as_bytes(), &signature)?;
        let claims = fields.check()?;
        if claims.iss != self.issuer {
            return Err(Error::WrongIssuer(claims.iss.into_owned()));
        }
        if claims.aud.as_slice().is_empty() {
            return Err(Error::EmptyAudience);
        }
        if let AudienceRule::OneOf(accepted) = &self.audiences
            && !accepted.iter().any(|a| claims.aud.contains(a))
        {
            return Err(Error::WrongAudience);
        }
        if let Some(now) = now {
            jws::check_times(claims.iat, claims.exp, now, self.leeway, self.max_lifetime)?;
            if claims
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(self.leeway).as_secs())
            {
                return Err(Error::NotYetValid);
            }
        }
        Ok(VerifiedToken {
            claims: AccessTokenClaims {
                iss: claims.iss.into_owned(),
                sub: claims.did.as_str().to_owned(),
                client_id: claims.did.as_str().to_owned(),
                aud: claims.aud,
                scope: claims.scope.into_owned(),
                iat: claims.iat,
                nbf: claims.nbf,
                exp: claims.exp,
                jti: claims.jti.into_owned(),
                cnf: Confirmation {
                    jkt: claims.jkt.into_owned(),
                },
                status: claims.status,
            },
            did: claims.did,
            scopes: claims.scopes,
            kid,
        })
    }
}

/// Where a token's kid and key came from.
enum TokenHeader<'k, 'h> {
    /// The header is byte for byte the one this crate writes for this trusted key.
    Known { kid: &'k str, key: &'k PublicKey },
    /// Any other header, decoded and checked by `jws::parse_header`; its key is not looked up yet.
    Parsed(jws::HeaderRef<'h>),
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
    status: Option<Option<StatusFields<'a>>>,
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
            "status" => {
                return fill::<_, ObjectSeed<StatusFields<'de>>>(&mut self.status, map).map(Some);
            }
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

/// The members of `status` the checks read (other status mechanisms are skipped).
#[derive(Default)]
struct StatusFields<'a> {
    status_list: Option<Option<StatusListFields<'a>>>,
}

impl<'de> Fields<'de> for StatusFields<'de> {
    fn capture<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<Option<bool>, A::Error> {
        match key {
            "status_list" => {
                fill::<_, ObjectSeed<StatusListFields<'de>>>(&mut self.status_list, map).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// The members of `status.status_list`.
#[derive(Default)]
struct StatusListFields<'a> {
    idx: Option<Member<'a>>,
    uri: Option<Member<'a>>,
}

impl<'de> Fields<'de> for StatusListFields<'de> {
    fn capture<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<Option<bool>, A::Error> {
        let slot = match key {
            "idx" => &mut self.idx,
            "uri" => &mut self.uri,
            _ => return Ok(None),
        };
        fill::<_, MemberSeed>(slot, map).map(Some)
    }
}

/// The `status` claim (draft-ietf-oauth-status-list-20 §6.2): an object whose `status_list` is an object with a
/// non-negative integer `idx` and a non-empty string `uri`.
fn status_claim(status: Option<StatusFields<'_>>) -> Result<StatusClaim> {
    let invalid = |why: &str| Error::InvalidClaim("status", why.into());
    let status = status.ok_or_else(|| invalid("must be an object"))?;
    let Some(Some(list)) = status.status_list else {
        return Err(invalid("status_list must be an object"));
    };
    let idx = match list.idx {
        Some(Member::UInt(n)) => n,
        _ => return Err(invalid("idx must be a non-negative integer")),
    };
    let uri = match list.uri {
        Some(Member::Str(uri)) if !uri.is_empty() => uri.into_owned(),
        _ => return Err(invalid("uri must be a non-empty string")),
    };
    Ok(StatusClaim::new(uri, idx))
}

/// Access-token claims that passed the claim checks, borrowing from the payload.
struct CheckedClaims<'a> {
    iss: Cow<'a, str>,
    /// `sub`, which `client_id` equals.
    did: Did,
    aud: Audience,
    scope: Cow<'a, str>,
    scopes: ScopeSet,
    iat: u64,
    nbf: Option<u64>,
    exp: u64,
    jti: Cow<'a, str>,
    jkt: Cow<'a, str>,
    status: Option<StatusClaim>,
}

impl<'a> ClaimFields<'a> {
    /// The claim checks, in a fixed order (which decides the error when several claims are wrong).
    fn check(self) -> Result<CheckedClaims<'a>> {
        let iss = string_member(self.iss, "iss")?;
        let sub = string_member(self.sub, "sub")?;
        let did = Did::parse(&sub).map_err(|_| Error::WrongSubject)?;
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
        let scopes = ScopeSet::parse(&scope)?;
        let jti = string_member(self.jti, "jti")?;
        if jti.is_empty() {
            return Err(Error::InvalidClaim("jti", "must not be empty".into()));
        }
        let jkt = match self.cnf {
            None => return Err(Error::MissingClaim("cnf")),
            Some(Some(cnf)) => string_member(cnf.jkt, "jkt")?,
            Some(None) => return Err(Error::InvalidClaim("cnf", "must be an object".into())),
        };
        let status = self.status.map(status_claim).transpose()?;
        let iat = date_member(self.iat, "iat")?.ok_or(Error::MissingClaim("iat"))?;
        let nbf = date_member(self.nbf, "nbf")?;
        let exp = date_member(self.exp, "exp")?.ok_or(Error::MissingClaim("exp"))?;
        Ok(CheckedClaims {
            iss,
            did,
            aud,
            scope,
            scopes,
            iat,
            nbf,
            exp,
            jti,
            jkt,
            status,
        })
    }
}

/// A required string claim (as `jws::string_claim`).
fn string_member<'a>(member: Option<Member<'a>>, name: &'static str) -> Result<Cow<'a, str>> {
    match member {
        None => Err(Error::MissingClaim(name)),
        Some(Member::Str(s)) => Ok(s),
        Some(_) => Err(Error::InvalidClaim(name, "must be a string".into())),
    }
}

/// A NumericDate claim (as `jws::numeric_date`): a non-negative JSON integer.
fn date_member(member: Option<Member<'_>>, name: &'static str) -> Result<Option<u64>> {
    match member {
        None => Ok(None),
        Some(Member::UInt(n)) => Ok(Some(n)),
        Some(_) => Err(Error::InvalidNumericDate(name)),
    }
}
