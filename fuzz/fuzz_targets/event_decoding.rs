//! Event decoding: raw bytes as the runtime delivers them, through the raw-event guard and the
//! event parser. Nothing may panic; every accepted event must respect the contract's limits.
#![no_main]

use kms_lambda::event::{self, Mode, Request, MAX_DIRECT_PLAINTEXT, MAX_ENVELOPE_PLAINTEXT};
use kms_lambda::raw_event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(reason) = raw_event::malformed(data) {
        // What the guard hands the handler instead must parse to InvalidRequest.
        let marked = serde_json::Value::String(format!("{}{reason}", event::MALFORMED_MARKER));
        assert!(event::parse(&marked).is_err());
        return;
    }
    // The guard said "JSON": the runtime's own parse must then succeed too.
    let value: serde_json::Value = serde_json::from_slice(data).expect("guard and runtime agree");
    match event::parse(&value) {
        Ok(Request::Encrypt { plaintext, mode, .. }) => {
            assert!(plaintext.len() <= MAX_ENVELOPE_PLAINTEXT);
            if mode == Mode::Direct {
                assert!(!plaintext.is_empty() && plaintext.len() <= MAX_DIRECT_PLAINTEXT);
            }
        }
        Ok(Request::Decrypt { ciphertext, .. }) => assert!(!ciphertext.is_empty()),
        Err(e) => assert!(!e.message().contains('\n')),
    }
});
