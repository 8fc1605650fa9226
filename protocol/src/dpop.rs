//! DPoP proofs (RFC 9449): the JWS an agent signs per HTTP request to show it holds the key its token is bound to.
//!
//! A proof's header is `{"alg":"EdDSA","typ":"dpop+jwt","jwk":<the agent's public OKP key>}` and its claims are
//! `jti`, `htm`, `htu`, `iat`, and optionally `ath` (base64url SHA-256 of the access token) and `nonce`.
//!
//! Verification follows RFC 9449 §4.3: the strict JWS core (no duplicate members, strict base64url, size limit),
//! `typ` exactly `dpop+jwt`, `alg` EdDSA (or its RFC 9864 name Ed25519), no `crit` and no other key-bearing
//! header; `jwk` a public Ed25519 OKP key (a private member `d` is refused); the signature checked with
//! `verify_strict` under that embedded key, which RFC 9449 requires and which is trusted only through its
//! RFC 7638 thumbprint: the caller compares [`VerifiedDpopProof::jkt`] to a known one (a token's `cnf.jkt`, the
//! agent's registered key). Then `htm` equal, `htu` equal per §4.3 (without query and fragment, scheme and host
//! case-normalized, default port dropped), `iat` within the window, `ath` when a token is given, `nonce` when one
//! is expected. Single use of `jti` within the window is the caller's (a database at the server, a replay cache
//! in a service).

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::encoding::{b64url_decode, sha256_b64url};
use crate::error::{Error, Result};
use crate::jws::{
    self, ACCEPTED_ALGS, Segments, constant_time_eq, decode_signature, required_date, string_claim,
};
use crate::keys::{Jwk, PublicKey, SigningKey};
use crate::request::{normalize_url, strip_query};
use crate::strict_json;
use crate::time::UnixTime;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";
/// The HTTP header that carries a DPoP proof.
pub const DPOP_HEADER: &str = "DPoP";
/// The `Authorization` scheme of a DPoP-bound token (RFC 9449 §7.1).
pub const DPOP_SCHEME: &str = "DPoP";
/// A proof's default acceptance window: `iat` at most this far in the past.
pub const DPOP_MAX_AGE: Duration = Duration::from_secs(60);
/// Longest accepted `jti`, in bytes.
pub const MAX_DPOP_JTI_LEN: usize = 256;

/// Header members that point to a key elsewhere or carry a certificate; a proof's key is its `jwk` only.
const OTHER_KEY_HEADERS: [&str; 5] = ["jku", "x5u", "x5c", "x5t", "x5t#S256"];

/// The claims of a DPoP proof as this crate signs them.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct DpopProofClaims {
    /// Fresh randomness (at least 128 bits), unique per proof.
    pub jti: String,
    /// The HTTP method.
    pub htm: String,
    /// The request URL without query and fragment.
    pub htu: String,
    pub iat: u64,
    /// base64url(SHA-256(access token)) when the proof accompanies a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
    /// A server-provided nonce (RFC 9449 §8), when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl DpopProofClaims {
    /// The claims for `method url` at `now`: `htu` is `url` without query and fragment, `ath` the hash of
    /// `access_token` when one is sent with the proof.
    pub fn new(
        method: &str,
        url: &str,
        now: UnixTime,
        jti: String,
        access_token: Option<&str>,
    ) -> DpopProofClaims {
        DpopProofClaims {
            jti,
            htm: method.to_owned(),
            htu: strip_query(url).to_owned(),
            iat: now.as_secs(),
            ath: access_token.map(|token| sha256_b64url(token.as_bytes())),
            nonce: None,
        }
    }
}

/// The protected header of a proof, members in the order written.
#[derive(Serialize)]
struct ProofHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    jwk: &'a Jwk,
}

/// Signs a DPoP proof with `key`, embedding its public JWK `{kty, crv, x}`.
pub fn sign_dpop_proof(key: &SigningKey, claims: &DpopProofClaims) -> Result<String> {
    let jwk = key.public_key().to_jwk();
    let header = serde_json::to_vec(&ProofHeader {
        alg: jws::ALG,
        typ: DPOP_TYP,
        jwk: &jwk,
    })
    .map_err(|e| Error::InvalidJson(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| Error::InvalidJson(e.to_string()))?;
    Ok(jws::sign_raw(key, &header, &payload))
}

/// What a proof must match: the request it came with, the clock and window, the token it accompanies.
#[derive(Debug, Clone, Copy)]
pub struct DpopRules<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's URL as the receiver's public address (scheme, host, path; a query is ignored).
    pub url: &'a str,
    pub now: UnixTime,
    /// `iat` at most this far in the past (see [`DPOP_MAX_AGE`]).
    pub max_age: Duration,
    /// `iat` at most this far in the future (clock skew).
    pub leeway: Duration,
    /// The access token sent with the proof: `ath` is then required and must be its hash.
    pub access_token: Option<&'a str>,
    /// A nonce the receiver issued: `nonce` is then required and must equal it.
    pub nonce: Option<&'a str>,
}

/// A proof that passed every check of [`verify_dpop_proof`]. The caller must still compare [`Self::jkt`] to the
/// key it knows, and consume [`Self::jti`] once until [`Self::replay_until`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDpopProof {
    jkt: String,
    jti: String,
    iat: UnixTime,
    replay_until: UnixTime,
}

