//! A realistic access token and everything needed to verify it two ways: through the protocol crate's
//! `Verifier` and through bare ed25519-dalek over the same signing input and signature.

use auth4agent_protocol::{
    AccessTokenClaims, Audience, Confirmation, Did, Domain, KeySet, SigningKey, UnixTime, Verifier,
    b64url_decode, issue_token,
};

/// Issuer used by the fixture.
pub const ISSUER: &str = "https://auth.example.com";
/// Audience used by the fixture.
pub const AUDIENCE: &str = "https://api.example.com";

/// A signed token as the server issues it, a verifier configured as a resource server would, and a
/// two-key JWKS (a retired key first, the active one second) as during a key rotation.
pub struct TokenFixture {
    pub signer: SigningKey,
    pub kid: String,
    pub claims: AccessTokenClaims,
    pub token: String,
    pub keys: KeySet,
    pub verifier: Verifier,
    pub now: UnixTime,
    pub dalek_key: ed25519_dalek::VerifyingKey,
    pub dalek_signature: ed25519_dalek::Signature,
    signing_input_len: usize,
}

impl TokenFixture {
    /// Builds the fixture from fixed seeds (deterministic across runs).
    ///
    /// # Panics
    /// Never with these constant inputs.
    pub fn new() -> TokenFixture {
        let signer = SigningKey::from_seed(&[7; 32]);
        let retired = SigningKey::from_seed(&[8; 32]).public_key();
        let public = signer.public_key();
        let kid = public.thumbprint();
        let agent = SigningKey::from_seed(&[9; 32]).public_key();
        let domain = Domain::parse("agents.example.com").expect("valid domain");
        let did = Did::from_key(&domain, &agent);
        let iat = 1_800_000_000;
        let claims = AccessTokenClaims {
            iss: ISSUER.into(),
            sub: did.as_str().into(),
            client_id: did.as_str().into(),
            aud: Audience::One(AUDIENCE.into()),
            scope: "orders:read orders:write profile:read".into(),
            iat,
            nbf: None,
            exp: iat + 900,
            jti: "Yt3vN1pQ8xZr2LkWm5bH0g".into(),
            cnf: Confirmation {
                jkt: agent.thumbprint(),
            },
            status: None,
        };
        let token = issue_token(&signer, &kid, &claims).expect("signs");
        let keys = KeySet::from_keys([(retired.thumbprint(), retired), (kid.clone(), public)])
            .expect("distinct kids");
        let verifier = Verifier::new(ISSUER, AUDIENCE);
        let dot = token.rfind('.').expect("compact JWS");
        let sig = b64url_decode(&token[dot + 1..]).expect("base64url signature");
        let dalek_signature = ed25519_dalek::Signature::from_slice(&sig).expect("64 bytes");
        let dalek_key =
            ed25519_dalek::VerifyingKey::from_bytes(public.as_bytes()).expect("valid key");
        TokenFixture {
            signer,
            kid,
            claims,
            token,
            keys,
            verifier,
            now: UnixTime::from_secs(iat + 10),
            dalek_key,
            dalek_signature,
            signing_input_len: dot,
        }
    }

    /// `b64url(header) '.' b64url(payload)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        &self.token.as_bytes()[..self.signing_input_len]
    }
}

impl Default for TokenFixture {
    fn default() -> Self {
        TokenFixture::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_paths_accept_the_fixture() {
        let fx = TokenFixture::new();
        let verified = fx.verifier.verify(&fx.token, &fx.keys, fx.now).unwrap();
        assert_eq!(verified.claims(), &fx.claims);
        fx.dalek_key
            .verify_strict(fx.signing_input(), &fx.dalek_signature)
            .unwrap();
        let mut tampered = fx.signing_input().to_vec();
        tampered[0] ^= 1;
        assert!(
            fx.dalek_key
                .verify_strict(&tampered, &fx.dalek_signature)
                .is_err()
        );
    }
}
