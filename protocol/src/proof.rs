//! Challenge–response: the server's single-use challenge and the agent's proof-of-possession JWS that answers it,
//! binding the DID, the server (as `aud`), the nonce, the requested scopes, token audience and lifetime.

use std::num::NonZeroU64;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::did::Did;
use crate::error::{Error, Result};
use crate::jws::{self, UnverifiedJws, constant_time_eq, required_date, string_claim, typ};
use crate::keys::{PublicKey, SigningKey};
use crate::scope::ScopeSet;
use crate::time::UnixTime;

/// Longest challenge lifetime a server may grant.
pub const MAX_CHALLENGE_TTL: Duration = Duration::from_secs(60);
/// Longest proof lifetime (`exp - iat`); [`ProofClaims::answer`] writes proofs this long.
pub const MAX_PROOF_LIFETIME: Duration = Duration::from_secs(60);
/// Longest requested token audience.
pub(crate) const MAX_TOKEN_AUD_LEN: usize = 256;
/// Minimum nonce entropy, in bytes (256 bits).
pub const MIN_NONCE_BYTES: usize = 32;

/// A challenge issued for one DID, as the server holds it. The server stores it and consumes it exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: String,
    pub nonce: String,
    pub expires_at: UnixTime,
    pub did: Did,
}

/// A challenge as the agent received it from the server (`challenge_id` and `nonce` of the challenge response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedChallenge<'a> {
    pub id: &'a str,
    pub nonce: &'a str,
}

/// What an agent asks for in a proof: the token's scopes, its audience, and optionally its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedToken<'a> {
    pub scope: &'a ScopeSet,
    /// The service the token is for (the token's `aud`).
    pub audience: &'a str,
    /// Requested lifetime in seconds; `None` asks for the server's default.
    pub ttl: Option<NonZeroU64>,
}

/// The claims of a proof.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProofClaims {
    /// The agent DID.
    pub iss: String,
    /// The agent DID.
    pub sub: String,
    /// The server's issuer URL: a proof made for one server is useless at another.
    pub aud: String,
    pub challenge_id: String,
    pub nonce: String,
    /// Requested scopes, space-separated.
    pub scope: String,
    /// Requested audience of the access token.
    pub token_aud: String,
    /// Requested token lifetime in seconds; `None` (omitted on the wire, or `0`) asks for the server default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "zero_is_none"
    )]
    pub ttl: Option<NonZeroU64>,
    pub iat: u64,
    pub exp: u64,
}

/// `ttl` as the wire has it: `0` is the same request as no `ttl` at all (spec §8.2).
fn zero_is_none<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<NonZeroU64>, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.and_then(NonZeroU64::new))
}

impl ProofClaims {
    /// The proof `did` makes at `now` to answer `challenge` from the server `issuer`, asking for `request`: `iss`
    /// and `sub` are the DID, `aud` the issuer, and the proof is valid for [`MAX_PROOF_LIFETIME`] from `now`.
    /// Sign it with [`sign_proof`] and the key of the DID.
    pub fn answer(
        did: &Did,
        challenge: ReceivedChallenge<'_>,
        issuer: &str,
        request: RequestedToken<'_>,
        now: UnixTime,
    ) -> ProofClaims {
        ProofClaims {
            iss: did.as_str().to_owned(),
            sub: did.as_str().to_owned(),
            aud: issuer.to_owned(),
            challenge_id: challenge.id.to_owned(),
            nonce: challenge.nonce.to_owned(),
            scope: request.scope.to_scope_string(),
            token_aud: request.audience.to_owned(),
            ttl: request.ttl,
            iat: now.as_secs(),
            exp: now.saturating_add(MAX_PROOF_LIFETIME).as_secs(),
        }
    }
}

/// Signs a proof with the agent key; `kid` is the key's RFC 7638 thumbprint.
pub fn sign_proof(key: &SigningKey, claims: &ProofClaims) -> Result<String> {
    jws::sign(key, typ::PROOF, &key.public_key().thumbprint(), claims)
}

