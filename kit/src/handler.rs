//! The handler: one invocation from event to answer, with its EMF line.
//!
//! It owns the invocation's lifecycle, not its work: take the event the layers in front of the
//! runtime parsed (or refused: [`App::parser`], [`App::memory_budget`]), dispatch it through the
//! operations table, get the lazily built client, give the operation a deadline-bounded,
//! measured [`Kms`], end the operation by the invocation's deadline, write the EMF line
//! whatever happens, and turn a panic into one failed invocation.

use crate::config::Config;
use crate::deadline::{invocation_deadline, operation_timeout};
use crate::envelope::datakey::DataKeyCache;
use crate::error::{Error, ErrorType};
use crate::event::parse::{Inbox, Parser};
use crate::event::Event;
use crate::kms::call::Kms;
use crate::kms::lazy::{BuildClient, LazyClient};
use crate::kms::metrics::{emf_line, EmfContext, Recorder};
use crate::memory::MemoryBudget;
use crate::operation::{dispatch, Ctx, Dispatched, Entry, Request};
use crate::reply::Reply;
use crate::secrets::Secrets;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Everything that lives for the life of the sandbox: the operations table, configuration, the
/// lazy client, the data-key cache, the events its layers parsed or refused, and the cold-start
/// flag. Built in INIT without I/O.
pub(crate) struct App<B: BuildClient<Client = aws_sdk_kms::Client>> {
    operations: &'static [Entry],
    config: Config,
    kms: LazyClient<B>,
    data_keys: DataKeyCache,
    secrets: Secrets,
    inbox: Inbox,
    cold: AtomicBool,
    emit: fn(&str),
}

impl<B: BuildClient<Client = aws_sdk_kms::Client>> App<B> {
    /// The application state for the `operations` table; nothing is built yet. EMF lines go to
    /// stdout.
    pub(crate) fn new(operations: &'static [Entry], config: Config, builder: B) -> Arc<Self> {
        Self::emitting(operations, config, builder, emit)
    }

    /// [`App::new`], its EMF lines handed to `emit` (a test's output capture).
    pub(crate) fn emitting(
        operations: &'static [Entry],
        config: Config,
        builder: B,
        emit: fn(&str),
    ) -> Arc<Self> {
        Arc::new(App {
            operations,
            data_keys: DataKeyCache::new(config.data_key_cache),
            secrets: Secrets::new(&config),
            config,
            kms: LazyClient::new(builder),
            inbox: Inbox::default(),
            cold: AtomicBool::new(true),
            emit,
        })
    }

    /// The layer that parses each event once, and answers one that is not JSON with a typed
    /// `InvalidRequest` before the runtime's own parse would fail on it.
    pub(crate) fn parser(&self) -> Parser {
        Parser::new(self.inbox.clone())
    }

    /// The layer that holds concurrent invocations to the function's memory: an event larger
    /// than `MAX_EVENT_BYTES` is `PayloadTooLarge` unread, a large one waits for memory
    /// ([`MemoryBudget`]).
    pub(crate) fn memory_budget(&self) -> MemoryBudget {
        MemoryBudget::new(
            &self.config.memory,
            self.config.deadline_margin,
            self.inbox.clone(),
        )
    }

    /// The secrets (the kit's tests count what they hold).
    #[cfg(test)]
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The lazy client (the test support counts its builds).
    #[allow(dead_code)]
    pub(crate) fn client(&self) -> &LazyClient<B> {
        &self.kms
    }

    /// Handles the invocation `ctx`, whose event the parser left in the inbox.
    pub(crate) async fn handle(&self, ctx: lambda_runtime::Context) -> Result<Reply, Error> {
        let parsed = self.inbox.take(&ctx.request_id).unwrap_or_else(|| {
            Err(Error::new(
                ErrorType::Internal,
                "no event reached the handler: the parser layer is not installed",
            ))
        });
        self.handle_event(parsed, ctx).await
    }

