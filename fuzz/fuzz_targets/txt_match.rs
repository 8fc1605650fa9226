//! Fuzzes the DNS TXT matcher with arbitrary records split into arbitrary character-strings.
#![no_main]

use auth4agent_protocol::{TxtMatch, match_txt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: split points; the rest: record bytes separated by 0xff.
    let Some((&split, rest)) = data.split_first() else { return };
    let records: Vec<Vec<Vec<u8>>> = rest
        .split(|&b| b == 0xff)
        .map(|r| {
            let at = (split as usize).min(r.len());
            vec![r[..at].to_vec(), r[at..].to_vec()]
        })
        .collect();
    let expected = "auth4agent-verification=0123456789abcdef0123456789abcdef";
    let result = match_txt(&records, expected);
    let any_equal = records.iter().any(|r| r.concat() == expected.as_bytes());
    assert_eq!(result == TxtMatch::Matched, any_equal);
});