impl VerifiedDpopProof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }
    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }
    /// The proof's `iat`.
    pub fn iat(&self) -> UnixTime {
        self.iat
    }
    /// After this time the proof is refused as too old, so its `jti` need not be remembered any longer.
    pub fn replay_until(&self) -> UnixTime {
        self.replay_until
    }
    /// Refuses the proof unless its key is the one with thumbprint `jkt` (a token's `cnf.jkt`).
    pub fn require_jkt(&self, jkt: &str) -> Result<()> {
        if constant_time_eq(self.jkt.as_bytes(), jkt.as_bytes()) {
            Ok(())
        } else {
            Err(Error::DpopKeyMismatch)
        }
    }
}

/// Verifies the DPoP proof `compact` against `rules` (RFC 9449 §4.3); see the module documentation.
pub fn verify_dpop_proof(compact: &str, rules: &DpopRules<'_>) -> Result<VerifiedDpopProof> {
    let segments = Segments::split(compact)?;
    let header = strict_json::parse(&b64url_decode(segments.header)?)?;
    let Value::Object(header) = header else {
        return Err(Error::InvalidJson(
            "protected header is not a JSON object".into(),
        ));
    };
    let key = check_header(&header)?;
    let Value::Object(claims) = strict_json::parse(&b64url_decode(segments.payload)?)? else {
        return Err(Error::PayloadNotObject);
    };
    let signature = decode_signature(segments.signature)?;
    key.verify_strict(segments.signing_input.as_bytes(), &signature)?;
    check_claims(&claims, rules)?;
    let iat = UnixTime::from_secs(required_date(&claims, "iat")?);
    Ok(VerifiedDpopProof {
        jkt: key.thumbprint(),
        jti: string_claim(&claims, "jti")?.to_owned(),
        iat,
        replay_until: iat.saturating_add(rules.max_age),
    })
}

/// The header rules, in a fixed order: `alg`, other key headers, `crit`, `typ`, `jwk`.
fn check_header(header: &Map<String, Value>) -> Result<PublicKey> {
    match header.get("alg") {
        Some(Value::String(alg)) if ACCEPTED_ALGS.contains(&alg.as_str()) => {}
        Some(Value::String(alg)) => return Err(Error::UnsupportedAlg(alg.clone())),
        Some(other) => return Err(Error::UnsupportedAlg(other.to_string())),
        None => return Err(Error::UnsupportedAlg(String::new())),
    }
    if let Some(name) = OTHER_KEY_HEADERS.iter().find(|n| header.contains_key(**n)) {
        return Err(Error::EmbeddedKey((*name).to_owned()));
    }
    match header.get("crit") {
        None => {}
        Some(Value::Array(items)) if items.is_empty() => return Err(Error::EmptyCrit),
        Some(_) => return Err(Error::UnknownCrit),
    }
    match header.get("typ") {
        None => return Err(Error::MissingTyp),
        Some(Value::String(typ)) if typ == DPOP_TYP => {}
        Some(found) => {
            return Err(Error::WrongTyp {
                expected: DPOP_TYP.into(),
                found: found
                    .as_str()
                    .map_or_else(|| found.to_string(), str::to_owned),
            });
        }
    }
    let jwk = match header.get("jwk") {
        None => {
            return Err(Error::InvalidKey(
                "a DPoP proof's header must carry the public jwk".into(),
            ));
        }
        Some(Value::Object(jwk)) => jwk,
        Some(_) => return Err(Error::InvalidKey("jwk must be a JSON object".into())),
    };
    if jwk.contains_key("d") {
        return Err(Error::InvalidKey(
            "the jwk contains a private key (d); a proof carries only the public key".into(),
        ));
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk.clone()))
        .map_err(|e| Error::InvalidKey(format!("jwk: {e}")))?;
    PublicKey::from_jwk(&jwk)
}

/// The claim rules: `jti`, `htm`, `htu`, `iat` window, `ath`, `nonce`.
fn check_claims(claims: &Map<String, Value>, rules: &DpopRules<'_>) -> Result<()> {
    let jti = string_claim(claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_DPOP_JTI_LEN {
        return Err(Error::InvalidClaim(
            "jti",
            format!("must be 1 to {MAX_DPOP_JTI_LEN} bytes"),
        ));
    }
    let htm = string_claim(claims, "htm")?;
    if htm != rules.method {
        return Err(Error::HtmMismatch {
            expected: rules.method.to_owned(),
            found: htm.to_owned(),
        });
    }
    let htu = string_claim(claims, "htu")?;
    if normalize_url(htu) != normalize_url(rules.url) {
        return Err(Error::HtuMismatch {
            expected: strip_query(rules.url).to_owned(),
            found: htu.to_owned(),
        });
    }
    let iat = required_date(claims, "iat")?;
    let now = rules.now.as_secs();
    if iat > now.saturating_add(rules.leeway.as_secs()) {
        return Err(Error::IssuedInFuture);
    }
    if iat.saturating_add(rules.max_age.as_secs()) < now {
        return Err(Error::Expired);
    }
    if let Some(token) = rules.access_token {
        let ath = string_claim(claims, "ath")?;
        if !constant_time_eq(ath.as_bytes(), sha256_b64url(token.as_bytes()).as_bytes()) {
            return Err(Error::AthMismatch);
        }
    }
    if let Some(expected) = rules.nonce {
        let nonce = string_claim(claims, "nonce")?;
        if !constant_time_eq(nonce.as_bytes(), expected.as_bytes()) {
            return Err(Error::NonceMismatch);
        }
    }
    Ok(())
}
