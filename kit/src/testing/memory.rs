//! Unit-test support: an in-memory KMS behind the SDK's own HTTP-client seam, and the handler
//! serving a function's operations with it ([`app`], [`MemoryApp::call`]).
//!
//! The kit's unit tests, and a function's tests of its own operations, run the real SDK client
//! — serialisation, signing, the interceptors, the retry classifiers, the error mapping — with
//! [`MemoryKms`] answering instead of a server.
//! It speaks KMS's JSON protocol for `Encrypt`, `Decrypt` and `GenerateDataKey`: a "ciphertext"
//! records the key, the context and the plaintext, so a wrong context or key is refused as KMS
//! refuses it. Canned answers stand in for a broken KMS. (The integration tests use a real
//! KMS-compatible server instead.)

use crate::config::Config;
use crate::error::Error;
use crate::event::Event;
use crate::handler::App;
use crate::key::{Key, Secret};
use crate::kms::client::SdkClientBuilder;
use crate::kms::lazy::BuildClient;
use crate::operation::Entry;
use crate::Function;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The in-memory KMS. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct MemoryKms {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<String>,
    canned: VecDeque<(String, u16, String)>,
    data_keys: u8,
}

/// The key ARN the in-memory KMS reports for `key` (an alias names a key of the same name).
pub fn arn(key: &str) -> String {
    format!(
        "arn:aws:kms:us-east-1:111122223333:key/{}",
        key.trim_start_matches("alias/")
    )
}

/// An SDK client, configured as the function configures it, talking to `kms`.
pub fn client(kms: &MemoryKms) -> aws_sdk_kms::Client {
    let config = Config::from_lookup(&[], &[], |_| None).expect("test configuration");
    let kms = kms.clone();
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
            aws_sdk_kms::config::Credentials::for_tests(),
        ))
        .retry_config(crate::kms::skew::retry_config(config.max_attempts))
        .http_client(http_client_fn(move |_, _| {
            SharedHttpConnector::new(kms.clone())
        }))
        .build();
    aws_sdk_kms::Client::from_conf(SdkClientBuilder::new(&config).client_config(&sdk).build())
}

/// Builds SDK clients that talk to one in-memory KMS, and counts the builds.
#[derive(Debug)]
pub struct MemoryBuilder {
    kms: MemoryKms,
    builds: AtomicU32,
}

impl BuildClient for MemoryBuilder {
    type Client = aws_sdk_kms::Client;
    async fn build(&self) -> Result<aws_sdk_kms::Client, Error> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        Ok(client(&self.kms))
    }
}

/// The function's handler, serving its operations with an in-memory KMS: events in, answers
/// (or errors) out, as the real binary would give them — no process, no server. Its EMF lines
/// go through the test harness's output capture.
pub struct MemoryApp {
    app: Arc<App<MemoryBuilder>>,
}

impl MemoryApp {
    /// One invocation of `payload` with 3 s left; the answer as a `Value`.
    pub async fn call(&self, payload: Value) -> Result<Value, Error> {
        self.call_within(payload, Duration::from_secs(3)).await
    }

    /// One invocation of `payload` with `deadline_in` left.
    pub async fn call_within(&self, payload: Value, deadline_in: Duration) -> Result<Value, Error> {
        let reply = self
            .app
            .handle_event(Ok(Event::from(payload)), context(deadline_in))
            .await?;
        // The answer as the runtime would write it, read back.
        Ok(serde_json::to_value(&reply).unwrap_or(Value::Null))
    }

    /// How many KMS clients it has built.
    pub fn builds(&self) -> u64 {
        self.app.client().builds()
    }

    /// Whether a KMS client is built right now.
    pub fn is_built(&self) -> bool {
        self.app.client().is_built()
    }

    /// The handler itself (the kit's own tests: its SnapStart hooks, its secrets).
    #[cfg(test)]
    pub(crate) fn app(&self) -> &Arc<App<MemoryBuilder>> {
        &self.app
    }
}

/// The name the in-memory app's function runs under (`AWS_LAMBDA_FUNCTION_NAME`): the
/// encryption context its secrets are encrypted under.
pub const FUNCTION_NAME: &str = "memory-function";

/// The plaintext the in-memory app's secret `secret` holds (unless `vars` gives its variable a
/// ciphertext of its own: [`secret_ciphertext`]).
pub fn secret_value(secret: &Secret) -> String {
    format!("the {} secret of the in-memory function", secret.name)
}

