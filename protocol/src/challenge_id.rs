//! Stateless challenges: a challenge id that carries its own expiry under a MAC of the server's secret,
//! and the nonce derived from that id for one DID. Minting a challenge writes nothing; the server only
//! records a challenge once it is redeemed, which is what makes it single-use.
//!
//! Id: `ch_` + base64url(version ‖ expires_at (u64, big-endian) ‖ 16 unique bytes ‖ tag), where
//! tag = the first 16 bytes of HMAC-SHA256(secret, "auth4agent challenge id\0" ‖ version ‖ expires_at ‖ unique).
//! The unique bytes need not be secret or random (the tag makes the id unforgeable and the nonce is a MAC):
//! they only have to differ between challenges of one deployment.
//! Nonce: base64url(HMAC-SHA256(secret, "auth4agent challenge nonce\0" ‖ id ‖ "\0" ‖ DID)), 256 bits. An id
//! answered for another DID therefore fails as a nonce mismatch, after the proof's signature is checked.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::did::Did;
use crate::encoding::{b64url_decode_array, b64url_encode};
use crate::jws::constant_time_eq;
use crate::proof::Challenge;
use crate::time::UnixTime;

/// Length of the server's challenge secret.
pub const CHALLENGE_SECRET_LEN: usize = 32;
/// Prefix of every challenge id.
pub const CHALLENGE_ID_PREFIX: &str = "ch_";
/// Length of a challenge id, prefix included.
pub const CHALLENGE_ID_LEN: usize = CHALLENGE_ID_PREFIX.len() + 55;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Length of the part of an id that makes it unique.
pub const CHALLENGE_UNIQUE_LEN: usize = 16;
const BODY_LEN: usize = 1 + 8 + CHALLENGE_UNIQUE_LEN;
const ID_BYTES: usize = BODY_LEN + TAG_LEN;
const ID_LABEL: &[u8] = b"auth4agent challenge id\0";
const NONCE_LABEL: &[u8] = b"auth4agent challenge nonce\0";

/// The server's key for challenge ids and nonces: one per deployment, shared by every replica.
#[derive(Clone)]
pub struct ChallengeSecret([u8; CHALLENGE_SECRET_LEN]);

impl Drop for ChallengeSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for ChallengeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChallengeSecret(..)")
    }
}

/// Why a challenge id was refused. Deliberately coarse: a forged id and a malformed one look the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeIdError {
    /// Not an id this secret minted (bad format, unknown version, or a wrong tag).
    NotFound,
}

impl ChallengeSecret {
    pub fn from_bytes(bytes: [u8; CHALLENGE_SECRET_LEN]) -> ChallengeSecret {
        ChallengeSecret(bytes)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts every key length")
    }

