//! RFC 7523 client assertions (`private_key_jwt`): the JWT an agent signs with its own key to authenticate at the
//! OAuth token endpoint, and the RFC 8707 `resource` that names the token's audience.
//!
//! The checks, in order: the strict JWS core (EdDSA only, no embedded keys, no `crit`, no duplicate members) with
//! `typ` absent, `JWT` or `client-authentication+jwt` and nothing else; `iss` = `sub` = a `did:agent` DID whose key
//! verifies the signature (`verify_strict`); `aud` naming the server; `exp` required and at most
//! [`MAX_ASSERTION_LIFETIME`] after `iat` (or after now, without `iat`); `jti` required. No claim reserved to
//! another message kind (`nonce`, `challenge_id`, `token_aud`, `htm`, `htu`, `ath`, `cnf`, `client_id`, `scope`) may
//! appear. Single use of `jti` is the server's.

use crate::did::Did;
use crate::error::{Error, Result};
use crate::jws::{self, string_claim};
use std::time::Duration;

use crate::keys::{PublicKey, SigningKey};
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest accepted assertion lifetime (the MCP SDK signs for 300 s).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// Longest accepted `jti`, in bytes.
pub const MAX_JTI_LEN: usize = 256;
/// Longest accepted `resource`, in bytes (the longest token audience).
pub const MAX_RESOURCE_LEN: usize = crate::proof::MAX_TOKEN_AUD_LEN;

/// The explicit `typ` of a client assertion (see [`typ::CLIENT_ASSERTION`](crate::typ::CLIENT_ASSERTION)).
pub const CLIENT_ASSERTION_TYP: &str = jws::typ::CLIENT_ASSERTION;

/// Claims that belong to another message kind; an assertion carrying one is refused.
const FOREIGN_CLAIMS: [&str; 9] = [
    "nonce",
    "challenge_id",
    "token_aud",
    "htm",
    "htu",
    "ath",
    "cnf",
    "client_id",
    "scope",
];

/// The claims of a client assertion as this crate signs them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ClientAssertionClaims {
    /// The agent DID.
    pub iss: String,
    /// The agent DID.
    pub sub: String,
    /// The server's issuer identifier.
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

impl ClientAssertionClaims {
    /// An assertion by `did` for the server `issuer`, issued at `now` and valid for `lifetime` (at most
    /// [`MAX_ASSERTION_LIFETIME`]).
    pub fn new(
        did: &Did,
        issuer: &str,
        now: UnixTime,
        lifetime: Duration,
        jti: String,
    ) -> ClientAssertionClaims {
        ClientAssertionClaims {
            iss: did.as_str().to_owned(),
            sub: did.as_str().to_owned(),
            aud: issuer.to_owned(),
            iat: now.as_secs(),
            exp: now
                .saturating_add(lifetime.min(MAX_ASSERTION_LIFETIME))
                .as_secs(),
            jti,
        }
    }
}

/// Signs a client assertion with the agent key: header `{"alg":"EdDSA","kid":<thumbprint>,"typ":"client-authentication+jwt"}`.
pub fn sign_client_assertion(key: &SigningKey, claims: &ClientAssertionClaims) -> Result<String> {
    jws::sign(
        key,
        CLIENT_ASSERTION_TYP,
        &key.public_key().thumbprint(),
        claims,
    )
}

/// What the server accepts in an assertion's `aud`, and the clock.
#[derive(Debug, Clone, Copy)]
pub struct AssertionRules<'a> {
    /// Accepted `aud` values: the issuer identifier and the token endpoint URL.
    pub audiences: &'a [&'a str],
    pub now: UnixTime,
    pub leeway: Duration,
}

/// A structurally valid client assertion whose signature has not been checked. `did` is for looking up the key.
#[derive(Debug, Clone)]
pub struct UnverifiedClientAssertion {
    jws: jws::UnverifiedJws,
    did: Did,
}

/// A client assertion that passed every check: the agent it authenticates, and the `jti` to consume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClientAssertion {
    did: Did,
    jti: String,
    expires_at: UnixTime,
}

impl VerifiedClientAssertion {
    /// The authenticated agent.
    pub fn did(&self) -> &Did {
        &self.did
    }
    /// The assertion's `jti`: consume it exactly once, until [`Self::expires_at`].
    pub fn jti(&self) -> &str {
        &self.jti
    }
    /// The assertion's `exp`.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }
}

impl UnverifiedClientAssertion {
    /// Parses `compact` and applies the structural checks; `sub` must be a `did:agent` DID equal to `iss`.
    pub fn decode(compact: &str) -> Result<UnverifiedClientAssertion> {
        let jws = jws::UnverifiedJws::decode_client_assertion(compact)?;
        let c = jws.claims();
        let sub = string_claim(c, "sub")?;
        if string_claim(c, "iss")? != sub {
            return Err(Error::WrongSubject);
        }
        let did = Did::parse(sub)?;
        Ok(UnverifiedClientAssertion { jws, did })
    }

