//! JSON parsing that refuses duplicate member names at any depth (RFC 7515 §5.2, RFC 8725 §3.9) instead of letting
//! the last value win silently. Nesting depth is bounded by serde_json's recursion limit.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parses `bytes` as one JSON value, refusing duplicate member names and trailing data.
pub fn parse(bytes: &[u8]) -> Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de.deserialize_any(StrictVisitor).map_err(map_err)?;
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

struct StrictVisitor;

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
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_PREFIX}{key}")));
            }
            let value = map.next_value_seed(StrictSeed)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
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
