//! The bad-input corpus (`tests/bad-input/`, one event per file, expectations in
//! `expected.json`) through the real binary: each event gets its documented `errorType` — or
//! succeeds, for the odd-but-valid ones (`"ok"`), or answers with the fields an object
//! expectation lists (`{"macValid": false}`) — the function keeps serving, and nothing panics.
//!
//! A case for an operation must reach that operation: its EMF line names it. So a case whose
//! operation is missing from the table cannot pass as the "unknown operation" it would then be;
//! only cases named `unknown-operation*` or `operation-*` may name an operation the table lacks.
//! A kind's local alias (`alias/local/encryption`) stands for this test's key of that kind.
//!
//! Also: a panic in the handler is one failed invocation, not a dead sandbox (with the
//! `test-hooks` feature, which `make test` turns on, for its `panic` operation).

use crate::support;

use kms_lambda::ops::OPERATIONS;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::{b64, Harness, Outcome};

fn corpus() -> (std::path::PathBuf, BTreeMap<String, Value>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input");
    let expected: BTreeMap<String, Value> =
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

/// The body to send: the file, with each kind's local alias replaced by this test's alias for
/// it (whole JSON strings only; a file without one is sent byte for byte).
fn body(raw: Vec<u8>, aliases: &[(String, String)]) -> Vec<u8> {
    let text = String::from_utf8_lossy(&raw);
    if !aliases
        .iter()
        .any(|(local, _)| text.contains(local.as_str()))
    {
        return raw;
    }
    let event: Value = serde_json::from_slice(&raw).expect("a case naming a key is JSON");
    serde_json::to_vec(&support::with_aliases(&event, aliases)).unwrap()
}

/// What happened, in the terms of `expected.json`.
fn matches(want: &Value, out: &Outcome) -> bool {
    match (want, out) {
        (Value::String(w), Outcome::Ok(_)) => w == "ok",
        (Value::String(w), Outcome::Err { error_type, .. }) => w == error_type,
        (Value::Object(fields), Outcome::Ok(body)) => fields.iter().all(|(k, v)| &body[k] == v),
        _ => false,
    }
}

#[tokio::test]
async fn every_bad_event_gets_its_documented_error_type_and_the_function_keeps_serving() {
    let (dir, expected) = corpus();
    let h = Harness::start(&[]).await;
    let aliases = h.aliases();
    let mut wrong = Vec::new();
    for (i, (name, want)) in expected.iter().enumerate() {
        let raw = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
        let named = serde_json::from_slice::<Value>(&raw)
            .ok()
            .and_then(|v| v["operation"].as_str().map(str::to_string));
        let out = h
            .emulator
            .invoke_raw(body(raw, &aliases), Duration::from_secs(10))
            .await;
        if let Outcome::Err { message, .. } = &out {
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{name}: {message:?}"
            );
            assert!(
                message.len() < 1000,
                "{name}: message of {} bytes",
                message.len()
            );
        }
        if !matches(want, &out) {
            wrong.push(format!("{name}: expected {want}, got {out:?}"));
        }
        let line = h.function.emf_wait(i + 1).await[i].clone();
        let in_table = |op: &str| OPERATIONS.iter().any(|r| r.name == op && !r.test_only);
        let dispatch_case = name.starts_with("unknown-operation") || name.starts_with("operation-");
        match named {
            Some(op) if in_table(&op) && line["Operation"] != op.as_str() => {
                wrong.push(format!(
                    "{name}: names operation {op:?} but never reached it (EMF line: {line}): \
                     is its row in the operations table?"
                ));
            }
            Some(op) if !in_table(&op) && !dispatch_case => {
                wrong.push(format!(
                    "{name}: names operation {op:?}, which is not in the operations table, so it \
                     fails as an unknown operation, not in {op:?}: add the operation's row, or \
                     name the case unknown-operation-*"
                ));
            }
            _ => {}
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
