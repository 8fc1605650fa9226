//! Scopes (RFC 6749 §3.3): scope-token syntax, space-separated parsing, and the deny-by-default subset check.

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// Longest accepted scope token.
pub(crate) const MAX_SCOPE_LEN: usize = 128;
/// Most scope tokens in one set.
pub(crate) const MAX_SCOPES: usize = 64;

/// A set of valid scope tokens. The empty set grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Parses a `scope` value: tokens separated by single spaces (no leading, trailing or doubled spaces).
    pub fn parse(value: &str) -> Result<ScopeSet> {
        if value.is_empty() {
            return Ok(ScopeSet::default());
        }
        ScopeSet::from_list(value.split(' '))
    }

    /// Builds a set from individual tokens, each checked against the scope-token grammar.
    pub fn from_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Result<ScopeSet> {
        let mut set = BTreeSet::new();
        for item in items {
            let token = item.as_ref();
            check_token(token)?;
            set.insert(token.to_owned());
            if set.len() > MAX_SCOPES {
                return Err(Error::InvalidScope(format!(
                    "more than {MAX_SCOPES} scopes"
                )));
            }
        }
        Ok(ScopeSet(set))
    }

    /// Whether every scope here is in `allowed` (deny by default).
    pub fn is_subset_of(&self, allowed: &ScopeSet) -> bool {
        self.0.is_subset(&allowed.0)
    }

    /// The first scope not in `allowed`, for error messages.
    pub fn first_not_in<'a>(&'a self, allowed: &'a ScopeSet) -> Option<&'a str> {
        self.0.difference(&allowed.0).next().map(String::as_str)
    }

    /// Enforces the subset rule with [`Error::ScopeNotAllowed`].
    pub fn ensure_allowed(&self, allowed: &ScopeSet) -> Result<()> {
        match self.first_not_in(allowed) {
            Some(scope) => Err(Error::ScopeNotAllowed(scope.to_owned())),
            None => Ok(()),
        }
    }

    /// The space-separated wire form, sorted.
    pub fn to_scope_string(&self) -> String {
        self.0
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The scopes as a sorted list.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Every scope of either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).cloned().collect())
    }
}

fn check_token(token: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::InvalidScope(
            "empty scope token (scopes are separated by single spaces)".into(),
        ));
    }
    if token.len() > MAX_SCOPE_LEN {
        return Err(Error::InvalidScope(format!(
            "scope longer than {MAX_SCOPE_LEN} characters"
        )));
    }
    // NQCHAR = %x21 / %x23-5B / %x5D-7E
    if let Some(c) = token
        .chars()
        .find(|&c| !matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
    {
        return Err(Error::InvalidScope(format!(
            "{token:?} contains {c:?}, which a scope token cannot hold"
        )));
    }
    Ok(())
}
