//! Fuzzes status list decoding (draft-ietf-oauth-status-list-20): the first byte picks `bits`, the rest is a
//! `lst` value decoded, inflated within its limit and read at a few indexes without a panic; the same bytes as a
//! whole status list token are refused unless signed by the fixed key, which a fuzzer cannot do.
#![no_main]

use auth4agent_protocol::{KeySet, SigningKey, StatusList, UnixTime, verify_status_list};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&bits, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if let Ok(list) = StatusList::decode(u64::from(bits), text) {
        let len = list.len();
        for idx in [0, len / 2, len.saturating_sub(1), len, u64::MAX] {
            let got = list.get(idx);
            assert_eq!(got.is_ok(), idx < len, "an index is readable exactly when it is in range");
        }
        let again = list.encode();
        assert_eq!(StatusList::decode(u64::from(again.bits), &again.lst).as_ref(), Ok(&list));
    }
    let key = SigningKey::from_seed(&[7; 32]).public_key();
    let keys = KeySet::from_keys([(key.thumbprint(), key)]).expect("one key");
    assert!(
        verify_status_list(text, &keys, "https://auth.example.com/status-lists/1", UnixTime::from_secs(1_800_000_000))
            .is_err(),
        "a fuzzed status list cannot carry the fixed key's signature"
    );
});