/// The default key of `kind` in the in-memory app of `keys`: `alias/default` for the first
/// kind, `alias/<kebab>` beyond it.
fn default_key(keys: &[&'static Key], kind: &Key) -> String {
    match keys.iter().position(|k| std::ptr::eq(*k, kind)) {
        Some(0) => "alias/default".to_string(),
        _ => format!("alias/{}", kind.kebab()),
    }
}

/// The base64 ciphertext of `plaintext` as the in-memory KMS makes it under `key` (as a request
/// names it) and the encryption context `LambdaFunctionName` = `function`: a secret's variable,
/// for a test (another function's, to see it refused).
pub fn secret_ciphertext(key: &str, function: &str, plaintext: &str) -> String {
    seal(
        key,
        &json!({"LambdaFunctionName": function}),
        &json!(STANDARD.encode(plaintext)),
    )
}

/// `function`'s handler, each kind of key defaulting to `alias/default` (or `alias/<kebab>`
/// beyond the first), each secret encrypted for it ([`secret_value`]), configured with `vars`;
/// and the in-memory KMS it talks to.
pub fn app(function: &Function, vars: &[(&str, &str)]) -> (MemoryApp, MemoryKms) {
    app_of(
        function.operations(),
        function.keys(),
        function.secrets_table(),
        vars,
    )
}

/// [`app`], for tables of the kit's own tests.
pub(crate) fn app_of(
    operations: &'static [Entry],
    keys: &[&'static Key],
    secrets: &[&'static Secret],
    vars: &[(&str, &str)],
) -> (MemoryApp, MemoryKms) {
    let config = Config::from_lookup(keys, secrets, |k| {
        if let Some((_, v)) = vars.iter().find(|(n, _)| *n == k) {
            return Some(v.to_string());
        }
        if let Some(key) = keys.iter().find(|key| key.variable == k) {
            return Some(default_key(keys, key));
        }
        if let Some(secret) = secrets.iter().find(|s| s.variable == k) {
            let key = default_key(keys, secret.key);
            return Some(secret_ciphertext(
                &key,
                FUNCTION_NAME,
                &secret_value(secret),
            ));
        }
        (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| FUNCTION_NAME.to_string())
    })
    .expect("the test configuration is valid");
    let kms = MemoryKms::default();
    let builder = MemoryBuilder {
        kms: kms.clone(),
        builds: AtomicU32::new(0),
    };
    let app = App::emitting(operations, config, builder, |line| println!("{line}"));
    (MemoryApp { app }, kms)
}

/// The context of an invocation with `deadline_in` left, as the runtime hands it over.
fn context(deadline_in: Duration) -> lambda_runtime::Context {
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = "req".into();
    ctx.deadline = (SystemTime::now() + deadline_in)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ctx
}

impl MemoryKms {
    /// The calls received so far, as `"Operation key-id"`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// The next `operation` request gets this status and body (verbatim) instead of a real answer.
    pub fn answer_next(&self, operation: &str, status: u16, body: &str) {
        self.lock()
            .canned
            .push_back((operation.to_string(), status, body.to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn answer(&self, operation: &str, input: &Value) -> (u16, String) {
        let mut state = self.lock();
        let key = input["KeyId"].as_str().unwrap_or_default().to_string();
        state.calls.push(format!("{operation} {key}"));
        if let Some(i) = state.canned.iter().position(|(op, ..)| op == operation) {
            let (_, status, body) = state.canned.remove(i).expect("found");
            return (status, body);
        }
        drop(state);
        let (status, body) = self.kms(operation, &key, input);
        (status, body.to_string())
    }

    fn kms(&self, operation: &str, key: &str, input: &Value) -> (u16, Value) {
        let mut state = self.lock();
        let key = key.to_string();
        let context = input.get("EncryptionContext").cloned().unwrap_or(json!({}));
        match operation {
            "Encrypt" => (
                200,
                json!({"CiphertextBlob": seal(&key, &context, &input["Plaintext"]), "KeyId": arn(&key)}),
            ),
            "GenerateDataKey" => {
                state.data_keys += 1;
                let data_key = STANDARD.encode([state.data_keys; 32]);
                (
                    200,
                    json!({"Plaintext": data_key, "CiphertextBlob": seal(&key, &context, &json!(data_key)), "KeyId": arn(&key)}),
                )
            }
            "Decrypt" => match open(input["CiphertextBlob"].as_str().unwrap_or_default()) {
                Some(sealed) if sealed["k"] != json!(key) => error(
                    "IncorrectKeyException",
                    "the ciphertext was made under another key",
                ),
                Some(sealed) if sealed["c"] != context => error(
                    "InvalidCiphertextException",
                    "the encryption context differs",
                ),
                Some(sealed) => (200, json!({"Plaintext": sealed["p"], "KeyId": arn(&key)})),
                None => error("InvalidCiphertextException", "not a ciphertext"),
            },
            other => error(
                "UnsupportedOperationException",
                &format!("the in-memory KMS does not implement {other}"),
            ),
        }
    }
}

/// A "ciphertext": a non-zero first byte (so never an envelope), then the sealed facts as JSON.
fn seal(key: &str, context: &Value, plaintext: &Value) -> String {
    let facts = json!({"k": key, "c": context, "p": plaintext}).to_string();
    STANDARD.encode([&[1u8][..], facts.as_bytes()].concat())
}

/// A data key as this KMS's `GenerateDataKey` encrypts it, under `key` (as a request names it)
/// and `context`: what a test puts in an envelope it makes.
pub fn encrypted_data_key(key: &str, context: &Value, data_key: &[u8]) -> Vec<u8> {
    let sealed = seal(key, context, &json!(STANDARD.encode(data_key)));
    STANDARD.decode(sealed).expect("base64 of our own making")
}

fn open(blob_b64: &str) -> Option<Value> {
    let blob = STANDARD.decode(blob_b64).ok()?;
    serde_json::from_slice(blob.strip_prefix(&[1u8])?).ok()
}

fn error(code: &str, message: &str) -> (u16, Value) {
    (400, json!({"__type": code, "message": message}))
}

impl HttpConnector for MemoryKms {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("TrentService."))
            .unwrap_or_default()
            .to_string();
        let input: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let (status, body) = self.answer(&operation, &input);
        let mut response = HttpResponse::new(
            status.try_into().expect("a valid status"),
            SdkBody::from(body),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        HttpConnectorFuture::ready(Ok(response))
    }
}
