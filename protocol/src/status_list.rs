//! The IETF Token Status List (draft-ietf-oauth-status-list-20): the compressed bit array ([`StatusList`],
//! §4.1: `bits` per entry, packed from the least significant bit, DEFLATE in the ZLIB format), the signed status
//! list token (`typ: statuslist+jwt`, §5.1: [`issue_status_list`], [`verify_status_list`]) and the `status`
//! claim of a referenced token ([`StatusClaim`], §6.2). Status values are §7.1's: 0 valid, 1 invalid, 2
//! suspended.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::encoding::{b64url_decode, b64url_encode};
use crate::error::{Error, Result};
use crate::jwks::KeySet;
use crate::jws::{self, Segments, typ};
use crate::keys::SigningKey;
use crate::strict_json;
use crate::time::UnixTime;

/// The media type a status list token is served as (§8.1).
pub const STATUS_LIST_MEDIA_TYPE: &str = "application/statuslist+jwt";

/// Bits per entry in auth4agent's lists: room for valid (0), invalid (1) and suspended (2).
pub const STATUS_BITS: u8 = 2;

/// Largest status list token accepted, in bytes of its compact serialization (4 MiB).
pub const MAX_STATUS_LIST_TOKEN_LEN: usize = 4 * 1024 * 1024;

/// Largest decompressed status list accepted (16 MiB: 64 Mi entries of 2 bits); a larger inflation is refused
/// before it is made, so a small compressed bomb cannot exhaust memory.
pub const MAX_STATUS_LIST_BYTES: usize = 16 * 1024 * 1024;

/// Clock-skew allowance for a status list token's `iat` and `exp`.
pub const STATUS_LIST_LEEWAY: Duration = Duration::from_secs(60);

/// A referenced token's status (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    /// 0x00 `VALID`.
    Valid,
    /// 0x01 `INVALID`: revoked for good.
    Invalid,
    /// 0x02 `SUSPENDED`: temporarily invalid.
    Suspended,
    /// Any other value (reserved or application specific); never valid.
    Other(u8),
}

impl TokenStatus {
    /// The value of an entry.
    pub fn from_value(value: u8) -> TokenStatus {
        match value {
            0 => TokenStatus::Valid,
            1 => TokenStatus::Invalid,
            2 => TokenStatus::Suspended,
            other => TokenStatus::Other(other),
        }
    }

    /// The value stored in a list.
    pub fn value(self) -> u8 {
        match self {
            TokenStatus::Valid => 0,
            TokenStatus::Invalid => 1,
            TokenStatus::Suspended => 2,
            TokenStatus::Other(value) => value,
        }
    }
}

/// An uncompressed status list: `bits` (1, 2, 4 or 8) per entry, entry `i` in bits `i * bits ..` counted from
/// the least significant bit of byte 0 (§4.1 step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

/// The JSON form of a status list (§4.2): `bits` and `lst`, the base64url of the ZLIB-compressed bytes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EncodedStatusList {
    pub bits: u8,
    pub lst: String,
}

fn check_bits(bits: u64) -> Result<u8> {
    match bits {
        1 | 2 | 4 | 8 => Ok(bits as u8),
        _ => Err(Error::InvalidStatusList(format!(
            "bits must be 1, 2, 4 or 8, not {bits}"
        ))),
    }
}

impl StatusList {
    /// A list of `entries` entries of `bits` bits, all valid (0). The byte array is rounded up to whole bytes.
    pub fn new(bits: u8, entries: u64) -> Result<StatusList> {
        let bits = check_bits(u64::from(bits))?;
        let len = entries
            .checked_mul(u64::from(bits))
            .map(|n| n.div_ceil(8))
            .filter(|n| *n <= MAX_STATUS_LIST_BYTES as u64)
            .ok_or_else(|| {
                Error::InvalidStatusList(format!(
                    "{entries} entries exceed the {MAX_STATUS_LIST_BYTES}-byte limit"
                ))
            })?;
        Ok(StatusList {
            bits,
            bytes: vec![0; len as usize],
        })
    }

