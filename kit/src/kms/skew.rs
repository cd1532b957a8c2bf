//! The clock-skew-aware retry policy: the pieces that keep a signature valid when it reaches KMS.
//!
//! A SigV4 signature is accepted for 5 minutes either side of KMS's clock. Three things push a
//! request outside that window, and each has its own defence here:
//!
//! 1. **The host clock is wrong** (or configured with an offset). The SDK's own
//!    `ServiceClockSkewInterceptor` measures the skew from each response's `Date` header and
//!    signs later attempts (and later calls on the same client) at `now + skew`; its classifier
//!    retries a signature error when the measured skew exceeds 4 minutes. We keep it enabled
//!    and never replace it. [`OffsetClock`] lets an operator add a fixed offset on top, the
//!    equivalent of the JS SDK's `systemClockOffset`.
//! 2. **The request was signed, then the sandbox froze** (a request started during INIT, or a
//!    slow attempt suspended between invocations), and KMS saw it minutes later. When the error
//!    arrives the clocks agree again, so the measured skew is small and the SDK does not retry.
//!    [`ExpiredSignatureClassifier`] retries exactly that error — a signature KMS calls
//!    *expired* or *not yet current* — and the retry is signed afresh.
//! 3. **The call outlives the invocation.** Every call is bounded by the invocation's deadline
//!    less a margin (the kit's `deadline` arithmetic, applied by `call`), so a hung KMS becomes a
//!    typed error, not a Lambda timeout.

use aws_sdk_kms::config::retry::{ClassifyRetry, RetryAction, RetryConfig};
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
use aws_smithy_types::retry::ErrorKind;
use std::time::{Duration, SystemTime};

/// A wall clock shifted by a fixed number of seconds, used as the SDK's time source.
///
/// The SDK reads the time for signing *and* for its skew measurement from this source, so an
/// offset here behaves exactly like a host clock that is that far off — which is also how the
/// tests simulate a wrong clock.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    offset_seconds: i64,
}

impl OffsetClock {
    /// A clock `offset_seconds` ahead of the system clock (behind if negative).
    pub fn new(offset_seconds: i64) -> Self {
        OffsetClock { offset_seconds }
    }
}

impl TimeSource for OffsetClock {
    fn now(&self) -> SystemTime {
        shift(SystemTime::now(), self.offset_seconds)
    }
}

/// `t` moved by `seconds` (either direction), saturating rather than panicking.
pub fn shift(t: SystemTime, seconds: i64) -> SystemTime {
    let d = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        t.checked_add(d).unwrap_or(t)
    } else {
        t.checked_sub(d).unwrap_or(t)
    }
}

/// Standard retry mode (exponential backoff with jitter, a retry token bucket) with the
/// configured number of attempts. The expired-signature retries draw on the same budget.
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard().with_max_attempts(max_attempts)
}

/// True when KMS says the signature's timestamp is outside its 5-minute window, as opposed to
/// a wrong secret or a tampered request (which no retry can fix).
pub fn is_signature_time_error(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("InvalidSignatureException")
        && message.is_some_and(|m| {
            m.contains("Signature expired") || m.contains("Signature not yet current")
        })
}

/// Retries `InvalidSignatureException: Signature expired / not yet current` regardless of the
/// measured skew. See the module documentation, case 2.
///
/// It reads the error from the HTTP response — the `x-amzn-ErrorType` header or the body's
/// `__type`, and the body's `message` — which every AWS JSON-protocol operation carries, so it
/// covers every KMS operation the client sends, including ones a copy of this template adds,
/// with no list of operation error types to keep.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExpiredSignatureClassifier;

impl ClassifyRetry for ExpiredSignatureClassifier {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(_)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(response) = ctx.response() else {
            return RetryAction::NoActionIndicated;
        };
        let header = response
            .headers()
            .get("x-amzn-errortype")
            .map(str::to_string);
        let (code, message) = json_error(header.as_deref(), response.body().bytes());
        if is_signature_time_error(code.as_deref(), message.as_deref()) {
            tracing::debug!("KMS rejected the signature's time; retrying with a fresh signature");
            // Not throttling: it draws the normal retry cost and counts toward max attempts.
            RetryAction::retryable_error(ErrorKind::TransientError)
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "ExpiredSignature"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // After the HTTP status classifier (a 400 says "don't know") so our verdict stands.
        RetryClassifierPriority::run_after(RetryClassifierPriority::http_status_code_classifier())
    }
}

