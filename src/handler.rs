//! The handler: one invocation from event to answer, with its EMF line.

use crate::config::Config;
use crate::datakey::{DataKeyCache, Decrypted};
use crate::envelope::{self, DataKey};
use crate::error::{Error, ErrorType};
use crate::event::{self, DecryptResponse, EncryptResponse, Mode, Request};
use crate::kms::{CallOptions, Kms};
use crate::lazy::{BuildClient, LazyClient};
use crate::metrics::{emf_line, EmfContext, Recorder};
use crate::skew::{invocation_deadline, operation_timeout};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Everything that lives for the life of the sandbox: configuration, the lazy client and
/// the cold-start flag. Built in INIT without I/O.
pub struct App<B: BuildClient> {
    config: Config,
    kms: LazyClient<B>,
    data_keys: DataKeyCache,
    cold: AtomicBool,
    /// Debug builds only: panic on `{"operation":"panic"}` when `KMS_LAMBDA_TEST_PANIC` is set,
    /// so a test can show that a panic stays one failed invocation.
    #[cfg(debug_assertions)]
    test_panic: bool,
}

impl<B> App<B>
where
    B: BuildClient,
    B::Client: Kms,
{
    /// The application state; nothing is built yet.
    pub fn new(config: Config, builder: B) -> Arc<Self> {
        Arc::new(App {
            data_keys: DataKeyCache::new(config.data_key_cache),
            config,
            kms: LazyClient::new(builder),
            cold: AtomicBool::new(true),
            #[cfg(debug_assertions)]
            test_panic: std::env::var_os("KMS_LAMBDA_TEST_PANIC").is_some(),
        })
    }

    /// The lazy client, for lifecycle hooks (e.g. SnapStart) and tests.
    pub fn client(&self) -> &LazyClient<B> {
        &self.kms
    }

    /// Handles one event and writes its EMF line, whatever the outcome.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        let recorder = Recorder::start();
        // Exactly one invocation sees `true`, even when several run at once.
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let (payload, ctx) = (event.payload, event.context);

        #[cfg(debug_assertions)]
        let forced_panic = self.test_panic && payload["operation"] == "panic";
        let request = event::parse(&payload);
        drop(payload);
        let operation = request.as_ref().ok().map(Request::operation);
        let work = async {
            #[cfg(debug_assertions)]
            if forced_panic {
                panic!("forced panic (KMS_LAMBDA_TEST_PANIC)");
            }
            let request = request?;
            let deadline = invocation_deadline(ctx.deadline, SystemTime::now());
            self.execute(request, deadline, &recorder).await
        };
        // A panic fails this invocation with a stable `Internal` error (and still writes its
        // EMF line) instead of the runtime's type-name error; the sandbox keeps serving. The
        // panic message goes to the logs through the panic hook, never to the caller.
        let result = CatchUnwind(Box::pin(work)).await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorType::Internal,
                "the function failed unexpectedly (a bug); the logs have the details",
            ))
        });

        let line = emf_line(
            &recorder.snapshot(),
            EmfContext {
                namespace: &self.config.metrics_namespace,
                function_name: &ctx.env_config.function_name,
                request_id: &ctx.request_id,
                operation,
                cold_start,
                error_type: result.as_ref().err().map(|e| e.kind().as_str()),
            },
        );
        emit(&line);
        if let Err(e) = &result {
            tracing::warn!(
                error_type = e.kind().as_str(),
                message = e.message(),
                "invocation failed"
            );
        }
        result
    }

    async fn execute(
        &self,
        request: Request,
        deadline: SystemTime,
        recorder: &Arc<Recorder>,
    ) -> Result<Value, Error> {
        let acquired = self.kms.get().await?;
        if let Some(took) = acquired.built_in {
            recorder.client_built(took);
            tracing::info!(
                took_ms = took.as_secs_f64() * 1000.0,
                "built the KMS client on first use"
            );
        }
        // Measured after the (possibly slow) first build, so the build eats into the budget.
        let timeout = operation_timeout(deadline, SystemTime::now(), self.config.deadline_margin).ok_or_else(|| {
            Error::new(
                ErrorType::DeadlineExceeded,
                format!(
                    "less than the {} ms safety margin was left in this invocation before calling KMS; raise the function timeout",
                    self.config.deadline_margin.as_millis()
                ),
            )
        })?;
        let opts = CallOptions {
            timeout,
            recorder: recorder.clone(),
        };
        let kms = &*acquired.client;
        let response = match request {
            Request::Encrypt {
                plaintext,
                context,
                key_id,
                mode,
            } => {
                let key = key_id.as_deref().unwrap_or(&self.config.key_id);
                let (ciphertext, key_id) = match mode {
                    Mode::Direct => {
                        let out = kms.encrypt(key, plaintext, context, &opts).await?;
                        (out.data, out.key_id)
                    }
                    Mode::Envelope => {
                        self.seal_envelope(kms, key, &plaintext, context, &opts)
                            .await?
                    }
                };
                serde_json::to_value(EncryptResponse {
                    ciphertext: STANDARD.encode(&ciphertext),
                    key_id,
                    mode: mode.as_str(),
                })
            }
            Request::Decrypt {
                mut ciphertext,
                context,
                key_id,
            } => {
                let key = key_id.as_deref().unwrap_or(&self.config.key_id);
                if envelope::is_envelope(&ciphertext) {
                    let (plaintext, key_id) = self
                        .open_envelope(kms, key, &mut ciphertext, context, &opts)
                        .await?;
                    serde_json::to_value(DecryptResponse {
                        plaintext: STANDARD.encode(plaintext),
                        key_id,
                        mode: Mode::Envelope.as_str(),
                    })
                } else {
                    let out = kms.decrypt(key, ciphertext, context, &opts).await?;
                    serde_json::to_value(DecryptResponse {
                        plaintext: STANDARD.encode(&out.data),
                        key_id: out.key_id,
                        mode: Mode::Direct.as_str(),
                    })
                }
            }
        };
        // Serialising two strings cannot fail; keep the error typed all the same.
        response.map_err(|e| {
            Error::new(
                ErrorType::KmsError,
                format!("could not encode the response: {e}"),
            )
        })
    }

    /// A data key (cached, or fresh from `GenerateDataKey`), then AES-256-GCM locally.
    async fn seal_envelope(
        &self,
        kms: &B::Client,
        key: &str,
        plaintext: &[u8],
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> Result<(Vec<u8>, String), Error> {
        let canonical = envelope::canonical_context(&context);
        let generated = match self
            .data_keys
            .take_for_encrypt(key, &canonical, Instant::now())
        {
            Some(cached) => cached,
            None => {
                let fresh = kms.generate_data_key(key, context.clone(), opts).await?;
                self.data_keys
                    .put_for_encrypt(key, &canonical, &fresh, Instant::now());
                fresh
            }
        };
        let sealed = envelope::seal(
            &generated.key,
            &generated.key_id,
            &generated.encrypted,
            &context,
            plaintext,
        )?;
        Ok((sealed, generated.key_id))
    }

    /// KMS decrypts the data key (unless cached); the payload is opened in place.
    async fn open_envelope<'a>(
        &self,
        kms: &B::Client,
        key: &str,
        blob: &'a mut [u8],
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> Result<(&'a [u8], String), Error> {
        let encrypted_key = envelope::parse(blob)?.encrypted_key.to_vec();
        let canonical = envelope::canonical_context(&context);
        let decrypted =
            match self
                .data_keys
                .take_for_decrypt(key, &encrypted_key, &canonical, Instant::now())
            {
                Some(cached) => cached,
                None => {
                    let out = kms
                        .decrypt(key, encrypted_key.clone(), context.clone(), opts)
                        .await?;
                    let fresh = Decrypted {
                        key: DataKey::new(out.data),
                        key_id: out.key_id,
                    };
                    self.data_keys.put_for_decrypt(
                        key,
                        &encrypted_key,
                        &canonical,
                        &fresh,
                        Instant::now(),
                    );
                    fresh
                }
            };
        let plaintext = envelope::open(&decrypted.key, blob, &context)?;
        Ok((plaintext, decrypted.key_id))
    }
}

