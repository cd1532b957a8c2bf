//! The checks every function made with the kit runs, each a call of a line or two in its tests
//! (the function's tests name what they check; these say how). Adding an operation and its
//! sample event is enough for all of them to cover it:
//!
//! - [`sample_events`]: each sample event in `events/` succeeds through the real binary, behind
//!   the SigV4 time gate, against the local KMS; each KMS call it makes needs only IAM actions
//!   its row lists, on a key of its row's kind; its answer has exactly the fields its module doc
//!   documents; its EMF line names it; sent again with its first request reaching KMS 6 minutes
//!   after it was signed, it is re-signed once and succeeds; given a key of another kind, any
//!   refusal names the kind it needs; and every operation has such an event;
//! - [`bad_input`]: each of the function's bad-input cases (`tests/bad-input/`) gets its
//!   documented answer, reaches the operation it names, and the function keeps serving. (Events
//!   that name no operation, and the field types every operation shares, are the kit's own
//!   tests: a function's cases are about its operations.)
//! - [`layout`]: every module under `src/ops/` is a row of the table, the tables agree, and each
//!   operation's module doc documents its event with exactly the fields its type declares;
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

/// An operation's contract as its module doc (`src/ops/<module>.rs`) states it: the fields of
/// the event it shows (`{"operation": "…", …}`) and of the answer after the `→`.
#[derive(Debug, PartialEq)]
struct Documented {
    event: Vec<String>,
    answer: Vec<String>,
}

/// The module doc of `row`'s module, read for its event and answer; why not, when it states
/// neither.
fn documented(project: &Project, row: &Entry) -> Result<Documented, String> {
    let file = format!("src/ops/{}.rs", row.module());
    let text = std::fs::read_to_string(project.path(&file)).map_err(|e| format!("{file}: {e}"))?;
    let doc: String = text
        .lines()
        .map_while(|l| l.trim_start().strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let objects = objects(&doc);
    let event = objects
        .iter()
        .find(|(_, o)| o.contains("\"operation\""))
        .map(|(_, o)| top_level_keys(o));
    let arrow = doc.find('→');
    let answer = arrow.and_then(|at| objects.iter().find(|(start, _)| *start > at));
    match (event, answer) {
        (Some(event), Some((_, answer))) => Ok(Documented {
            event: event.into_iter().filter(|k| k != "operation").collect(),
            answer: top_level_keys(answer),
        }),
        _ => Err(format!(
            "{file}: its module doc is {}'s contract — the event it takes ({{\"operation\": \"{}\", \
             …}}) and, after a →, the answer it gives ({{…}}) — and states {}",
            row.name(),
            row.name(),
            if arrow.is_none() { "no answer (no →)" } else { "no event" }
        )),
    }
}

/// Every outermost `{…}` of `text`, with where it starts.
fn objects(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if depth > 0 => in_string = true,
            '{' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push((start, &text[start..=i]));
                }
            }
            _ => {}
        }
    }
    out
}

