//! KMS as the operations see it: [`Kms`], one invocation's handle on the shared SDK client
//! through which every call is sent, and [`SdkClientBuilder`], the only place SDK
//! configuration is loaded.
//!
//! Operations build their requests with the SDK's own fluent builders (`kms.client().encrypt()…`)
//! and send them through [`Kms::call`], which bounds the call by the invocation's deadline,
//! feeds its wire measurements to the invocation's recorder and maps any failure to the
//! `errorType` taxonomy. An operation added by a copy of this template therefore needs no change
//! here. What KMS returns is checked with [`required`] and [`non_empty`]: a field KMS must return is never turned
//! into an empty success.
//!
//! The seam for unit tests is the SDK's own HTTP client trait: the handler's unit tests run the
//! real SDK client against an in-memory KMS (`testing::MemoryKms`), and the integration tests
//! against a real KMS-compatible server.

use crate::config::Config;
use crate::error::{self, Error, ErrorType, KmsCall};
use crate::lazy::BuildClient;
use crate::metrics::{self, Recorder, WireInterceptor};
use crate::skew::{self, ExpiredSignatureClassifier, OffsetClock};
use aws_config::BehaviorVersion;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One invocation's access to KMS: the shared client, this invocation's time budget and recorder.
#[derive(Debug, Clone)]
pub struct Kms {
    client: Arc<aws_sdk_kms::Client>,
    timeout: Duration,
    recorder: Arc<Recorder>,
}

impl Kms {
    /// A handle on `client` whose calls must finish within `timeout` (time left in the
    /// invocation minus the margin) and report to `recorder`.
    pub fn new(
        client: Arc<aws_sdk_kms::Client>,
        timeout: Duration,
        recorder: Arc<Recorder>,
    ) -> Self {
        Kms {
            client,
            timeout,
            recorder,
        }
    }

    /// The SDK client, to build a request with.
    pub fn client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }

    /// Sends one KMS call: `request` is the SDK's `send()` future for API `operation` on key
    /// `key_id` (both named in error messages).
    ///
    /// The whole call — every attempt and backoff — is bounded by the invocation's deadline
    /// with a plain Tokio timeout (rather than a per-call SDK operation-timeout override, which
    /// rebuilds the SDK's runtime plugins on every call); when it fires the request is dropped
    /// and the answer is `DeadlineExceeded`. The client-level interceptor finds this
    /// invocation's recorder in a task-local set here, so concurrent invocations never mix
    /// their measurements.
    pub async fn call<T, E, R>(
        &self,
        operation: &'static str,
        key_id: &str,
        request: impl Future<Output = Result<T, aws_sdk_kms::error::SdkError<E, R>>>,
    ) -> Result<T, Error>
    where
        E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let call = KmsCall {
            operation,
            key_id,
            timeout_ms: self.timeout.as_millis(),
        };
        match tokio::time::timeout(
            self.timeout,
            metrics::record(self.recorder.clone(), request),
        )
        .await
        {
            Ok(result) => result.map_err(|e| error::from_sdk(e, call)),
            Err(_) => Err(error::deadline_exceeded(call)),
        }
    }
}

/// A field KMS must return: present, or `KmsInvalidResponse` naming the operation and the field.
pub fn required<T>(value: Option<T>, operation: &str, field: &str) -> Result<T, Error> {
    value.ok_or_else(|| missing(operation, field))
}

/// A field KMS must return with content (a ciphertext, a plaintext, a key id): present and not
/// empty. An `Encrypt` answered `200 {}` must not become `{"ciphertext": ""}`: the caller would
/// store nothing and lose the data.
pub fn non_empty<T: AsRef<[u8]>>(
    value: Option<T>,
    operation: &str,
    field: &str,
) -> Result<T, Error> {
    value
        .filter(|v| !v.as_ref().is_empty())
        .ok_or_else(|| missing(operation, field))
}

fn missing(operation: &str, field: &str) -> Error {
    Error::new(
        ErrorType::KmsInvalidResponse,
        format!(
            "KMS {operation} answered without {field}: the response is unusable and nothing \
             was returned as success; check what answers at the KMS endpoint"
        ),
    )
}