    /// The DID the assertion claims to come from (not yet trusted).
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// Verifies the assertion with the agent's registered `key`: the DID binding, the signature, then the claims.
    pub fn verify(
        self,
        key: &PublicKey,
        rules: &AssertionRules<'_>,
    ) -> Result<VerifiedClientAssertion> {
        if !self.did.matches_key(key) {
            return Err(Error::WrongSubject);
        }
        if let Some(kid) = self.jws.header_kid()
            && kid != key.thumbprint()
        {
            return Err(Error::UnknownKid(kid.to_owned()));
        }
        let verified = self.jws.verify(key)?;
        let c = &verified.claims;
        check_audience(c, rules.audiences)?;
        check_lifetime(c, rules.now, rules.leeway)?;
        if let Some(name) = FOREIGN_CLAIMS.iter().find(|n| c.contains_key(**n)) {
            return Err(Error::InvalidClaim(
                "assertion",
                format!("claim {name:?} belongs to another message kind"),
            ));
        }
        let jti = string_claim(c, "jti")?;
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            return Err(Error::InvalidClaim(
                "jti",
                format!("must be 1 to {MAX_JTI_LEN} bytes"),
            ));
        }
        Ok(VerifiedClientAssertion {
            did: self.did,
            jti: jti.to_owned(),
            expires_at: UnixTime::from_secs(
                assertion_date(c, "exp", Round::Down)?.ok_or(Error::MissingClaim("exp"))?,
            ),
        })
    }
}

/// `aud`: one string or a non-empty array of strings, naming one of `accepted`.
fn check_audience(c: &Map<String, Value>, accepted: &[&str]) -> Result<()> {
    let names = |a: &str| accepted.contains(&a);
    match c.get("aud") {
        None => Err(Error::MissingClaim("aud")),
        Some(Value::String(a)) if names(a) => Ok(()),
        Some(Value::String(_)) => Err(Error::WrongAudience),
        Some(Value::Array(items)) if items.is_empty() => Err(Error::EmptyAudience),
        Some(Value::Array(items)) => {
            let mut found = false;
            for item in items {
                match item {
                    Value::String(a) => found |= names(a),
                    _ => {
                        return Err(Error::InvalidClaim("aud", "must hold strings".into()));
                    }
                }
            }
            if found {
                Ok(())
            } else {
                Err(Error::WrongAudience)
            }
        }
        Some(_) => Err(Error::InvalidClaim(
            "aud",
            "must be a string or an array of strings".into(),
        )),
    }
}

/// Which way a non-integer NumericDate is rounded: always toward refusing.
#[derive(Clone, Copy)]
enum Round {
    Down,
    Up,
}

/// A NumericDate of an assertion. Unlike our own messages (integers only, §2.3), RFC 7519 §2 allows
/// non-integer values and some libraries (josekit) send them, so a finite non-negative number is accepted,
/// rounded toward the stricter side: `exp` down, `iat` and `nbf` up.
fn assertion_date(c: &Map<String, Value>, name: &'static str, round: Round) -> Result<Option<u64>> {
    match c.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(secs) = n.as_u64() {
                return Ok(Some(secs));
            }
            match n.as_f64() {
                Some(f) if (0.0..9_007_199_254_740_992.0).contains(&f) => {
                    let rounded = match round {
                        Round::Down => f.floor(),
                        Round::Up => f.ceil(),
                    };
                    // In range and integral: the conversion is exact.
                    Ok(Some(rounded as u64))
                }
                _ => Err(Error::InvalidNumericDate(name)),
            }
        }
        Some(_) => Err(Error::InvalidNumericDate(name)),
    }
}

/// `exp` required, `iat` and `nbf` optional; the lifetime from `iat` (or from now) is at most
/// [`MAX_ASSERTION_LIFETIME`].
fn check_lifetime(c: &Map<String, Value>, now: UnixTime, leeway: Duration) -> Result<()> {
    let exp = assertion_date(c, "exp", Round::Down)?.ok_or(Error::MissingClaim("exp"))?;
    let iat = assertion_date(c, "iat", Round::Up)?;
    let (now_s, leeway_s) = (now.as_secs(), leeway.as_secs());
    if let Some(nbf) = assertion_date(c, "nbf", Round::Up)?
        && nbf > now_s.saturating_add(leeway_s)
    {
        return Err(Error::NotYetValid);
    }
    match iat {
        Some(iat) => jws::check_times(iat, exp, now, leeway, MAX_ASSERTION_LIFETIME),
        None => {
            if now_s >= exp.saturating_add(leeway_s) {
                Err(Error::Expired)
            } else if exp.saturating_sub(now_s) > MAX_ASSERTION_LIFETIME.as_secs() {
                Err(Error::LifetimeTooLong)
            } else {
                Ok(())
            }
        }
    }
}

