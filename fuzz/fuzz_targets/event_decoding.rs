//! Event decoding: raw bytes as the runtime delivers them, through the raw-event guard and the
//! operations table. Nothing may panic; every accepted encrypt event must respect the contract's
//! limits; every message is one line.
#![no_main]

use function::ops::encrypt::{Encrypt, Mode, MAX_DIRECT_PLAINTEXT, MAX_ENVELOPE_PLAINTEXT};
use function::ops::OPERATIONS;
use kms_lambda_kit::event::{raw, Event};
use kms_lambda_kit::operation::dispatch;
use kms_lambda_kit::{Fields, Operation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(reason) = raw::malformed(data) {
        // The guard refuses it as InvalidRequest, naming a position in one line.
        assert!(!reason.contains('\n'));
        return;
    }
    // The guard said "JSON": the runtime's own parse (into an `Event`) must then succeed too.
    let parsed: Event = serde_json::from_slice(data).expect("guard and runtime agree");
    match dispatch(OPERATIONS, &parsed).request {
        Ok(request) if request.operation() == Encrypt::NAME => {
            // `parse` moved the payload out: read the event again.
            let again: Event = serde_json::from_slice(data).expect("parsed once already");
            let fields = Fields::new(&again, Encrypt::NAME, Encrypt::FIELDS).expect("accepted");
            let e = Encrypt::parse(&fields).expect("accepted");
            assert!(e.plaintext.len() <= MAX_ENVELOPE_PLAINTEXT);
            if e.mode == Mode::Direct {
                assert!(!e.plaintext.is_empty() && e.plaintext.len() <= MAX_DIRECT_PLAINTEXT);
            }
        }
        Ok(_) => {}
        Err(e) => assert!(!e.message().contains('\n')),
    }
});
