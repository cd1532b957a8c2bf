//! Test support: a real local KMS (moto's server mode), the strict SigV4 time gate in front of
//! it (`examples/kms-gate`: signature and clock checks as KMS does them, fault injection,
//! counters), and a Lambda Runtime API emulator running the real `kms-lambda` binary.
//!
//! The local KMS: if `KMS_LAMBDA_TEST_KMS_URL` is set (the Makefile starts one moto for the
//! whole run), it is used; otherwise this test binary starts its own
//! `.venv/bin/moto_server` (override with `MOTO_SERVER`), which a watchdog stops when the
//! test process exits.

#![allow(dead_code, unused_imports)]

pub mod emulator;
pub mod gate;
pub mod keys;
pub mod tls;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use kms_lambda::kit::Key;
use kms_lambda::ops::KEYS;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
pub use emulator::{Emulator, Function, Outcome};
pub use gate::{Canned, Gate};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::future::Future;

/// Serves HTTP/1.1 on `listener` with `handler`, one task per connection, until the runtime ends.
/// Used by the Runtime API emulator.
pub fn serve<F, Fut>(listener: tokio::net::TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(handler),
                    )
                    .await;
            });
        }
    });
}

/// The whole body of a request or response; empty if the peer went away mid-body.
pub async fn body_bytes<B: hyper::body::Body>(body: B) -> Bytes {
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// The base URL of the local KMS, starting it on first use.
pub fn kms_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("KMS_LAMBDA_TEST_KMS_URL") {
            return url;
        }
        start_moto()
    })
    .clone()
}

fn start_moto() -> String {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let server = std::env::var("MOTO_SERVER")
        .unwrap_or_else(|_| format!("{manifest}/.venv/bin/moto_server"));
    assert!(
        std::path::Path::new(&server).exists(),
        "{server} not found: run `make venv` (or `make test`), or set KMS_LAMBDA_TEST_KMS_URL"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The watchdog shell kills moto once this test process is gone.
    let script = format!(
        "\"{server}\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill $m",
        pid = std::process::id()
    );
    // Not waited for on purpose: the watchdog must outlive every test in this process.
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

/// A plain SDK client for the local KMS (test set-up only).
pub fn admin_client(url: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(url)
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// A key of one kind (a row of `keys!`) in the local KMS, under an alias of its own.
pub struct TestKey {
    pub kind: &'static Key,
    pub key_id: String,
    pub arn: String,
    pub alias: String,
}

impl TestKey {
    /// Whether `id` (as a KMS request names a key) is this key.
    pub fn is(&self, id: &str) -> bool {
        [&self.key_id, &self.arn, &self.alias]
            .iter()
            .any(|k| *k == id)
    }
}

/// Creates a key of `kind`'s spec and usage and `alias/kms-lambda-test-<pid>-<n>` for it.
pub async fn create_key_of(url: &str, kind: &'static Key) -> TestKey {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let alias = format!(
        "alias/kms-lambda-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let (key_id, arn) = keys::create(&admin_client(url), kind, &alias).await;
    TestKey {
        kind,
        key_id,
        arn,
        alias,
    }
}

/// A key of the first kind in the table (`ENCRYPTION`).
pub async fn create_key(url: &str) -> TestKey {
    create_key_of(url, KEYS[0]).await
}

/// One function under test: emulator, gate in front of the local KMS, a key of every kind, and
/// the running binary.
pub struct Harness {
    pub emulator: Emulator,
    pub gate: Gate,
    /// The key of the first kind (`ENCRYPTION`), which most tests use.
    pub key: TestKey,
    /// A key of each other kind, in table order.
    pub others: Vec<TestKey>,
    pub function: Function,
}

impl Harness {
    /// Starts everything; the function uses the key's alias as `KMS_KEY_ID`, plus `env`.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        Self::start_with(env, None).await
    }

    /// Like [`Harness::start`], the function reaching the gate over HTTPS through
    /// [`tls::TlsEndpoint`]; `trust` is its `SSL_CERT_FILE` (`None`: the system roots only).
    pub async fn start_tls(env: &[(&str, &str)], trust: Option<std::path::PathBuf>) -> Self {
        Self::start_with(env, Some(trust)).await
    }

    async fn start_with(env: &[(&str, &str)], tls: Option<Option<std::path::PathBuf>>) -> Self {
        let url = kms_url();
        let key = create_key(&url).await;
        let mut others = Vec::new();
        for kind in &KEYS[1..] {
            others.push(create_key_of(&url, kind).await);
        }
        let gate = Gate::start(&url, Some("testing")).await;
        let emulator = Emulator::start().await;
        let endpoint = match &tls {
            Some(_) => tls::TlsEndpoint::start(&gate.url()).await.url(),
            None => gate.url(),
        };
        let mut vars: Vec<(&str, String)> = vec![("AWS_ENDPOINT_URL_KMS", endpoint)];
        for k in std::iter::once(&key).chain(&others) {
            vars.push((k.kind.variable, k.alias.clone()));
        }
        if let Some(Some(bundle)) = &tls {
            vars.push(("SSL_CERT_FILE", bundle.display().to_string()));
        }
        vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let function = Function::spawn(&emulator, &vars);
        Harness {
            emulator,
            gate,
            key,
            others,
            function,
        }
    }

    /// Every key, one per kind, in table order.
    pub fn keys(&self) -> impl Iterator<Item = &TestKey> {
        std::iter::once(&self.key).chain(&self.others)
    }

    /// The key `id` names, if it is one of this harness's.
    pub fn key_named(&self, id: &str) -> Option<&TestKey> {
        self.keys().find(|k| k.is(id))
    }

    /// Each kind's local alias (how `events/` names keys) and this harness's alias for it.
    pub fn aliases(&self) -> Vec<(String, String)> {
        self.keys()
            .map(|k| (k.kind.local_alias(), k.alias.clone()))
            .collect()
    }

    /// Waits for the function to finish INIT (its first `/next` poll).
    pub async fn ready(&self) {
        self.emulator
            .wait_for_polls(1, Duration::from_secs(30))
            .await;
    }
}

/// Standard base64.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// An `encrypt` event with a context (pass `json!({})` for none).
pub fn encrypt(plaintext: &[u8], context: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"operation": "encrypt", "plaintext": b64(plaintext), "encryptionContext": context})
}

