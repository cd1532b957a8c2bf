//! Envelope parsing and opening on arbitrary bytes: never a panic, and never plaintext from
//! bytes that were not sealed under the key.
#![no_main]

use kms_lambda::envelope::{self, DataKey};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = envelope::parse(data) {
        assert!(h.len <= data.len());
        assert!(!h.encrypted_key.is_empty());
    }
    let key = DataKey::new(vec![0x42; 32]);
    let mut blob = data.to_vec();
    // The fuzzer cannot forge a GCM tag: opening must fail.
    assert!(envelope::open(&key, &mut blob, &HashMap::new()).is_err());
});
