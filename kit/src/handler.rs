//! The handler: one invocation from event to answer, with its EMF line.
//!
//! It owns the invocation's lifecycle, not its work: dispatch the event through the operations
//! table, get the lazily built client, give the operation a deadline-bounded, measured
//! [`Kms`], write the EMF line whatever happens, and turn a panic into one failed invocation.

use crate::config::Config;
use crate::envelope::datakey::DataKeyCache;
use crate::error::{Error, ErrorType};
use crate::event::Event;
use crate::kms::call::Kms;
use crate::kms::lazy::{BuildClient, LazyClient};
use crate::kms::metrics::{emf_line, EmfContext, Recorder};
use crate::kms::skew::{invocation_deadline, operation_timeout};
use crate::operation::{dispatch, Ctx, Entry, Request};
use crate::reply::Reply;
use lambda_runtime::LambdaEvent;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Everything that lives for the life of the sandbox: the operations table, configuration, the
/// lazy client, the data-key cache and the cold-start flag. Built in INIT without I/O.
pub struct App<B: BuildClient<Client = aws_sdk_kms::Client>> {
    operations: &'static [Entry],
    config: Config,
    kms: LazyClient<B>,
    data_keys: DataKeyCache,
    cold: AtomicBool,
}

impl<B: BuildClient<Client = aws_sdk_kms::Client>> App<B> {
    /// The application state for the `operations` table; nothing is built yet.
    ///
    /// With the kit's `testing` feature (a function's tests; never a deployed build) the table
    /// also serves the test hooks' `panic` operation.
    pub fn new(operations: &'static [Entry], config: Config, builder: B) -> Arc<Self> {
        #[cfg(feature = "testing")]
        let operations = crate::test_hooks::with_test_rows(operations);
        Arc::new(App {
            operations,
            data_keys: DataKeyCache::new(config.data_key_cache),
            config,
            kms: LazyClient::new(builder),
            cold: AtomicBool::new(true),
        })
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

        let dispatched = dispatch(self.operations, &payload);
        drop(payload);
        let operation = dispatched.operation;
        let work = async {
            let request = dispatched.request?;
            let deadline = invocation_deadline(ctx.deadline, SystemTime::now());
            self.execute(request, deadline, &recorder, &ctx.request_id)
                .await
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
                request_id = %ctx.request_id,
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
        request_id: &str,
    ) -> Result<Reply, Error> {
        let acquired = self.kms.get().await?;
        if let Some(took) = acquired.built_in {
            recorder.client_built(took);
            tracing::info!(
                request_id,
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
        let kms = Kms::new(acquired.client, timeout, recorder.clone(), request.key());
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
    if cfg!(any(test, feature = "testing")) {
        // Through the test harness's output capture (a function's own unit tests included).
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
    use crate::testing::memory::{app, call, event, MemoryBuilder, MemoryKms};
    use serde_json::json;
    use std::time::Duration;

    mod probe {
        //! A table of the kit's own: `{"operation": "seal", "keyId": …}` encrypts a fixed
        //! payload; `{"operation": "check", …}` answers `{"disabled": true}` when KMS says the
        //! key is disabled — an expected error, through `call_expecting`.
        use crate::event::fields::Fields;
        pub use crate::key::test_kinds::DATA;
        use crate::key::Key;
        use crate::operation::{Ctx, Entry, Operation};
        use crate::reply::{respond, Reply};
        use crate::Error;
        use aws_sdk_kms::operation::encrypt::EncryptError;
        use aws_sdk_kms::primitives::Blob;
        use serde_json::json;

        pub struct Seal(Option<String>, bool);

        impl Seal {
            fn parse(fields: &Fields<'_>, expecting: bool) -> Result<Self, Error> {
                Ok(Seal(fields.key_id("keyId")?, expecting))
            }

            async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
                let key = cx.key_id(self.0.as_deref())?;
                let request = cx
                    .kms
                    .client()
                    .encrypt()
                    .key_id(key)
                    .plaintext(Blob::new(b"x".to_vec()))
                    .send();
                if !self.1 {
                    cx.kms.call("Encrypt", key, request).await?;
                    return respond(json!({"sealed": true}));
                }
                let answer = cx
                    .kms
                    .call_expecting("Encrypt", key, request, EncryptError::is_disabled_exception)
                    .await?;
                respond(json!({"disabled": answer.is_err()}))
            }
        }

        pub struct Check(Seal);

        impl Operation for Seal {
            const NAME: &'static str = "seal";
            const FIELDS: &'static [&'static str] = &["keyId"];
            const RESPONSE: &'static [&'static str] = &[];
            const KEY: &'static Key = &DATA;
            const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt"];
            fn parse(fields: &Fields<'_>) -> Result<Self, Error> {
                Seal::parse(fields, false)
            }
            async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
                Seal::run(self, cx).await
            }
        }

        impl Operation for Check {
            const NAME: &'static str = "check";
            const FIELDS: &'static [&'static str] = &["keyId"];
            const RESPONSE: &'static [&'static str] = &[];
            const KEY: &'static Key = &DATA;
            const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt"];
            fn parse(fields: &Fields<'_>) -> Result<Self, Error> {
                Seal::parse(fields, true).map(Check)
            }
            async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
                Seal::run(self.0, cx).await
            }
        }

        pub static TABLE: &[Entry] = &[Entry::of::<Seal>("seal"), Entry::of::<Check>("check")];
    }

    fn probe_app() -> (Arc<App<MemoryBuilder>>, MemoryKms) {
        app(probe::TABLE, &[&probe::DATA], &[])
    }

    #[tokio::test]
    async fn a_bad_event_costs_no_client_build() {
        let (app, _) = probe_app();
        let e = call(&app, json!({"operation":"nope"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        let e = call(&app, json!({"operation":"seal","keyId":"nope"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(!app.client().is_built());
    }

    #[tokio::test]
    async fn calls_use_the_kinds_default_key_unless_the_event_names_another() {
        let (app, kms) = probe_app();
        call(&app, json!({"operation":"seal"})).await.unwrap();
        call(&app, json!({"operation":"seal","keyId":"alias/override"}))
            .await
            .unwrap();
        assert_eq!(
            kms.calls(),
            ["Encrypt alias/default", "Encrypt alias/override"]
        );
        assert_eq!(app.client().builds(), 1);
    }

    #[tokio::test]
    async fn no_time_left_is_a_deadline_error_without_calling_kms() {
        let (app, kms) = probe_app();
        let e = app
            .handle(event(
                json!({"operation":"seal"}),
                Duration::from_millis(100),
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::DeadlineExceeded);
        assert!(kms.calls().is_empty());
    }

    #[tokio::test]
    async fn an_http_403_is_an_access_denial_even_when_its_body_is_not_kms_json() {
        let (app, kms) = probe_app();
        // What an IAM policy evaluated in front of KMS answers (moto's enforcement does).
        kms.answer_next(
            "Encrypt",
            403,
            "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>",
        );
        let seal_fails = || async { call(&app, json!({"operation":"seal"})).await.unwrap_err() };
        let e = seal_fails().await;
        assert_eq!(e.kind(), ErrorType::KmsAccessDenied, "{e}");
        kms.answer_next("Encrypt", 418, "<teapot/>");
        let e = seal_fails().await;
        assert_eq!(e.kind(), ErrorType::KmsError, "{e}");
    }

    #[tokio::test]
    async fn an_expected_kms_error_is_an_answer_and_every_other_error_keeps_its_type() {
        let (app, kms) = probe_app();
        let disabled = r#"{"__type":"DisabledException","message":"key is disabled"}"#;
        kms.answer_next("Encrypt", 400, disabled);
        let out = call(&app, json!({"operation":"check"})).await.unwrap();
        assert_eq!(out, json!({"disabled": true}));
        assert_eq!(
            call(&app, json!({"operation":"check"})).await.unwrap(),
            json!({"disabled": false})
        );
        // Not what `check` expects: mapped as any call maps it.
        kms.answer_next("Encrypt", 400, r#"{"__type":"NotFoundException"}"#);
        let e = call(&app, json!({"operation":"check"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::KmsKeyNotFound, "{e}");
        // And for `seal`, which expects nothing, the same error is a failure.
        kms.answer_next("Encrypt", 400, disabled);
        let e = call(&app, json!({"operation":"seal"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::KmsKeyUnavailable, "{e}");
    }
}