/// Polls a future inside `catch_unwind`. (The runtime catches panics too, but reports them
/// with a Rust type name as `errorType`.)
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// SnapStart: drop the client (its pooled connections and the clock skew it learned) and the
/// cached data keys before the snapshot and again after restore. With the lazy cell nothing is
/// built before the snapshot, unless a copy of this template adds priming; then this hook is
/// what keeps connections and a learned skew from a different host and time out of the
/// restored sandbox.
impl<B> lambda_runtime::SnapStartResource for App<B>
where
    B: BuildClient,
    B::Client: Kms,
{
    fn before_snapshot(&self) -> lambda_runtime::BoxFuture<'_, Result<(), lambda_runtime::Error>> {
        Box::pin(async move {
            self.forget("before the snapshot");
            Ok(())
        })
    }

    fn after_restore(&self) -> lambda_runtime::BoxFuture<'_, Result<(), lambda_runtime::Error>> {
        Box::pin(async move {
            self.forget("after restore");
            Ok(())
        })
    }
}

impl<B: BuildClient> App<B> {
    fn forget(&self, when: &str) {
        let had_client = self.kms.is_built();
        self.kms.reset();
        self.data_keys.clear();
        tracing::info!(
            had_client,
            "SnapStart: dropped the KMS client and cached data keys {when}"
        );
    }
}