    /// Bits per entry.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// How many entries the list holds (every index below this has a value).
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64 * 8 / u64::from(self.bits)
    }

    /// Whether the list holds no entry.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The uncompressed byte array.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn locate(&self, idx: u64) -> Result<(usize, u32)> {
        if idx >= self.len() {
            return Err(Error::StatusIndexOutOfRange {
                idx,
                len: self.len(),
            });
        }
        let bit = idx * u64::from(self.bits);
        Ok(((bit / 8) as usize, (bit % 8) as u32))
    }

    fn mask(&self) -> u8 {
        ((1u16 << self.bits) - 1) as u8
    }

    /// The value of entry `idx`; an index past the end is [`Error::StatusIndexOutOfRange`] (§8.3 step 6: no
    /// statement can be made, the token is refused).
    pub fn get(&self, idx: u64) -> Result<u8> {
        let (byte, shift) = self.locate(idx)?;
        Ok((self.bytes[byte] >> shift) & self.mask())
    }

    /// The status of entry `idx`.
    pub fn status(&self, idx: u64) -> Result<TokenStatus> {
        self.get(idx).map(TokenStatus::from_value)
    }

    /// Sets entry `idx` to `value`, which must fit in `bits`.
    pub fn set(&mut self, idx: u64, value: u8) -> Result<()> {
        let mask = self.mask();
        if value & !mask != 0 {
            return Err(Error::InvalidStatusList(format!(
                "value {value} does not fit in {} bits",
                self.bits
            )));
        }
        let (byte, shift) = self.locate(idx)?;
        self.bytes[byte] = (self.bytes[byte] & !(mask << shift)) | (value << shift);
        Ok(())
    }

    /// The JSON form: the bytes compressed with DEFLATE in the ZLIB format at the highest level (§4.1 step 4),
    /// then base64url. Deterministic: the same list always encodes to the same `lst`.
    pub fn encode(&self) -> EncodedStatusList {
        EncodedStatusList {
            bits: self.bits,
            lst: b64url_encode(&miniz_oxide::deflate::compress_to_vec_zlib(&self.bytes, 10)),
        }
    }

    /// Decodes the JSON form: strict base64url, then a ZLIB stream (its Adler-32 checked) inflating to at most
    /// [`MAX_STATUS_LIST_BYTES`].
    pub fn decode(bits: u64, lst: &str) -> Result<StatusList> {
        let bits = check_bits(bits)?;
        let compressed = b64url_decode(lst)?;
        let bytes = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(
            &compressed,
            MAX_STATUS_LIST_BYTES,
        )
        .map_err(|e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => Error::InvalidStatusList(format!(
                "inflates past the {MAX_STATUS_LIST_BYTES}-byte limit"
            )),
            status => Error::InvalidStatusList(format!("lst is not a ZLIB stream ({status:?})")),
        })?;
        Ok(StatusList { bits, bytes })
    }
}

/// The claims of a status list token (§5.1), serialized in this order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StatusListTokenClaims {
    /// The list's URI: the `uri` of the referenced tokens.
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    /// How long, in seconds, a consumer may cache the list before fetching a fresh copy.
    pub ttl: u64,
    pub status_list: EncodedStatusList,
}

/// Signs a status list token with header `{"alg":"EdDSA","kid":kid,"typ":"statuslist+jwt"}`. Ed25519 is
/// deterministic: the same key and claims always give the same bytes.
pub fn issue_status_list(
    key: &SigningKey,
    kid: &str,
    claims: &StatusListTokenClaims,
) -> Result<String> {
    jws::sign(key, typ::STATUS_LIST, kid, claims)
}

/// A status list token that passed [`verify_status_list`].
#[derive(Debug, Clone)]
pub struct VerifiedStatusList {
    uri: String,
    kid: String,
    iat: UnixTime,
    exp: UnixTime,
    ttl: Duration,
    list: StatusList,
}

impl VerifiedStatusList {
    /// `sub`: the list's URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }
    /// The `kid` of the key that signed it.
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// `iat`.
    pub fn issued_at(&self) -> UnixTime {
        self.iat
    }
    /// `exp`: after it the list must not be relied upon.
    pub fn expires_at(&self) -> UnixTime {
        self.exp
    }
    /// `ttl`.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
    /// The decoded list.
    pub fn list(&self) -> &StatusList {
        &self.list
    }
    /// The status at `idx` ([`Error::StatusIndexOutOfRange`] past the end).
    pub fn status(&self, idx: u64) -> Result<TokenStatus> {
        self.list.status(idx)
    }
    /// Whether the list is past `exp` (with [`STATUS_LIST_LEEWAY`]) at `now`.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now >= self.exp.saturating_add(STATUS_LIST_LEEWAY)
    }
}

