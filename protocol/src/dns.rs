//! DNS TXT domain verification, the pure part: the record name and value an operator publishes, and the matcher
//! run over whatever a resolver returned.

use crate::did::Domain;

/// The label under which the verification record lives.
pub(crate) const TXT_LABEL: &str = "_auth4agent";
/// The prefix of the record value.
pub(crate) const TXT_VALUE_PREFIX: &str = "auth4agent-verification=";

/// The TXT record an operator must publish to prove control of its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// `_auth4agent.<domain>`
    pub name: String,
    /// `auth4agent-verification=<token>`
    pub value: String,
}

/// The outcome of comparing resolver answers with the expected value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtMatch {
    /// One record, its strings concatenated, equals the expected value.
    Matched,
    /// The name has no TXT record at all.
    NoRecord,
    /// Records exist, none matches; `found` holds them (lossy UTF-8) for the error message.
    WrongValue { found: Vec<String> },
}

impl TxtRecord {
    /// The record for `domain` and the operator's verification `token`.
    pub fn new(domain: &Domain, token: &str) -> TxtRecord {
        TxtRecord {
            name: format!("{TXT_LABEL}.{}", domain.as_str()),
            value: format!("{TXT_VALUE_PREFIX}{token}"),
        }
    }

    /// Compares resolver answers with this record. Each answer is one TXT record given as its character-strings,
    /// which are concatenated before comparison (RFC 7208 §3.3 style, as ACME clients do). Any one match passes.
    pub fn matches(&self, records: &[Vec<Vec<u8>>]) -> TxtMatch {
        if records.is_empty() {
            return TxtMatch::NoRecord;
        }
        let expected = self.value.as_bytes();
        let mut found = Vec::with_capacity(records.len());
        for strings in records {
            let joined: Vec<u8> = strings.concat();
            if joined == expected {
                return TxtMatch::Matched;
            }
            found.push(String::from_utf8_lossy(&joined).into_owned());
        }
        TxtMatch::WrongValue { found }
    }
}

/// `_auth4agent.<domain>`
pub fn txt_record_name(domain: &Domain) -> String {
    format!("{TXT_LABEL}.{}", domain.as_str())
}

/// `auth4agent-verification=<token>`
pub fn txt_record_value(token: &str) -> String {
    format!("{TXT_VALUE_PREFIX}{token}")
}

/// [`TxtRecord::matches`] for a bare expected value.
pub fn match_txt(records: &[Vec<Vec<u8>>], expected_value: &str) -> TxtMatch {
    TxtRecord {
        name: String::new(),
        value: expected_value.to_owned(),
    }
    .matches(records)
}
