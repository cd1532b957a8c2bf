//! Building the SDK client with the skew-aware policy: [`SdkClientBuilder`], the only place
//! SDK configuration is loaded, in two steps — what INIT prepares (configuration, HTTPS
//! connector) and what the first invocation builds (the client itself, through `lazy`).

use crate::config::{Config, ConfigError};
use crate::error::{Error, ErrorType};
use crate::kms::lazy::BuildClient;
use crate::kms::metrics::WireInterceptor;
use crate::kms::skew::{ExpiredSignatureClassifier, OffsetClock};
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::BehaviorVersion;
use aws_sdk_kms::config::RuntimeComponents;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use std::sync::RwLock;
use std::time::Duration;

/// How long connecting to KMS (TCP and TLS) may take: the SDK's own default for this behaviour
/// version, stated once for the SDK configuration and the connector prepared with it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Builds the SDK client with the skew-aware policy, from configuration prepared in INIT.
///
/// Two steps, on purpose:
///
/// - [`prepare`](Self::prepare) runs in INIT (and again around a SnapStart snapshot). It loads
///   the SDK configuration — environment, profile files, the credential *chain* (not the
///   credentials, which the first call resolves) — and builds the HTTPS connector, whose trust
///   roots and TLS configuration are the costliest part of a first request. None of it signs or
///   sends anything, holds a connection or a clock reading, or draws a random number: there is
///   nothing a freeze or a snapshot could catch half-done. INIT runs with more CPU than an
///   invocation of a small function, so the work is cheaper there (kms-lambda's
///   docs/benchmarks.md).
/// - [`build`](BuildClient::build) runs on the first invocation: the client itself, the only
///   part that signs and sends.
#[derive(Debug)]
pub struct SdkClientBuilder {
    max_attempts: u32,
    clock_offset_seconds: i64,
    retry_expired_signatures: bool,
    prepared: RwLock<Option<aws_config::SdkConfig>>,
}

impl SdkClientBuilder {
    /// A builder for the settings in `config`; nothing is loaded yet.
    pub fn new(config: &Config) -> Self {
        SdkClientBuilder {
            max_attempts: config.max_attempts,
            clock_offset_seconds: config.clock_offset_seconds,
            retry_expired_signatures: config.retry_expired_signatures,
            prepared: RwLock::new(None),
        }
    }

