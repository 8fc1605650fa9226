//! `application/x-www-form-urlencoded` bodies (the OAuth token endpoint's), parsed strictly: names and values
//! are percent-decoded (`+` is a space) and must be UTF-8, a name may appear once (RFC 6749 §3.2), and a
//! parameter sent without a value counts as omitted (RFC 6749 §3.1).

use crate::error::{Error, Result};

/// Most parameters accepted in one body; a token request has at most seven.
pub const MAX_FORM_PARAMS: usize = 32;

/// A parsed form: each name once, in the order received, empty values dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    /// Parses `body`. Refuses bad percent-escapes, non-UTF-8 text, repeated names and more than
    /// [`MAX_FORM_PARAMS`] parameters.
    pub fn parse(body: &[u8]) -> Result<Form> {
        let mut params: Vec<(String, String)> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            if seen.len() == MAX_FORM_PARAMS {
                return Err(Error::InvalidForm(format!(
                    "more than {MAX_FORM_PARAMS} parameters"
                )));
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if seen.contains(&name) {
                return Err(Error::RepeatedParameter(name));
            }
            seen.push(name.clone());
            if !value.is_empty() {
                params.push((name, value));
            }
        }
        Ok(Form { params })
    }

    /// The value of `name`, if it was sent with one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter that has a value, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Encodes `params` as a form body (the inverse of [`Form::parse`]; unreserved characters stay as they are).
pub fn encode_form<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        encode_into(name, &mut out);
        out.push('=');
        encode_into(value, &mut out);
    }
    out
}

fn encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

fn decode(raw: &[u8]) -> Result<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or_else(bad_escape)?;
                let hi = hex_digit(hex[0]).ok_or_else(bad_escape)?;
                let lo = hex_digit(hex[1]).ok_or_else(bad_escape)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::InvalidForm("a parameter is not UTF-8".into()))
}

fn bad_escape() -> Error {
    Error::InvalidForm("a percent-escape is not two hexadecimal digits".into())
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        let form = Form::parse(b"a=x%20y+z&b=%E2%82%AC&c=&d").unwrap();
        assert_eq!(form.get("a"), Some("x y z"));
        assert_eq!(form.get("b"), Some("\u{20ac}"));
        assert_eq!(form.get("c"), None, "an empty value counts as omitted");
        assert_eq!(form.get("d"), None);
        assert_eq!(form.iter().count(), 2);
    }

    #[test]
    fn refuses_repeats_even_when_empty() {
        for body in [&b"a=1&a=2"[..], b"a=&a=1", b"a&a", b"a=1&%61=2"] {
            let err = Form::parse(body).unwrap_err();
            assert!(
                matches!(err, Error::RepeatedParameter(ref n) if n == "a"),
                "{body:?}: {err}"
            );
        }
    }

    #[test]
    fn refuses_bad_escapes_and_non_utf8() {
        for body in [
            &b"a=%"[..],
            b"a=%4",
            b"a=%zz",
            b"a=%FF",
            b"%C3=1",
            b"a=\xff",
        ] {
            assert!(
                matches!(Form::parse(body), Err(Error::InvalidForm(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn caps_the_number_of_parameters() {
        let body: Vec<String> = (0..=MAX_FORM_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert!(Form::parse(body.join("&").as_bytes()).is_err());
        let ok: Vec<String> = (0..MAX_FORM_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(
            Form::parse(ok.join("&").as_bytes()).unwrap().iter().count(),
            MAX_FORM_PARAMS
        );
    }

    #[test]
    fn encoding_round_trips() {
        let params = [
            ("grant_type", "client_credentials"),
            ("scope", "a:b c/d é&=+"),
        ];
        let body = encode_form(params);
        let form = Form::parse(body.as_bytes()).unwrap();
        assert_eq!(form.iter().collect::<Vec<_>>(), params);
    }
}
