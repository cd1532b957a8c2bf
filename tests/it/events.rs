//! The sample events in `events/`, through the real binary, behind the time gate, against the
//! local KMS: for every operation in the table, what the kit promises it. Adding an operation
//! and its sample event is enough for all of this to cover it:
//!
//! - its sample event succeeds (and every operation has one);
//! - each KMS call it makes (as the gate saw them) needs only IAM actions its row lists, on a
//!   key of its row's kind — so, with `tests/it/template.rs`, the role cannot fall short of what it
//!   calls, nor grant it on the wrong key;
//! - its EMF line names it;
//! - sent again with its first request reaching KMS 6 minutes after it was signed (a
//!   freeze/thaw), the request is re-signed once and the operation succeeds;
//! - given a key of another kind, when KMS refuses it, the error names the kind it needs.
//!
//! How the files are read (a kind's local alias stands for its key; `PASTE-THE-<FIELD>-FROM-<NAME>`
//! for a field of another sample event's answer): `support::run_sample_events`.

use crate::support;

use kms_lambda::kit::operation::Entry;
use kms_lambda::ops::OPERATIONS;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use support::{Harness, Outcome};

/// A sample event that ran: its file, its row and the event as sent.
struct Sent {
    file: String,
    row: &'static Entry,
    event: Value,
}

#[tokio::test]
async fn every_sample_event_gets_what_the_kit_promises_its_operation() {
    let h = Harness::start(&[]).await;
    let mut problems = Vec::new();
    let mut sent: Vec<Sent> = Vec::new();
    let mut seen = 0;
    let mut invocations = 0;
    support::run_sample_events(&h.emulator, &h.aliases(), |file, event, out| {
        let name = event["operation"].as_str().unwrap_or_default();
        let calls = h.gate.calls();
        let new = &calls[seen..];
        seen = calls.len();
        let Some(row) = OPERATIONS.iter().find(|e| e.name == name) else {
            problems.push(format!(
                "events/{file}: operation {name:?} is not in the table"
            ));
            return;
        };
        if let Outcome::Err { error_type, .. } = out {
            invocations += usize::from(error_type != "NotSent");
            problems.push(format!("events/{file}: {out:?}"));
            return;
        }
        invocations += 1;
        for call in new {
            for action in support::iam_actions_for_target(&call.target) {
                if !row.iam_actions.contains(&action.as_str()) {
                    problems.push(format!(
                        "events/{file}: {name} called {}, which needs {action}: add it to the \
                         operation's IAM_ACTIONS (then `make template`)",
                        call.target
                    ));
                }
            }
            let key = call.key_id.as_deref().unwrap_or("(none)");
            match h.key_named(key) {
                Some(k) if k.kind == row.key => {}
                Some(k) => problems.push(format!(
                    "events/{file}: {name} called {} on the {} key, but its row's KEY is {}: \
                     change the operation's KEY, or the key the event names",
                    call.target, k.kind.name, row.key.name
                )),
                None => problems.push(format!(
                    "events/{file}: {name} called {} on {key}, which is no key of this test",
                    call.target
                )),
            }
        }
        sent.push(Sent {
            file: file.to_string(),
            row,
            event: event.clone(),
        });
    })
    .await;

    let covered: BTreeSet<&str> = sent.iter().map(|s| s.row.name).collect();
    for row in OPERATIONS.iter().filter(|r| !r.test_only) {
        if !covered.contains(row.name) {
            problems.push(format!(
                "operation {:?} has no sample event that succeeds: add events/<name>.json \
                 (`make invoke` sends it too)",
                row.name
            ));
        }
    }

    // Its EMF line names it (one line per invocation, in order).
    let lines = h.function.emf_wait(invocations).await;
    let named: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["Operation"].as_str())
        .collect();
    for s in &sent {
        if !named.contains(&s.row.name) {
            problems.push(format!(
                "events/{}: no EMF line names {}",
                s.file, s.row.name
            ));
        }
    }

    // A freeze/thaw: the first request arrives 6 minutes after it was signed.
    for s in &sent {
        let rejected = h.gate.rejected();
        h.gate.arrive_late(1, Duration::from_secs(6 * 60));
        let out = h.emulator.invoke(&s.event).await;
        let retried = h.gate.rejected() - rejected;
        if !matches!(out, Outcome::Ok(_)) || retried != 1 {
            problems.push(format!(
                "events/{}: with its signature expired on arrival, {} gave {out:?} after {retried} \
                 rejected attempt(s); it should be re-signed once and succeed",
                s.file, s.row.name
            ));
        }
    }

    // A key of another kind: when KMS refuses it, the advice names the kind the operation needs.
    for s in sent.iter().filter(|s| s.row.fields.contains(&"keyId")) {
        for other in h.keys().filter(|k| k.kind != s.row.key) {
            let mut event = s.event.clone();
            event["keyId"] = Value::String(other.alias.clone());
            if let Outcome::Err {
                error_type,
                message,
            } = h.emulator.invoke(&event).await
            {
                let names_kind = message.contains(s.row.key.variable)
                    && message.contains(s.row.key.spec.as_str());
                if error_type == "KmsInvalidKeyUsage" && !names_kind {
                    problems.push(format!(
                        "events/{} with the {} key: the advice does not name the kind {} needs \
                         ({}): {message}",
                        s.file, other.kind.name, s.row.name, s.row.key
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn placeholders_are_whole_strings_and_name_a_field_and_an_event() {
    assert_eq!(
        support::placeholder("PASTE-THE-CIPHERTEXT-FROM-ENCRYPT"),
        Some(("CIPHERTEXT".into(), "encrypt.json".into()))
    );
    assert_eq!(
        support::placeholder("PASTE-THE-MAC-FROM-GENERATE-MAC"),
        Some(("MAC".into(), "generate-mac.json".into()))
    );
    for not in [
        "PASTE-THE--FROM-X",
        "PASTE-THE-A-B-FROM-X",
        "paste-the-mac-from-x",
        "x",
    ] {
        assert_eq!(support::placeholder(not), None, "{not}");
    }
    let aliases = [("alias/local/mac".to_string(), "alias/test-7".to_string())];
    let event = serde_json::json!({"keyId": "alias/local/mac", "other": ["alias/local/mac-2"]});
    assert_eq!(
        support::with_aliases(&event, &aliases),
        serde_json::json!({"keyId": "alias/test-7", "other": ["alias/local/mac-2"]}),
        "only whole strings are replaced"
    );
}
