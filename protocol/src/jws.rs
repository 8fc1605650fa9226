//! The strict compact JWS core (RFC 7515) shared by access tokens, proofs and signed requests: EdDSA over Ed25519
//! only, explicit `typ`, no embedded keys, no `crit`, no duplicate members, strict base64url, `verify_strict`.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::MapAccess;
use serde_json::{Map, Value};

use crate::encoding::{b64url_decode, b64url_decode_array};
use crate::error::{Error, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::strict_json::{self, Fields, Member, MemberSeed, fill, mark};
use crate::time::UnixTime;

/// The `typ` header value of each message kind. A message of one kind never verifies as another (RFC 8725 §3.11).
pub mod typ {
    /// Access tokens (RFC 9068).
    pub const ACCESS_TOKEN: &str = "at+jwt";
    /// An agent's proof of possession answering a challenge.
    pub const PROOF: &str = "auth4agent-proof+jwt";
    /// A signed administrative request (DPoP shape, RFC 9449).
    pub const REQUEST: &str = "auth4agent-req+jwt";
    /// The explicit `typ` of an RFC 7523 client assertion (draft-ietf-oauth-rfc7523bis); `JWT` and no `typ`
    /// are accepted too, because deployed libraries send those.
    pub const CLIENT_ASSERTION: &str = "client-authentication+jwt";
    /// A Token Status List (draft-ietf-oauth-status-list-20 §5.1).
    pub const STATUS_LIST: &str = "statuslist+jwt";
    /// An operator key change, signed by the new key (the ACME key-change shape, RFC 8555 §7.3.5).
    pub const KEY_CHANGE: &str = "auth4agent-key-change+jwt";
}

/// Largest compact JWS accepted, in bytes.
pub const MAX_COMPACT_LEN: usize = 16 * 1024;

/// The `alg` written when signing.
pub(crate) const ALG: &str = "EdDSA";

/// `alg` values accepted when verifying: `EdDSA` (RFC 8037) and the fully specified `Ed25519` (RFC 9864).
pub(crate) const ACCEPTED_ALGS: [&str; 2] = ["EdDSA", "Ed25519"];

/// Header members that embed or point to a key; a verifier that honoured them would trust the attacker's key.
const KEY_HEADERS: [&str; 6] = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

/// Signs `payload` under `header_json` exactly as given: `b64url(header) '.' b64url(payload) '.' b64url(sig)`.
pub(crate) fn sign_raw(key: &SigningKey, header_json: &[u8], payload: &[u8]) -> String {
    let b64_len = |n: usize| n.div_ceil(3) * 4;
    let mut out = String::with_capacity(b64_len(header_json.len()) + b64_len(payload.len()) + 88);
    URL_SAFE_NO_PAD.encode_string(header_json, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let sig = key.sign(out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut out);
    out
}

/// The protected header written when signing; members in the order `{"alg","kid","typ"}`.
#[derive(Serialize)]
struct SignHeader<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

/// The header JSON [`sign`] writes: `{"alg":"EdDSA","kid":kid,"typ":typ}`.
fn sign_header(typ: &str, kid: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(&SignHeader { alg: ALG, kid, typ })
        .map_err(|e| Error::InvalidJson(e.to_string()))
}

/// The base64url header segment [`sign`] writes for `typ` and `kid`, byte for byte.
pub(crate) fn encoded_sign_header(typ: &str, kid: &str) -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(sign_header(typ, kid)?))
}

/// Signs `claims` with header `{"alg":"EdDSA","kid":kid,"typ":typ}`.
pub(crate) fn sign(
    key: &SigningKey,
    typ: &str,
    kid: &str,
    claims: &impl Serialize,
) -> Result<String> {
    let header = sign_header(typ, kid)?;
    let payload = serde_json::to_vec(claims).map_err(|e| Error::InvalidJson(e.to_string()))?;
    Ok(sign_raw(key, &header, &payload))
}

/// The parsed protected header of an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    /// `EdDSA` or `Ed25519`.
    pub alg: String,
    /// As found in the message (it matched the expected `typ` as a media type).
    pub typ: String,
    /// Which trusted key the sender claims to have used.
    pub kid: String,
}

