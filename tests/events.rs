//! The sample events in `events/` through the real binary, behind the time gate, against the
//! local KMS: each succeeds, every operation in the table has at least one, and each
//! operation's KMS calls (as the gate saw them) need only the IAM actions its table row lists —
//! so the row, and through `tests/template.rs` the role in `template.yaml`, cannot fall short.
//!
//! Two conventions make the files usable as they are by `make invoke`: `alias/kms-lambda-local`
//! (the key `make invoke` creates) stands for the test's key, and the value
//! `PASTE-THE-CIPHERTEXT-FROM-ENCRYPT` for the ciphertext `events/encrypt.json` produced.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::{Harness, Outcome};

const LOCAL_ALIAS: &str = "alias/kms-lambda-local";
const CIPHERTEXT_PLACEHOLDER: &str = "PASTE-THE-CIPHERTEXT-FROM-ENCRYPT";

/// Operations that exist only for the project's own tests (the `test-hooks` feature).
fn test_only(name: &str) -> bool {
    #[cfg(feature = "test-hooks")]
    if name == <kms_lambda::test_hooks::Panic as kms_lambda::ops::Operation>::NAME {
        return true;
    }
    let _ = name;
    false
}

/// `events/*.json`, `encrypt.json` first (the others may use its ciphertext).
fn sample_events() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort_by_key(|f| (f != "encrypt.json", f.clone()));
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(dir.join(&f)).unwrap();
            (f, text)
        })
        .collect()
}

#[tokio::test]
async fn every_sample_event_succeeds_and_every_operation_calls_only_the_actions_its_row_lists() {
    let h = Harness::start(&[]).await;
    let mut ciphertext = None::<String>;
    let mut covered = BTreeSet::new();
    let mut problems = Vec::new();
    for (file, text) in sample_events() {
        let mut text = text.replace(LOCAL_ALIAS, &h.key.alias);
        if text.contains(CIPHERTEXT_PLACEHOLDER) {
            let c = ciphertext
                .as_deref()
                .expect("events/encrypt.json ran first");
            text = text.replace(CIPHERTEXT_PLACEHOLDER, c);
        }
        let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let name = event["operation"].as_str().unwrap_or_default().to_string();
        let Some(row) = kms_lambda::ops::OPERATIONS.iter().find(|e| e.name == name) else {
            problems.push(format!("{file}: operation {name:?} is not in the table"));
            continue;
        };
        let before = h.gate.targets().len();
        let out = h.emulator.invoke(&event).await;
        let Outcome::Ok(body) = out else {
            problems.push(format!("{file}: {out:?}"));
            continue;
        };
        if file == "encrypt.json" {
            ciphertext = body["ciphertext"].as_str().map(str::to_string);
        }
        covered.insert(name.clone());
        for target in &h.gate.targets()[before..] {
            for action in support::iam_actions_for_target(target) {
                if !row.iam_actions.contains(&action.as_str()) {
                    problems.push(format!(
                        "{file}: {name} called {target}, which needs {action}; add it to the \
                         operation's IAM_ACTIONS (and to template.yaml's policy)"
                    ));
                }
            }
        }
    }
    for row in kms_lambda::ops::OPERATIONS {
        if !test_only(row.name) && !covered.contains(row.name) {
            problems.push(format!(
                "operation {:?} has no sample event in events/ (add one)",
                row.name
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
