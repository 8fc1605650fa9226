//! Random identifiers: operator ids, challenge randomness and secrets, jtis, DNS TXT tokens, console secrets,
//! signing-key seeds.
//! Formats follow the wire contract; randomness comes from the OS (directly or via `rand`'s
//! OS-seeded CSPRNG).

use auth4agent_protocol::{b64url_encode, hex};
use rand::RngCore as _;
use rand::TryRngCore as _;
use zeroize::Zeroizing;

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// RFC 4648 base32, lowercase alphabet, no padding.
fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// `op_` + 26 lowercase base32 chars (16 random bytes).
pub fn operator_id() -> String {
    format!("op_{}", base32_lower(&random::<16>()))
}

/// The unique part of a challenge id (its MAC and expiry are the protocol crate's): 8 bytes drawn once
/// per process, then a counter from a random start. Ids of one process increase, so their redemptions
/// append to the store's index instead of landing on random pages; uniqueness across processes comes
/// from the random prefix, unforgeability from the MAC.
pub fn challenge_unique() -> [u8; auth4agent_protocol::CHALLENGE_UNIQUE_LEN] {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<[u8; 8]> = OnceLock::new();
    static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
    let prefix = PREFIX.get_or_init(random::<8>);
    // The start leaves 2^63 ids before a wrap.
    let counter = COUNTER.get_or_init(|| AtomicU64::new(u64::from_be_bytes(random::<8>()) >> 1));
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let mut unique = [0u8; 16];
    unique[..8].copy_from_slice(prefix);
    unique[8..].copy_from_slice(&n.to_be_bytes());
    unique
}

/// A candidate for the deployment's challenge secret (the store keeps the first one written).
pub fn challenge_secret() -> Vec<u8> {
    random::<{ auth4agent_protocol::CHALLENGE_SECRET_LEN }>().to_vec()
}

/// `gr_` + 26 lowercase base32 chars (16 random bytes): a remembered grant.
pub fn grant_id() -> String {
    format!("gr_{}", base32_lower(&random::<16>()))
}

/// base64url of 32 random bytes (43 chars, 256 bits): a device code (RFC 8628 §5.2 wants it
/// unguessable; only its SHA-256 is stored).
pub fn device_code() -> String {
    b64url_encode(&random::<32>())
}

/// A user code of eight characters of the RFC 8628 §6.1 alphabet, uniformly drawn.
pub fn user_code() -> auth4agent_protocol::UserCode {
    loop {
        if let Some(code) = auth4agent_protocol::UserCode::from_random(&random::<16>()) {
            return code;
        }
    }
}

/// base64url of 32 random bytes (43 chars, 256 bits): a console secret (login link token, session id,
/// CSRF token); only the SHA-256 of a link token or a session id is stored.
pub fn console_secret() -> String {
    b64url_encode(&random::<32>())
}

/// base64url of 16 random bytes (22 chars): token and request `jti`.
pub fn jti() -> String {
    b64url_encode(&random::<16>())
}

/// 32 lowercase hex chars (128 bits): the DNS TXT verification token.
pub fn txt_token() -> String {
    hex(&random::<16>())
}

/// 32 bytes straight from the OS RNG, for `SigningKey::from_seed`.
pub fn signing_seed() -> Result<Zeroizing<[u8; 32]>, rand::rand_core::OsError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.try_fill_bytes(seed.as_mut())?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32_lower(b""), "");
        assert_eq!(base32_lower(b"f"), "my");
        assert_eq!(base32_lower(b"fo"), "mzxq");
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn formats_follow_the_contract() {
        let op = operator_id();
        assert_eq!(op.len(), 3 + 26);
        assert!(op.starts_with("op_"));
        assert!(
            op[3..]
                .bytes()
                .all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7'))
        );
        assert_eq!(jti().len(), 22);
        let t = txt_token();
        assert_eq!(t.len(), 32);
        assert!(
            t.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(operator_id(), operator_id());
        assert_ne!(*signing_seed().unwrap(), *signing_seed().unwrap());
    }
}
