//! One invocation's handle on KMS: [`Kms`], through which an operation sends every call.
//!
//! Operations build requests with the SDK's own fluent builders (`cx.kms.client().encrypt()…`)
//! and send them through [`Kms::call`], which bounds the call by the invocation's deadline,
//! feeds its wire measurements to the invocation's recorder and maps any failure to the
//! `errorType` taxonomy — so an operation added by a copy of this template needs no change here.
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

    /// Sends one KMS call: `request` is the SDK's `send()` future for API `operation` on key
    /// `key_id` (both named in error messages).
    ///
    /// The whole call — every attempt and backoff — ends by the invocation's deadline less the
    /// margin, a plain Tokio deadline (rather than a per-call SDK operation-timeout override,
    /// which rebuilds the SDK's runtime plugins on every call); when it passes the request is
    /// dropped and the answer is `DeadlineExceeded`. The instant is the invocation's, not a
    /// duration each call starts afresh: however many calls an operation makes one after
    /// another, the last one still ends in time. The client-level interceptor finds this
    /// invocation's recorder in a task-local set here, so concurrent invocations never mix
    /// their measurements.
    pub async fn call<T, E>(
        &self,
        operation: &'static str,
        key_id: &str,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, Error>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let call = self.describe(operation, key_id);
        self.send(call, request)
            .await?
            .map_err(|e| error::from_sdk(e, call))
    }

    /// [`call`](Self::call), for an operation to which one KMS error is an answer rather than a
    /// failure: `Ok(Err(e))` when KMS answered with an error `expected` accepts — e.g. the SDK's
    /// own `VerifyMacError::is_kms_invalid_mac_exception`, for `{"macValid": false}`. Every other
    /// error is what `call` makes of it, so retries, the deadline, the metrics and the
    /// `errorType` mapping stay as they are. (KMS answers such errors at once: none is retried,
    /// and the invocation's EMF line reports no error.)
    pub async fn call_expecting<T, E>(
        &self,
        operation: &'static str,
        key_id: &str,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        expected: impl FnOnce(&E) -> bool,
    ) -> Result<Result<T, E>, Error>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let call = self.describe(operation, key_id);
        match self.send(call, request).await? {
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
