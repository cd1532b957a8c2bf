//! The sample events in `events/` through the real binary, behind the time gate, against the
//! local KMS: each succeeds, every operation in the table has at least one, and each
//! operation's KMS calls (as the gate saw them) need only the IAM actions its table row lists —
//! so the row, and through `tests/template.rs` the role in `template.yaml`, cannot fall short.
//!
//! Two conventions make the files usable as they are by `make invoke` (see
//! `support::run_sample_events`): `alias/kms-lambda-local` stands for the test's key, and
//! `PASTE-THE-CIPHERTEXT-FROM-ENCRYPT` for the ciphertext `events/encrypt.json` produced.

mod support;

use std::collections::BTreeSet;
use support::{Harness, Outcome};

/// Operations that exist only for the project's own tests (the `test-hooks` feature).
fn test_only(name: &str) -> bool {
    #[cfg(feature = "test-hooks")]
    if name == <kms_lambda::test_hooks::Panic as kms_lambda::ops::Operation>::NAME {
        return true;
    }
    let _ = name;
    false
}

#[tokio::test]
async fn every_sample_event_succeeds_and_every_operation_calls_only_the_actions_its_row_lists() {
    let h = Harness::start(&[]).await;
    let mut covered = BTreeSet::new();
    let mut problems = Vec::new();
    let mut seen = 0;
    support::run_sample_events(&h.emulator, &h.key.alias, |file, event, out| {
        let name = event["operation"].as_str().unwrap_or_default().to_string();
        let targets = h.gate.targets();
        let new = &targets[seen..];
        seen = targets.len();
        let Some(row) = kms_lambda::ops::OPERATIONS.iter().find(|e| e.name == name) else {
            problems.push(format!("{file}: operation {name:?} is not in the table"));
            return;
        };
        if !matches!(out, Outcome::Ok(_)) {
            problems.push(format!("{file}: {out:?}"));
            return;
        }
        covered.insert(name.clone());
        for target in new {
            for action in support::iam_actions_for_target(target) {
                if !row.iam_actions.contains(&action.as_str()) {
                    problems.push(format!(
                        "{file}: {name} called {target}, which needs {action}; add it to the \
                         operation's IAM_ACTIONS (and to template.yaml's policy)"
                    ));
                }
            }
        }
    })
    .await;
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
