//! The device authorization grant's human-facing pieces (RFC 8628): the user code (eight characters
//! of the §6.1 base-20 alphabet, shown `XXXX-XXXX`, read back case- and dash-insensitively) and the
//! binding message an agent may show the approver. Randomness is passed in.

use crate::error::{Error, Result};

/// RFC 8628 §6.1: consonants only (no vowels, so no words; no look-alike digits).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters of a user code (20^8 ≈ 2^34.6 codes).
const USER_CODE_LEN: usize = 8;
/// Longest binding message, in characters.
pub const BINDING_MESSAGE_MAX: usize = 64;

/// A user code, normalized: eight uppercase characters of [`USER_CODE_ALPHABET`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    /// A user code from random bytes: each byte picks one character (by rejection of bytes ≥ 240, so
    /// every character is equally likely). `None` if the bytes ran out first (the caller draws again).
    pub fn from_random(bytes: &[u8]) -> Option<UserCode> {
        let code: String = bytes
            .iter()
            .filter(|&&b| b < 240)
            .take(USER_CODE_LEN)
            .map(|&b| char::from(USER_CODE_ALPHABET[usize::from(b % 20)]))
            .collect();
        (code.len() == USER_CODE_LEN).then_some(UserCode(code))
    }

    /// Reads a code as a person typed it: case-insensitive, dashes and spaces ignored (RFC 8628 §6.1).
    pub fn parse(input: &str) -> Result<UserCode> {
        if input.len() > 32 {
            return Err(Error::InvalidUserCode("longer than 32 characters".into()));
        }
        let mut code = String::with_capacity(USER_CODE_LEN);
        for c in input.chars() {
            if c == '-' || c == ' ' {
                continue;
            }
            let upper = c.to_ascii_uppercase();
            if !upper.is_ascii() || !USER_CODE_ALPHABET.contains(&(upper as u8)) {
                return Err(Error::InvalidUserCode(format!(
                    "{c:?} is not one of BCDFGHJKLMNPQRSTVWXZ"
                )));
            }
            code.push(upper);
        }
        if code.len() != USER_CODE_LEN {
            return Err(Error::InvalidUserCode(format!(
                "{} characters; a user code has {USER_CODE_LEN}",
                code.len()
            )));
        }
        Ok(UserCode(code))
    }

    /// The normalized form (eight characters, no dash): how it is stored and compared.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The display form, `XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

impl std::fmt::Display for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// A binding message: 1 to [`BINDING_MESSAGE_MAX`] printable characters (no control character; any
/// script), shown to the approver to tie the request to what the agent is doing.
pub fn check_binding_message(message: &str) -> Result<()> {
    let count = message.chars().count();
    if count == 0 {
        return Err(Error::InvalidBindingMessage("empty".into()));
    }
    if count > BINDING_MESSAGE_MAX {
        return Err(Error::InvalidBindingMessage(format!(
            "{count} characters; at most {BINDING_MESSAGE_MAX}"
        )));
    }
    if let Some(c) = message
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(Error::InvalidBindingMessage(format!(
            "{:?} is not printable",
            c
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_normalize_and_display() {
        let code = UserCode::parse("wdjb-mjht").unwrap();
        assert_eq!(code.as_str(), "WDJBMJHT");
        assert_eq!(code.display(), "WDJB-MJHT");
        assert_eq!(UserCode::parse("WDJBMJHT").unwrap(), code);
        assert_eq!(UserCode::parse(" w-d-j-b m j h t ").unwrap(), code);
        for bad in [
            "WDJB-MJH",
            "WDJB-MJHTX",
            "AEIO-UAEI",
            "WDJB-MJH1",
            "",
            "ẞDJB-MJHT",
        ] {
            assert!(UserCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_codes_use_the_alphabet() {
        let code = UserCode::from_random(&[0, 19, 20, 239, 240, 255, 1, 2, 3, 4]).unwrap();
        assert_eq!(code.as_str(), "BZBZCDFG");
        assert!(UserCode::from_random(&[250; 16]).is_none());
    }

    #[test]
    fn binding_messages() {
        assert!(check_binding_message("Pay invoice #4411 to ACME").is_ok());
        assert!(check_binding_message("Überweisung 12 €").is_ok());
        assert!(check_binding_message("").is_err());
        assert!(check_binding_message(&"x".repeat(65)).is_err());
        assert!(check_binding_message(&"x".repeat(64)).is_ok());
        assert!(check_binding_message("a\nb").is_err());
        assert!(check_binding_message("a\u{1b}[31m").is_err());
        assert!(check_binding_message("a\u{202e}b").is_err());
    }
}
