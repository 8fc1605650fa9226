//! Ed25519 keys: generation from caller-supplied randomness, PKCS#8 PEM, OKP JWK (RFC 8037), RFC 7638 thumbprints,
//! and strict verification. Secret material is zeroized on drop and never printed.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::{Signature, Signer as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encoding::{b64url_decode, b64url_encode, sha256_b64url};
use crate::error::{Error, Result};

/// An Ed25519 private key. Zeroized on drop; `Debug` shows only the public thumbprint.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// Builds a key from 32 bytes of caller-supplied randomness (RFC 8032 seed).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey {
            inner: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`), as written by openssl or [`Self::to_pkcs8_pem`].
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(|inner| SigningKey { inner })
            .map_err(|_| Error::InvalidKey("not a PKCS#8 PEM Ed25519 private key".into()))
    }

    /// Writes the key as PKCS#8 v1 PEM (RFC 8410), the form `openssl pkey` reads.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let bytes = KeypairBytes {
            secret_key: self.inner.to_bytes(),
            public_key: None,
        };
        let pem = bytes
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|_| Error::InvalidKey("PKCS#8 encoding failed".into()));
        let mut secret = bytes.secret_key;
        zeroize::Zeroize::zeroize(&mut secret);
        pem
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.verifying_key(),
        }
    }

    /// Signs `msg` (deterministic, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.inner.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("thumbprint", &self.public_key().thumbprint())
            .finish_non_exhaustive()
    }
}

/// A validated Ed25519 public key: a canonical encoding of a point that is not of small order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Parses 32 raw bytes, refusing non-canonical encodings and small-order points.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey> {
        let raw: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidKey("an Ed25519 public key is 32 bytes".into()))?;
        let inner = ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map_err(|_| Error::InvalidKey("not a valid Ed25519 point".into()))?;
        if inner.is_weak() {
            return Err(Error::InvalidKey("small-order public key".into()));
        }
        if inner.to_edwards().compress().as_bytes() != raw {
            return Err(Error::InvalidKey("non-canonical point encoding".into()));
        }
        Ok(PublicKey { inner })
    }

    /// The raw 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.inner.as_bytes()
    }

    /// Imports a public OKP JWK (RFC 8037). Refuses other key types, other curves and any private member.
    pub fn from_jwk(jwk: &Jwk) -> Result<PublicKey> {
        if jwk.kty != "OKP" {
            return Err(Error::InvalidKey(format!("kty {:?} is not OKP", jwk.kty)));
        }
        if jwk.crv.as_deref() != Some("Ed25519") {
            return Err(Error::InvalidKey("crv must be Ed25519".into()));
        }
        if jwk.d.is_some() {
            return Err(Error::InvalidKey(
                "the JWK contains a private key (d); send only the public key".into(),
            ));
        }
        if let Some(alg) = jwk.alg.as_deref()
            && alg != "EdDSA"
            && alg != "Ed25519"
        {
            return Err(Error::InvalidKey(format!("alg {alg:?} is not EdDSA")));
        }
        let x = jwk
            .x
            .as_deref()
            .ok_or_else(|| Error::InvalidKey("missing x".into()))?;
        let raw = b64url_decode(x).map_err(|_| Error::InvalidKey("x is not base64url".into()))?;
        PublicKey::from_bytes(&raw)
    }

    /// Exports the public JWK `{kty, crv, x}`.
    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(b64url_encode(self.as_bytes())),
            ..Jwk::default()
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` of every key in this protocol.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64url_encode(self.as_bytes())
        );
        sha256_b64url(canonical.as_bytes())
    }

    /// Verifies with `verify_strict`: refuses non-canonical S, small-order R and A, and malleable signatures.
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        let sig = Signature::from_slice(sig).map_err(|_| Error::BadSignature)?;
        self.inner
            .verify_strict(msg, &sig)
            .map_err(|_| Error::BadSignature)
    }
}

/// A JSON Web Key as it appears on the wire. Only OKP/Ed25519 keys are usable; see [`PublicKey::from_jwk`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Present only so that a private JWK can be recognised and refused; never serialized by this crate.
    #[serde(default, skip_serializing)]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}
