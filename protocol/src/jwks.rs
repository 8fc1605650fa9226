//! JSON Web Key Sets: parsing a JWKS into trusted Ed25519 keys by `kid`, and publishing one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{Jwk, PublicKey};
use crate::{jws, strict_json, typ};

/// A JWKS document as it appears on the wire.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Trusted verification keys by `kid`. Only OKP/Ed25519 keys with a `kid` are kept; other keys are ignored.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<TrustedKey>,
}

#[derive(Clone, Debug)]
struct TrustedKey {
    kid: String,
    key: PublicKey,
    /// The header segment this crate writes on an access token signed with this key (`jws::sign`).
    access_token_header: String,
}

impl KeySet {
    /// Parses a JWKS document. Refuses duplicate kids and invalid Ed25519 keys; ignores keys of other types.
    pub fn from_json(json: &str) -> Result<KeySet> {
        let value = strict_json::parse(json.as_bytes())?;
        let jwks: Jwks =
            serde_json::from_value(value).map_err(|e| Error::InvalidJson(e.to_string()))?;
        KeySet::from_jwks(&jwks)
    }

    /// Builds a key set from a parsed JWKS (same rules as [`Self::from_json`]).
    pub fn from_jwks(jwks: &Jwks) -> Result<KeySet> {
        let mut set = KeySet::default();
        for jwk in &jwks.keys {
            if jwk.kty != "OKP" || jwk.crv.as_deref() != Some("Ed25519") {
                continue;
            }
            if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let Some(kid) = jwk.kid.clone() else { continue };
            let key = PublicKey::from_jwk(jwk)?;
            set.insert(kid, key)?;
        }
        Ok(set)
    }

    /// Builds a key set from `(kid, key)` pairs.
    pub fn from_keys(keys: impl IntoIterator<Item = (String, PublicKey)>) -> Result<KeySet> {
        let mut set = KeySet::default();
        for (kid, key) in keys {
            set.insert(kid, key)?;
        }
        Ok(set)
    }

    fn insert(&mut self, kid: String, key: PublicKey) -> Result<()> {
        if self.get(&kid).is_some() {
            return Err(Error::DuplicateKid(kid));
        }
        let access_token_header = jws::encoded_sign_header(typ::ACCESS_TOKEN, &kid)?;
        self.keys.push(TrustedKey {
            kid,
            key,
            access_token_header,
        });
        Ok(())
    }

    /// The key with this exact `kid`, if trusted.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| &k.key)
    }

    /// The trusted key (and its kid) whose access-token header, as this crate writes it, is exactly `segment`.
    /// Such a header decodes to `alg` EdDSA, `typ` at+jwt and that kid, so a verifier need not parse it again.
    pub(crate) fn by_access_token_header(&self, segment: &str) -> Option<(&str, &PublicKey)> {
        self.keys
            .iter()
            .find(|k| k.access_token_header == segment)
            .map(|k| (k.kid.as_str(), &k.key))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no usable key is present.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The JWKS to publish: each key with `kid`, `alg: EdDSA` and `use: sig`.
    pub fn to_jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .keys
                .iter()
                .map(|k| Jwk {
                    kid: Some(k.kid.clone()),
                    alg: Some("EdDSA".into()),
                    use_: Some("sig".into()),
                    ..k.key.to_jwk()
                })
                .collect(),
        }
    }
}
