//! `did:agent` identifiers: operator domain normalization, the public-suffix check, the `Did` newtype that can only
//! hold a valid DID, and the W3C DID document with a Multikey verification method.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use crate::encoding::{hex, sha256};
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// The DID method prefix.
pub(crate) const DID_PREFIX: &str = "did:agent:";

/// A normalized DNS domain: lowercase ASCII (IDNA/UTS-46 applied), no scheme, port, path or trailing dot,
/// LDH labels of 1–63 octets, at least two labels, at most 253 octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Normalizes user input such as `https://Bücher.Example:443/path` to `xn--bcher-kva.example`.
    pub fn parse(input: &str) -> Result<Domain> {
        let bad = |why: &str| Error::InvalidDomain(format!("{input:?}: {why}"));
        let mut s = input.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if let Some((_, rest)) = s.split_once("://") {
            s = rest;
        }
        if let Some(end) = s.find(['/', '?', '#']) {
            s = &s[..end];
        }
        if s.contains('@') {
            return Err(bad("user information is not allowed"));
        }
        if let Some((host, port)) = s.rsplit_once(':') {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || host.contains(':') {
                return Err(bad("not a DNS name"));
            }
            s = host;
        }
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.chars().any(char::is_whitespace) {
            return Err(bad("whitespace is not allowed"));
        }
        let ascii = idna::domain_to_ascii_strict(s).map_err(|_| bad("IDNA conversion failed"))?;
        validate_dns_name(&ascii).map_err(bad)?;
        Ok(Domain(ascii))
    }

    /// The normalized domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the domain is itself a public suffix (`com`, `co.uk`, `github.io`), which no operator may claim.
    pub fn is_public_suffix(&self) -> bool {
        match psl::suffix(self.0.as_bytes()) {
            Some(suffix) => suffix.is_known() && suffix.as_bytes() == self.0.as_bytes(),
            None => true,
        }
    }

    /// Refuses public suffixes with [`Error::PublicSuffix`].
    pub fn ensure_registrable(&self) -> Result<()> {
        if self.is_public_suffix() {
            return Err(Error::PublicSuffix(self.0.clone()));
        }
        Ok(())
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate_dns_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.len() > 253 {
        return Err("a DNS name is 1 to 253 octets");
    }
    if !name.contains('.') {
        return Err("at least two labels are required");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each label is 1 to 63 octets");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("labels hold only letters, digits and '-'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("labels do not start or end with '-'");
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("an IP address is not a domain");
    }
    Ok(())
}

/// Whether `domain` is exactly what [`Domain::parse`] makes of it.
fn is_normalized_domain(domain: &str) -> bool {
    match plain_ldh_normalized(domain) {
        Some(normalized) => normalized,
        None => is_normalized_domain_slow(domain),
    }
}

fn is_normalized_domain_slow(domain: &str) -> bool {
    Domain::parse(domain).is_ok_and(|normalized| normalized.as_str() == domain)
}

/// The answer of [`is_normalized_domain_slow`] without IDNA processing, for names made only of lowercase LDH
/// labels none of which has `--` in its third and fourth positions (so no `xn--` label and nothing UTS-46 maps,
/// refuses or decodes); `None` for any other name.
fn plain_ldh_normalized(domain: &str) -> Option<bool> {
    let plain_label = |label: &str| {
        label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && label.get(2..4) != Some("--")
    };
    if !domain.split('.').all(plain_label) {
        return None;
    }
    Some(validate_dns_name(domain).is_ok())
}

/// A valid `did:agent:<domain>:<fingerprint>`. The fingerprint is lowercase hex of the first 16 bytes of
/// SHA-256 over the raw 32-byte Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did {
    value: String,
    domain_end: usize,
}

impl Did {
    /// Parses a DID string. The domain part must already be in normalized form.
    pub fn parse(s: &str) -> Result<Did> {
        let domain_len = Did::validate(s)?;
        Ok(Did {
            value: s.to_owned(),
            domain_end: DID_PREFIX.len() + domain_len,
        })
    }

