//! The sample events in `events/` (`make invoke` sends them too), as a function's tests send
//! them: a kind's local alias (`alias/local/encryption`) stands for that kind's key, and a
//! string `PASTE-THE-<FIELD>-FROM-<NAME>` for a field of another sample event's answer.

use super::{Emulator, Outcome, Project};

/// In `events/`, a string `PASTE-THE-<FIELD>-FROM-<NAME>` stands for field `<field>` of the
/// response to `events/<name>.json` (`PASTE-THE-CIPHERTEXT-FROM-ENCRYPT`: the `ciphertext` that
/// `encrypt.json` produced), so one sample event can use another's answer; and a kind's local
/// alias (`alias/local/encryption`) stands for that kind's key. `make invoke`
/// (`kit/tools/send_events.py`) reads the files the same way.
pub const PASTE: (&str, &str) = ("PASTE-THE-", "-FROM-");

/// The `(FIELD, file)` a placeholder string refers to.
pub fn placeholder(s: &str) -> Option<(String, String)> {
    let rest = s.strip_prefix(PASTE.0)?;
    let (field, name) = rest.split_once(PASTE.1)?;
    let upper_kebab = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    };
    (upper_kebab(field) && !field.contains('-') && upper_kebab(name)).then(|| {
        (
            field.to_string(),
            format!("{}.json", name.to_ascii_lowercase()),
        )
    })
}

/// Every string in `v`, depth first.
fn strings(v: &serde_json::Value) -> Vec<&str> {
    match v {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// `v` with every string `f` maps replaced (whole strings only: `alias/local/mac` is never
/// taken for a part of `alias/local/mac-2`).
pub fn replace_strings(
    v: &serde_json::Value,
    f: &mut impl FnMut(&str) -> Option<String>,
) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(f(s).unwrap_or_else(|| s.clone())),
        Value::Array(a) => Value::Array(a.iter().map(|x| replace_strings(x, f)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), replace_strings(x, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `event` with each kind's local alias replaced by the alias `aliases` gives it.
pub fn with_aliases(event: &serde_json::Value, aliases: &[(String, String)]) -> serde_json::Value {
    replace_strings(event, &mut |s| {
        aliases
            .iter()
            .find(|(local, _)| local == s)
            .map(|(_, real)| real.clone())
    })
}

/// The sample events in `events/`, each after the events whose answers it pastes (otherwise
/// by name): `(file, event as written)`.
pub fn sample_events(project: &Project) -> Vec<(String, serde_json::Value)> {
    let dir = project.path("events");
    let mut pending: Vec<(String, serde_json::Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json"))
        .map(|f| {
            let text = std::fs::read_to_string(dir.join(&f)).unwrap();
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{f}: {e}"));
            (f, v)
        })
        .collect();
    pending.sort_by(|a, b| a.0.cmp(&b.0));
    let mut ordered: Vec<(String, serde_json::Value)> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|(_, v)| {
            strings(v)
                .iter()
                .filter_map(|s| placeholder(s))
                .all(|(_, file)| {
                    ordered.iter().any(|(f, _)| *f == file)
                        || !pending.iter().any(|(f, _)| *f == file)
                })
        });
        // A cycle of pastes: take the rest by name; their placeholders stay unanswered.
        let i = ready.unwrap_or(0);
        ordered.push(pending.remove(i));
    }
    ordered
}

/// Sends every sample event as `make invoke` does, local aliases replaced by `aliases` and
/// placeholders by the answers they name; `after` sees each file, the event as sent and the
/// outcome. An event whose placeholder cannot be answered (its event failed, or there is no
/// such event or field) is not sent: its outcome is an error `NotSent` saying why.
pub async fn run_sample_events(
    project: &Project,
    emulator: &Emulator,
    aliases: &[(String, String)],
    mut after: impl FnMut(&str, &serde_json::Value, &Outcome),
) {
    let mut answers: Vec<(String, serde_json::Value)> = Vec::new();
    for (file, event) in sample_events(project) {
        let event = with_aliases(&event, aliases);
        let mut missing = None;
        let event = replace_strings(&event, &mut |s| {
            let (field, from) = placeholder(s)?;
            let answer = answers
                .iter()
                .find(|(f, _)| *f == from)
                .and_then(|(_, body)| body.as_object())
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(&field)))
                .and_then(|(_, v)| v.as_str().map(str::to_string));
            if answer.is_none() {
                missing = Some(format!(
                    "{s}: events/{from} gave no \"{}\"",
                    field.to_ascii_lowercase()
                ));
            }
            answer
        });
        let out = match missing {
            Some(why) => Outcome::Err {
                error_type: "NotSent".into(),
                message: why,
            },
            None => emulator.invoke(&event).await,
        };
        if let Outcome::Ok(body) = &out {
            answers.push((file.clone(), body.clone()));
        }
        after(&file, &event, &out);
    }
}
