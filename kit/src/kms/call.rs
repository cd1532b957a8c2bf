//! One invocation's handle on KMS: [`Kms`], through which an operation sends every call.
//!
//! Operations build requests with the SDK's own fluent builders (`cx.kms.client().encrypt()…`)
//! and hand the request to [`Kms::call`] — the request alone: its API's name and the key it
//! names come from it ([`KmsRequest`]). `call` bounds the call by the invocation's deadline,
//! feeds its wire measurements to the invocation's recorder and maps any failure to the
//! `errorType` taxonomy, so an operation added by a copy of this template needs no change here.
//! [`Kms::call_expecting`] is the same for an operation to which one KMS error is an answer
//! (a MAC or a signature that does not verify), not a failure. What KMS returns is checked with
//! [`required`] and [`non_empty`]: a field KMS must return is never turned into an empty success.
//!
//! The client itself is built once per sandbox (`client`, `lazy`); this handle lives for one
//! invocation.

use crate::error::{self, Error, ErrorType, KmsCall};
use crate::key::Key;
use crate::kms::metrics::{self, Recorder};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::future::Future;
use std::sync::Arc;
use tokio::time::Instant;

mod sealed {
    pub trait Sealed {}
}

/// A KMS request as the SDK's fluent builder holds it, ready to send: what [`Kms::call`]
/// takes. It knows its API's name (for the message of any failure) and the key it names, so a
/// call states neither twice.
///
/// Implemented for the builder of every KMS data-plane API an operation may call — `Encrypt`,
/// `Decrypt`, `ReEncrypt` (named by its destination key), `GenerateDataKey` and its variants,
/// `GenerateRandom`, `GenerateMac`, `VerifyMac`, `Sign`, `Verify`, `GetPublicKey`,
/// `DescribeKey`, `DeriveSharedSecret` — and sealed: the kit keeps the list.
pub trait KmsRequest: sealed::Sealed + Send {
    /// What KMS answers.
    type Output: Send;
    /// The API's error.
    type Error: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static;
    /// The API's name, e.g. `Encrypt`.
    #[doc(hidden)]
    const API: &'static str;
    /// The key the request names.
    #[doc(hidden)]
    fn key_id(&self) -> Option<&str>;
    /// Sends it.
    #[doc(hidden)]
    fn send(
        self,
    ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error, HttpResponse>>> + Send;
}

macro_rules! kms_requests {
    ($($api:literal: $module:ident::$builder:ident -> $output:ident, $error:ident, $key:ident;)+) => {
        $(
            impl sealed::Sealed for aws_sdk_kms::operation::$module::builders::$builder {}

            impl KmsRequest for aws_sdk_kms::operation::$module::builders::$builder {
                type Output = aws_sdk_kms::operation::$module::$output;
                type Error = aws_sdk_kms::operation::$module::$error;
                const API: &'static str = $api;
                fn key_id(&self) -> Option<&str> {
                    kms_requests!(@key self $key)
                }
                fn send(
                    self,
                ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error, HttpResponse>>> + Send {
                    aws_sdk_kms::operation::$module::builders::$builder::send(self)
                }
            }
        )+
    };
    (@key $self:ident none) => { None };
    (@key $self:ident $getter:ident) => { $self.$getter().as_deref() };
}

kms_requests! {
    "Encrypt": encrypt::EncryptFluentBuilder -> EncryptOutput, EncryptError, get_key_id;
    "Decrypt": decrypt::DecryptFluentBuilder -> DecryptOutput, DecryptError, get_key_id;
    "ReEncrypt": re_encrypt::ReEncryptFluentBuilder -> ReEncryptOutput, ReEncryptError, get_destination_key_id;
    "GenerateDataKey": generate_data_key::GenerateDataKeyFluentBuilder -> GenerateDataKeyOutput, GenerateDataKeyError, get_key_id;
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext::GenerateDataKeyWithoutPlaintextFluentBuilder -> GenerateDataKeyWithoutPlaintextOutput, GenerateDataKeyWithoutPlaintextError, get_key_id;
    "GenerateDataKeyPair": generate_data_key_pair::GenerateDataKeyPairFluentBuilder -> GenerateDataKeyPairOutput, GenerateDataKeyPairError, get_key_id;
    "GenerateDataKeyPairWithoutPlaintext": generate_data_key_pair_without_plaintext::GenerateDataKeyPairWithoutPlaintextFluentBuilder -> GenerateDataKeyPairWithoutPlaintextOutput, GenerateDataKeyPairWithoutPlaintextError, get_key_id;
    "GenerateRandom": generate_random::GenerateRandomFluentBuilder -> GenerateRandomOutput, GenerateRandomError, none;
    "GenerateMac": generate_mac::GenerateMacFluentBuilder -> GenerateMacOutput, GenerateMacError, get_key_id;
    "VerifyMac": verify_mac::VerifyMacFluentBuilder -> VerifyMacOutput, VerifyMacError, get_key_id;
    "Sign": sign::SignFluentBuilder -> SignOutput, SignError, get_key_id;
    "Verify": verify::VerifyFluentBuilder -> VerifyOutput, VerifyError, get_key_id;
    "GetPublicKey": get_public_key::GetPublicKeyFluentBuilder -> GetPublicKeyOutput, GetPublicKeyError, get_key_id;
    "DescribeKey": describe_key::DescribeKeyFluentBuilder -> DescribeKeyOutput, DescribeKeyError, get_key_id;
    "DeriveSharedSecret": derive_shared_secret::DeriveSharedSecretFluentBuilder -> DeriveSharedSecretOutput, DeriveSharedSecretError, get_key_id;
}

/// One invocation's access to KMS: the shared client, this invocation's deadline and recorder,
/// and the kind of key its operation uses.
#[derive(Debug, Clone)]
pub struct Kms {
    client: Arc<aws_sdk_kms::Client>,
    until: Instant,
    recorder: Arc<Recorder>,
    kind: &'static Key,
}

impl Kms {
    /// A handle on `client` whose calls must all finish by `until` (the invocation's deadline
    /// less the margin), report to `recorder`, and are made for an operation that uses keys of
    /// `kind`.
    pub(crate) fn new(
        client: Arc<aws_sdk_kms::Client>,
        until: Instant,
        recorder: Arc<Recorder>,
        kind: &'static Key,
    ) -> Self {
        Kms {
            client,
            until,
            recorder,
            kind,
        }
    }

    /// When every call must have finished: the invocation's deadline less the margin
    /// (`KMS_DEADLINE_MARGIN_MS`), the same instant for every call of the invocation.
    pub fn deadline(&self) -> Instant {
        self.until
    }

    /// The SDK client, to build a request with.
    pub fn client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }

    /// The kind of key the operation uses.
    pub fn kind(&self) -> &'static Key {
        self.kind
    }

