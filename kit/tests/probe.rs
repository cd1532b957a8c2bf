//! What every function gets from the kit, tested on the kit's probe (`probe/`), a
//! function made with the kit whose operations exist to test it, run as Lambda runs a function:
//! its real binary under the Runtime API emulator, against a local KMS behind the SigV4 gate.
//!
//! - the events every function refuses alike (`tests/bad-input/`: not JSON, no or an unknown
//!   operation, unknown fields, and every field type's rules — base64, contexts, key ids), each
//!   to its typed answer, end to end;
//! - a panic in an operation is one failed invocation, not a dead sandbox;
//! - the invocation's deadline bounds an operation however many KMS calls it makes.

mod common;

use common::{at_once, probe};
use kms_lambda_kit::testing::{contract, Harness, Outcome};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn the_events_every_function_refuses_alike_get_their_typed_answers() {
    contract::shared_bad_input(&probe()).await;
}

#[tokio::test]
async fn a_panic_fails_one_invocation_as_internal_and_the_sandbox_keeps_serving() {
    for concurrency in ["1", "4"] {
        let h = Harness::start(&probe(), &[("AWS_LAMBDA_MAX_CONCURRENCY", concurrency)]).await;
        let out = h.emulator.invoke(&json!({"operation": "panic"})).await;
        assert_eq!(out.error_type(), "Internal", "concurrency {concurrency}");
        assert!(
            !out.error_message().contains("forced panic"),
            "the panic message stays in the logs: {out:?}"
        );
        assert_eq!(h.function.emf_wait(1).await[0]["ErrorType"], "Internal");
        let seal = json!({"operation": "seal", "plaintext": "aGk=", "keyId": h.key.alias});
        let outs = at_once(&h, &seal, 4).await;
        for out in outs {
            assert!(
                matches!(out, Outcome::Ok(_)),
                "after a panic, at concurrency {concurrency}: {out:?}"
            );
        }
        assert!(
            h.function
                .output()
                .iter()
                .any(|l| l.contains("forced panic")),
            "the panic's message is in the logs"
        );
    }
}

/// The function's timeout here; its margin is the default 500 ms.
const TIMEOUT: Duration = Duration::from_secs(3);
/// How late KMS answers each request.
const LATE: Duration = Duration::from_millis(900);

#[tokio::test]
async fn three_kms_calls_each_answered_late_end_with_the_invocations_deadline() {
    let h = Harness::start(&probe(), &[]).await;
    let event = json!({"operation": "calls", "keyId": h.key.alias, "n": 3});
    // Without delay all three succeed: the operation works.
    assert_eq!(h.emulator.invoke(&event).await.ok()["calls"], 3);
    // 3 × 0.9 s is past 3 s less the 0.5 s margin: the third call is cut at 2.5 s.
    let (out, took) = h.invoke_with_kms_late(&event, LATE, TIMEOUT).await;
    assert_eq!(out.error_type(), "DeadlineExceeded", "{out:?}");
    assert!(
        took < TIMEOUT,
        "answered after {took:?}, past the invocation's deadline"
    );
    let line = h.function.emf_wait(2).await[1].clone();
    assert_eq!(line["ErrorType"], "DeadlineExceeded", "{line}");
    assert_eq!(line["KmsAttempts"], 3, "{line}");
}
