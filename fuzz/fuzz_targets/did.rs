//! Fuzzes the DID parser and the domain normalizer; a parsed DID must round-trip through its string form.
#![no_main]

use auth4agent_protocol::{Did, Domain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(did) = Did::parse(s) {
        assert_eq!(did.as_str(), s);
        assert_eq!(Did::parse(did.as_str()).unwrap(), did);
        assert_eq!(Domain::parse(did.domain()).unwrap().as_str(), did.domain());
    }
    if let Ok(domain) = Domain::parse(s) {
        let again = Domain::parse(domain.as_str()).expect("a normalized domain parses again");
        assert_eq!(again, domain);
        let _ = domain.is_public_suffix();
    }
});
