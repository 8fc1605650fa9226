//! Fuzzes the device authorization endpoint's form (RFC 8628 §3.1) and the user codes an approver types: a
//! parsed form has an assertion, a resource and a binding message of at most 64 printable characters; a
//! parsed user code is eight characters of the base-20 alphabet and reads back from its display form.
#![no_main]

use auth4agent_api::DeviceAuthorizationForm;
use auth4agent_protocol::{BINDING_MESSAGE_MAX, USER_CODE_ALPHABET, UserCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = DeviceAuthorizationForm::parse(data) {
        assert!(!form.client_assertion.is_empty());
        assert!(!form.resource.is_empty());
        if let Some(message) = &form.binding_message {
            let count = message.chars().count();
            assert!((1..=BINDING_MESSAGE_MAX).contains(&count));
            assert!(!message.chars().any(char::is_control));
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(code) = UserCode::parse(text)
    {
        assert_eq!(code.as_str().len(), 8);
        assert!(code.as_str().bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        assert_eq!(UserCode::parse(&code.display()).unwrap(), code);
        assert_eq!(UserCode::parse(&code.as_str().to_lowercase()).unwrap(), code);
    }
});