    fn tag(&self, body: &[u8; BODY_LEN]) -> [u8; TAG_LEN] {
        let mut mac = self.mac();
        mac.update(ID_LABEL);
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    fn nonce(&self, id: &str, did: &Did) -> String {
        let mut mac = self.mac();
        mac.update(NONCE_LABEL);
        mac.update(id.as_bytes());
        mac.update(b"\0");
        mac.update(did.as_str().as_bytes());
        b64url_encode(&mac.finalize().into_bytes())
    }

    /// A new challenge for `did`, valid until `expires_at`; `unique` must never repeat under this secret
    /// (a server that stores redemptions keyed by the id gains from making it increase, so that they append).
    pub fn mint(
        &self,
        did: &Did,
        expires_at: UnixTime,
        unique: [u8; CHALLENGE_UNIQUE_LEN],
    ) -> Challenge {
        let mut body = [0u8; BODY_LEN];
        body[0] = VERSION;
        body[1..9].copy_from_slice(&expires_at.as_secs().to_be_bytes());
        body[9..].copy_from_slice(&unique);
        let mut bytes = [0u8; ID_BYTES];
        bytes[..BODY_LEN].copy_from_slice(&body);
        bytes[BODY_LEN..].copy_from_slice(&self.tag(&body));
        let id = format!("{CHALLENGE_ID_PREFIX}{}", b64url_encode(&bytes));
        let nonce = self.nonce(&id, did);
        Challenge {
            id,
            nonce,
            expires_at,
            did: did.clone(),
        }
    }

    /// The challenge `id` names, as it was minted for `did`: its expiry from the id, its nonce derived for
    /// `did` (so a proof by another DID fails its nonce check). Expiry is the caller's check.
    pub fn open(&self, id: &str, did: &Did) -> Result<Challenge, ChallengeIdError> {
        let encoded = id
            .strip_prefix(CHALLENGE_ID_PREFIX)
            .filter(|_| id.len() == CHALLENGE_ID_LEN)
            .ok_or(ChallengeIdError::NotFound)?;
        let bytes: [u8; ID_BYTES] =
            b64url_decode_array(encoded).ok_or(ChallengeIdError::NotFound)?;
        let mut body = [0u8; BODY_LEN];
        body.copy_from_slice(&bytes[..BODY_LEN]);
        if body[0] != VERSION || !constant_time_eq(&self.tag(&body), &bytes[BODY_LEN..]) {
            return Err(ChallengeIdError::NotFound);
        }
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&body[1..9]);
        Ok(Challenge {
            id: id.to_owned(),
            nonce: self.nonce(id, did),
            expires_at: UnixTime::from_secs(u64::from_be_bytes(expires)),
            did: did.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::did::Domain;
    use crate::keys::SigningKey;

    fn did(seed: u8) -> Did {
        let domain = Domain::parse("example.com").unwrap();
        Did::from_key(&domain, &SigningKey::from_seed(&[seed; 32]).public_key())
    }

    #[test]
    fn a_minted_challenge_opens_to_itself() {
        let secret = ChallengeSecret::from_bytes([7; 32]);
        let a = did(1);
        let minted = secret.mint(&a, UnixTime::from_secs(1_800_000_060), [9; 16]);
        assert_eq!(minted.id.len(), CHALLENGE_ID_LEN);
        assert!(minted.id.starts_with("ch_"));
        assert_eq!(minted.nonce.len(), 43);
        assert_eq!(secret.open(&minted.id, &a), Ok(minted));
    }

    #[test]
    fn another_did_gets_another_nonce() {
        let secret = ChallengeSecret::from_bytes([7; 32]);
        let minted = secret.mint(&did(1), UnixTime::from_secs(100), [9; 16]);
        let other = secret.open(&minted.id, &did(2)).unwrap();
        assert_ne!(other.nonce, minted.nonce);
        assert_eq!(other.expires_at, minted.expires_at);
    }

    #[test]
    fn forged_or_altered_ids_are_refused() {
        let secret = ChallengeSecret::from_bytes([7; 32]);
        let a = did(1);
        let minted = secret.mint(&a, UnixTime::from_secs(100), [9; 16]);
        // Another secret, a later expiry, a truncated or extended id, a bad prefix, garbage.
        let other = ChallengeSecret::from_bytes([8; 32]);
        assert_eq!(other.open(&minted.id, &a), Err(ChallengeIdError::NotFound));
        let mut bytes: [u8; ID_BYTES] = b64url_decode_array(&minted.id[3..]).unwrap();
        bytes[8] ^= 1;
        let altered = format!("ch_{}", b64url_encode(&bytes));
        assert_eq!(secret.open(&altered, &a), Err(ChallengeIdError::NotFound));
        for bad in [
            &minted.id[..minted.id.len() - 1],
            &format!("{}A", minted.id),
            &format!("xx_{}", &minted.id[3..]),
            "ch_",
            "",
            "ch_7k2q9x4m8p3v6t1z5w0n2b7c4d",
        ] {
            assert_eq!(
                secret.open(bad, &a),
                Err(ChallengeIdError::NotFound),
                "{bad}"
            );
        }
    }
}
