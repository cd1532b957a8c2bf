//! The checks every function made with the kit runs, each a call of a line or two in its tests
//! (the function's tests name what they check; these say how). Adding an operation and its
//! sample event is enough for all of them to cover it:
//!
//! - [`sample_events`]: each sample event in `events/` succeeds through the real binary, behind
//!   the SigV4 time gate, against the local KMS; each KMS call it makes needs only IAM actions
//!   its row lists, on a key of its row's kind; its answer has exactly the fields its row's
//!   `RESPONSE` lists; its EMF line names it; sent again with its first request reaching KMS 6
//!   minutes after it was signed, it is re-signed once and succeeds; given a key of another kind,
//!   any refusal names the kind it needs; and every operation has such an event;
//! - [`bad_input`]: each case in `tests/bad-input/` gets its documented answer, reaches the
//!   operation its file name says, and the function keeps serving; a panic is one failed
//!   invocation;
//! - [`layout`]: every module under `src/ops/` is a row of the table, and the tables agree;
//! - [`template`] (`template.rs`): `template.yaml` is what the tables give, least privilege holds
//!   across it, every metric its alarms and dashboard read is one the function emits;
//! - [`built_without_jitter_entropy`]: the build flag that keeps aws-lc's CPU-jitter seeding out;
//! - [`deploy`] (`deploy.rs`): the deploy rehearsal's function side, for `make deploy-check`.

mod deploy;
mod template;

pub use deploy::deploy;
pub use template::template;

use super::events::{run_sample_events, with_aliases};
use super::{iam_actions_for_target, Harness, Outcome, Project};
use crate::operation::Entry;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A sample event that ran: its file, its row and the event as sent.
struct Sent {
    file: String,
    row: &'static Entry,
    event: Value,
}