/// The keys of an object's own members (`{"a": 1, "b": {"c": 2}}` → `a`, `b`).
fn top_level_keys(object: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let (mut depth, mut string, mut in_string, mut escaped) = (0usize, String::new(), false, false);
    let mut last_string: Option<String> = None;
    for c in object.chars() {
        if in_string {
            match c {
                _ if escaped => {
                    escaped = false;
                    string.push(c);
                }
                '\\' => escaped = true,
                '"' => {
                    in_string = false;
                    last_string = Some(std::mem::take(&mut string));
                }
                _ => string.push(c),
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                depth += 1;
                last_string = None;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                last_string = None;
            }
            ':' if depth == 1 => keys.extend(last_string.take()),
            c if c.is_whitespace() => {}
            _ => last_string = None,
        }
    }
    keys
}

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
    let docs: Vec<(&Entry, Result<Documented, String>)> = project
        .rows()
        .map(|r| (r, documented(project, r)))
        .collect();
    let mut sent: Vec<Sent> = Vec::new();
    let mut seen = 0;
    let mut invocations = 0;
    run_sample_events(project, &h.emulator, &h.aliases(), |file, event, out| {
        let name = event["operation"].as_str().unwrap_or_default();
        let calls = h.gate.calls();
        let new = &calls[seen..];
        seen = calls.len();
        let Some(row) = project.rows().find(|e| e.name() == name) else {
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
        match docs.iter().find(|(r, _)| r.name() == name) {
            Some((_, Ok(doc))) => problems.extend(answer_problems(file, row, doc, body)),
            Some((_, Err(why))) => problems.push(why.clone()),
            None => {}
        }
        for call in new {
            // A secret's own decrypt (its statement is the secret's, with its condition).
            let key = call.key_id.as_deref().unwrap_or("(none)");
            let secrets_kind = h.key_named(key).is_some_and(|k| {
                project
                    .function
                    .secrets_table()
                    .iter()
                    .any(|s| std::ptr::eq(s.key, k.kind))
            });
            if secrets_kind && call.target == "TrentService.Decrypt" {
                continue;
            }
            for action in iam_actions_for_target(&call.target) {
                if !row.iam_actions().contains(&action.as_str()) {
                    problems.push(format!(
                        "events/{file}: {name} called {}, which needs {action}: add it to the \
                         operation's IAM_ACTIONS (then `make template`)",
                        call.target
                    ));
                }
            }
            match h.key_named(key) {
                Some(k) if std::ptr::eq(k.kind, row.key()) => {}
                Some(k) => problems.push(format!(
                    "events/{file}: {name} called {} on the {} key, but its row's KEY is {}: \
                     change the operation's KEY, or the key the event names",
                    call.target,
                    k.kind.name,
                    row.key().name
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

    let covered: BTreeSet<&str> = sent.iter().map(|s| s.row.name()).collect();
    for row in project.rows() {
        if !covered.contains(row.name()) {
            problems.push(format!(
                "operation {:?} has no sample event that succeeds: add events/<name>.json \
                 (`make invoke` sends it too)",
                row.name()
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
        if !named.contains(&s.row.name()) {
            problems.push(format!(
                "events/{}: no EMF line names {}",
                s.file,
                s.row.name()
            ));
        }
    }

    // A freeze/thaw: the first request arrives 6 minutes after it was signed. (An operation
    // whose warm invocation calls no KMS — its secret already decrypted — has none to delay.)
    for s in &sent {
        let (rejected, requests) = (h.gate.rejected(), h.gate.requests());
        h.gate.arrive_late(1, Duration::from_secs(6 * 60));
        let out = h.emulator.invoke(&s.event).await;
        let retried = h.gate.rejected() - rejected;
        if h.gate.requests() == requests && matches!(out, Outcome::Ok(_)) {
            h.gate.arrive_on_time();
            continue;
        }
        if !matches!(out, Outcome::Ok(_)) || retried != 1 {
            problems.push(format!(
                "events/{}: with its signature expired on arrival, {} gave {out:?} after {retried} \
                 rejected attempt(s); it should be re-signed once and succeed",
                s.file, s.row.name()
            ));
        }
    }

    // A key of another kind: whatever the refusal — KMS's InvalidKeyUsageException, or the
    // ValidationException a stand-in such as moto answers — its advice names the kind the
    // operation needs.
    for s in sent
        .iter()
        .filter(|s| s.row.fields().is_ok_and(|f| f.contains(&"keyId")))
    {
        for other in h.keys().filter(|k| k.kind != s.row.key()) {
            let mut event = s.event.clone();
            event["keyId"] = Value::String(other.alias.clone());
            if let Outcome::Err {
                error_type,
                message,
            } = h.emulator.invoke(&event).await
            {
                let names_kind = message.contains(s.row.key().variable)
                    && message.contains(s.row.key().spec.as_str());
                let about_the_key =
                    matches!(error_type.as_str(), "KmsInvalidKeyUsage" | "InvalidRequest");
                if about_the_key && !names_kind {
                    problems.push(format!(
                        "events/{} with the {} key: {error_type} without advice naming the kind \
                         {} needs ({}): {message}",
                        s.file,
                        other.kind.name,
                        s.row.name(),
                        s.row.key()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// An answer's fields against the answer its module doc documents, both ways.
fn answer_problems(file: &str, row: &Entry, doc: &Documented, body: &Value) -> Vec<String> {
    let Some(fields) = body.as_object() else {
        return vec![format!(
            "events/{file}: {} answered {body}, not a JSON object",
            row.name()
        )];
    };
    let mut problems = Vec::new();
    let module = row.module();
    for field in fields.keys() {
        if !doc.answer.contains(field) {
            problems.push(format!(
                "events/{file}: {} answered a field \"{field}\" that the answer its module doc \
                 documents (src/ops/{module}.rs, after the →) does not show: add it there",
                row.name()
            ));
        }
    }
    for field in &doc.answer {
        if !fields.contains_key(field) {
            problems.push(format!(
                "events/{file}: src/ops/{module}.rs documents \"{field}\" in {}'s answer, which \
                 the answer lacks: remove it from the module doc, or answer it",
                row.name()
            ));
        }
    }
    problems
}

/// One bad-input case: its name (`encrypt/empty-plaintext`), its file, the answer it must get,
/// and the operation its directory is for (none in the kit's shared corpus).
struct Case {
    name: String,
    file: std::path::PathBuf,
    want: Value,
    operation: Option<&'static Entry>,
}

/// The cases of directory `dir` (`shown` as in messages): `expected.json`'s entries, each a file
/// of the directory, and every file one of its entries.
fn cases_in(
    dir: &std::path::Path,
    shown: &str,
    problems: &mut Vec<String>,
) -> Vec<(String, std::path::PathBuf, Value)> {
    let expected: BTreeMap<String, Value> = match std::fs::read(dir.join("expected.json")) {
        Ok(text) => serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{shown}/expected.json is not a JSON object: {e}")),
        Err(_) => {
            problems.push(format!(
                "{shown}/ has no expected.json: it gives each case's expected errorType (or \"ok\", \
                 or the fields of the answer)"
            ));
            BTreeMap::new()
        }
    };
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .filter(|f| f != "expected.json")
        .collect();
    files.sort();
    for f in &files {
        if !f.ends_with(".json") || !expected.contains_key(f.trim_end_matches(".json")) {
            problems.push(format!(
                "{shown}/{f} has no entry in {shown}/expected.json: add one"
            ));
        }
    }
    for name in expected.keys() {
        if !files.contains(&format!("{name}.json")) {
            problems.push(format!(
                "{shown}/expected.json lists {name}, which has no file {shown}/{name}.json"
            ));
        }
    }
    expected
        .into_iter()
        .filter(|(name, _)| files.contains(&format!("{name}.json")))
        .map(|(name, want)| (name.clone(), dir.join(format!("{name}.json")), want))
        .collect()
}

/// The corpus: the kit's shared one is flat; a function's has a directory per operation
/// (`tests/bad-input/<operation in kebab-case>/`), so that an operation's cases go with it.
fn corpus(project: &Project, shared: bool, problems: &mut Vec<String>) -> Vec<Case> {
    let dir = project.path(project.bad_input);
    let shown = project.bad_input;
    if shared {
        return cases_in(&dir, shown, problems)
            .into_iter()
            .map(|(name, file, want)| Case {
                name,
                file,
                want,
                operation: None,
            })
            .collect();
    }
    let mut cases = Vec::new();
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    let names: Vec<String> = project.rows().map(|r| kebab(r.name())).collect();
    for path in entries {
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.is_dir() {
            problems.push(format!(
                "{shown}/{name}: a case goes in the directory of the operation it is about, \
                 {shown}/<operation>/ ({})",
                names.join("/, ") + "/"
            ));
            continue;
        }
        let Some(row) = project.rows().find(|r| kebab(r.name()) == name) else {
            problems.push(format!(
                "{shown}/{name}/ is for no operation of this function (its operations: {}): its \
                 cases went with the operation they were about; delete the directory",
                names.join(", ")
            ));
            continue;
        };
        let sub = format!("{shown}/{name}");
        for (case, file, want) in cases_in(&path, &sub, problems) {
            cases.push(Case {
                name: format!("{name}/{case}"),
                file,
                want,
                operation: Some(row),
            });
        }
    }
    cases
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

/// See the module documentation: the function's bad-input cases, each to its documented answer,
/// each about one of its operations.
pub async fn bad_input(project: &Project) {
    cases(project, false).await;
}

/// The kit's own corpus of events every function refuses the same way (they name no operation,
/// or break the field types every operation shares), run against the kit's probe function.
#[doc(hidden)]
pub async fn shared_bad_input(project: &Project) {
    cases(project, true).await;
}

async fn cases(project: &Project, shared: bool) {
    let mut wrong = Vec::new();
    let corpus = corpus(project, shared, &mut wrong);
    let h = Harness::start(project, &[]).await;
    let aliases = h.aliases();
    let rows: Vec<&Entry> = project.rows().collect();
    for (i, case) in corpus.iter().enumerate() {
        let (name, want) = (&case.name, &case.want);
        let raw = std::fs::read(&case.file).expect("the case's file");
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
        // A case in an operation's directory names that operation and reaches it (its EMF
        // line says so). A function's cases are about its operations: events that name none are
        // the kit's own tests, which every function shares.
        match (case.operation, named.as_deref()) {
            (Some(row), op) if op != Some(row.name()) => wrong.push(format!(
                "{name}: in the directory of {}, but its event names {}: make it name {:?} — an \
                 event that names no operation of this function tests what the kit's own tests \
                 already do",
                row.name(),
                op.map_or("no operation".to_string(), |op| format!("operation {op:?}")),
                row.name()
            )),
            (Some(row), _) if line["Operation"] != row.name() => wrong.push(format!(
                "{name}: names operation {:?} but never reached it (EMF line: {line}): is its row \
                 in the operations table?",
                row.name()
            )),
            (None, Some(op)) if rows.iter().any(|r| r.name() == op) && line["Operation"] != op => {
                wrong.push(format!(
                    "{name}: names operation {op:?} but never reached it (EMF line: {line})"
                ))
            }
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

/// Every module under `src/ops/` is a row of `operations!` (a module outside the table serves
/// nothing, and no other test would notice), every row has its module, the tables agree, and
/// each operation's module doc documents its event with exactly the fields its type declares
/// (its answer is held to its doc by [`sample_events`], which has one).
pub fn layout(project: &Project) {
    let rows: BTreeSet<&str> = project.rows().map(|r| r.module()).collect();
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
    problems.extend(crate::function::problems(
        project.keys(),
        project.function.operations(),
        project.function.secrets_table(),
    ));
    for row in project.rows() {
        let (Ok(doc), Ok(declared)) = (documented(project, row), row.fields()) else {
            problems.extend(documented(project, row).err());
            continue;
        };
        let module = row.module();
        for field in &doc.event {
            if !declared.contains(&field.as_str()) {
                problems.push(format!(
                    "src/ops/{module}.rs documents the event field \"{field}\", which {} does not \
                     take (its type declares {}): remove it from the module doc",
                    row.name(),
                    declared.join(", ")
                ));
            }
        }
        for field in declared {
            if !doc.event.iter().any(|f| f == field) {
                problems.push(format!(
                    "{} takes the field \"{field}\", which its module doc's event \
                     (src/ops/{module}.rs) does not show: add it there",
                    row.name()
                ));
            }
        }
    }
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
    fn a_module_doc_is_read_for_its_event_and_answer() {
        let doc = r#" `encrypt`: a payload in, a ciphertext out.
 ```json
 {"operation": "encrypt", "plaintext": "<base64>", "encryptionContext": {"tenant": "acme"},
  "keyId": "optional"}
 ```
 → `{"ciphertext": "<base64>", "keyId": "<key ARN>", "mode": "direct"}` or an error"#;
        let objects = objects(doc);
        assert_eq!(objects.len(), 2);
        assert_eq!(
            top_level_keys(objects[0].1),
            ["operation", "plaintext", "encryptionContext", "keyId"]
        );
        assert_eq!(
            top_level_keys(objects[1].1),
            ["ciphertext", "keyId", "mode"]
        );
        assert_eq!(
            top_level_keys(r#"{"a": "}{\"", "b": [{"c": 1}]}"#),
            ["a", "b"]
        );
        assert!(top_level_keys("{}").is_empty());
    }

    #[test]
    fn case_names_follow_the_operation_in_kebab_case() {
        assert_eq!(kebab("describeKey"), "describe-key");
        assert_eq!(kebab("encrypt"), "encrypt");
        assert_eq!(kebab("generateMac"), "generate-mac");
    }
}
