//! The pieces of a test of the real binary: the local KMS, keys of each kind, and the
//! [`Harness`] that puts them together with the gate, the emulator and the running function.

use super::emulator::{Emulator, Outcome, Process};
use super::gate::Gate;
use super::{tls, Project};
use crate::key::Key;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
    // Tests and benchmarks run in their package's directory: the function project's, where
    // `make venv` put the tools, or the kit's, inside it.
    let server = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
        let here = std::env::current_dir().unwrap_or_default();
        here.ancestors()
            .map(|d| d.join(".venv/bin/moto_server"))
            .find(|p| p.exists())
            .map_or_else(
                || ".venv/bin/moto_server".into(),
                |p| p.display().to_string(),
            )
    });
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
    /// Its kind: a row of the key table.
    pub kind: &'static Key,
    /// Its key id.
    pub key_id: String,
    /// Its key ARN.
    pub arn: String,
    /// Its alias, `alias/kms-lambda-test-<pid>-<n>`.
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
    let (key_id, arn) = crate::tools::local_keys::create(&admin_client(url), kind, &alias).await;
    TestKey {
        kind,
        key_id,
        arn,
        alias,
    }
}

/// One function under test: emulator, gate in front of the local KMS, a key of every kind, and
/// the running binary.
#[allow(missing_docs)] // the fields say what they are
pub struct Harness {
    pub emulator: Emulator,
    pub gate: Gate,
    /// The key of the first kind (`ENCRYPTION`), which most tests use.
    pub key: TestKey,
    /// A key of each other kind, in table order.
    pub others: Vec<TestKey>,
    pub function: Process,
    /// Each secret of the function and the plaintext its variable was given, encrypted with
    /// this harness's key of its kind for the function's name.
    pub secrets: Vec<(&'static crate::Secret, String)>,
}

impl Harness {
    /// Starts everything for `project`: each key variable names this harness's key of that kind,
    /// plus `env`.
    pub async fn start(project: &Project, env: &[(&str, &str)]) -> Self {
        Self::start_with(project, env, None).await
    }

    /// Like [`Harness::start`], the function reaching the gate over HTTPS through
    /// [`tls::TlsEndpoint`]; `trust` is its `SSL_CERT_FILE` (`None`: the system roots only).
    pub async fn start_tls(
        project: &Project,
        env: &[(&str, &str)],
        trust: Option<std::path::PathBuf>,
    ) -> Self {
        Self::start_with(project, env, Some(trust)).await
    }

    async fn start_with(
        project: &Project,
        env: &[(&str, &str)],
        tls: Option<Option<std::path::PathBuf>>,
    ) -> Self {
        let url = kms_url();
        let (first, rest) = project
            .keys()
            .split_first()
            .expect("the key table has a row");
        let key = create_key_of(&url, first).await;
        let mut others = Vec::new();
        for kind in rest {
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
        let mut secrets = Vec::new();
        for (i, secret) in project.function.secrets_table().iter().enumerate() {
            // A value no log line has by chance (nor the secret's name, which logs may carry).
            let value = format!("SeCrEt-VaLuE-{}-{i}-c4n4ry", std::process::id());
            let key = std::iter::once(&key)
                .chain(&others)
                .find(|k| std::ptr::eq(k.kind, secret.key))
                .expect("a key of each kind");
            let ciphertext = crate::tools::local_keys::encrypt_secret(
                &admin_client(&url),
                secret,
                &key.alias,
                super::emulator::FUNCTION_NAME,
                &value,
            )
            .await;
            vars.push((secret.variable, ciphertext));
            secrets.push((*secret, value));
        }
        if let Some(Some(bundle)) = &tls {
            vars.push(("SSL_CERT_FILE", bundle.display().to_string()));
        }
        vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        // KMS_LAMBDA_TEST_FUNCTION_ENV="NAME=value,…": more for every function a test starts, so
        // a whole test binary can run under a setting (e.g. the SDK's AWS_NEW_RETRIES_2026).
        let extra = std::env::var("KMS_LAMBDA_TEST_FUNCTION_ENV").unwrap_or_default();
        let extra: Vec<(String, String)> = extra
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        vars.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let function = Process::spawn(project.binary, &emulator, &vars);
        Harness {
            emulator,
            gate,
            key,
            others,
            function,
            secrets,
        }
    }

    /// The plaintext the function's variable of `secret` holds, encrypted.
    pub fn secret_value(&self, secret: &crate::Secret) -> &str {
        self.secrets
            .iter()
            .find(|(s, _)| std::ptr::eq(*s, secret))
            .map(|(_, v)| v.as_str())
            .expect("a secret of the function")
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

    /// Sends `event` with `left` until its deadline while KMS answers every request `late` (the
    /// gate's [`hang`](Gate::hang), taken back before this returns): what the function answered
    /// and how long it took — a test of an operation's deadline asks for `DeadlineExceeded` in
    /// less than `left`.
    pub async fn invoke_with_kms_late(
        &self,
        event: &serde_json::Value,
        late: Duration,
        left: Duration,
    ) -> (Outcome, Duration) {
        self.gate.hang(Some(late));
        let started = Instant::now();
        let out = self
            .emulator
            .invoke_raw(serde_json::to_vec(event).expect("a JSON event"), left)
            .await;
        let took = started.elapsed();
        self.gate.hang(None);
        (out, took)
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
