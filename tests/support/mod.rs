//! Test support: a real local KMS (moto's server mode), the strict SigV4 time gate in front of
//! it (`examples/kms-gate`: signature and clock checks as KMS does them, fault injection,
//! counters), and a Lambda Runtime API emulator running the real `kms-lambda` binary.
//!
//! The local KMS: if `KMS_LAMBDA_TEST_KMS_URL` is set (the Makefile starts one moto for the
//! whole run), it is used; otherwise this test binary starts its own
//! `.venv/bin/moto_server` (override with `MOTO_SERVER`), which a watchdog stops when the
//! test process exits.

#![allow(dead_code, unused_imports)]

pub mod cpu;
pub mod emulator;
#[path = "../../examples/kms-gate/gate.rs"]
pub mod gate;
pub mod tls;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
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

/// A fresh symmetric key and an alias for it.
pub struct TestKey {
    pub key_id: String,
    pub arn: String,
    pub alias: String,
}

/// Creates a key and `alias/kms-lambda-test-<n>` in the local KMS.
pub async fn create_key(url: &str) -> TestKey {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let kms = admin_client(url);
    let meta = kms
        .create_key()
        .description("kms-lambda test key")
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .unwrap();
    let alias = format!(
        "alias/kms-lambda-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(meta.key_id())
        .send()
        .await
        .expect("CreateAlias");
    TestKey {
        key_id: meta.key_id().to_string(),
        arn: meta.arn().unwrap_or_default().to_string(),
        alias,
    }
}

/// One function under test: emulator, gate in front of the local KMS, a key, and the running binary.
pub struct Harness {
    pub emulator: Emulator,
    pub gate: Gate,
    pub key: TestKey,
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
        let gate = Gate::start(&url, Some("testing")).await;
        let emulator = Emulator::start().await;
        let endpoint = match &tls {
            Some(_) => tls::TlsEndpoint::start(&gate.url()).await.url(),
            None => gate.url(),
        };
        let mut vars: Vec<(&str, String)> = vec![
            ("KMS_KEY_ID", key.alias.clone()),
            ("AWS_ENDPOINT_URL_KMS", endpoint),
        ];
        if let Some(Some(bundle)) = &tls {
            vars.push(("SSL_CERT_FILE", bundle.display().to_string()));
        }
        vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let function = Function::spawn(&emulator, &vars);
        Harness {
            emulator,
            gate,
            key,
            function,
        }
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

/// In `events/`: the key `make invoke` creates, standing for the test's key.
pub const LOCAL_ALIAS: &str = "alias/kms-lambda-local";
/// In `events/`: stands for the ciphertext `events/encrypt.json` produced.
pub const CIPHERTEXT_PLACEHOLDER: &str = "PASTE-THE-CIPHERTEXT-FROM-ENCRYPT";

/// Sends every sample event in `events/` (`encrypt.json` first) as `make invoke` does, with
/// [`LOCAL_ALIAS`] replaced by `key` and [`CIPHERTEXT_PLACEHOLDER`] by the ciphertext
/// `encrypt.json` produced; `after` sees each file, event and outcome as it comes. An event
/// that needs that ciphertext is skipped when `encrypt.json` failed.
pub async fn run_sample_events(
    emulator: &Emulator,
    key: &str,
    mut after: impl FnMut(&str, &serde_json::Value, &Outcome),
) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort_by_key(|f| (f != "encrypt.json", f.clone()));
    let mut ciphertext = None::<String>;
    for file in files {
        let mut text = std::fs::read_to_string(dir.join(&file))
            .unwrap()
            .replace(LOCAL_ALIAS, key);
        if text.contains(CIPHERTEXT_PLACEHOLDER) {
            let Some(c) = ciphertext.as_deref() else {
                continue;
            };
            text = text.replace(CIPHERTEXT_PLACEHOLDER, c);
        }
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let out = emulator.invoke(&event).await;
        if let (Outcome::Ok(body), "encrypt.json") = (&out, file.as_str()) {
            ciphertext = body["ciphertext"].as_str().map(str::to_string);
        }
        after(&file, &event, &out);
    }
}
