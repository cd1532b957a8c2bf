//! The function's error type and the one place where SDK errors are mapped to it.
//!
//! Callers (and alarms) branch on `errorType`, so the set of types is small, stable and
//! documented in the kit's README; the message is for a person and says what to do. Messages never
//! carry payload content: they name the key, the field, the KMS error code, never a value
//! from the event.

use crate::key::Key;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use lambda_runtime::Diagnostic;
use std::fmt;

/// Defines [`ErrorType`] and its list [`ErrorType::ALL`] from one list of variants, so the
/// list a test checks against the kit's README can never miss a variant.
macro_rules! error_types {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// The stable `errorType` values. Renaming one is a breaking change for every caller.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorType {
            $($(#[doc = $doc])+ $name,)+
        }

        impl ErrorType {
            /// Every type, in declaration order.
            pub const ALL: &'static [ErrorType] = &[$(ErrorType::$name,)+];

            /// The wire name, as it appears in `errorType`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorType::$name => stringify!($name),)+
                }
            }
        }
    };
}

error_types! {
    /// The event is malformed or breaks the contract.
    InvalidRequest,
    /// The payload is larger than the operation accepts.
    PayloadTooLarge,
    /// The function is misconfigured (region, credentials, key setting).
    Configuration,
    /// KMS refused access to the key (IAM or key policy).
    KmsAccessDenied,
    /// The key or alias does not exist in this account and Region.
    KmsKeyNotFound,
    /// The key exists but is disabled, pending deletion, or otherwise not usable.
    KmsKeyUnavailable,
    /// The key cannot be used for this operation (wrong key spec or usage).
    KmsInvalidKeyUsage,
    /// The ciphertext is corrupt, from another key, or the encryption context differs.
    InvalidCiphertext,
    /// KMS throttled the calls and the retry budget ran out.
    KmsThrottled,
    /// KMS could not be reached or failed internally, after retries.
    KmsUnavailable,
    /// KMS answered "success" without a field the operation needs (or with an unusable one):
    /// a broken KMS stand-in or something rewriting traffic in between. Nothing is returned as
    /// success, and the call is not retried.
    KmsInvalidResponse,
    /// KMS rejected the credentials or the request signature, after retries.
    KmsAuthFailed,
    /// KMS answered with an error this template does not classify.
    KmsError,
    /// Not enough time was left in the invocation for the KMS call to finish.
    DeadlineExceeded,
    /// A bug or a local failure inside the function (a panic, the random generator, AES, the
    /// response encoding); the invocation failed, the sandbox keeps serving.
    Internal,
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error returned to the caller as a Lambda error (`errorType` + `errorMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorType,
    message: String,
}

impl Error {
    /// An error of type `kind` with a message for a person.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// Shorthand for [`ErrorType::InvalidRequest`].
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, message)
    }

    /// The stable type callers branch on.
    pub fn kind(&self) -> ErrorType {
        self.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Self {
        Diagnostic {
            error_type: err.kind.as_str().to_string(),
            error_message: err.message,
        }
    }
}

/// Which KMS call failed and on which key, for the message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KmsCall<'a> {
    /// The API name, e.g. `Encrypt`.
    pub operation: &'static str,
    /// The key id, ARN or alias the call named.
    pub key_id: &'a str,
    /// The kind of key the calling operation needs (for the advice when KMS refuses the key).
    pub kind: &'a Key,
    /// The operation timeout the call ran with, to explain a `DeadlineExceeded`.
    pub timeout_ms: u128,
}

/// Maps any KMS SDK error to the taxonomy. This is the only place that looks at SDK errors.
pub(crate) fn from_sdk<E>(err: SdkError<E, HttpResponse>, call: KmsCall<'_>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let operation = call.operation;
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e
                .code()
                .unwrap_or(unreadable_code(service.raw().status().as_u16() == 403));
            let detail = e.message().map(one_line).unwrap_or_default();
            from_service_code(code, &detail, call)
        }
        SdkError::TimeoutError(_) => deadline_exceeded(call),
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                Error::new(
                    ErrorType::KmsUnavailable,
                    format!("KMS {operation}: timed out connecting to KMS, after retries"),
                )
            } else if failure.is_io() {
                Error::new(
                    ErrorType::KmsUnavailable,
                    format!(
                        "KMS {operation}: could not reach KMS (connection failed), after retries"
                    ),
                )
            } else {
                // Credential resolution failures surface here, before anything is sent: known by
                // the credential provider's own error type in the chain, not by its wording.
                let text = error_chain(&err);
                if caused_by::<CredentialsError>(&err) {
                    Error::new(
                        ErrorType::Configuration,
                        format!("KMS {operation}: no usable AWS credentials: {text}"),
                    )
                } else {
                    Error::new(
                        ErrorType::KmsUnavailable,
                        format!("KMS {operation}: request could not be sent: {text}"),
                    )
                }
            }
        }
        SdkError::ResponseError(_) => Error::new(
            ErrorType::KmsUnavailable,
            format!("KMS {operation}: the response could not be read, after retries"),
        ),
        SdkError::ConstructionFailure(_) => Error::new(
            ErrorType::Configuration,
            format!(
                "KMS {operation}: the request could not be built: {}",
                error_chain(&err)
            ),
        ),
        _ => Error::new(
            ErrorType::KmsError,
            format!("KMS {operation}: {}", error_chain(&err)),
        ),
    }
}

/// The code of an error whose body is not KMS's JSON (so the SDK read no code): an HTTP 403 is
/// an access denial whatever its body — an IAM policy evaluated in front of KMS (a proxy, a
/// local stand-in) answers so — and anything else is unknown.
fn unreadable_code(is_403: bool) -> &'static str {
    if is_403 {
        "AccessDenied"
    } else {
        "Unknown"
    }
}

/// The call did not finish within the time left in the invocation.
pub(crate) fn deadline_exceeded(call: KmsCall<'_>) -> Error {
    Error::new(
        ErrorType::DeadlineExceeded,
        format!(
            "KMS {} did not finish within the {} ms left in this invocation; \
             raise the function timeout or check the network path to KMS",
            call.operation, call.timeout_ms
        ),
    )
}

/// Maps a KMS (or AWS-wide) error code.
pub(crate) fn from_service_code(code: &str, detail: &str, call: KmsCall<'_>) -> Error {
    use ErrorType::*;
    let KmsCall {
        operation,
        key_id,
        kind,
        ..
    } = call;
    let (kind, advice) = match code {
        "AccessDeniedException" | "AccessDenied" => (
            KmsAccessDenied,
            format!("allow kms:{operation} on key {key_id} in the function role's policy and in the key policy"),
        ),
        "NotFoundException" => (
            KmsKeyNotFound,
            format!(
                "key {key_id} does not exist in this account and Region (check {} and AWS_REGION)",
                kind.variable
            ),
        ),
        "DisabledException" | "KMSInvalidStateException" => (
            KmsKeyUnavailable,
            format!("key {key_id} is disabled, pending deletion or pending import; enable it or use another key"),
        ),
        "InvalidKeyUsageException" | "UnsupportedOperationException" => (
            KmsInvalidKeyUsage,
            format!("key {key_id} cannot be used for {operation}: it needs {kind}"),
        ),
        "InvalidCiphertextException" | "IncorrectKeyException" => (
            InvalidCiphertext,
            format!(
                "the ciphertext is corrupt, was made under a key other than {key_id}, \
                 or the encryptionContext differs from the one used to encrypt"
            ),
        ),
        "ThrottlingException" | "LimitExceededException" | "TooManyRequestsException" => (
            KmsThrottled,
            "KMS throttled the calls and the retry budget ran out; retry later or request a higher KMS quota".to_string(),
        ),
        "KMSInternalException" | "DependencyTimeoutException" | "KeyUnavailableException" | "ServiceUnavailableException"
        | "InternalFailure" => (
            KmsUnavailable,
            "KMS failed internally or is unavailable, after retries; retry later".to_string(),
        ),
        "InvalidSignatureException" | "IncompleteSignature" | "SignatureDoesNotMatch" | "UnrecognizedClientException"
        | "InvalidClientTokenId" | "ExpiredTokenException" | "MissingAuthenticationToken" | "AuthFailure" => (
            KmsAuthFailed,
            "KMS rejected the credentials or the request signature, after retries; check the role's \
             session, the host clock, and that the request was not signed long before it was sent"
                .to_string(),
        ),
        "ValidationException" | "InvalidGrantTokenException" | "SerializationException" => (
            InvalidRequest,
            format!(
                "KMS rejected the request's parameters: check the event's fields, and that key \
                 {key_id} is what {operation} needs, {kind} (some KMS stand-ins, such as moto, \
                 refuse a key of another kind this way)"
            ),
        ),
        _ => (KmsError, "KMS returned an error this function does not classify".to_string()),
    };
    if detail.is_empty() {
        Error::new(kind, format!("KMS {operation} failed ({code}): {advice}"))
    } else {
        Error::new(
            kind,
            format!("KMS {operation} failed ({code}: {detail}): {advice}"),
        )
    }
}

/// KMS messages are short, but keep one line and a bounded length in our message.
fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let mut out: String = line.chars().take(300).collect();
    if out.len() < line.len() {
        out.push('…');
    }
    out
}

/// Whether an error of type `T` is `err` or any of its sources.
fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// `Display` of an SDK error is terse ("dispatch failure"); the sources say why.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    one_line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::test_kinds::MAC;

    fn call<'a>(operation: &'static str, key_id: &'a str) -> KmsCall<'a> {
        KmsCall {
            operation,
            key_id,
            kind: &MAC,
            timeout_ms: 1000,
        }
    }

    #[test]
    fn each_kms_code_lands_on_a_stable_type_and_names_the_key() {
        let table = [
            ("AccessDeniedException", ErrorType::KmsAccessDenied),
            ("AccessDenied", ErrorType::KmsAccessDenied),
            ("NotFoundException", ErrorType::KmsKeyNotFound),
            ("DisabledException", ErrorType::KmsKeyUnavailable),
            ("KMSInvalidStateException", ErrorType::KmsKeyUnavailable),
            ("InvalidKeyUsageException", ErrorType::KmsInvalidKeyUsage),
            ("InvalidCiphertextException", ErrorType::InvalidCiphertext),
            ("IncorrectKeyException", ErrorType::InvalidCiphertext),
            ("ThrottlingException", ErrorType::KmsThrottled),
            ("KeyUnavailableException", ErrorType::KmsUnavailable),
            ("DependencyTimeoutException", ErrorType::KmsUnavailable),
            ("KMSInternalException", ErrorType::KmsUnavailable),
            ("InvalidSignatureException", ErrorType::KmsAuthFailed),
            ("ExpiredTokenException", ErrorType::KmsAuthFailed),
            ("ValidationException", ErrorType::InvalidRequest),
            ("SomethingNew", ErrorType::KmsError),
        ];
        for (code, kind) in table {
            let e = from_service_code(code, "", call("Decrypt", "alias/orders"));
            assert_eq!(e.kind(), kind, "{code}");
            assert!(e.message().contains(code), "{code}: {}", e.message());
            assert!(
                e.message().starts_with("KMS Decrypt failed"),
                "{}",
                e.message()
            );
        }
        for code in [
            "AccessDeniedException",
            "NotFoundException",
            "DisabledException",
        ] {
            let e = from_service_code(code, "", call("Encrypt", "alias/orders"));
            assert!(e.message().contains("alias/orders"), "{}", e.message());
        }
    }

    #[test]
    fn a_key_of_the_wrong_kind_gets_advice_naming_the_kind_the_operation_needs() {
        let e = from_service_code(
            "InvalidKeyUsageException",
            "",
            call("GenerateMac", "alias/data"),
        );
        assert_eq!(e.kind(), ErrorType::KmsInvalidKeyUsage);
        assert!(
            e.message().ends_with(
                "key alias/data cannot be used for GenerateMac: it needs a key of spec HMAC_256 \
                 and usage GENERATE_VERIFY_MAC (the MAC key, KMS_MAC_KEY_ID)"
            ),
            "{}",
            e.message()
        );
        // A stand-in's ValidationException for the same mistake gets the same advice.
        let e = from_service_code("ValidationException", "", call("Sign", "alias/data"));
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(
            e.message()
                .contains("key alias/data is what Sign needs, a key of spec HMAC_256"),
            "{}",
            e.message()
        );
        let e = from_service_code("NotFoundException", "", call("VerifyMac", "alias/gone"));
        assert!(
            e.message().contains("check KMS_MAC_KEY_ID"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn the_kms_message_is_kept_on_one_bounded_line() {
        let long = format!("first line {}\nsecond line", "x".repeat(1000));
        let e = from_service_code(
            "InvalidSignatureException",
            &one_line(&long),
            call("Encrypt", "k"),
        );
        assert!(!e.message().contains('\n'));
        assert!(!e.message().contains("second line"));
        assert!(e.message().len() < 1000);
    }

    #[test]
    fn the_readme_error_table_lists_exactly_the_types_the_code_has() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Errors\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README has an \"## Errors\" section");
        let documented: std::collections::BTreeSet<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once("` |"))
            .map(|(name, _)| name)
            .filter(|name| *name != "errorType") // the header row
            .collect();
        let code = ErrorType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(documented, code, "README's Errors table vs ErrorType");
    }

    /// An SDK client as the function configures it, talking to an in-memory KMS, whose
    /// credentials come from `provider`.
    fn client_with(
        provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
    ) -> aws_sdk_kms::Client {
        let kms = crate::testing::memory::MemoryKms::default();
        let conf = crate::testing::memory::client(&kms)
            .config()
            .to_builder()
            .credentials_provider(provider)
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    #[tokio::test]
    async fn no_usable_credentials_is_configuration_by_the_providers_error_type() {
        use aws_credential_types::provider::future::ProvideCredentials as Future;
        #[derive(Debug)]
        struct Failing(&'static str);
        impl aws_credential_types::provider::ProvideCredentials for Failing {
            fn provide_credentials<'a>(&'a self) -> Future<'a>
            where
                Self: 'a,
            {
                Future::ready(Err(CredentialsError::not_loaded(self.0)))
            }
        }
        // Whatever its wording: here it never says "credentials".
        let err = client_with(Failing("the role session is gone"))
            .encrypt()
            .key_id("alias/k")
            .send()
            .await
            .unwrap_err();
        let e = from_sdk(err, call("Encrypt", "alias/k"));
        assert_eq!(e.kind(), ErrorType::Configuration, "{e}");
        assert!(e.message().contains("no usable AWS credentials"), "{e}");
        // And an error whose text says "credentials" but is no credential provider's is not.
        let other = std::io::Error::other("credentials of another kind");
        assert!(!caused_by::<CredentialsError>(&other));
    }

    #[test]
    fn a_diagnostic_carries_the_type_and_the_message() {
        let d: Diagnostic = Error::new(ErrorType::PayloadTooLarge, "too big").into();
        assert_eq!(d.error_type, "PayloadTooLarge");
        assert_eq!(d.error_message, "too big");
    }
}