/// A structurally valid JWS whose signature has not been checked yet. Its claims may be used for routing only.
#[derive(Debug, Clone)]
pub struct UnverifiedJws {
    header: JwsHeader,
    claims: Map<String, Value>,
    signing_input: String,
    signature: [u8; 64],
}

/// A JWS whose signature verified under a key the caller chose. Only [`UnverifiedJws::verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    pub(crate) header: JwsHeader,
    pub(crate) claims: Map<String, Value>,
}

impl VerifiedJws {
    /// The verified protected header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The verified claims. Which of them are trustworthy is for the message kind to decide (issuer, times, ...).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

impl UnverifiedJws {
    /// Parses `compact` and applies every structural refusal; `expected_typ` is the only `typ` accepted
    /// (compared as a media type: case-insensitive, optional `application/` prefix, RFC 7515 §4.1.9).
    pub fn decode(compact: &str, expected_typ: &str) -> Result<UnverifiedJws> {
        UnverifiedJws::decode_with(compact, HeaderRule::Typ(expected_typ))
    }

    /// [`UnverifiedJws::decode`] for an RFC 7523 client assertion: `typ` absent, `JWT` or
    /// `client-authentication+jwt`, and `kid` optional (the key is the one registered for `sub`).
    pub(crate) fn decode_client_assertion(compact: &str) -> Result<UnverifiedJws> {
        UnverifiedJws::decode_with(compact, HeaderRule::ClientAssertion)
    }

    fn decode_with(compact: &str, rule: HeaderRule<'_>) -> Result<UnverifiedJws> {
        let segments = Segments::split(compact)?;
        let header_json = b64url_decode(segments.header)?;
        let header = parse_header_with(&header_json, rule)?.into_owned();
        let payload = b64url_decode(segments.payload)?;
        let Value::Object(claims) = strict_json::parse(&payload)? else {
            return Err(Error::PayloadNotObject);
        };
        let signature = decode_signature(segments.signature)?;
        Ok(UnverifiedJws {
            header,
            claims,
            signing_input: segments.signing_input.to_owned(),
            signature,
        })
    }

    /// The header's `kid`: which trusted key the sender claims to have used. Never a key itself.
    pub fn kid(&self) -> &str {
        &self.header.kid
    }

    /// The `kid` header when there is one (only a client assertion may lack it).
    pub(crate) fn header_kid(&self) -> Option<&str> {
        Some(self.header.kid.as_str()).filter(|kid| !kid.is_empty())
    }

