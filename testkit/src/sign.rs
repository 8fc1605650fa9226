//! Signing helpers: `Auth4Agent-Signature` request signatures, challenge proofs and DPoP proofs made with the
//! protocol crate (never by hand), each request with a fresh jti. Free functions take the signing
//! time, for tests with a controlled clock; [`Signer`] signs at [`unix_now`], for real servers.

use std::fmt;
use std::path::Path;

use std::num::NonZeroU64;

use auth4agent_protocol::{
    Did, DpopProofClaims, KeyChangeClaims, ProofClaims, ReceivedChallenge, RequestedToken,
    ScopeSet, SigningKey, UnixTime, b64url_encode, sign_dpop_proof, sign_key_change, sign_proof,
    sign_request,
};
use serde_json::Value;

use crate::clock::unix_now;

/// A fresh request jti: 128 random bits, base64url.
pub fn fresh_jti() -> String {
    b64url_encode(&rand::random::<[u8; 16]>())
}

/// A fresh random Ed25519 key that lives only in this process.
pub fn random_key() -> SigningKey {
    SigningKey::from_seed(&rand::random::<[u8; 32]>())
}

/// The `Auth4Agent-Signature` value for `method url` with `body`, issued at `iat`, fresh jti.
pub fn request_signature(
    key: &SigningKey,
    method: &str,
    url: &str,
    body: &[u8],
    iat: UnixTime,
) -> String {
    sign_request(key, method, url, body, iat, &fresh_jti())
        .unwrap_or_else(|e| panic!("sign {method} {url}: {e}"))
}

/// A DPoP proof (RFC 9449) for `method url` made at `iat` with a fresh jti, carrying `ath` for `access_token`.
pub fn dpop_proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    iat: UnixTime,
    access_token: Option<&str>,
) -> String {
    let claims = DpopProofClaims::new(method, url, iat, fresh_jti(), access_token);
    sign_dpop_proof(key, &claims).unwrap_or_else(|e| panic!("DPoP proof for {method} {url}: {e}"))
}

/// What a proof of possession answers and asks for.
#[derive(Clone, Debug)]
pub struct ProofRequest<'a> {
    /// The agent DID (`iss` and `sub`).
    pub did: &'a str,
    /// The server's issuer URL (the proof's `aud`).
    pub issuer: &'a str,
    pub challenge_id: &'a str,
    pub nonce: &'a str,
    /// Requested scopes, space-separated.
    pub scope: &'a str,
    /// Requested token audience.
    pub token_aud: &'a str,
    /// Requested token lifetime in seconds (`None`: the server's default).
    pub ttl: Option<NonZeroU64>,
}

/// A proof JWS for `request`, made at `now` with [`ProofClaims::answer`] (so valid for the longest
/// proof lifetime). Panics on a malformed DID or scope: tests of those refusals hand-write the JSON.
pub fn proof(key: &SigningKey, request: &ProofRequest<'_>, now: UnixTime) -> String {
    let did =
        Did::parse(request.did).unwrap_or_else(|e| panic!("proof DID {:?}: {e}", request.did));
    let scope = ScopeSet::parse(request.scope)
        .unwrap_or_else(|e| panic!("proof scope {:?}: {e}", request.scope));
    let claims = ProofClaims::answer(
        &did,
        ReceivedChallenge {
            id: request.challenge_id,
            nonce: request.nonce,
        },
        request.issuer,
        RequestedToken {
            scope: &scope,
            audience: request.token_aud,
            ttl: request.ttl,
        },
        now,
    );
    sign_proof(key, &claims).unwrap_or_else(|e| panic!("sign a proof: {e}"))
}