    /// The same handle, for calls with a key of `kind` (a secret's): its advice names that kind.
    pub(crate) fn for_kind(&self, kind: &'static Key) -> Kms {
        Kms {
            kind,
            ..self.clone()
        }
    }

    /// The invocation's recorder.
    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Sends one KMS call: `request` is the SDK's fluent builder, ready to send
    /// (`cx.kms.client().encrypt().key_id(key).plaintext(…)`); its API and key are named in any
    /// error.
    ///
    /// The whole call — every attempt and backoff — ends by the invocation's deadline less the
    /// margin, a plain Tokio deadline (rather than a per-call SDK operation-timeout override,
    /// which rebuilds the SDK's runtime plugins on every call); when it passes the request is
    /// dropped and the answer is `DeadlineExceeded`. The instant is the invocation's, not a
    /// duration each call starts afresh: however many calls an operation makes one after
    /// another, the last one still ends in time. The client-level interceptor finds this
    /// invocation's recorder in a task-local set here, so concurrent invocations never mix
    /// their measurements.
    pub async fn call<R: KmsRequest>(&self, request: R) -> Result<R::Output, Error> {
        let key_id = request.key_id().unwrap_or_default().to_owned();
        let call = self.describe(R::API, &key_id);
        self.send(call, request.send())
            .await?
            .map_err(|e| error::from_sdk(e, call))
    }

    /// [`call`](Self::call), for an operation to which one KMS error is an answer rather than a
    /// failure: `Ok(Err(e))` when KMS answered with an error `expected` accepts — e.g. the SDK's
    /// own `VerifyMacError::is_kms_invalid_mac_exception`, for `{"macValid": false}`. Every other
    /// error is what `call` makes of it, so retries, the deadline, the metrics and the
    /// `errorType` mapping stay as they are. (KMS answers such errors at once: none is retried,
    /// and the invocation's EMF line reports no error.)
    pub async fn call_expecting<R: KmsRequest>(
        &self,
        request: R,
        expected: impl FnOnce(&R::Error) -> bool,
    ) -> Result<Result<R::Output, R::Error>, Error> {
        let key_id = request.key_id().unwrap_or_default().to_owned();
        let call = self.describe(R::API, &key_id);
        match self.send(call, request.send()).await? {
            Ok(out) => Ok(Ok(out)),
            Err(SdkError::ServiceError(e)) if expected(e.err()) => Ok(Err(e.into_err())),
            Err(e) => Err(error::from_sdk(e, call)),
        }
    }

    fn describe<'k>(&self, operation: &'static str, key_id: &'k str) -> KmsCall<'k> {
        KmsCall {
            operation,
            key_id,
            kind: self.kind,
            timeout_ms: self
                .until
                .saturating_duration_since(Instant::now())
                .as_millis(),
        }
    }

    /// The call by the deadline, measured; `DeadlineExceeded` if it does not finish.
    async fn send<T, E>(
        &self,
        call: KmsCall<'_>,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<Result<T, SdkError<E, HttpResponse>>, Error> {
        tokio::time::timeout_at(self.until, metrics::record(self.recorder.clone(), request))
            .await
            .map_err(|_| error::deadline_exceeded(call))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