    /// Handles one event (or the refusal of one) and writes its EMF line, whatever the outcome.
    pub(crate) async fn handle_event(
        &self,
        parsed: Result<Event, Error>,
        ctx: lambda_runtime::Context,
    ) -> Result<Reply, Error> {
        // Every KMS request of this invocation carries its trace id (the X-Ray trace header),
        // from its own context: with several invocations at once there is no one environment
        // variable for it.
        let recorder = Recorder::start(ctx.xray_trace_id.clone());
        // Exactly one invocation sees `true`, even when several run at once.
        let cold_start = self.cold.swap(false, Ordering::Relaxed);

        // An event a layer refused is answered as refused: the refusal travels beside the
        // event, under the request id Lambda gave it, so no content of any event can choose its
        // own error.
        let dispatched = match parsed {
            Err(refused) => Dispatched {
                operation: None,
                request: Err(refused),
            },
            Ok(event) => dispatch(self.operations, &event),
        };
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
        (self.emit)(&line);
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
        let margin = self.config.deadline_margin;
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
        let left = operation_timeout(deadline, SystemTime::now(), margin).ok_or_else(|| {
            Error::new(
                ErrorType::DeadlineExceeded,
                format!(
                    "less than the {} ms safety margin was left in this invocation before \
                     calling KMS; raise the function timeout",
                    margin.as_millis()
                ),
            )
        })?;
        // One instant for the whole operation: every KMS call ends by it, and so does the
        // operation, however many calls it makes and whatever else it waits for.
        let until = tokio::time::Instant::now() + left;
        let kms = Kms::new(acquired.client, until, recorder.clone(), request.key());
        let cx = Ctx::new(&kms, &self.config, &self.data_keys, &self.secrets);
        let operation = request.operation();
        tokio::time::timeout_at(until, request.run(&cx))
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorType::DeadlineExceeded,
                    format!(
                        "{operation} did not finish within the {} ms this invocation had, less \
                         the {} ms margin; raise the function timeout",
                        left.as_millis(),
                        margin.as_millis()
                    ),
                ))
            })
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

