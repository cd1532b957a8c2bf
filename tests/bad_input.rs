//! The bad-input corpus (`tests/bad-input/`, one event per file, expectations in
//! `expected.json`) through the real binary: each event gets its documented `errorType` (or
//! succeeds, for the odd-but-valid ones), the function keeps serving, and nothing panics.
//! Also: a panic in the handler is one failed invocation, not a dead sandbox (with the
//! `test-hooks` feature, which `make test` turns on, for its `panic` operation).

mod support;

use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::{b64, Harness, Outcome};

fn corpus() -> (std::path::PathBuf, BTreeMap<String, String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input");
    let expected: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    (dir, expected)
}

#[test]
fn every_corpus_file_has_an_expectation_and_the_corpus_is_big_enough() {
    let (dir, expected) = corpus();
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f != "expected.json")
        .map(|f| f.trim_end_matches(".json").to_string())
        .collect();
    let mut files = files;
    files.sort();
    assert_eq!(files, expected.keys().cloned().collect::<Vec<_>>());
    assert!(expected.len() >= 40, "{} events", expected.len());
}

#[tokio::test]
async fn every_bad_event_gets_its_documented_error_type_and_the_function_keeps_serving() {
    let (dir, expected) = corpus();
    let h = Harness::start(&[]).await;
    let mut wrong = Vec::new();
    for (name, want) in &expected {
        let body = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
        let out = h.emulator.invoke_raw(body, Duration::from_secs(10)).await;
        let got = match &out {
            Outcome::Ok(_) => "ok".to_string(),
            Outcome::Err {
                error_type,
                message,
            } => {
                assert!(
                    !message.is_empty() && !message.contains('\n'),
                    "{name}: {message:?}"
                );
                assert!(
                    message.len() < 1000,
                    "{name}: message of {} bytes",
                    message.len()
                );
                error_type.clone()
            }
        };
        if &got != want {
            wrong.push(format!("{name}: expected {want}, got {out:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // Oversized beyond the envelope limit, made here rather than stored (6.4 MB).
    let huge = json!({"operation": "encrypt", "plaintext": "A".repeat(6_400_000)});
    let out = h
        .emulator
        .invoke_raw(serde_json::to_vec(&huge).unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(out.error_type(), "PayloadTooLarge");

    let ok = h
        .emulator
        .invoke(&json!({"operation": "encrypt", "plaintext": b64(b"still here")}))
        .await
        .ok();
    assert_eq!(ok["keyId"], h.key.arn);
    let output = h.function.output();
    assert!(
        !output.iter().any(|l| l.contains("panicked")),
        "{output:#?}"
    );
    assert_eq!(
        h.function.emf_wait(expected.len() + 2).await.len(),
        expected.len() + 2,
        "one EMF line per event"
    );
}

#[cfg(feature = "test-hooks")]
#[tokio::test]
async fn a_panic_in_the_handler_fails_one_invocation_and_the_next_one_works() {
    for concurrency in ["1", "4"] {
        let h = Harness::start(&[("AWS_LAMBDA_MAX_CONCURRENCY", concurrency)]).await;
        let out = h.emulator.invoke(&json!({"operation": "panic"})).await;
        let Outcome::Err {
            error_type,
            message,
        } = &out
        else {
            panic!("{out:?}")
        };
        assert_eq!(error_type, "Internal", "concurrency {concurrency}");
        assert!(
            !message.contains("forced panic"),
            "the panic message stays in the logs: {message}"
        );
        let emf: Vec<serde_json::Value> = h.function.emf_wait(1).await;
        assert_eq!(emf[0]["ErrorType"], "Internal");
        for _ in 0..3 {
            let ok = h
                .emulator
                .invoke(&json!({"operation": "encrypt", "plaintext": b64(b"after the panic")}))
                .await
                .ok();
            assert_eq!(ok["keyId"], h.key.arn, "concurrency {concurrency}");
        }
    }
}