    /// Loads the SDK configuration and builds the HTTPS connector, replacing any prepared
    /// before. No network I/O: the Region comes from the environment or the profile files, never
    /// from the instance metadata service; a missing Region is a configuration error naming
    /// `AWS_REGION`.
    pub async fn prepare(&self) -> Result<(), ConfigError> {
        let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new());
        // The retry configuration as the SDK reads it from the environment (AWS_RETRY_MODE,
        // AWS_NEW_RETRIES_2026, …); `client_config` sets the attempts from KMS_MAX_ATTEMPTS.
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .time_source(OffsetClock::new(self.clock_offset_seconds))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .http_client(PreparedHttps::build())
            .load()
            .await;
        if sdk.region().is_none_or(|r| r.as_ref().trim().is_empty()) {
            return Err(ConfigError {
                variable: "AWS_REGION",
                reason: "no AWS Region in the environment or the profile (Lambda sets AWS_REGION for you)".into(),
            });
        }
        *self.prepared.write().unwrap_or_else(|p| p.into_inner()) = Some(sdk);
        Ok(())
    }

    fn prepared(&self) -> Option<aws_config::SdkConfig> {
        self.prepared
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The client configuration, from an already loaded `SdkConfig`. A builder, so tests can
    /// check the policy or add to it without loading anything.
    ///
    /// The retry configuration is the SDK's own, as the environment sets it — standard mode by
    /// default; `AWS_RETRY_MODE=adaptive`, and `AWS_NEW_RETRIES_2026=true` (retry behaviour 2.1,
    /// to become the SDK's default) are honoured, not pinned — with the attempts of
    /// `KMS_MAX_ATTEMPTS`. The expired-signature retry draws on the same attempts.
    pub fn client_config(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_kms::config::Builder {
        // The SDK's skew interceptor and classifier are installed by default and stay on
        // (unless AWS_DISABLE_CLOCK_SKEW_CORRECTION=true, which `sdk` carries through).
        // Ours adds the expired-signature retry the SDK skips when skew is under 4 min.
        let retry = sdk
            .retry_config()
            .cloned()
            .unwrap_or_else(aws_sdk_kms::config::retry::RetryConfig::standard)
            .with_max_attempts(self.max_attempts);
        let builder = aws_sdk_kms::config::Builder::from(sdk).retry_config(retry);
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

    async fn prepare(&self) -> Result<(), ConfigError> {
        SdkClientBuilder::prepare(self).await
    }

    async fn build(&self) -> Result<aws_sdk_kms::Client, Error> {
        let sdk = match self.prepared() {
            Some(sdk) => sdk,
            None => {
                // Not prepared in INIT (a builder refreshed and failed): prepare now, on this
                // invocation.
                SdkClientBuilder::prepare(self)
                    .await
                    .map_err(|e| Error::new(ErrorType::Configuration, e.to_string()))?;
                self.prepared().expect("prepared just now")
            }
        };
        let conf = self.client_config(&sdk).build();
        tracing::debug!(retry = ?conf.retry_config(), "KMS client retry configuration");
        Ok(aws_sdk_kms::Client::from_conf(conf))
    }

    async fn refresh(&self) {
        if let Err(e) = SdkClientBuilder::prepare(self).await {
            tracing::warn!(error = %e, "could not prepare the SDK configuration again");
        }
    }
}

/// The SDK's HTTPS client, with its connector for the default settings built up front.
///
/// The SDK's own client builds a connector — trust roots parsed, TLS configured — the first
/// time a request asks for one, and once more, thrown away, when a client is validated: both
/// on the first invocation. This one builds it once, when the configuration is prepared, and
/// hands it out for every request with the default settings. A request with other settings
/// (a copy that changes the timeouts) gets a connector from the SDK's own client, built then.
#[derive(Debug)]
struct PreparedHttps {
    connector: SharedHttpConnector,
    others: SharedHttpClient,
}

impl PreparedHttps {
    fn build() -> SharedHttpClient {
        let provider = tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc);
        let connector = aws_smithy_http_client::Connector::builder()
            .connector_settings(Self::settings())
            .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
            .tls_provider(provider.clone())
            .build();
        SharedHttpClient::new(PreparedHttps {
            connector: SharedHttpConnector::new(connector),
            others: aws_smithy_http_client::Builder::new()
                .tls_provider(provider)
                .build_https(),
        })
    }

    fn settings() -> HttpConnectorSettings {
        HttpConnectorSettings::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
    }
}

impl HttpClient for PreparedHttps {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let prepared = Self::settings();
        if settings.connect_timeout() == prepared.connect_timeout()
            && settings.read_timeout() == prepared.read_timeout()
        {
            self.connector.clone()
        } else {
            self.others.http_connector(settings, components)
        }
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.others.connector_metadata()
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
            .retry_config(crate::kms::skew::retry_config(4));
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
            prepared: RwLock::new(None),
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
    fn the_sdks_retry_settings_are_honoured_with_our_attempts() {
        // What aws-config reads from AWS_NEW_RETRIES_2026=true and AWS_RETRY_MODE=adaptive.
        let loaded = aws_sdk_kms::config::retry::RetryConfig::adaptive()
            .with_max_attempts(7)
            .with_retry_spec(aws_smithy_types::retry::RetrySpec::v2_1());
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .retry_config(loaded)
            .build();
        let conf = builder().client_config(&sdk).build();
        let retry = conf.retry_config().unwrap();
        assert_eq!(retry.mode(), RetryMode::Adaptive);
        assert_eq!(
            retry.retry_spec(),
            Some(&aws_smithy_types::retry::RetrySpec::v2_1())
        );
        assert_eq!(
            retry.max_attempts(),
            4,
            "KMS_MAX_ATTEMPTS, not AWS_MAX_ATTEMPTS"
        );
    }

    #[test]
    fn the_operator_can_still_turn_skew_correction_off() {
        let conf = builder().client_config(&sdk(Some(true))).build();
        assert_eq!(conf.disable_clock_skew_correction(), Some(true));
    }
}
