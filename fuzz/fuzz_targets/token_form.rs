//! Fuzzes the token endpoint's form parsing: the strict urlencoded parser and the OAuth token form on top of it.
//! A parsed form re-encodes to a body that parses to the same parameters.
#![no_main]

use auth4agent_api::{TokenForm, TokenGrant};
use auth4agent_protocol::{Form, encode_form};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = Form::parse(data) {
        let again = Form::parse(encode_form(form.iter()).as_bytes()).expect("re-encoded form parses");
        assert_eq!(again, form);
    }
    if let Ok(form) = TokenForm::parse(data) {
        assert!(!form.client_assertion.is_empty());
        match form.grant {
            TokenGrant::ClientCredentials { resource, .. } => assert!(!resource.is_empty()),
            TokenGrant::DeviceCode { device_code } => assert!(!device_code.is_empty()),
        }
    }
});