/// Checks an RFC 8707 `resource`: an absolute URI (`scheme ":" …`) without a fragment, 1 to
/// 256 printable ASCII characters, so that it can be a token's `aud`.
pub fn check_resource(resource: &str) -> Result<()> {
    let printable = resource.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if resource.is_empty() || resource.len() > MAX_RESOURCE_LEN || !printable {
        return Err(Error::InvalidAudience(format!(
            "resource must be 1 to {MAX_RESOURCE_LEN} printable ASCII characters without spaces"
        )));
    }
    let absolute = resource.split_once(':').is_some_and(|(scheme, rest)| {
        let mut chars = scheme.bytes();
        chars.next().is_some_and(|b| b.is_ascii_alphabetic())
            && chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            && !rest.is_empty()
    });
    if !absolute {
        return Err(Error::InvalidAudience(
            "resource must be an absolute URI (RFC 8707 §2)".into(),
        ));
    }
    if resource.contains('#') {
        return Err(Error::InvalidAudience(
            "resource must not have a fragment (RFC 8707 §2)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::did::Domain;

    const ISSUER: &str = "https://auth.example.com";
    const TOKEN_ENDPOINT: &str = "https://auth.example.com/oauth/token";
    const NOW: u64 = 1_800_000_000;
    const NOW_T: UnixTime = UnixTime::from_secs(NOW);

    fn agent(seed: u8) -> (SigningKey, Did) {
        let key = SigningKey::from_seed(&[seed; 32]);
        let did = Did::from_key(&Domain::parse("example.com").unwrap(), &key.public_key());
        (key, did)
    }

    fn claims(did: &Did) -> Value {
        json!({"iss": did.as_str(), "sub": did.as_str(), "aud": ISSUER, "iat": NOW, "exp": NOW + 300, "jti": "j-1"})
    }

    fn sign(key: &SigningKey, header: Value, claims: &Value) -> String {
        jws::sign_raw(
            key,
            header.to_string().as_bytes(),
            claims.to_string().as_bytes(),
        )
    }

    fn check(key: &SigningKey, compact: &str) -> Result<VerifiedClientAssertion> {
        let rules = AssertionRules {
            audiences: &[ISSUER, TOKEN_ENDPOINT],
            now: NOW_T,
            leeway: Duration::from_secs(60),
        };
        UnverifiedClientAssertion::decode(compact)?.verify(&key.public_key(), &rules)
    }

    #[test]
    fn accepts_what_libraries_send() {
        let (key, did) = agent(1);
        let kid = key.public_key().thumbprint();
        for header in [
            json!({"alg": "EdDSA"}),
            json!({"alg": "EdDSA", "typ": "JWT"}),
            json!({"alg": "EdDSA", "typ": "client-authentication+jwt", "kid": kid}),
            json!({"alg": "Ed25519", "typ": "application/jwt"}),
        ] {
            let verified = check(&key, &sign(&key, header.clone(), &claims(&did))).unwrap();
            assert_eq!(verified.did(), &did, "{header}");
            assert_eq!(verified.jti(), "j-1");
            assert_eq!(verified.expires_at().as_secs(), NOW + 300);
        }
        let mut to_endpoint = claims(&did);
        to_endpoint["aud"] = json!(["https://other.example", TOKEN_ENDPOINT]);
        to_endpoint.as_object_mut().unwrap().remove("iat");
        check(&key, &sign(&key, json!({"alg": "EdDSA"}), &to_endpoint)).unwrap();
    }

    #[test]
    fn signs_what_it_verifies() {
        let (key, did) = agent(3);
        let claims =
            ClientAssertionClaims::new(&did, ISSUER, NOW_T, Duration::from_secs(600), "j-2".into());
        assert_eq!(claims.exp, NOW + 300, "the lifetime is capped");
        let verified = check(&key, &sign_client_assertion(&key, &claims).unwrap()).unwrap();
        assert_eq!((verified.did(), verified.jti()), (&did, "j-2"));
    }

    #[test]
    fn refuses_other_message_kinds_by_typ() {
        let (key, did) = agent(1);
        for typ in [
            "at+jwt",
            "auth4agent-proof+jwt",
            "auth4agent-req+jwt",
            "dpop+jwt",
            "",
        ] {
            let header = json!({"alg": "EdDSA", "typ": typ, "kid": key.public_key().thumbprint()});
            let err = check(&key, &sign(&key, header, &claims(&did))).unwrap_err();
            assert!(matches!(err, Error::WrongTyp { .. }), "{typ}: {err}");
        }
        for name in FOREIGN_CLAIMS {
            let mut c = claims(&did);
            c[name] = json!("x");
            let err = check(&key, &sign(&key, json!({"alg": "EdDSA"}), &c)).unwrap_err();
            assert!(
                matches!(err, Error::InvalidClaim("assertion", _)),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn refuses_bad_assertions() {
        let (key, did) = agent(1);
        let (other, other_did) = agent(2);
        let header = || json!({"alg": "EdDSA"});
        let refused = |c: &Value| check(&key, &sign(&key, header(), c)).unwrap_err().code();
        // Signed by another key: the DID names key 1, the signature is key 2's.
        assert_eq!(
            check(&key, &sign(&other, header(), &claims(&did))).unwrap_err(),
            Error::BadSignature
        );
        // A DID of another key, verified with key 1.
        assert_eq!(
            check(&key, &sign(&other, header(), &claims(&other_did))).unwrap_err(),
            Error::WrongSubject
        );
        let kid_header = json!({"alg": "EdDSA", "kid": other.public_key().thumbprint()});
        assert!(matches!(
            check(&key, &sign(&key, kid_header, &claims(&did))),
            Err(Error::UnknownKid(_))
        ));
        let with = |name: &str, value: Value| {
            let mut c = claims(&did);
            c[name] = value;
            c
        };
        let without = |name: &str| {
            let mut c = claims(&did);
            c.as_object_mut().unwrap().remove(name);
            c
        };
        assert_eq!(
            refused(&with("aud", json!("https://evil.example"))),
            "wrong_audience"
        );
        assert_eq!(refused(&with("aud", json!([]))), "empty_audience");
        assert_eq!(refused(&with("exp", json!(NOW + 301))), "lifetime_too_long");
        let mut long = without("iat");
        long["exp"] = json!(NOW + 400);
        assert_eq!(refused(&long), "lifetime_too_long");
        assert_eq!(
            refused(&with("exp", json!(NOW - 61))),
            "invalid_claim",
            "exp before iat"
        );
        let mut old = claims(&did);
        old["iat"] = json!(NOW - 400);
        old["exp"] = json!(NOW - 200);
        assert_eq!(refused(&old), "expired");
        assert_eq!(refused(&with("nbf", json!(NOW + 120))), "not_yet_valid");
        assert_eq!(refused(&with("iat", json!(NOW + 120))), "issued_in_future");
        assert_eq!(refused(&without("exp")), "missing_claim");
        assert_eq!(refused(&without("jti")), "missing_claim");
        assert_eq!(refused(&with("jti", json!(""))), "invalid_claim");
        assert_eq!(
            refused(&with("iss", json!("did:agent:other"))),
            "wrong_subject"
        );
        assert_eq!(refused(&with("exp", json!("soon"))), "invalid_numeric_date");
        assert_eq!(refused(&with("exp", json!(-1.5))), "invalid_numeric_date");
        assert_eq!(refused(&with("iat", json!(1e300))), "invalid_numeric_date");
        // Fractional dates (RFC 7519 §2) round toward refusal: exp down, iat up.
        let mut fractional = claims(&did);
        fractional["exp"] = json!(NOW as f64 + 300.5);
        fractional["iat"] = json!(NOW as f64 - 0.5);
        let verified = check(&key, &sign(&key, header(), &fractional)).unwrap();
        assert_eq!(verified.expires_at().as_secs(), NOW + 300);
        assert_eq!(
            refused(&with("iat", json!(NOW as f64 + 60.5))),
            "issued_in_future"
        );
        let embedded = json!({"alg": "EdDSA", "jwk": key.public_key().to_jwk()});
        assert!(matches!(
            check(&key, &sign(&key, embedded, &claims(&did))),
            Err(Error::EmbeddedKey(_))
        ));
        assert!(matches!(
            check(&key, &sign(&key, json!({"alg": "HS256"}), &claims(&did))),
            Err(Error::UnsupportedAlg(_))
        ));
        assert!(matches!(
            check(&key, &sign(&key, json!({"alg": "none"}), &claims(&did))),
            Err(Error::UnsupportedAlg(_))
        ));
    }

    #[test]
    fn resources() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/mcp?x=1",
            "urn:example:svc",
        ] {
            check_resource(ok).unwrap();
        }
        for bad in [
            "",
            "/relative",
            "api.example.com",
            "https://a.example/#frag",
            "https://a b",
            "1http://x",
            "https:",
        ] {
            assert!(
                matches!(check_resource(bad), Err(Error::InvalidAudience(_))),
                "{bad}"
            );
        }
        assert!(check_resource(&format!("https://a.example/{}", "x".repeat(300))).is_err());
    }
}