/// SnapStart: drop the client (its pooled connections and the clock skew it learned), the
/// cached data keys and the decrypted secrets, and prepare the SDK configuration and HTTPS
/// connector again, before the snapshot and again after restore: a snapshot never holds a
/// plaintext, and the first ask after restore decrypts again. With the lazy cell nothing is
/// built or sent before the snapshot, unless a copy of this template adds priming; then this
/// hook is what keeps
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
        self.secrets.forget();
        self.kms.builder().refresh().await;
        tracing::info!(
            had_client,
            "SnapStart: dropped the KMS client, cached data keys and decrypted secrets and prepared the SDK configuration again {when}"
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
    use crate::testing::memory::{app_of, MemoryApp, MemoryKms};
    use serde_json::json;
    use std::time::Duration;

    mod probe {
        //! A table of the kit's own: `{"operation": "seal", "keyId": …}` encrypts a fixed
        //! payload; `{"operation": "check", …}` answers `{"disabled": true}` when KMS says the
        //! key is disabled — an expected error, through `call_expecting`.
        use crate::event::types::{Bytes, KeyId};
        pub use crate::key::test_kinds::DATA;
        use crate::key::Key;
        use crate::operation::{Ctx, Entry, Operation};
        use crate::Error;
        use aws_sdk_kms::operation::encrypt::builders::EncryptFluentBuilder;
        use aws_sdk_kms::operation::encrypt::EncryptError;
        use aws_sdk_kms::primitives::Blob;
        use serde::{Deserialize, Serialize};

        /// KMS `Encrypt` of one byte with `key`: what `seal` and `check` send.
        fn encrypt_x(cx: &Ctx<'_>, key: &str) -> EncryptFluentBuilder {
            cx.kms
                .client()
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(b"x".to_vec()))
        }

        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct Seal {
            key_id: Option<KeyId>,
        }

        #[derive(Serialize)]
        pub struct Sealed {
            sealed: bool,
        }

        impl Operation for Seal {
            const NAME: &'static str = "seal";
            const KEY: &'static Key = &DATA;
            const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt"];
            type Answer = Sealed;
            async fn run(self, cx: &Ctx<'_>) -> Result<Sealed, Error> {
                let key = cx.key_id(self.key_id.as_deref())?;
                cx.kms.call(encrypt_x(cx, key)).await?;
                Ok(Sealed { sealed: true })
            }
        }

        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct Check {
            key_id: Option<KeyId>,
        }

        #[derive(Serialize)]
        pub struct Checked {
            disabled: bool,
        }

        impl Operation for Check {
            const NAME: &'static str = "check";
            const KEY: &'static Key = &DATA;
            const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt"];
            type Answer = Checked;
            async fn run(self, cx: &Ctx<'_>) -> Result<Checked, Error> {
                let key = cx.key_id(self.key_id.as_deref())?;
                let answer = cx
                    .kms
                    .call_expecting(encrypt_x(cx, key), EncryptError::is_disabled_exception)
                    .await?;
                Ok(Checked {
                    disabled: answer.is_err(),
                })
            }
        }

        /// `{"operation": "open", "envelope": "<base64>"}`: the envelope's data key from KMS.
        #[derive(Deserialize)]
        pub struct Open {
            envelope: Bytes,
        }

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        pub struct Opened {
            key_id: String,
        }

        impl Operation for Open {
            const NAME: &'static str = "open";
            const KEY: &'static Key = &DATA;
            const IAM_ACTIONS: &'static [&'static str] = &["kms:Decrypt"];
            type Answer = Opened;
            async fn run(self, cx: &Ctx<'_>) -> Result<Opened, Error> {
                let key = cx.key_id(None)?;
                let opened = cx
                    .open_envelope(key, &self.envelope, &Default::default())
                    .await?;
                Ok(Opened {
                    key_id: opened.key_id,
                })
            }
        }

        /// `{"operation": "orphan"}`: an operation whose kind of key no row of the key table
        /// has, so no default key was read for it.
        #[derive(Deserialize)]
        pub struct Orphan {}

        impl Operation for Orphan {
            const NAME: &'static str = "orphan";
            const KEY: &'static Key = &crate::key::test_kinds::MAC;
            const IAM_ACTIONS: &'static [&'static str] = &["kms:GenerateMac"];
            type Answer = ();
            async fn run(self, cx: &Ctx<'_>) -> Result<(), Error> {
                let key = cx.key_id(None)?;
                cx.kms
                    .call(cx.kms.client().describe_key().key_id(key))
                    .await?;
                Ok(())
            }
        }

        /// A secret, encrypted with a key of the MAC kind (the in-memory KMS cares not).
        pub static HOOK: crate::Secret = crate::Secret::new(
            "HOOK",
            "HOOK_SECRET",
            &crate::key::test_kinds::MAC,
            " A test's.",
        );

        /// `{"operation": "reveal"}`: the length of the secret `HOOK` (never the secret).
        #[derive(Deserialize)]
        pub struct Reveal {}

        #[derive(Serialize)]
        pub struct Revealed {
            bytes: usize,
        }

        impl Operation for Reveal {
            const NAME: &'static str = "reveal";
            const KEY: &'static Key = &crate::key::test_kinds::MAC;
            const IAM_ACTIONS: &'static [&'static str] = &[];
            type Answer = Revealed;
            async fn run(self, cx: &Ctx<'_>) -> Result<Revealed, Error> {
                Ok(Revealed {
                    bytes: cx.secret(&HOOK).await?.len(),
                })
            }
        }

        pub static TABLE: &[Entry] = &[
            Entry::of::<Seal>("seal"),
            Entry::of::<Check>("check"),
            Entry::of::<Open>("open"),
            Entry::of::<Orphan>("orphan"),
            Entry::of::<Reveal>("reveal"),
        ];
    }

    fn probe_app() -> (MemoryApp, MemoryKms) {
        app_of(probe::TABLE, &[&probe::DATA], &[], &[])
    }

    /// The probe with a secret, `HOOK`, encrypted with the MAC kind's key.
    fn secret_app(vars: &[(&str, &str)]) -> (MemoryApp, MemoryKms) {
        use crate::key::test_kinds::MAC;
        app_of(probe::TABLE, &[&probe::DATA, &MAC], &[&probe::HOOK], vars)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sixty_four_concurrent_first_asks_decrypt_once_and_later_asks_never() {
        let (app, kms) = secret_app(&[]);
        let app = Arc::new(app);
        let value = crate::testing::memory::secret_value(&probe::HOOK);
        let asks: Vec<_> = (0..64)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move { app.call(json!({"operation": "reveal"})).await })
            })
            .collect();
        for ask in asks {
            assert_eq!(ask.await.unwrap().unwrap()["bytes"], value.len());
        }
        assert_eq!(
            kms.calls(),
            ["Decrypt alias/mac"],
            "one Decrypt for 64 first asks"
        );
        for _ in 0..5 {
            app.call(json!({"operation": "reveal"})).await.unwrap();
        }
        assert_eq!(kms.calls().len(), 1, "a later ask costs no KMS call");
        assert_eq!(app.app().secrets().held(), 1);
    }

    #[tokio::test]
    async fn a_snapshot_never_holds_a_secret_and_the_first_ask_after_restore_decrypts_again() {
        use lambda_runtime::SnapStartResource;
        let (app, kms) = secret_app(&[]);
        app.call(json!({"operation": "reveal"})).await.unwrap();
        assert_eq!(app.app().secrets().held(), 1);
        app.app().before_snapshot().await.unwrap();
        assert_eq!(
            app.app().secrets().held(),
            0,
            "forgotten before the snapshot"
        );
        app.app().after_restore().await.unwrap();
        app.call(json!({"operation": "reveal"})).await.unwrap();
        assert_eq!(
            kms.calls(),
            ["Decrypt alias/mac", "Decrypt alias/mac"],
            "decrypted again after restore"
        );
    }

    #[tokio::test]
    async fn a_refused_decrypt_is_configuration_naming_the_variable_and_the_next_ask_tries_again() {
        let other = crate::testing::memory::secret_ciphertext("alias/mac", "another-function", "x");
        let (app, kms) = secret_app(&[("HOOK_SECRET", &other)]);
        for _ in 0..2 {
            let e = app.call(json!({"operation": "reveal"})).await.unwrap_err();
            assert_eq!(e.kind(), ErrorType::Configuration, "{e}");
            assert!(e.message().starts_with("HOOK_SECRET: "), "{e}");
        }
        assert_eq!(kms.calls().len(), 2, "a failed decrypt is not kept");
        assert_eq!(app.app().secrets().held(), 0);
        // The key disabled for a moment (not retried), then enabled again: the first ask fails
        // with KMS's own error, named by the variable; the next decrypts.
        let (app, kms) = secret_app(&[]);
        kms.answer_next(
            "Decrypt",
            400,
            r#"{"__type":"DisabledException","message":"key is disabled"}"#,
        );
        let e = app.call(json!({"operation": "reveal"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::KmsKeyUnavailable, "{e}");
        assert!(e.message().starts_with("HOOK_SECRET: decrypting"), "{e}");
        app.call(json!({"operation": "reveal"})).await.unwrap();
        assert_eq!(kms.calls().len(), 2, "the next ask decrypted again");
    }

    #[tokio::test]
    async fn a_kind_of_key_without_a_default_is_a_configuration_error_and_nothing_is_sent() {
        let (app, kms) = probe_app();
        let e = app.call(json!({"operation": "orphan"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::Configuration, "{e}");
        assert!(
            e.message().contains("no default MAC key") && e.message().contains("KMS_MAC_KEY_ID"),
            "{e}"
        );
        assert!(kms.calls().is_empty(), "nothing sent: {:?}", kms.calls());
    }

    /// An envelope whose data keys are, in order, `keys`, sealed with `data_key`.
    fn envelope(data_key: &[u8], keys: &[Vec<u8>]) -> String {
        use crate::envelope::{seal_with_keys, DataKey, EncryptedDataKey, KMS_PROVIDER_ID};
        let arn = crate::testing::memory::arn("alias/default");
        let keys: Vec<EncryptedDataKey<'_>> = keys
            .iter()
            .map(|k| EncryptedDataKey {
                provider_id: KMS_PROVIDER_ID,
                provider_info: arn.as_bytes(),
                ciphertext: k,
            })
            .collect();
        let sealed = seal_with_keys(
            &DataKey::new(data_key.to_vec()),
            &keys,
            &Default::default(),
            b"several data keys",
            64,
            None,
        )
        .unwrap();
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sealed)
    }

    #[tokio::test]
    async fn of_several_data_keys_one_kms_cannot_open_leads_to_the_next_any_other_failure_is_the_answer(
    ) {
        let (app, kms) = probe_app();
        let data_key = [7u8; 32];
        let good =
            crate::testing::memory::encrypted_data_key("alias/default", &json!({}), &data_key);
        let garbage = vec![9u8; 40];
        // A data key KMS cannot open (another key's, altered): the next one is tried.
        let both = envelope(&data_key, &[garbage.clone(), good.clone()]);
        let out = app
            .call(json!({"operation": "open", "envelope": both}))
            .await
            .unwrap();
        assert_eq!(out["keyId"], crate::testing::memory::arn("alias/default"));
        assert_eq!(kms.calls().len(), 2);
        // Access denied on the right data key is the answer, not the next one's refusal.
        let right_first = envelope(&data_key, &[good, garbage]);
        let denied = r#"{"__type":"AccessDeniedException","message":"not allowed"}"#;
        kms.answer_next("Decrypt", 400, denied);
        let e = app
            .call(json!({"operation": "open", "envelope": right_first}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::KmsAccessDenied, "{e}");
        assert!(
            e.message()
                .starts_with("data key 1 of 2: KMS Decrypt failed"),
            "{e}"
        );
        assert_eq!(kms.calls().len(), 3, "the second data key was not tried");
    }

    #[tokio::test]
    async fn a_signed_envelope_whose_signature_does_not_verify_costs_no_kms_call() {
        use crate::envelope::sign::{Signer, PUBLIC_KEY};
        use crate::envelope::{seal_with_keys, DataKey, EncryptedDataKey, KMS_PROVIDER_ID};
        let (app, kms) = probe_app();
        let data_key = [7u8; 32];
        let signer = Signer::generate().unwrap();
        let context = std::collections::HashMap::from([(
            PUBLIC_KEY.to_string(),
            signer.public_key().to_string(),
        )]);
        let arn = crate::testing::memory::arn("alias/default");
        let edk = crate::testing::memory::encrypted_data_key(
            "alias/default",
            &serde_json::to_value(&context).unwrap(),
            &data_key,
        );
        let keys = [EncryptedDataKey {
            provider_id: KMS_PROVIDER_ID,
            provider_info: arn.as_bytes(),
            ciphertext: &edk,
        }];
        let mut sealed = seal_with_keys(
            &DataKey::new(data_key.to_vec()),
            &keys,
            &context,
            b"signed",
            64,
            Some(&signer),
        )
        .unwrap();
        let b64 = |m: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, m);
        let out = app
            .call(json!({"operation": "open", "envelope": b64(&sealed)}))
            .await
            .unwrap();
        assert_eq!(out["keyId"], arn);
        assert_eq!(kms.calls().len(), 1, "the intact message: one Decrypt");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        let e = app
            .call(json!({"operation": "open", "envelope": b64(&sealed)}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "{e}");
        assert!(e.message().contains("signature"), "{e}");
        assert_eq!(
            kms.calls().len(),
            1,
            "a flipped signature byte spent no Decrypt"
        );
    }

    #[tokio::test]
    async fn a_bad_event_costs_no_client_build() {
        let (app, _) = probe_app();
        let e = app.call(json!({"operation":"nope"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        let e = app
            .call(json!({"operation":"seal","keyId":"nope"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(!app.is_built());
    }

    #[tokio::test]
    async fn calls_use_the_kinds_default_key_unless_the_event_names_another() {
        let (app, kms) = probe_app();
        app.call(json!({"operation":"seal"})).await.unwrap();
        app.call(json!({"operation":"seal","keyId":"alias/override"}))
            .await
            .unwrap();
        assert_eq!(
            kms.calls(),
            ["Encrypt alias/default", "Encrypt alias/override"]
        );
        assert_eq!(app.builds(), 1);
    }

    #[tokio::test]
    async fn no_time_left_is_a_deadline_error_without_calling_kms() {
        let (app, kms) = probe_app();
        let e = app
            .call_within(json!({"operation":"seal"}), Duration::from_millis(100))
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
        let seal_fails = || async { app.call(json!({"operation":"seal"})).await.unwrap_err() };
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
        let out = app.call(json!({"operation":"check"})).await.unwrap();
        assert_eq!(out, json!({"disabled": true}));
        assert_eq!(
            app.call(json!({"operation":"check"})).await.unwrap(),
            json!({"disabled": false})
        );
        // Not what `check` expects: mapped as any call maps it.
        kms.answer_next("Encrypt", 400, r#"{"__type":"NotFoundException"}"#);
        let e = app.call(json!({"operation":"check"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::KmsKeyNotFound, "{e}");
        // And for `seal`, which expects nothing, the same error is a failure.
        kms.answer_next("Encrypt", 400, disabled);
        let e = app.call(json!({"operation":"seal"})).await.unwrap_err();
        assert_eq!(e.kind(), ErrorType::KmsKeyUnavailable, "{e}");
    }
}