/// The error code and message of an AWS JSON-protocol error response (awsJson1_0/1_1): the
/// code from `x-amzn-ErrorType` or the body's `__type` (or `code`), stripped of a namespace
/// (`com.amazonaws.kms#`) and of anything after `:`; the message from `message` or `Message`.
pub fn json_error(header: Option<&str>, body: Option<&[u8]>) -> (Option<String>, Option<String>) {
    let parsed: Option<serde_json::Value> = body.and_then(|b| serde_json::from_slice(b).ok());
    let field = |names: &[&str]| {
        names.iter().find_map(|n| {
            parsed
                .as_ref()
                .and_then(|v| v.get(*n))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
    };
    let code = header
        .map(str::to_string)
        .or_else(|| field(&["__type", "code"]))
        .map(|raw| {
            let no_suffix = raw.split(':').next().unwrap_or_default();
            no_suffix.rsplit('#').next().unwrap_or_default().to_string()
        })
        .filter(|c| !c.is_empty());
    (code, field(&["message", "Message"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::interceptors::context::{Error as CtxError, Input};
    use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
    use aws_smithy_types::body::SdkBody;

    /// The context after an attempt that KMS answered with HTTP 400 and `body`.
    fn answered(body: &str, header: Option<&str>) -> InterceptorContext {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        let mut response = HttpResponse::new(400.try_into().unwrap(), SdkBody::from(body));
        if let Some(h) = header {
            response
                .headers_mut()
                .insert("x-amzn-ErrorType", h.to_string());
        }
        ctx.set_response(response);
        // Any operation's error: the classifier never looks at its type.
        ctx.set_output_or_error(Err(OrchestratorError::operation(CtxError::erase(
            std::io::Error::other("some operation's modeled error"),
        ))));
        ctx
    }

    fn classify(body: &str, header: Option<&str>) -> RetryAction {
        ExpiredSignatureClassifier.classify_retry(&answered(body, header))
    }

    #[test]
    fn signature_expired_after_a_freeze_is_retried() {
        let body = r#"{"__type":"InvalidSignatureException","message":"Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z (20240820T230802Z - 5 min.)"}"#;
        assert!(classify(body, None).should_retry());
    }

    #[test]
    fn signature_not_yet_current_is_retried() {
        let body = r#"{"__type":"InvalidSignatureException","message":"Signature not yet current: 20240820T231500Z is still later than 20240820T230802Z (20240820T230302Z + 5 min.)"}"#;
        assert!(classify(body, None).should_retry());
    }

    #[test]
    fn the_code_may_come_from_the_header_with_a_namespace_and_the_message_capitalised() {
        let body = r#"{"Message":"Signature expired: 20240820T230143Z is now earlier than x"}"#;
        let header = "com.amazonaws.kms#InvalidSignatureException:http://internal.amazon.com/";
        assert!(classify(body, Some(header)).should_retry());
    }

    #[test]
    fn a_signature_mismatch_is_not_retried_because_no_retry_can_fix_it() {
        let body = r#"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided."}"#;
        assert_eq!(classify(body, None), RetryAction::NoActionIndicated);
    }

    #[test]
    fn other_kms_errors_and_unreadable_bodies_are_left_to_the_sdk() {
        for body in [
            r#"{"__type":"NotFoundException","message":"Signature expired"}"#,
            "Signature expired",
            "",
        ] {
            assert_eq!(
                classify(body, None),
                RetryAction::NoActionIndicated,
                "{body}"
            );
        }
    }

    #[test]
    fn a_success_is_never_classified() {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        ctx.set_response(HttpResponse::new(
            200.try_into().unwrap(),
            SdkBody::from("{}"),
        ));
        ctx.set_output_or_error(Ok(
            aws_smithy_runtime_api::client::interceptors::context::Output::doesnt_matter(),
        ));
        assert_eq!(
            ExpiredSignatureClassifier.classify_retry(&ctx),
            RetryAction::NoActionIndicated
        );
    }

    #[test]
    fn the_offset_clock_is_ahead_or_behind_by_the_offset() {
        let behind = OffsetClock::new(-900).now();
        let ahead = OffsetClock::new(900).now(); // read second, so never less than 1800 s apart
        let diff = ahead.duration_since(behind).unwrap();
        assert!(
            diff >= Duration::from_secs(1800) && diff < Duration::from_secs(1801),
            "{diff:?}"
        );
    }
}