/// Builds the SDK client with the skew-aware policy. Runs on the first invocation only.
#[derive(Debug, Clone)]
pub struct SdkClientBuilder {
    max_attempts: u32,
    clock_offset_seconds: i64,
    retry_expired_signatures: bool,
}

impl SdkClientBuilder {
    /// A builder for the settings in `config`.
    pub fn new(config: &Config) -> Self {
        SdkClientBuilder {
            max_attempts: config.max_attempts,
            clock_offset_seconds: config.clock_offset_seconds,
            retry_expired_signatures: config.retry_expired_signatures,
        }
    }

    /// The client configuration, from an already loaded `SdkConfig`. A builder, so tests can
    /// check the policy or add to it without loading anything.
    pub fn client_config(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_kms::config::Builder {
        // The SDK's skew interceptor and classifier are installed by default and stay on
        // (unless AWS_DISABLE_CLOCK_SKEW_CORRECTION=true, which `sdk` carries through).
        // Ours adds the expired-signature retry the SDK skips when skew is under 4 min.
        let builder = aws_sdk_kms::config::Builder::from(sdk);
        if self.retry_expired_signatures {
            builder.retry_classifier(ExpiredSignatureClassifier)
        } else {
            builder
        }
        .interceptor(WireInterceptor)
    }
}

impl BuildClient for SdkClientBuilder {
    type Client = aws_sdk_kms::Client;

    async fn build(&self) -> Result<aws_sdk_kms::Client, Error> {
        // Reads only the environment and profile files; credentials are resolved lazily by
        // the first call, on the same invocation.
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .time_source(OffsetClock::new(self.clock_offset_seconds))
            .retry_config(skew::retry_config(self.max_attempts))
            .load()
            .await;
        if sdk.region().is_none() {
            return Err(Error::new(
                ErrorType::Configuration,
                "no AWS Region: set AWS_REGION (Lambda sets it for you)",
            ));
        }
        Ok(aws_sdk_kms::Client::from_conf(
            self.client_config(&sdk).build(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kms::config::retry::{ClassifyRetry, RetryMode};
    use aws_sdk_kms::config::{Credentials, Region};

    fn sdk(disable_skew: Option<bool>) -> aws_config::SdkConfig {
        let mut b = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                Credentials::for_tests(),
            ))
            .retry_config(skew::retry_config(4));
        if let Some(d) = disable_skew {
            b = b.disable_clock_skew_correction(d);
        }
        b.build()
    }

    fn builder() -> SdkClientBuilder {
        SdkClientBuilder {
            max_attempts: 4,
            clock_offset_seconds: 0,
            retry_expired_signatures: true,
        }
    }

    #[test]
    fn the_sdk_skew_correction_stays_enabled_and_our_classifier_is_added() {
        let conf = builder().client_config(&sdk(None)).build();
        assert_ne!(conf.disable_clock_skew_correction(), Some(true));
        let names: Vec<&str> = conf.retry_classifiers().map(|c| c.name()).collect();
        assert!(names.contains(&"ExpiredSignature"), "{names:?}");
        let retry = conf.retry_config().unwrap();
        assert_eq!(retry.mode(), RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 4);
    }

    #[test]
    fn a_missing_or_empty_field_is_an_invalid_response_naming_it() {
        let e = non_empty(Some(Vec::<u8>::new()), "Encrypt", "CiphertextBlob").unwrap_err();
        assert_eq!(e.kind(), ErrorType::KmsInvalidResponse);
        assert!(
            e.message()
                .starts_with("KMS Encrypt answered without CiphertextBlob"),
            "{e}"
        );
        assert!(non_empty(None::<String>, "Decrypt", "KeyId").is_err());
        assert_eq!(
            non_empty(Some("k".to_string()), "Decrypt", "KeyId").unwrap(),
            "k"
        );
        assert_eq!(
            required(None::<u8>, "DescribeKey", "KeyMetadata")
                .unwrap_err()
                .kind(),
            ErrorType::KmsInvalidResponse
        );
        assert_eq!(
            required(Some(0u8), "DescribeKey", "KeyMetadata").unwrap(),
            0
        );
    }

    #[test]
    fn the_operator_can_still_turn_skew_correction_off() {
        let conf = builder().client_config(&sdk(Some(true))).build();
        assert_eq!(conf.disable_clock_skew_correction(), Some(true));
    }
}
