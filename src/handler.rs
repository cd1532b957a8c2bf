//! The handler: one invocation from event to answer, with its EMF line.

use crate::config::Config;
use crate::error::{Error, ErrorType};
use crate::event::{self, DecryptResponse, EncryptResponse, Request};
use crate::kms::{CallOptions, Kms};
use crate::lazy::{BuildClient, LazyClient};
use crate::metrics::{emf_line, EmfContext, Recorder};
use crate::skew::{invocation_deadline, operation_timeout};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Everything that lives for the life of the sandbox: configuration, the lazy client and
/// the cold-start flag. Built in INIT without I/O.
pub struct App<B: BuildClient> {
    config: Config,
    kms: LazyClient<B>,
    cold: AtomicBool,
}

impl<B> App<B>
where
    B: BuildClient,
    B::Client: Kms,
{
    /// The application state; nothing is built yet.
    pub fn new(config: Config, builder: B) -> Arc<Self> {
        Arc::new(App {
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
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        let recorder = Recorder::start();
        // Exactly one invocation sees `true`, even when several run at once.
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let (payload, ctx) = (event.payload, event.context);

        let request = event::parse(&payload);
        drop(payload);
        let operation = request.as_ref().ok().map(Request::operation);
        let result = match request {
            Ok(request) => {
                let deadline = invocation_deadline(ctx.deadline, SystemTime::now());
                self.execute(request, deadline, &recorder).await
            }
            Err(e) => Err(e),
        };

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
        let kms = &acquired.client;
        let response = match request {
            Request::Encrypt {
                plaintext,
                context,
                key_id,
            } => {
                let key = key_id.as_deref().unwrap_or(&self.config.key_id);
                let out = kms.encrypt(key, plaintext, context, &opts).await?;
                serde_json::to_value(EncryptResponse {
                    ciphertext: STANDARD.encode(&out.data),
                    key_id: out.key_id,
                })
            }
            Request::Decrypt {
                ciphertext,
                context,
                key_id,
            } => {
                let key = key_id.as_deref().unwrap_or(&self.config.key_id);
                let out = kms.decrypt(key, ciphertext, context, &opts).await?;
                serde_json::to_value(DecryptResponse {
                    plaintext: STANDARD.encode(&out.data),
                    key_id: out.key_id,
                })
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
        let config =
            Config::from_lookup(|k| (k == "KMS_KEY_ID").then(|| "alias/default".to_string()))
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
}