/// A structurally valid proof whose signature and bindings are not yet checked.
#[derive(Debug, Clone)]
pub struct UnverifiedProof {
    jws: UnverifiedJws,
    challenge_id: String,
}

impl UnverifiedProof {
    /// Parses a proof (`typ` must be `auth4agent-proof+jwt`).
    pub fn decode(compact: &str) -> Result<UnverifiedProof> {
        let jws = UnverifiedJws::decode(compact, typ::PROOF)?;
        let challenge_id = string_claim(jws.claims(), "challenge_id")?.to_owned();
        Ok(UnverifiedProof { jws, challenge_id })
    }

    /// The challenge this proof claims to answer (for looking it up; not yet trusted).
    pub fn challenge_id(&self) -> &str {
        &self.challenge_id
    }

    /// The DID this proof claims to come from (for looking up its key; not yet trusted).
    pub fn did(&self) -> Result<Did> {
        Did::parse(string_claim(self.jws.claims(), "iss")?)
    }

    /// The `kid` header.
    pub fn kid(&self) -> &str {
        self.jws.kid()
    }

    /// Verifies the proof for `challenge` with the agent's registered `key`: kid, signature, DID binding, server
    /// binding (`aud == issuer`), challenge id, nonce, and times. Challenge expiry and single use are the server's.
    pub fn verify(
        self,
        key: &PublicKey,
        issuer: &str,
        challenge: &Challenge,
        now: UnixTime,
        leeway: Duration,
    ) -> Result<ProofClaims> {
        if self.jws.kid() != key.thumbprint() {
            return Err(Error::UnknownKid(self.jws.kid().to_owned()));
        }
        let verified = self.jws.verify(key)?;
        let c = &verified.claims;
        let iss = string_claim(c, "iss")?;
        let sub = string_claim(c, "sub")?;
        if iss != challenge.did.as_str() || sub != iss || !challenge.did.matches_key(key) {
            return Err(Error::WrongSubject);
        }
        let aud = string_claim(c, "aud")?;
        if aud != issuer {
            return Err(Error::WrongAudience);
        }
        if string_claim(c, "challenge_id")? != challenge.id {
            return Err(Error::InvalidClaim(
                "challenge_id",
                "does not match the challenge".into(),
            ));
        }
        let nonce = string_claim(c, "nonce")?;
        if !constant_time_eq(nonce.as_bytes(), challenge.nonce.as_bytes()) {
            return Err(Error::NonceMismatch);
        }
        let iat = required_date(c, "iat")?;
        let exp = required_date(c, "exp")?;
        jws::check_times(iat, exp, now, leeway, MAX_PROOF_LIFETIME)?;
        let scope = string_claim(c, "scope")?;
        if ScopeSet::parse(scope)?.is_empty() {
            return Err(Error::InvalidScope(
                "at least one scope must be requested".into(),
            ));
        }
        let token_aud = string_claim(c, "token_aud")?;
        if token_aud.is_empty()
            || token_aud.len() > MAX_TOKEN_AUD_LEN
            || !token_aud.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(Error::InvalidAudience(
                "token_aud must be 1 to 256 printable ASCII characters without spaces".into(),
            ));
        }
        // Absent and `0` both ask for the server's default.
        let ttl = match c.get("ttl") {
            None => None,
            Some(serde_json::Value::Number(n)) => NonZeroU64::new(n.as_u64().ok_or_else(|| {
                Error::InvalidClaim("ttl", "must be a non-negative integer".into())
            })?),
            Some(_) => return Err(Error::InvalidClaim("ttl", "must be an integer".into())),
        };
        Ok(ProofClaims {
            iss: iss.to_owned(),
            sub: sub.to_owned(),
            aud: aud.to_owned(),
            challenge_id: challenge.id.clone(),
            nonce: nonce.to_owned(),
            scope: scope.to_owned(),
            token_aud: token_aud.to_owned(),
            ttl,
            iat,
            exp,
        })
    }
}
