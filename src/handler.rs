//! The handler: one invocation from event to answer, with its EMF line.
//!
//! It owns the invocation's lifecycle, not its work: parse the event through the operations
//! table (`ops`), get the lazily built client, give the operation a deadline-bounded, measured
//! [`Kms`], write the EMF line whatever happens, and turn a panic into one failed invocation.

use crate::config::Config;
use crate::datakey::DataKeyCache;
use crate::error::{Error, ErrorType};
use crate::event::Event;
use crate::kms::Kms;
use crate::lazy::{BuildClient, LazyClient};
use crate::metrics::{emf_line, EmfContext, Recorder};
use crate::ops::{self, Ctx, Reply, Request};
use crate::skew::{invocation_deadline, operation_timeout};
use lambda_runtime::LambdaEvent;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Everything that lives for the life of the sandbox: configuration, the lazy client, the
/// data-key cache and the cold-start flag. Built in INIT without I/O.
pub struct App<B: BuildClient<Client = aws_sdk_kms::Client>> {
    config: Config,
    kms: LazyClient<B>,
    data_keys: DataKeyCache,
    cold: AtomicBool,
}

impl<B: BuildClient<Client = aws_sdk_kms::Client>> App<B> {
    /// The application state; nothing is built yet.
    pub fn new(config: Config, builder: B) -> Arc<Self> {
        let app = Arc::new(App {
            data_keys: DataKeyCache::new(config.data_key_cache),
            config,
            kms: LazyClient::new(builder),
            cold: AtomicBool::new(true),
        });
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::at_init(&app);
        app
    }

    /// The lazy client, for lifecycle hooks (e.g. SnapStart) and tests.
    pub fn client(&self) -> &LazyClient<B> {
        &self.kms
    }

