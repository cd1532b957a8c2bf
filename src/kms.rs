//! The KMS seam: a two-method trait the handler calls, its implementation on the SDK client,
//! and how that client is built (the only place SDK configuration is loaded).
//!
//! The trait keeps the handler testable without a server (as in aws-lambda-rust-runtime's
//! `basic-sdk` example); the integration tests exercise the real implementation against a
//! real KMS-compatible server.

use crate::config::Config;
use crate::datakey::Generated;
use crate::envelope::DataKey;
use crate::error::{self, Error, ErrorType, KmsCall};
use crate::lazy::BuildClient;
use crate::metrics::{self, Recorder, WireInterceptor};
use crate::skew::{self, ExpiredSignatureClassifier, OffsetClock};
use aws_config::BehaviorVersion;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Per-call settings that come from the invocation, not from the client.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Operation timeout: time left in the invocation minus the margin.
    pub timeout: Duration,
    /// Where this invocation's wire measurements go.
    pub recorder: Arc<Recorder>,
}

/// The result of a KMS call: the output bytes and the ARN of the key that was used.
#[derive(Debug)]
pub struct KmsOutput {
    /// Ciphertext (for encrypt) or plaintext (for decrypt).
    pub data: Vec<u8>,
    /// The key ARN KMS reports.
    pub key_id: String,
}

/// The KMS operations the handler needs.
pub trait Kms: Send + Sync + 'static {
    /// KMS `Encrypt`.
    fn encrypt(
        &self,
        key_id: &str,
        plaintext: Vec<u8>,
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<KmsOutput, Error>> + Send;

    /// KMS `Decrypt`, pinned to `key_id` so a ciphertext from another key is refused.
    fn decrypt(
        &self,
        key_id: &str,
        ciphertext: Vec<u8>,
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<KmsOutput, Error>> + Send;

    /// KMS `GenerateDataKey` for an AES-256 key, bound to `context`.
    fn generate_data_key(
        &self,
        key_id: &str,
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<Generated, Error>> + Send;
}

/// Runs one KMS call bounded by the invocation's deadline, with its wire measurements going to
/// the invocation's recorder. A plain Tokio timeout rather than a per-call SDK operation-timeout
/// override: same bound (it covers every attempt and backoff, and drops the request when it
/// fires), without rebuilding the SDK's runtime plugins on every call.
async fn bounded<T, E, R>(
    opts: &CallOptions,
    call: KmsCall<'_>,
    fut: impl Future<Output = Result<T, aws_sdk_kms::error::SdkError<E, R>>>,
) -> Result<T, Error>
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match tokio::time::timeout(opts.timeout, metrics::record(opts.recorder.clone(), fut)).await {
        Ok(result) => result.map_err(|e| error::from_sdk(e, call)),
        Err(_) => Err(error::deadline_exceeded(call)),
    }
}

impl Kms for aws_sdk_kms::Client {
    async fn encrypt(
        &self,
        key_id: &str,
        plaintext: Vec<u8>,
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> Result<KmsOutput, Error> {
        let call = KmsCall {
            operation: "Encrypt",
            key_id,
            timeout_ms: opts.timeout.as_millis(),
        };
        let request = self
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context((!context.is_empty()).then_some(context))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
            .send();
        let out = bounded(opts, call, request).await?;
        Ok(KmsOutput {
            data: out
                .ciphertext_blob
                .map(Blob::into_inner)
                .unwrap_or_default(),
            key_id: out.key_id.unwrap_or_default(),
        })
    }

    async fn decrypt(
        &self,
        key_id: &str,
        ciphertext: Vec<u8>,
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> Result<KmsOutput, Error> {
        let call = KmsCall {
            operation: "Decrypt",
            key_id,
            timeout_ms: opts.timeout.as_millis(),
        };
        let request = self
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context((!context.is_empty()).then_some(context))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
            .send();
        let out = bounded(opts, call, request).await?;
        Ok(KmsOutput {
            data: out.plaintext.map(Blob::into_inner).unwrap_or_default(),
            key_id: out.key_id.unwrap_or_default(),
        })
    }

    async fn generate_data_key(
        &self,
        key_id: &str,
        context: HashMap<String, String>,
        opts: &CallOptions,
    ) -> Result<Generated, Error> {
        let call = KmsCall {
            operation: "GenerateDataKey",
            key_id,
            timeout_ms: opts.timeout.as_millis(),
        };
        let request = self
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context((!context.is_empty()).then_some(context))
            .send();
        let out = bounded(opts, call, request).await?;
        // Move the plaintext key straight into its wiped-on-drop wrapper (no copy).
        let key = DataKey::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        Ok(Generated {
            key,
            encrypted: out
                .ciphertext_blob
                .map(Blob::into_inner)
                .unwrap_or_default(),
            key_id: out.key_id.unwrap_or_default(),
        })
    }
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
    fn the_operator_can_still_turn_skew_correction_off() {
        let conf = builder().client_config(&sdk(Some(true))).build();
        assert_eq!(conf.disable_clock_skew_correction(), Some(true));
    }
}
