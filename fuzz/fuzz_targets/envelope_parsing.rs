//! Envelope (AWS Encryption SDK message) parsing and opening on arbitrary bytes: never a panic,
//! a parsed message's pieces (a signed one's footer too) always lie within the input, and never
//! plaintext from bytes that were not sealed under the key.
#![no_main]

use kms_lambda_kit::__private::{self as envelope, DataKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = envelope::parse_envelope(data) else {
        return;
    };
    assert!(message.header.len() <= data.len());
    assert!(!message.data_keys.is_empty());
    assert!(message.plaintext_len() <= data.len());
    if let Some(footer) = message.footer {
        // The signature covers everything before it.
        assert!(footer.signed.len() + 2 + footer.signature.len() == data.len());
    }
    // The fuzzer cannot forge a signature, a key commitment or a GCM tag: opening must fail.
    let key = DataKey::new(vec![0x42; message.suite.data_key_len()]);
    assert!(envelope::open(&message, &key).is_err());
});