    /// Handles one event and writes its EMF line, whatever the outcome.
    pub async fn handle(&self, event: LambdaEvent<Event>) -> Result<Reply, Error> {
        let recorder = Recorder::start();
        // Exactly one invocation sees `true`, even when several run at once.
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let (payload, ctx) = (event.payload, event.context);

        let request = ops::parse(&payload);
        drop(payload);
        let operation = request.as_ref().ok().map(Request::operation);
        let work = async {
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
    ) -> Result<Reply, Error> {
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
        let kms = Kms::new(acquired.client, timeout, recorder.clone());
        let cx = Ctx {
            kms: &kms,
            config: &self.config,
            data_keys: &self.data_keys,
        };
        request.run(&cx).await
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
/// cached data keys, and prepare the SDK configuration and HTTPS connector again, before the
/// snapshot and again after restore. With the lazy cell nothing is built or sent before the
/// snapshot, unless a copy of this template adds priming; then this hook is what keeps
/// connections, a learned skew and configuration read on another host at another time out of
/// the restored sandbox.
impl<B: BuildClient<Client = aws_sdk_kms::Client>> lambda_runtime::SnapStartResource for App<B> {
    fn before_snapshot(&self) -> lambda_runtime::BoxFuture<'_, Result<(), lambda_runtime::Error>> {
        Box::pin(async move {
            self.forget("before the snapshot").await;
            Ok(())
        })
    }

    fn after_restore(&self) -> lambda_runtime::BoxFuture<'_, Result<(), lambda_runtime::Error>> {
        Box::pin(async move {
            self.forget("after restore").await;
            Ok(())
        })
    }
}

impl<B: BuildClient<Client = aws_sdk_kms::Client>> App<B> {
    async fn forget(&self, when: &str) {
        let had_client = self.kms.is_built();
        self.kms.reset();
        self.data_keys.clear();
        self.kms.builder().refresh().await;
        tracing::info!(
            had_client,
            "SnapStart: dropped the KMS client and cached data keys and prepared the SDK configuration again {when}"
        );
    }
}

/// EMF lines go to stdout. The lock is held for the whole line, so lines from concurrent
/// invocations (and log lines, which take the same lock) never interleave.
fn emit(line: &str) {
    if cfg!(test) {
        // Through the test harness's output capture.
        println!("{line}");
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope;
    use crate::testing::{self, MemoryKms};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::Value;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    /// Builds SDK clients that talk to one in-memory KMS, and counts the builds.
    struct MemoryBuilder {
        kms: MemoryKms,
        builds: AtomicU32,
    }

    impl BuildClient for MemoryBuilder {
        type Client = aws_sdk_kms::Client;
        async fn build(&self) -> Result<aws_sdk_kms::Client, Error> {
            self.builds.fetch_add(1, Ordering::SeqCst);
            Ok(testing::client(&self.kms))
        }
    }

    fn app() -> (Arc<App<MemoryBuilder>>, MemoryKms) {
        app_with(&[])
    }

    fn app_with(vars: &[(&str, &str)]) -> (Arc<App<MemoryBuilder>>, MemoryKms) {
        let config = Config::from_lookup(|k| {
            if k == "KMS_KEY_ID" {
                return Some("alias/default".to_string());
            }
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        let kms = MemoryKms::default();
        let builder = MemoryBuilder {
            kms: kms.clone(),
            builds: AtomicU32::new(0),
        };
        (App::new(config, builder), kms)
    }

    fn event(payload: Value, deadline_in: Duration) -> LambdaEvent<Event> {
        let mut ctx = lambda_runtime::Context::default();
        ctx.request_id = "req".into();
        ctx.deadline = (SystemTime::now() + deadline_in)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        LambdaEvent::new(Event::from(payload), ctx)
    }

    async fn call(app: &App<MemoryBuilder>, payload: Value) -> Result<Value, Error> {
        let reply = app.handle(event(payload, Duration::from_secs(3))).await?;
        Ok(reply.to_value())
    }

    #[tokio::test]
    async fn encrypt_then_decrypt_round_trips_with_the_same_context() {
        let (app, kms) = app();
        let enc = call(&app, serde_json::json!({"operation":"encrypt","plaintext":"aGVsbG8=","encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        assert_eq!(enc["keyId"], testing::arn("alias/default"));
        let dec = call(&app, serde_json::json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        assert_eq!(dec["plaintext"], "aGVsbG8=");
        let wrong = call(&app, serde_json::json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"2"}}))
            .await
            .unwrap_err();
        assert_eq!(wrong.kind(), ErrorType::InvalidCiphertext);
        assert_eq!(app.client().builds(), 1);
        assert_eq!(
            kms.calls(),
            [
                "Encrypt alias/default",
                "Decrypt alias/default",
                "Decrypt alias/default"
            ]
        );
    }

    #[tokio::test]
    async fn a_bad_event_costs_no_client_build() {
        let (app, _) = app();
        let e = call(&app, serde_json::json!({"operation":"nope"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(!app.client().is_built());
    }

    #[tokio::test]
    async fn the_event_may_name_another_key() {
        let (app, kms) = app();
        call(
            &app,
            serde_json::json!({"operation":"encrypt","plaintext":"aGk=","keyId":"alias/override"}),
        )
        .await
        .unwrap();
        assert_eq!(kms.calls(), ["Encrypt alias/override"]);
    }

    #[tokio::test]
    async fn no_time_left_is_a_deadline_error_without_calling_kms() {
        let (app, kms) = app();
        let e = app
            .handle(event(
                serde_json::json!({"operation":"encrypt","plaintext":"aGk="}),
                Duration::from_millis(100),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::DeadlineExceeded);
        assert!(kms.calls().is_empty());
    }

    #[tokio::test]
    async fn a_kms_answer_without_a_required_field_is_never_a_success() {
        for (event, target) in [
            (
                serde_json::json!({"operation":"encrypt","plaintext":"aGk="}),
                "Encrypt",
            ),
            (
                serde_json::json!({"operation":"decrypt","ciphertext":"AQID"}),
                "Decrypt",
            ),
            (
                serde_json::json!({"operation":"encrypt","plaintext":STANDARD.encode([1u8; 5000])}),
                "GenerateDataKey",
            ),
        ] {
            let (app, kms) = app();
            kms.answer_next(target, 200, "{}");
            let e = call(&app, event).await.unwrap_err();
            assert_eq!(e.kind(), ErrorType::KmsInvalidResponse, "{target}: {e}");
            assert!(
                e.message()
                    .contains(&format!("KMS {target} answered without")),
                "{e}"
            );
        }
    }

    #[tokio::test]
    async fn an_http_403_is_an_access_denial_even_when_its_body_is_not_kms_json() {
        let (app, kms) = app();
        // What an IAM policy evaluated in front of KMS answers (moto's enforcement does).
        kms.answer_next(
            "Encrypt",
            403,
            "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>",
        );
        let encrypt_fails = || async {
            call(
                &app,
                serde_json::json!({"operation":"encrypt","plaintext":"aGk="}),
            )
            .await
            .unwrap_err()
        };
        let e = encrypt_fails().await;
        assert_eq!(e.kind(), ErrorType::KmsAccessDenied, "{e}");
        kms.answer_next("Encrypt", 418, "<teapot/>");
        let e = encrypt_fails().await;
        assert_eq!(e.kind(), ErrorType::KmsError, "{e}");
    }

    async fn roundtrip(app: &App<MemoryBuilder>, payload: &[u8]) -> Value {
        let enc = call(app, serde_json::json!({"operation":"encrypt","plaintext":STANDARD.encode(payload),"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        let dec = call(app, serde_json::json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        assert_eq!(dec["plaintext"], STANDARD.encode(payload));
        assert_eq!(dec["mode"], enc["mode"]);
        enc
    }

    #[tokio::test]
    async fn payloads_above_4096_bytes_use_an_envelope_and_round_trip() {
        let (app, kms) = app();
        let enc = roundtrip(&app, &vec![5u8; 10_000]).await;
        assert_eq!(enc["mode"], "envelope");
        let blob = STANDARD
            .decode(enc["ciphertext"].as_str().unwrap())
            .unwrap();
        assert!(envelope::is_envelope(&blob));
        assert_eq!(
            kms.calls(),
            ["GenerateDataKey alias/default", "Decrypt alias/default"]
        );
        assert_eq!(roundtrip(&app, b"small").await["mode"], "direct");
    }

    #[tokio::test]
    async fn without_a_cache_every_envelope_costs_kms_calls() {
        let (app, kms) = app();
        for _ in 0..3 {
            roundtrip(&app, &vec![1u8; 5000]).await;
        }
        assert_eq!(kms.calls().len(), 6);
    }

    #[tokio::test]
    async fn the_data_key_cache_cuts_kms_calls_within_its_message_limit() {
        let (app, kms) = app_with(&[
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
            ("DATA_KEY_CACHE_MAX_MESSAGES", "2"),
        ]);
        for _ in 0..4 {
            roundtrip(&app, &vec![1u8; 5000]).await;
        }
        let calls = kms.calls();
        let generated = calls
            .iter()
            .filter(|c| c.starts_with("GenerateDataKey"))
            .count();
        let decrypted = calls.len() - generated;
        // Four messages, two per data key: two GenerateDataKey; the second envelope of each key
        // finds its decrypted data key cached.
        assert_eq!(generated, 2, "{calls:?}");
        assert_eq!(decrypted, 2, "{calls:?}");
    }
}