/// A private key read from a CLI home (or made up), to sign administrative requests by hand (for
/// refusals the CLI would never send, e.g. an agent signing its own scope change, or a replay).
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// Reads a PKCS#8 PEM key file (e.g. `<home>/keys/agent.key`).
    pub fn from_pem_file(path: &Path) -> Signer {
        let pem = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let key = SigningKey::from_pkcs8_pem(&pem)
            .unwrap_or_else(|e| panic!("{} is not a PKCS#8 Ed25519 key: {e}", path.display()));
        Signer { key }
    }

    /// A fresh random key that lives only in this process (for API-level setup without a CLI home).
    pub fn generate() -> Signer {
        Signer { key: random_key() }
    }

    /// The public key as an OKP JWK (`{"kty":"OKP","crv":"Ed25519","x":…}`), as request bodies carry it.
    pub fn public_jwk(&self) -> Value {
        serde_json::to_value(self.key.public_key().to_jwk()).expect("a JWK serializes")
    }

    /// RFC 7638 thumbprint of the public key (the `kid` of what it signs).
    pub fn thumbprint(&self) -> String {
        self.key.public_key().thumbprint()
    }

    /// An operator key-change message (`auth4agent-key-change+jwt`) signed by this (new) key, replacing
    /// `old`'s key of `operator_id` at `issuer`, issued now.
    pub fn key_change(&self, operator_id: &str, old: &Signer, issuer: &str) -> String {
        let claims = KeyChangeClaims::new(
            operator_id,
            &old.key.public_key(),
            issuer,
            UnixTime::from_secs(unix_now()),
        );
        sign_key_change(&self.key, &claims).expect("a key change signs")
    }

    /// A DPoP proof for `method url` (with `ath` for `access_token`), a fresh `jti`, issued now.
    pub fn dpop(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        dpop_proof(
            &self.key,
            method,
            url,
            UnixTime::from_secs(unix_now()),
            access_token,
        )
    }

    /// The `Auth4Agent-Signature` value for `method url` with `body`, a fresh `jti`, issued now.
    pub fn sign(&self, method: &str, url: &str, body: &[u8]) -> String {
        request_signature(
            &self.key,
            method,
            url,
            body,
            UnixTime::from_secs(unix_now()),
        )
    }

    /// A proof of possession answering challenge `challenge_id`/`nonce` for `did`, addressed to
    /// the server `issuer`, requesting `scope` (space-separated) for `token_aud`, `ttl` seconds
    /// (`None`: the server's default); issued now.
    #[allow(clippy::too_many_arguments)]
    pub fn proof(
        &self,
        did: &str,
        issuer: &str,
        challenge_id: &str,
        nonce: &str,
        scope: &str,
        token_aud: &str,
        ttl: Option<NonZeroU64>,
    ) -> String {
        let request = ProofRequest {
            did,
            issuer,
            challenge_id,
            nonce,
            scope,
            token_aud,
            ttl,
        };
        proof(&self.key, &request, UnixTime::from_secs(unix_now()))
    }

    /// A client assertion (RFC 7523) by `did` for the server `issuer`, issued now, fresh jti.
    pub fn client_assertion(&self, did: &str, issuer: &str) -> String {
        client_assertion(&self.key, did, issuer, unix_now())
    }

    /// The `POST /oauth/token` form for the client credentials grant with `assertion`, plus `extra`.
    pub fn token_form(assertion: &str, extra: &[(&str, &str)]) -> String {
        let mut params = vec![
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ];
        params.extend_from_slice(extra);
        auth4agent_protocol::encode_form(params)
    }

    /// The `POST /oauth/device_authorization` form (RFC 8628 §3.1) with `assertion`, plus `extra`.
    pub fn device_authorization_form(assertion: &str, extra: &[(&str, &str)]) -> String {
        let mut params = vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ];
        params.extend_from_slice(extra);
        auth4agent_protocol::encode_form(params)
    }

    /// The `POST /oauth/token` form polling `device_code` (RFC 8628 §3.4) with `assertion`.
    pub fn device_poll_form(assertion: &str, device_code: &str) -> String {
        auth4agent_protocol::encode_form([
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("device_code", device_code),
        ])
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

/// A client assertion (RFC 7523) by `did` for the server `aud`, issued at `iat`, valid 300 s, fresh jti.
pub fn client_assertion(key: &SigningKey, did: &str, aud: &str, iat: u64) -> String {
    let did = auth4agent_protocol::Did::parse(did).unwrap_or_else(|e| panic!("{did}: {e}"));
    let claims = auth4agent_protocol::ClientAssertionClaims::new(
        &did,
        aud,
        auth4agent_protocol::UnixTime::from_secs(iat),
        std::time::Duration::from_secs(300),
        fresh_jti(),
    );
    auth4agent_protocol::sign_client_assertion(key, &claims)
        .unwrap_or_else(|e| panic!("assertion: {e}"))
}

/// A compact JWS over `header` and `claims` exactly as given (for refusal tests: any `typ`, any claims),
/// signed with `key`.
pub fn raw_jws(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64url_encode(&signature))
}