/// A `decrypt` event for a ciphertext from an `encrypt` response (a JSON string).
pub fn decrypt(ciphertext: &serde_json::Value, context: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"operation": "decrypt", "ciphertext": ciphertext, "encryptionContext": context})
}

/// The `KmsAttempts` of an EMF line.
#[track_caller]
pub fn attempts(line: &serde_json::Value) -> i64 {
    line["KmsAttempts"]
        .as_i64()
        .unwrap_or_else(|| panic!("no KmsAttempts in {line}"))
}

/// The IAM action a KMS request needs, from its `X-Amz-Target` (`TrentService.Encrypt` →
/// `kms:Encrypt`). `ReEncrypt` needs two, `kms:ReEncryptFrom` and `kms:ReEncryptTo`.
pub fn iam_actions_for_target(target: &str) -> Vec<String> {
    let api = target.strip_prefix("TrentService.").unwrap_or(target);
    match api {
        "ReEncrypt" => vec!["kms:ReEncryptFrom".into(), "kms:ReEncryptTo".into()],
        other => vec![format!("kms:{other}")],
    }
}

/// In `events/`, a string `PASTE-THE-<FIELD>-FROM-<NAME>` stands for field `<field>` of the
/// response to `events/<name>.json` (`PASTE-THE-CIPHERTEXT-FROM-ENCRYPT`: the `ciphertext` that
/// `encrypt.json` produced), so one sample event can use another's answer; and a kind's local
/// alias (`alias/local/encryption`) stands for that kind's key. `make invoke`
/// (`scripts/send_events.py`) reads the files the same way.
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
pub fn sample_events() -> Vec<(String, serde_json::Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
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
    emulator: &Emulator,
    aliases: &[(String, String)],
    mut after: impl FnMut(&str, &serde_json::Value, &Outcome),
) {
    let mut answers: Vec<(String, serde_json::Value)> = Vec::new();
    for (file, event) in sample_events() {
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
