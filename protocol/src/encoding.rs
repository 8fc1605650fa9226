//! Strict unpadded base64url (RFC 4648 §5) and SHA-256 helpers shared by every message kind.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url, refusing padding, whitespace, the standard alphabet's `+` and `/`,
/// and non-canonical trailing bits.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>> {
    // The engine refuses all of these itself; the scans below only pick the message, so they run on failure only.
    URL_SAFE_NO_PAD.decode(s).map_err(|_| decode_error(s))
}

/// Decodes `s` like [`b64url_decode`] if it decodes to exactly `N` bytes; `None` otherwise (including any error).
pub(crate) fn b64url_decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
        Ok(n) if n == N => Some(out),
        _ => None,
    }
}

fn decode_error(s: &str) -> Error {
    if s.contains('=') {
        Error::InvalidBase64("padding is not allowed")
    } else if s.bytes().any(|b| b.is_ascii_whitespace()) {
        Error::InvalidBase64("whitespace is not allowed")
    } else if s.bytes().any(|b| b == b'+' || b == b'/') {
        Error::InvalidBase64("'+' and '/' are not base64url")
    } else {
        Error::InvalidBase64("not base64url")
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Unpadded base64url of SHA-256 of `bytes` (the `ath` and thumbprint encoding).
pub fn sha256_b64url(bytes: &[u8]) -> String {
    b64url_encode(&sha256(bytes))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}