/// EMF lines go to stdout. The lock is held for the whole line, so lines from concurrent
/// invocations (and log lines, which take the same lock) never interleave.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::KmsOutput;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    /// An in-memory KMS: "encrypts" by prefixing the context, and records what it was asked.
    #[derive(Default)]
    struct FakeKms {
        calls: Mutex<Vec<(String, Duration)>>,
    }

    fn seal(context: &HashMap<String, String>) -> Vec<u8> {
        let mut pairs: Vec<_> = context.iter().collect();
        pairs.sort();
        format!("{pairs:?}|").into_bytes()
    }

    impl Kms for FakeKms {
        async fn encrypt(
            &self,
            key_id: &str,
            plaintext: Vec<u8>,
            context: HashMap<String, String>,
            opts: &CallOptions,
        ) -> Result<KmsOutput, Error> {
            self.calls
                .lock()
                .unwrap()
                .push((key_id.to_string(), opts.timeout));
            Ok(KmsOutput {
                data: [seal(&context), plaintext].concat(),
                key_id: format!("arn:{key_id}"),
            })
        }
        async fn decrypt(
            &self,
            key_id: &str,
            ciphertext: Vec<u8>,
            context: HashMap<String, String>,
            opts: &CallOptions,
        ) -> Result<KmsOutput, Error> {
            self.calls
                .lock()
                .unwrap()
                .push((key_id.to_string(), opts.timeout));
            let prefix = seal(&context);
            match ciphertext.strip_prefix(prefix.as_slice()) {
                Some(pt) => Ok(KmsOutput {
                    data: pt.to_vec(),
                    key_id: format!("arn:{key_id}"),
                }),
                None => Err(Error::new(ErrorType::InvalidCiphertext, "context mismatch")),
            }
        }
        async fn generate_data_key(
            &self,
            key_id: &str,
            context: HashMap<String, String>,
            opts: &CallOptions,
        ) -> Result<crate::datakey::Generated, Error> {
            self.calls
                .lock()
                .unwrap()
                .push((format!("gdk:{key_id}"), opts.timeout));
            let n = self.calls.lock().unwrap().len() as u8;
            let key = vec![n; 32];
            Ok(crate::datakey::Generated {
                encrypted: [seal(&context), key.clone()].concat(),
                key: DataKey::new(key),
                key_id: format!("arn:{key_id}"),
            })
        }
    }

    struct FakeBuilder {
        builds: AtomicU32,
    }
    impl BuildClient for FakeBuilder {
        type Client = FakeKms;
        async fn build(&self) -> Result<FakeKms, Error> {
            self.builds.fetch_add(1, Ordering::SeqCst);
            Ok(FakeKms::default())
        }
    }

    fn app() -> Arc<App<FakeBuilder>> {
        app_with(&[])
    }

    fn app_with(vars: &[(&str, &str)]) -> Arc<App<FakeBuilder>> {
        let config = Config::from_lookup(|k| {
            if k == "KMS_KEY_ID" {
                return Some("alias/default".to_string());
            }
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        App::new(
            config,
            FakeBuilder {
                builds: AtomicU32::new(0),
            },
        )
    }

    fn event(payload: Value, deadline_in: Duration) -> LambdaEvent<Value> {
        let mut ctx = lambda_runtime::Context::default();
        ctx.request_id = "req".into();
        ctx.deadline = (SystemTime::now() + deadline_in)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        LambdaEvent::new(payload, ctx)
    }

    #[tokio::test]
    async fn encrypt_then_decrypt_round_trips_with_the_same_context() {
        let app = app();
        let enc = app
            .handle(event(serde_json::json!({"operation":"encrypt","plaintext":"aGVsbG8=","encryptionContext":{"t":"1"}}), Duration::from_secs(3)))
            .await
            .unwrap();
        assert_eq!(enc["keyId"], "arn:alias/default");
        let dec = app
            .handle(event(serde_json::json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}), Duration::from_secs(3)))
            .await
            .unwrap();
        assert_eq!(dec["plaintext"], "aGVsbG8=");
        let wrong = app
            .handle(event(serde_json::json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"2"}}), Duration::from_secs(3)))
            .await
            .unwrap_err();
        assert_eq!(wrong.kind(), ErrorType::InvalidCiphertext);
        assert_eq!(app.client().builds(), 1);
    }

    #[tokio::test]
    async fn a_bad_event_costs_no_client_build() {
        let app = app();
        let e = app
            .handle(event(
                serde_json::json!({"operation":"nope"}),
                Duration::from_secs(3),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(!app.client().is_built());
    }

    #[tokio::test]
    async fn the_kms_timeout_is_the_time_left_minus_the_margin() {
        let app = app();
        app.handle(event(
            serde_json::json!({"operation":"encrypt","plaintext":"aGk=","keyId":"alias/override"}),
            Duration::from_secs(2),
        ))
        .await
        .unwrap();
        let client = app.client().get().await.unwrap().client;
        let (key, timeout) = client.calls.lock().unwrap()[0].clone();
        assert_eq!(key, "alias/override");
        assert!(
            timeout <= Duration::from_millis(1500) && timeout > Duration::from_millis(1000),
            "{timeout:?}"
        );
    }

    #[tokio::test]
    async fn no_time_left_is_a_deadline_error_without_calling_kms() {
        let app = app();
        let e = app
            .handle(event(
                serde_json::json!({"operation":"encrypt","plaintext":"aGk="}),
                Duration::from_millis(100),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::DeadlineExceeded);
        let client = app.client().get().await.unwrap().client;
        assert!(client.calls.lock().unwrap().is_empty());
    }

    async fn kms_calls(app: &App<FakeBuilder>) -> Vec<String> {
        let client = app.client().get().await.unwrap().client;
        let calls = client.calls.lock().unwrap();
        calls.iter().map(|(k, _)| k.clone()).collect()
    }

    async fn roundtrip(app: &App<FakeBuilder>, payload: &[u8]) -> Value {
        let enc = app
            .handle(event(serde_json::json!({"operation":"encrypt","plaintext":STANDARD.encode(payload),"encryptionContext":{"t":"1"}}), Duration::from_secs(3)))
            .await
            .unwrap();
        let dec = app
            .handle(event(serde_json::json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}), Duration::from_secs(3)))
            .await
            .unwrap();
        assert_eq!(dec["plaintext"], STANDARD.encode(payload));
        assert_eq!(dec["mode"], enc["mode"]);
        enc
    }

    #[tokio::test]
    async fn payloads_above_4096_bytes_use_an_envelope_and_round_trip() {
        let app = app();
        let enc = roundtrip(&app, &vec![5u8; 10_000]).await;
        assert_eq!(enc["mode"], "envelope");
        let blob = STANDARD
            .decode(enc["ciphertext"].as_str().unwrap())
            .unwrap();
        assert!(envelope::is_envelope(&blob));
        assert_eq!(
            kms_calls(&app).await,
            ["gdk:alias/default", "alias/default"]
        );
        assert_eq!(roundtrip(&app, b"small").await["mode"], "direct");
    }

    #[tokio::test]
    async fn without_a_cache_every_envelope_costs_kms_calls() {
        let app = app();
        for _ in 0..3 {
            roundtrip(&app, &vec![1u8; 5000]).await;
        }
        assert_eq!(kms_calls(&app).await.len(), 6);
    }

    #[tokio::test]
    async fn the_data_key_cache_cuts_kms_calls_within_its_message_limit() {
        let app = app_with(&[
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
            ("DATA_KEY_CACHE_MAX_MESSAGES", "2"),
        ]);
        for _ in 0..4 {
            roundtrip(&app, &vec![1u8; 5000]).await;
        }
        let calls = kms_calls(&app).await;
        let generated = calls.iter().filter(|c| c.starts_with("gdk:")).count();
        let decrypted = calls.len() - generated;
        // Four messages, two per data key: two GenerateDataKey; the second envelope of each key
        // finds its decrypted data key cached.
        assert_eq!(generated, 2, "{calls:?}");
        assert_eq!(decrypted, 2, "{calls:?}");
    }
}