    /// The checks of [`Self::parse`] without building a `Did`; returns the length of the domain part.
    pub(crate) fn validate(s: &str) -> Result<usize> {
        let bad = |why: &str| Error::InvalidDid(why.to_string());
        if s.len() > DID_PREFIX.len() + 253 + 1 + 32 {
            return Err(bad("too long"));
        }
        let rest = s
            .strip_prefix(DID_PREFIX)
            .ok_or_else(|| bad("must start with did:agent:"))?;
        let (domain, fp) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("expected did:agent:<domain>:<fingerprint>"))?;
        if fp.len() != 32
            || !fp
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("the fingerprint is 32 lowercase hex digits"));
        }
        if !is_normalized_domain(domain) {
            return Err(bad(
                "the domain must be a normalized DNS name (lowercase ASCII, no port)",
            ));
        }
        Ok(domain.len())
    }

    /// The DID of `key` under an operator's `domain`.
    pub fn from_key(domain: &Domain, key: &PublicKey) -> Did {
        let value = format!("{DID_PREFIX}{}:{}", domain.as_str(), fingerprint(key));
        Did {
            domain_end: DID_PREFIX.len() + domain.as_str().len(),
            value,
        }
    }

    /// The full DID string.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The operator domain.
    pub fn domain(&self) -> &str {
        &self.value[DID_PREFIX.len()..self.domain_end]
    }

    /// The key fingerprint (32 lowercase hex digits).
    pub fn fingerprint(&self) -> &str {
        &self.value[self.domain_end + 1..]
    }

    /// Whether this DID was derived from `key`.
    pub fn matches_key(&self, key: &PublicKey) -> bool {
        self.fingerprint() == fingerprint(key)
    }
}

/// The `did:agent` key fingerprint: lowercase hex of the first 16 bytes of SHA-256(raw key).
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    hex(&sha256(key.as_bytes())[..16])
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for Did {
    type Err = Error;
    fn from_str(s: &str) -> Result<Did> {
        Did::parse(s)
    }
}

impl Serialize for Did {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for Did {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Did, D::Error> {
        let s = String::deserialize(d)?;
        Did::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The multicodec prefix of an Ed25519 public key (varint of 0xed).
const ED25519_PUB_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// `z` + base58btc(0xed 0x01 ‖ key): the Multikey `publicKeyMultibase` of an Ed25519 key.
pub(crate) fn public_key_multibase(key: &PublicKey) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_PUB_MULTICODEC);
    bytes.extend_from_slice(key.as_bytes());
    multibase::encode(multibase::Base::Base58Btc, bytes)
}

/// The W3C DID document of an agent: one Multikey verification method `#key-1`, used for authentication and
/// assertion.
pub fn did_document(did: &Did, key: &PublicKey) -> Value {
    let vm = format!("{did}#key-1");
    json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did.as_str(),
        "controller": did.as_str(),
        "verificationMethod": [{
            "id": vm,
            "type": "Multikey",
            "controller": did.as_str(),
            "publicKeyMultibase": public_key_multibase(key),
        }],
        "authentication": [vm],
        "assertionMethod": [vm],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The fast path must agree with full IDNA processing wherever it gives an answer.
    fn check(domain: &str) {
        if let Some(fast) = plain_ldh_normalized(domain) {
            assert_eq!(fast, is_normalized_domain_slow(domain), "{domain:?}");
        }
    }

    #[test]
    fn fast_path_cases() {
        for d in [
            "agents.example.com",
            "a.b",
            "a-b.example",
            "ab--cd.example",
            "xn--bcher-kva.example",
            "xn--a.example",
            "-a.example",
            "a-.example",
            "example.123",
            "123.example",
            "example",
            "a..example",
            ".example.com",
            "example.com.",
            "",
            ".",
            &format!("{}.com", "a".repeat(63)),
            &format!("{}.com", "a".repeat(64)),
            &format!("{}.com", vec!["a".repeat(62); 4].join(".")),
            &format!("{}.co", vec!["a".repeat(62); 4].join(".")),
        ] {
            check(d);
        }
        assert_eq!(plain_ldh_normalized("agents.example.com"), Some(true));
        assert_eq!(plain_ldh_normalized("xn--bcher-kva.example"), None);
        assert_eq!(plain_ldh_normalized("Agents.example.com"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn fast_path_agrees_with_idna(d in "([a-z0-9-]{0,6}|xn--[a-z0-9-]{0,6}|[a-z]{1,3}--[a-z]{0,3})(\\.([a-z0-9-]{0,6}|xn--[a-z0-9]{1,5}-[a-z0-9]{1,4})){0,4}") {
            check(&d);
        }

        #[test]
        fn fast_path_agrees_on_any_ldh_string(d in "[a-z0-9.-]{0,70}") {
            check(&d);
        }

        #[test]
        fn long_names_agree(n in 1usize..70, k in 1usize..6) {
            check(&vec!["a".repeat(n); k].join("."));
        }
    }
}
