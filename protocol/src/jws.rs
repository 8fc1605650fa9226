//! The strict compact JWS core (RFC 7515) shared by access tokens, proofs and signed requests: EdDSA over Ed25519
//! only, explicit `typ`, no embedded keys, no `crit`, no duplicate members, strict base64url, `verify_strict`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::encoding::{b64url_decode, b64url_encode};
use crate::error::{Error, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::strict_json;

/// The `typ` header value of each message kind. A message of one kind never verifies as another (RFC 8725 §3.11).
pub mod typ {
    /// Access tokens (RFC 9068).
    pub const ACCESS_TOKEN: &str = "at+jwt";
    /// An agent's proof of possession answering a challenge.
    pub const PROOF: &str = "auth4agent-proof+jwt";
    /// A signed administrative request (DPoP shape, RFC 9449).
    pub const REQUEST: &str = "auth4agent-req+jwt";
}

/// Largest compact JWS accepted, in bytes.
pub const MAX_COMPACT_LEN: usize = 16 * 1024;

/// The `alg` written when signing.
pub const ALG: &str = "EdDSA";

/// `alg` values accepted when verifying: `EdDSA` (RFC 8037) and the fully specified `Ed25519` (RFC 9864).
pub const ACCEPTED_ALGS: [&str; 2] = ["EdDSA", "Ed25519"];

/// Header members that embed or point to a key; a verifier that honoured them would trust the attacker's key.
const KEY_HEADERS: [&str; 6] = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

/// Signs `payload` under `header_json` exactly as given: `b64url(header) '.' b64url(payload) '.' b64url(sig)`.
pub fn sign_raw(key: &SigningKey, header_json: &[u8], payload: &[u8]) -> String {
    let mut out = b64url_encode(header_json);
    out.push('.');
    out.push_str(&b64url_encode(payload));
    let sig = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&b64url_encode(&sig));
    out
}

/// Signs `claims` with header `{"alg":"EdDSA","kid":kid,"typ":typ}`.
pub fn sign(key: &SigningKey, typ: &str, kid: &str, claims: &impl Serialize) -> Result<String> {
    let header = serde_json::to_vec(&serde_json::json!({ "alg": ALG, "kid": kid, "typ": typ }))
        .map_err(|e| Error::InvalidJson(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| Error::InvalidJson(e.to_string()))?;
    Ok(sign_raw(key, &header, &payload))
}

/// The parsed protected header of an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: String,
    pub typ: String,
    pub kid: String,
}

/// A structurally valid JWS whose signature has not been checked yet. Its claims may be used for routing only.
#[derive(Debug, Clone)]
pub struct UnverifiedJws {
    header: Header,
    claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// A JWS whose signature verified under a key the caller chose.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    pub header: Header,
    pub claims: Map<String, Value>,
}

impl UnverifiedJws {
    /// Parses `compact` and applies every structural refusal; `expected_typ` is the only `typ` accepted
    /// (compared as a media type: case-insensitive, optional `application/` prefix, RFC 7515 §4.1.9).
    pub fn decode(compact: &str, expected_typ: &str) -> Result<UnverifiedJws> {
        if compact.len() > MAX_COMPACT_LEN {
            return Err(Error::TokenTooLarge(MAX_COMPACT_LEN));
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
        let header_value = strict_json::parse(&b64url_decode(h)?)?;
        let Value::Object(header) = header_value else {
            return Err(Error::InvalidJson(
                "protected header is not a JSON object".into(),
            ));
        };
        let header = check_header(&header, expected_typ)?;
        let payload = b64url_decode(p)?;
        let Value::Object(claims) = strict_json::parse(&payload)? else {
            return Err(Error::PayloadNotObject);
        };
        let signature = b64url_decode(s)?;
        if signature.len() != 64 {
            return Err(Error::BadSignature);
        }
        Ok(UnverifiedJws {
            header,
            claims,
            signing_input: compact[..h.len() + 1 + p.len()].to_owned(),
            signature,
        })
    }

    /// The header's `kid`: which trusted key the sender claims to have used. Never a key itself.
    pub fn kid(&self) -> &str {
        &self.header.kid
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
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

fn check_header(header: &Map<String, Value>, expected_typ: &str) -> Result<Header> {
    let alg = match header.get("alg") {
        Some(Value::String(alg)) if ACCEPTED_ALGS.contains(&alg.as_str()) => alg.clone(),
        Some(Value::String(alg)) => return Err(Error::UnsupportedAlg(alg.clone())),
        Some(other) => return Err(Error::UnsupportedAlg(other.to_string())),
        None => return Err(Error::UnsupportedAlg(String::new())),
    };
    if let Some(name) = KEY_HEADERS.iter().find(|k| header.contains_key(**k)) {
        return Err(Error::EmbeddedKey((*name).to_string()));
    }
    match header.get("crit") {
        None => {}
        Some(Value::Array(items)) if items.is_empty() => return Err(Error::EmptyCrit),
        Some(_) => return Err(Error::UnknownCrit),
    }
    let typ = match header.get("typ") {
        None => return Err(Error::MissingTyp),
        Some(Value::String(t)) if typ_matches(t, expected_typ) => t.clone(),
        Some(other) => {
            return Err(Error::WrongTyp {
                expected: expected_typ.to_string(),
                found: other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string),
            });
        }
    };
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err(Error::MissingKid),
    };
    Ok(Header { alg, typ, kid })
}

fn typ_matches(found: &str, expected: &str) -> bool {
    let found = match found.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &found[12..],
        _ => found,
    };
    found.eq_ignore_ascii_case(expected)
}

/// Reads a required string claim.
pub fn string_claim<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str> {
    match claims.get(name) {
        None => Err(Error::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::InvalidClaim(name, "must be a string".into())),
    }
}

/// Reads a NumericDate claim, which must be a non-negative JSON integer (never a string, float or boolean).
pub fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or(Error::InvalidNumericDate(name)),
        Some(_) => Err(Error::InvalidNumericDate(name)),
    }
}

/// Reads a required NumericDate claim.
pub fn required_date(claims: &Map<String, Value>, name: &'static str) -> Result<u64> {
    numeric_date(claims, name)?.ok_or(Error::MissingClaim(name))
}

/// The lifetime window checks shared by every message kind: `iat` not in the future, not expired,
/// `exp` after `iat`, and `exp - iat` at most `max_lifetime`. `leeway` absorbs clock skew.
pub fn check_times(iat: u64, exp: u64, now: u64, leeway: u64, max_lifetime: u64) -> Result<()> {
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
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