/// Verifies a status list token at `now` for the referenced token's `uri` (§8.3): size limit, header (`alg`
/// allow-list, no embedded key, no `crit`, `typ` `statuslist+jwt`, `kid`), the signature with `verify_strict`
/// under the key of that `kid` in `keys`, then `sub` equal to `uri`, `iat` not in the future, `exp` (required)
/// not past, `ttl` (required) positive, `status_list` with `bits` 2 and a `lst` that inflates.
pub fn verify_status_list(
    compact: &str,
    keys: &KeySet,
    uri: &str,
    now: UnixTime,
) -> Result<VerifiedStatusList> {
    let segments = Segments::split_limited(compact.trim_end(), MAX_STATUS_LIST_TOKEN_LEN)?;
    let header_json = b64url_decode(segments.header)?;
    let header = jws::parse_header(&header_json, typ::STATUS_LIST)?;
    let payload = b64url_decode(segments.payload)?;
    let Value::Object(claims) = strict_json::parse(&payload)? else {
        return Err(Error::PayloadNotObject);
    };
    let signature = jws::decode_signature(segments.signature)?;
    let key = keys
        .get(&header.kid)
        .ok_or_else(|| Error::UnknownKid(header.kid.clone().into_owned()))?;
    key.verify_strict(segments.signing_input.as_bytes(), &signature)?;
    let sub = jws::string_claim(&claims, "sub")?;
    if sub != uri {
        return Err(Error::StatusListUriMismatch {
            expected: uri.to_owned(),
            found: sub.to_owned(),
        });
    }
    let iat = jws::required_date(&claims, "iat")?;
    let exp = jws::required_date(&claims, "exp")?;
    if exp <= iat {
        return Err(Error::InvalidClaim("exp", "must be after iat".into()));
    }
    if iat > now.saturating_add(STATUS_LIST_LEEWAY).as_secs() {
        return Err(Error::IssuedInFuture);
    }
    if now.as_secs() >= exp.saturating_add(STATUS_LIST_LEEWAY.as_secs()) {
        return Err(Error::Expired);
    }
    let ttl = match claims.get("ttl") {
        None => return Err(Error::MissingClaim("ttl")),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|t| *t > 0)
            .ok_or_else(|| Error::InvalidClaim("ttl", "must be a positive integer".into()))?,
        Some(_) => {
            return Err(Error::InvalidClaim(
                "ttl",
                "must be a positive integer".into(),
            ));
        }
    };
    let list = decode_status_list_claim(&claims)?;
    if list.bits() != STATUS_BITS {
        return Err(Error::InvalidStatusList(format!(
            "bits must be {STATUS_BITS}, not {}",
            list.bits()
        )));
    }
    Ok(VerifiedStatusList {
        uri: uri.to_owned(),
        kid: header.kid.into_owned(),
        iat: UnixTime::from_secs(iat),
        exp: UnixTime::from_secs(exp),
        ttl: Duration::from_secs(ttl),
        list,
    })
}

/// The `status_list` claim of a status list token's payload, decoded.
fn decode_status_list_claim(claims: &Map<String, Value>) -> Result<StatusList> {
    let object = match claims.get("status_list") {
        None => return Err(Error::MissingClaim("status_list")),
        Some(Value::Object(object)) => object,
        Some(_) => {
            return Err(Error::InvalidClaim(
                "status_list",
                "must be an object".into(),
            ));
        }
    };
    let bits = match object.get("bits") {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| Error::InvalidStatusList("bits must be an integer".into()))?,
        _ => return Err(Error::InvalidStatusList("bits must be an integer".into())),
    };
    let Some(Value::String(lst)) = object.get("lst") else {
        return Err(Error::InvalidStatusList("lst must be a string".into()));
    };
    StatusList::decode(bits, lst)
}

/// The `status` claim of a referenced token (§6.2): `{"status_list": {"idx": n, "uri": "..."}}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StatusClaim {
    pub status_list: StatusListRef,
}

/// Where a referenced token's status is: entry `idx` of the list at `uri`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StatusListRef {
    pub idx: u64,
    pub uri: String,
}

impl StatusClaim {
    /// Entry `idx` of the list at `uri`.
    pub fn new(uri: impl Into<String>, idx: u64) -> StatusClaim {
        StatusClaim {
            status_list: StatusListRef {
                idx,
                uri: uri.into(),
            },
        }
    }
}