/// See the module documentation: what the kit promises each operation, through its sample
/// events. Panics with every problem found, each naming the file and what to change.
pub async fn sample_events(project: &Project) {
    let h = Harness::start(project, &[]).await;
    let mut problems = Vec::new();
    let mut sent: Vec<Sent> = Vec::new();
    let mut seen = 0;
    let mut invocations = 0;
    run_sample_events(project, &h.emulator, &h.aliases(), |file, event, out| {
        let name = event["operation"].as_str().unwrap_or_default();
        let calls = h.gate.calls();
        let new = &calls[seen..];
        seen = calls.len();
        let Some(row) = project.rows().find(|e| e.name == name) else {
            problems.push(format!(
                "events/{file}: operation {name:?} is not in the table"
            ));
            return;
        };
        let body = match out {
            Outcome::Ok(body) => body,
            Outcome::Err { error_type, .. } => {
                invocations += usize::from(error_type != "NotSent");
                problems.push(format!("events/{file}: {out:?}"));
                return;
            }
        };
        invocations += 1;
        problems.extend(answer_problems(file, row, body));
        for call in new {
            for action in iam_actions_for_target(&call.target) {
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
    for row in project.rows() {
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

    // A key of another kind: whatever the refusal — KMS's InvalidKeyUsageException, or the
    // ValidationException a stand-in such as moto answers — its advice names the kind the
    // operation needs.
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
                let about_the_key =
                    matches!(error_type.as_str(), "KmsInvalidKeyUsage" | "InvalidRequest");
                if about_the_key && !names_kind {
                    problems.push(format!(
                        "events/{} with the {} key: {error_type} without advice naming the kind \
                         {} needs ({}): {message}",
                        s.file, other.kind.name, s.row.name, s.row.key
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// An answer's fields against its row's `RESPONSE`, both ways.
fn answer_problems(file: &str, row: &Entry, body: &Value) -> Vec<String> {
    let Some(fields) = body.as_object() else {
        return vec![format!(
            "events/{file}: {} answered {body}, not a JSON object",
            row.name
        )];
    };
    let mut problems = Vec::new();
    for field in fields.keys() {
        if !row.response.contains(&field.as_str()) {
            problems.push(format!(
                "events/{file}: {} answered a field \"{field}\" that its RESPONSE does not list: \
                 add it to RESPONSE, and to the answer its module doc (src/ops/{}.rs) documents",
                row.name, row.module
            ));
        }
    }
    for field in row.response {
        if !fields.contains_key(*field) {
            problems.push(format!(
                "events/{file}: {}'s RESPONSE lists \"{field}\", which its answer lacks: remove \
                 it from RESPONSE and from its module doc (src/ops/{}.rs), or answer it",
                row.name, row.module
            ));
        }
    }
    problems
}

/// The bad-input corpus: `(directory, file stem → expected answer)` from
/// `tests/bad-input/expected.json`.
fn corpus(project: &Project) -> (std::path::PathBuf, BTreeMap<String, Value>) {
    let dir = project.path("tests/bad-input");
    let expected: BTreeMap<String, Value> = serde_json::from_slice(
        &std::fs::read(dir.join("expected.json")).expect("tests/bad-input/expected.json"),
    )
    .expect("tests/bad-input/expected.json is a JSON object");
    (dir, expected)
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
    serde_json::to_vec(&with_aliases(&event, aliases)).expect("JSON")
}

/// A value of the event — twelve characters of a string, but of a `keyId` (the key a message
/// may name) — that `message` repeats: messages name fields and keys, never a value.
fn echoed(raw: &[u8], message: &str) -> Option<String> {
    fn strings<'a>(v: &'a Value, key: Option<&str>, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) if key != Some("keyId") => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, None, out)),
            Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, Some(k), out)),
            _ => {}
        }
    }
    let event: Value = serde_json::from_slice(raw).ok()?;
    let mut values = Vec::new();
    strings(&event, None, &mut values);
    values
        .into_iter()
        .flat_map(|v| {
            // Any 12-character window of a value (on character boundaries).
            let chars: Vec<(usize, char)> = v.char_indices().collect();
            (0..chars.len().saturating_sub(11)).map(move |i| {
                let end = chars.get(i + 12).map_or(v.len(), |(b, _)| *b);
                &v[chars[i].0..end]
            })
        })
        .find(|w| w.trim().chars().count() == 12 && message.contains(w))
        .map(str::to_string)
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

/// `describeKey` → `describe-key`: how a bad-input case's file name starts when it is about
/// that operation.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The cases the dispatch refuses, which may name an operation no row has.
const DISPATCH_CASES: &[&str] = &["unknown-operation", "operation-"];

/// See the module documentation: the bad-input corpus, each case to its documented answer.
pub async fn bad_input(project: &Project) {
    let (dir, expected) = corpus(project);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/bad-input")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|f| f != "expected.json")
        .map(|f| f.trim_end_matches(".json").to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        expected.keys().cloned().collect::<Vec<_>>(),
        "every file in tests/bad-input has an entry in expected.json, and no other"
    );
    let h = Harness::start(project, &[]).await;
    let aliases = h.aliases();
    let rows: Vec<&Entry> = project.rows().collect();
    let mut wrong = Vec::new();
    for (i, (name, want)) in expected.iter().enumerate() {
        let raw = std::fs::read(dir.join(format!("{name}.json"))).expect("the case's file");
        let named = serde_json::from_slice::<Value>(&raw)
            .ok()
            .and_then(|v| v["operation"].as_str().map(str::to_string));
        let out = h
            .emulator
            .invoke_raw(body(raw.clone(), &aliases), Duration::from_secs(10))
            .await;
        if let Outcome::Err { message, .. } = &out {
            if message.is_empty() || message.contains('\n') || message.len() >= 1000 {
                wrong.push(format!(
                    "{name}: a message must be one line under 1,000 bytes: {message:?}"
                ));
            }
            if let Some(value) = echoed(&raw, message) {
                wrong.push(format!(
                    "{name}: the message repeats {value:?} from the event: {message}"
                ));
            }
        }
        if !matches(want, &out) {
            wrong.push(format!("{name}: expected {want}, got {out:?}"));
        }
        // A case named after an operation (`decrypt-…`, `describe-key-…`) names that operation;
        // a case that names an operation of the table reaches it (its EMF line says so); only
        // a dispatch case may name one the table lacks.
        let line = h.function.emf_wait(i + 1).await[i].clone();
        if let Value::String(error_type) = want {
            let logged = if error_type == "ok" {
                "None"
            } else {
                error_type
            };
            if line["ErrorType"] != logged {
                wrong.push(format!(
                    "{name}: its EMF line counts ErrorType {}, not {logged}",
                    line["ErrorType"]
                ));
            }
        }
        let named_for = rows
            .iter()
            .filter(|r| name.starts_with(&format!("{}-", kebab(r.name))))
            .max_by_key(|r| kebab(r.name).len());
        let in_table = |op: &str| rows.iter().any(|r| r.name == op);
        let dispatch = DISPATCH_CASES.iter().any(|p| name.starts_with(p));
        match (named_for, named.as_deref()) {
            (Some(row), op) if op != Some(row.name) => wrong.push(format!(
                "{name}: named for {} but its event names operation {op:?}: rename the case \
                 or change its operation",
                row.name
            )),
            (_, Some(op)) if in_table(op) && line["Operation"] != op => wrong.push(format!(
                "{name}: names operation {op:?} but never reached it (EMF line: {line}): is its \
                 row in the operations table?"
            )),
            (_, Some(op)) if !in_table(op) && !dispatch => wrong.push(format!(
                "{name}: names operation {op:?}, which is not in the operations table, so it \
                 fails as an unknown operation, not in {op:?}: add the operation's row, or name \
                 the case unknown-operation-*"
            )),
            _ => {}
        }
        if name.starts_with("unknown-operation") && line.get("Operation").is_some() {
            wrong.push(format!(
                "{name}: an unknown-operation case reached {}: its operation must be one no \
                 row can have (a NAME is letters and digits only)",
                line["Operation"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        h.function.output().iter().all(|l| !l.contains("panicked")),
        "{:#?}",
        h.function.output()
    );
}

/// A panic in an operation (the test hooks' `panic`) fails that invocation as `Internal`, its
/// message stays in the logs, and every sample event still succeeds after it — with one
/// invocation at a time and with several.
pub async fn a_panic_is_one_failed_invocation(project: &Project) {
    for concurrency in ["1", "4"] {
        let h = Harness::start(project, &[("AWS_LAMBDA_MAX_CONCURRENCY", concurrency)]).await;
        let out = h
            .emulator
            .invoke(&serde_json::json!({"operation": "panic"}))
            .await;
        let Outcome::Err {
            error_type,
            message,
        } = &out
        else {
            panic!("concurrency {concurrency}: {out:?}")
        };
        assert_eq!(error_type, "Internal", "concurrency {concurrency}");
        assert!(
            !message.contains("forced panic"),
            "the panic message stays in the logs: {message}"
        );
        assert_eq!(h.function.emf_wait(1).await[0]["ErrorType"], "Internal");
        let mut failed = Vec::new();
        run_sample_events(project, &h.emulator, &h.aliases(), |file, _, out| {
            if !matches!(out, Outcome::Ok(_)) {
                failed.push(format!("{file}: {out:?}"));
            }
        })
        .await;
        assert!(
            failed.is_empty(),
            "after a panic, at concurrency {concurrency}: {failed:#?}"
        );
    }
}

/// Every module under `src/ops/` is a row of `operations!` (a module outside the table serves
/// nothing, and no other test would notice), every row has its module, and the tables agree
/// ([`tools::tables`](crate::tools::tables)).
pub fn layout(project: &Project) {
    let rows: BTreeSet<&str> = project.rows().map(|r| r.module).collect();
    let mut files: BTreeSet<String> = BTreeSet::new();
    for entry in std::fs::read_dir(project.path("src/ops")).expect("src/ops") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match path.extension().and_then(|e| e.to_str()) {
            Some("rs") if name != "mod" => {
                files.insert(name);
            }
            _ if path.is_dir() => {
                files.insert(name);
            }
            _ => {}
        }
    }
    let mut problems: Vec<String> = files
        .iter()
        .filter(|f| !rows.contains(f.as_str()))
        .map(|f| {
            format!(
                "src/ops/{f}.rs is in no row of operations! (src/ops/mod.rs): add \
                 `{f}::<Type>,` there — a module that is no row serves nothing"
            )
        })
        .collect();
    for row in &rows {
        if !files.contains(*row) {
            problems.push(format!("row {row} has no src/ops/{row}.rs"));
        }
    }
    problems.extend(crate::tools::tables::problems(
        project.keys,
        project.operations,
    ));
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A function of the jitterentropy library, linked only when aws-lc is built with it (aws-lc
/// keeps small `tree_jitter_*` stubs either way, so those names prove nothing).
const JITTER_SYMBOL: &[u8] = b"jent_entropy_collector_alloc";
const ANY_AWS_LC_SYMBOL: &[u8] = b"aws_lc_0_";

/// The function binary the tests built has aws-lc without its CPU-jitter entropy source
/// (`.cargo/config.toml` sets `AWS_LC_SYS_NO_JITTER_ENTROPY=1`; the kit's build script refuses
/// to build without it). The release artefact is stripped, so this reads the test build's
/// symbols; `make deploy-check` checks the arm64 artefact's build.
pub fn built_without_jitter_entropy(project: &Project) {
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let binary = std::fs::read(project.binary).expect("the function binary");
    assert!(
        contains(&binary, ANY_AWS_LC_SYMBOL),
        "the binary carries no aws-lc symbol names (stripped?), so this check would prove nothing"
    );
    assert!(
        !contains(&binary, JITTER_SYMBOL),
        "aws-lc was built with its CPU-jitter entropy source: the first TLS handshake costs \
         tens of ms of CPU again. Is .cargo/config.toml's AWS_LC_SYS_NO_JITTER_ENTROPY=1 applied?"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_follow_the_operation_in_kebab_case() {
        assert_eq!(kebab("describeKey"), "describe-key");
        assert_eq!(kebab("encrypt"), "encrypt");
        assert_eq!(kebab("generateMac"), "generate-mac");
    }
}
