//! Event decoding: raw bytes as the runtime delivers them, through the kit's parser and the
//! operations table, into each operation's own type. Nothing may panic; every accepted encrypt
//! event must respect the contract's limits; every message is one line.
#![no_main]

use function::ops::encrypt::{Encrypt, Mode, MAX_DIRECT_PLAINTEXT, MAX_ENVELOPE_PLAINTEXT};
use function::ops::OPERATIONS;
use kms_lambda_kit::__private::read_event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match read_event(OPERATIONS, data) {
        Err(e) => assert!(!e.message().contains('\n')),
        Ok(()) => {
            // An accepted encrypt event, read again as the operation's own type.
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
                panic!("the kit accepted what is not JSON");
            };
            if value["operation"] != "encrypt" {
                return;
            }
            let e: Encrypt = kms_lambda_kit::testing::read(value).expect("accepted once");
            assert!(e.plaintext.len() <= MAX_ENVELOPE_PLAINTEXT);
            if e.mode() == Mode::Direct {
                assert!(!e.plaintext.is_empty() && e.plaintext.len() <= MAX_DIRECT_PLAINTEXT);
            }
        }
    }
});
