//! JSON parsing that refuses duplicate member names at any depth (RFC 7515 §5.2, RFC 8725 §3.9) instead of letting
//! the last value win silently. Nesting depth is bounded by serde_json's recursion limit.
//!
//! [`parse`] builds a [`Value`]; [`parse_object`] captures only the members a [`Fields`] type names, borrowing
//! their strings from the input, and checks the rest without building anything. Both walk the input through
//! `deserialize_any` in the same order, so they refuse the same inputs with the same errors.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer as _;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parses `bytes` as one JSON value, refusing duplicate member names and trailing data.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value> {
    parse_with_serde_json(bytes, StrictVisitor)
}

/// Parses `bytes` as one JSON value like [`parse`]; `None` if it is valid but not an object.
pub(crate) fn parse_object<'de, T: Fields<'de>>(bytes: &'de [u8]) -> Result<Option<T>> {
    parse_with_serde_json(bytes, ObjectVisitor(PhantomData))
}

/// The full parser, which alone decides every refusal.
pub(crate) fn parse_with_serde_json<'de, V: Visitor<'de>>(
    bytes: &'de [u8],
    visitor: V,
) -> Result<V::Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de.deserialize_any(visitor).map_err(map_err)?;
    de.end().map_err(map_err)?;
    Ok(value)
}

const DUPLICATE_PREFIX: &str = "duplicate member name: ";

fn map_err(e: serde_json::Error) -> Error {
    let msg = e.to_string();
    match msg.strip_prefix(DUPLICATE_PREFIX) {
        Some(rest) => {
            Error::DuplicateMember(rest.split(" at line").next().unwrap_or(rest).to_string())
        }
        None => Error::InvalidJson(msg),
    }
}

pub(crate) struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match out.entry(key) {
                Entry::Occupied(member) => return Err(duplicate(member.key())),
                Entry::Vacant(member) => {
                    member.insert(map.next_value_seed(StrictSeed)?);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A captured member value: strings (borrowed unless escaped) and non-negative integers as such, anything else as
/// the [`Value`] [`parse`] would have built.
#[derive(Debug)]
pub(crate) enum Member<'a> {
    Str(Cow<'a, str>),
    UInt(u64),
    Other(Value),
}

impl Member<'_> {
    /// The value [`parse`] would have produced.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Member::Str(s) => Value::String(s.to_string()),
            Member::UInt(n) => Value::from(*n),
            Member::Other(v) => v.clone(),
        }
    }
}

/// The members of one object that a typed parse keeps.
pub(crate) trait Fields<'de>: Default {
    /// Reads the value of `key` from `map` if this type keeps it: `Some(false)` when `key` was already seen,
    /// `None` when `key` is not one of its members (the caller then checks and skips the value).
    fn capture<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> std::result::Result<Option<bool>, A::Error>;
}

/// Fills a member slot from `map`; `false` if it was already filled (a duplicate).
pub(crate) fn fill<'de, A: MapAccess<'de>, T: de::DeserializeSeed<'de> + Default>(
    slot: &mut Option<T::Value>,
    map: &mut A,
) -> std::result::Result<bool, A::Error> {
    if slot.is_some() {
        return Ok(false);
    }
    *slot = Some(map.next_value_seed(T::default())?);
    Ok(true)
}

/// Marks a member whose value is only checked; `false` if it was already present.
pub(crate) fn mark<'de, A: MapAccess<'de>>(
    seen: &mut bool,
    map: &mut A,
) -> std::result::Result<bool, A::Error> {
    if *seen {
        return Ok(false);
    }
    *seen = true;
    map.next_value_seed(SkipSeed)?;
    Ok(true)
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("{DUPLICATE_PREFIX}{key}"))
}

/// Reads a member value as a [`Member`].
#[derive(Default)]
pub(crate) struct MemberSeed;

impl<'de> de::DeserializeSeed<'de> for MemberSeed {
    type Value = Member<'de>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Member<'de>, D::Error> {
        d.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Member<'de>, E> {
        Ok(Member::Other(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Member<'de>, E> {
        Ok(u64::try_from(v).map_or(Member::Other(Value::from(v)), Member::UInt))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Member<'de>, E> {
        Ok(Member::UInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Member<'de>, E> {
        StrictVisitor.visit_f64(v).map(Member::Other)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> std::result::Result<Member<'de>, E> {
        Ok(Member::Other(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Member<'de>, A::Error> {
        StrictVisitor.visit_seq(seq).map(Member::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Member<'de>, A::Error> {
        StrictVisitor.visit_map(map).map(Member::Other)
    }
}

/// Reads a member value that must be an object of `T`'s members: `None` if it is some other JSON value.
pub(crate) struct ObjectSeed<T>(PhantomData<T>);

impl<T> Default for ObjectSeed<T> {
    fn default() -> Self {
        ObjectSeed(PhantomData)
    }
}

impl<'de, T: Fields<'de>> de::DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = Option<T>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Option<T>, D::Error> {
        d.deserialize_any(ObjectVisitor(PhantomData))
    }
}

pub(crate) struct ObjectVisitor<T>(pub(crate) PhantomData<T>);

impl<'de, T: Fields<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> std::result::Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Option<T>, A::Error> {
        SkipVisitor.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Option<T>, A::Error> {
        let mut fields = T::default();
        let mut others = SeenKeys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match fields.capture(&key, &mut map)? {
                Some(true) => {}
                Some(false) => return Err(duplicate(&key)),
                None => {
                    if let Err(key) = others.insert(key) {
                        return Err(duplicate(&key));
                    }
                    map.next_value_seed(SkipSeed)?;
                }
            }
        }
        Ok(Some(fields))
    }
}

/// Member names seen in one object: a short list searched in order, a set once it grows.
#[derive(Default)]
struct SeenKeys<'de> {
    list: Vec<Cow<'de, str>>,
    set: BTreeSet<Cow<'de, str>>,
}

impl<'de> SeenKeys<'de> {
    const LIST_MAX: usize = 16;

    /// Records `key`; gives it back if it was already seen.
    fn insert(&mut self, key: Cow<'de, str>) -> std::result::Result<(), Cow<'de, str>> {
        if self.list.contains(&key) || self.set.contains(&key) {
            return Err(key);
        }
        if self.list.len() < Self::LIST_MAX {
            self.list.push(key);
        } else {
            self.set.insert(key);
        }
        Ok(())
    }
}

/// Reads a member name, borrowed unless it holds escapes.
struct KeySeed;

impl<'de> de::DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// Checks a value (duplicate members at any depth included) without keeping it.
#[derive(Default)]
pub(crate) struct SkipSeed;

impl<'de> de::DeserializeSeed<'de> for SkipSeed {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element_seed(SkipSeed)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut seen = SeenKeys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if let Err(key) = seen.insert(key) {
                return Err(duplicate(&key));
            }
            map.next_value_seed(SkipSeed)?;
        }
        Ok(())
    }
}

struct StrictSeed;

impl<'de> de::DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(
            parse(br#"{"a":1,"a":2}"#),
            Err(Error::DuplicateMember("a".into()))
        );
        assert_eq!(
            parse(br#"{"cnf":{"jkt":"x","jkt":"y"}}"#),
            Err(Error::DuplicateMember("jkt".into()))
        );
        assert!(parse(br#"{"a":{"b":1},"b":1}"#).is_ok());
    }

    #[test]
    fn refuses_trailing_data_and_deep_nesting() {
        assert!(matches!(parse(br#"{} {}"#), Err(Error::InvalidJson(_))));
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(matches!(parse(deep.as_bytes()), Err(Error::InvalidJson(_))));
    }
}