    /// The parsed header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// Claims before verification: for routing (which key, which challenge) only, never for decisions.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Checks the signature with `key` using `verify_strict`.
    pub fn verify(self, key: &PublicKey) -> Result<VerifiedJws> {
        key.verify_strict(self.signing_input.as_bytes(), &self.signature)?;
        Ok(VerifiedJws {
            header: self.header,
            claims: self.claims,
        })
    }
}

/// The three segments of a compact JWS that passed the size and shape checks.
pub(crate) struct Segments<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header '.' payload`: the bytes the signature covers.
    pub signing_input: &'a str,
}

impl<'a> Segments<'a> {
    /// Applies the size limit and splits `compact` into exactly three segments, header and signature non-empty.
    pub(crate) fn split(compact: &'a str) -> Result<Segments<'a>> {
        Segments::split_limited(compact, MAX_COMPACT_LEN)
    }

    /// [`Segments::split`] with another size limit (a status list is larger than any token).
    pub(crate) fn split_limited(compact: &'a str, limit: usize) -> Result<Segments<'a>> {
        if compact.len() > limit {
            return Err(Error::TokenTooLarge(limit));
        }
        if compact.is_empty() {
            return Err(Error::MalformedToken);
        }
        let mut parts = compact.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::MalformedToken);
        };
        if h.is_empty() || s.is_empty() {
            return Err(Error::MalformedToken);
        }
        Ok(Segments {
            header: h,
            payload: p,
            signature: s,
            signing_input: &compact[..h.len() + 1 + p.len()],
        })
    }
}

/// Decodes the signature segment, which must hold exactly 64 bytes.
pub(crate) fn decode_signature(segment: &str) -> Result<[u8; 64]> {
    if let Some(signature) = b64url_decode_array(segment) {
        return Ok(signature);
    }
    b64url_decode(segment)?
        .try_into()
        .map_err(|_| Error::BadSignature)
}

/// The header members the checks read; every other member is checked for syntax and duplicates only.
#[derive(Default)]
struct HeaderFields<'a> {
    alg: Option<Member<'a>>,
    typ: Option<Member<'a>>,
    kid: Option<Member<'a>>,
    crit: Option<Member<'a>>,
    /// Presence of each of [`KEY_HEADERS`], in that order.
    key_headers: [bool; KEY_HEADERS.len()],
}

impl<'de> Fields<'de> for HeaderFields<'de> {
    fn capture<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<Option<bool>, A::Error> {
        let filled = match key {
            "alg" => fill::<_, MemberSeed>(&mut self.alg, map)?,
            "typ" => fill::<_, MemberSeed>(&mut self.typ, map)?,
            "kid" => fill::<_, MemberSeed>(&mut self.kid, map)?,
            "crit" => fill::<_, MemberSeed>(&mut self.crit, map)?,
            _ => match KEY_HEADERS.iter().position(|k| *k == key) {
                Some(i) => mark(&mut self.key_headers[i], map)?,
                None => return Ok(None),
            },
        };
        Ok(Some(filled))
    }
}

/// An accepted protected header, borrowing from the decoded header JSON where it can.
pub(crate) struct HeaderRef<'a> {
    pub alg: Cow<'a, str>,
    pub typ: Cow<'a, str>,
    pub kid: Cow<'a, str>,
}

impl HeaderRef<'_> {
    fn into_owned(self) -> JwsHeader {
        JwsHeader {
            alg: self.alg.into_owned(),
            typ: self.typ.into_owned(),
            kid: self.kid.into_owned(),
        }
    }
}

/// Parses the decoded protected header and applies every header refusal, in a fixed order: `alg` allow-list,
/// embedded keys, `crit`, `typ`, `kid`.
pub(crate) fn parse_header<'a>(json: &'a [u8], expected_typ: &str) -> Result<HeaderRef<'a>> {
    parse_header_with(json, HeaderRule::Typ(expected_typ))
}

/// Which `typ` and `kid` a header must carry.
#[derive(Clone, Copy)]
enum HeaderRule<'a> {
    /// Exactly this `typ`, and a non-empty `kid`.
    Typ(&'a str),
    /// `typ` absent, `JWT` or `client-authentication+jwt`; `kid` optional (empty when absent).
    ClientAssertion,
}

fn parse_header_with<'a>(json: &'a [u8], rule: HeaderRule<'_>) -> Result<HeaderRef<'a>> {
    let Some(header) = strict_json::parse_object::<HeaderFields<'a>>(json)? else {
        return Err(Error::InvalidJson(
            "protected header is not a JSON object".into(),
        ));
    };
    let alg = match header.alg {
        Some(Member::Str(alg)) if ACCEPTED_ALGS.contains(&&*alg) => alg,
        Some(Member::Str(alg)) => return Err(Error::UnsupportedAlg(alg.into_owned())),
        Some(other) => return Err(Error::UnsupportedAlg(other.to_value().to_string())),
        None => return Err(Error::UnsupportedAlg(String::new())),
    };
    if let Some(i) = header.key_headers.iter().position(|present| *present) {
        return Err(Error::EmbeddedKey(KEY_HEADERS[i].to_string()));
    }
    match header.crit {
        None => {}
        Some(Member::Other(Value::Array(items))) if items.is_empty() => {
            return Err(Error::EmptyCrit);
        }
        Some(_) => return Err(Error::UnknownCrit),
    }
    let expected_typ = match rule {
        HeaderRule::Typ(expected) => expected,
        HeaderRule::ClientAssertion => return client_assertion_header(alg, header.typ, header.kid),
    };
    let typ = match header.typ {
        None => return Err(Error::MissingTyp),
        Some(Member::Str(t)) if typ_matches(&t, expected_typ) => t,
        Some(Member::Str(t)) => {
            return Err(Error::WrongTyp {
                expected: expected_typ.to_string(),
                found: t.into_owned(),
            });
        }
        Some(other) => {
            return Err(Error::WrongTyp {
                expected: expected_typ.to_string(),
                found: other.to_value().to_string(),
            });
        }
    };
    let kid = match header.kid {
        Some(Member::Str(kid)) if !kid.is_empty() => kid,
        _ => return Err(Error::MissingKid),
    };
    Ok(HeaderRef { alg, typ, kid })
}

/// The `typ` and `kid` rules of a client assertion, after the shared `alg`, key and `crit` refusals.
fn client_assertion_header<'a>(
    alg: Cow<'a, str>,
    typ: Option<Member<'a>>,
    kid: Option<Member<'a>>,
) -> Result<HeaderRef<'a>> {
    const ACCEPTED: &str = "absent, JWT or client-authentication+jwt";
    let typ = match typ {
        None => Cow::Borrowed(""),
        Some(Member::Str(t))
            if typ_matches(&t, "JWT") || typ_matches(&t, typ::CLIENT_ASSERTION) =>
        {
            t
        }
        Some(other) => {
            return Err(Error::WrongTyp {
                expected: ACCEPTED.into(),
                found: match other {
                    Member::Str(t) => t.into_owned(),
                    other => other.to_value().to_string(),
                },
            });
        }
    };
    let kid = match kid {
        None => Cow::Borrowed(""),
        Some(Member::Str(kid)) if !kid.is_empty() => kid,
        Some(_) => return Err(Error::MissingKid),
    };
    Ok(HeaderRef { alg, typ, kid })
}

pub(crate) fn typ_matches(found: &str, expected: &str) -> bool {
    let found = match found.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &found[12..],
        _ => found,
    };
    found.eq_ignore_ascii_case(expected)
}

/// Reads a required string claim.
pub(crate) fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str> {
    match claims.get(name) {
        None => Err(Error::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::InvalidClaim(name, "must be a string".into())),
    }
}

/// Reads a NumericDate claim, which must be a non-negative JSON integer (never a string, float or boolean).
pub(crate) fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or(Error::InvalidNumericDate(name)),
        Some(_) => Err(Error::InvalidNumericDate(name)),
    }
}

/// Reads a required NumericDate claim.
pub(crate) fn required_date(claims: &Map<String, Value>, name: &'static str) -> Result<u64> {
    numeric_date(claims, name)?.ok_or(Error::MissingClaim(name))
}

/// The lifetime window checks shared by every message kind: `iat` not in the future, not expired,
/// `exp` after `iat`, and `exp - iat` at most `max_lifetime`. `leeway` absorbs clock skew.
pub(crate) fn check_times(
    iat: u64,
    exp: u64,
    now: UnixTime,
    leeway: Duration,
    max_lifetime: Duration,
) -> Result<()> {
    let (now, leeway, max_lifetime) = (now.as_secs(), leeway.as_secs(), max_lifetime.as_secs());
    if exp <= iat {
        return Err(Error::InvalidClaim("exp", "must be after iat".into()));
    }
    if exp - iat > max_lifetime {
        return Err(Error::LifetimeTooLong);
    }
    if iat > now.saturating_add(leeway) {
        return Err(Error::IssuedInFuture);
    }
    if now >= exp.saturating_add(leeway) {
        return Err(Error::Expired);
    }
    Ok(())
}

/// Compares two secrets in time independent of where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sign_raw` reproduces RFC 8037 A.4 byte for byte (the integration tests sign hand-written bytes with their
    /// own copy of it, so the crate's is checked here).
    #[test]
    fn sign_raw_reproduces_rfc8037_a4() {
        let v: Value =
            serde_json::from_str(include_str!("../tests/vectors/rfc8037_a4.json")).unwrap();
        let d = b64url_decode(v["jwk_private"]["d"].as_str().unwrap()).unwrap();
        let key = SigningKey::from_seed(&d.try_into().unwrap());
        let compact = sign_raw(
            &key,
            v["protected_header"].as_str().unwrap().as_bytes(),
            v["payload"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(compact, v["jws_compact"].as_str().unwrap());
    }
}
