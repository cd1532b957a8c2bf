//! Init-to-send latency: what each invocation measured, and the EMF line that reports it.
//!
//! The numbers come from the SDK's own interceptor hooks, not from timing around `send()`:
//! a signature's age is the time between *this attempt's* signing and the moment the request is
//! handed to the HTTP connector, which is exactly the window a freeze/thaw or a slow INIT can
//! stretch past KMS's 5 minutes.
//!
//! One [`Recorder`] lives for one invocation. The [`WireInterceptor`] is installed once on the
//! client; it finds the invocation's recorder in a task-local set by [`record`] around each KMS
//! call, so concurrent invocations never mix numbers and no per-call SDK configuration (which
//! costs a runtime-plugin rebuild on every call) is needed. The same way it puts the
//! invocation's own X-Ray trace header on each request: the SDK's recursion-detection
//! interceptor takes it from `_X_AMZN_TRACE_ID`, which the runtime can only set when
//! invocations come one at a time.

use crate::kms::amz_date;
use aws_sdk_kms::config::interceptors::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one invocation measured. Absent values are omitted from the EMF line, not zeroed:
/// an invocation that never reached KMS has no round trip, and a zero would skew averages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurements {
    /// Time to build the KMS client from the SDK configuration INIT prepared, on the
    /// invocation that built it.
    pub client_init: Option<Duration>,
    /// Time to decrypt the function's secrets on first use (their `Decrypt` calls, retries
    /// included), on the invocation that decrypted them.
    pub secret_init: Option<Duration>,
    /// Handler entry → first KMS request handed to the connector.
    pub init_to_send: Option<Duration>,
    /// Largest signing → hand-to-connector interval over all attempts (by the signer's clock).
    pub max_signature_age: Option<Duration>,
    /// First request on the wire → end of the last attempt (retries and backoff included).
    pub kms_round_trip: Option<Duration>,
    /// Attempts handed to the connector, retries included.
    pub attempts: u32,
    /// The clock skew the signer applied on the last attempt, in ms (second resolution, like
    /// `X-Amz-Date` itself). Positive: signed ahead of the local clock.
    pub clock_skew_ms: Option<i64>,
}

/// Collects one invocation's measurements, and carries its trace header. Cheap to create;
/// shared with the interceptors.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    trace_id: Option<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    m: Measurements,
    first_send: Option<Instant>,
}

impl Recorder {
    /// Starts the clock for `InitToSendMs`: call at handler entry, with the invocation's X-Ray
    /// trace header (`Lambda-Runtime-Trace-Id`), which every KMS request of it then carries.
    pub fn start(trace_id: Option<String>) -> Arc<Self> {
        Arc::new(Recorder {
            started: Instant::now(),
            trace_id: trace_id.filter(|t| !t.is_empty()),
            state: Mutex::default(),
        })
    }

    /// Records that this invocation built the client, and how long it took.
    pub fn client_built(&self, took: Duration) {
        self.lock().m.client_init = Some(took);
    }

    /// Records that this invocation decrypted a secret, and how long it took (added to any
    /// other it decrypted).
    pub fn secret_decrypted(&self, took: Duration) {
        let m = &mut self.lock().m;
        m.secret_init = Some(m.secret_init.unwrap_or_default() + took);
    }

    /// A copy of what has been measured so far.
    pub fn snapshot(&self) -> Measurements {
        self.lock().m.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain numbers.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn on_send(&self, signature_age: Duration, skew_ms: Option<i64>) {
        let now = Instant::now();
        let mut s = self.lock();
        let first = *s.first_send.get_or_insert(now);
        s.m.init_to_send
            .get_or_insert(first.duration_since(self.started));
        s.m.attempts += 1;
        s.m.max_signature_age = Some(
            s.m.max_signature_age
                .map_or(signature_age, |a| a.max(signature_age)),
        );
        if skew_ms.is_some() {
            s.m.clock_skew_ms = skew_ms;
        }
    }

    fn on_attempt_end(&self) {
        let now = Instant::now();
        let mut s = self.lock();
        if let Some(first) = s.first_send {
            s.m.kms_round_trip = Some(now.duration_since(first));
        }
    }
}

/// The header that ties a request to its invocation's X-Ray trace.
const TRACE_HEADER: &str = "x-amzn-trace-id";

/// The SDK interceptor that feeds a [`Recorder`], and puts its trace header on each request.
#[derive(Debug, Default)]
pub struct WireInterceptor;

tokio::task_local! {
    static CURRENT: Arc<Recorder>;
}

/// Runs `call` (a KMS call) with `recorder` receiving its wire measurements.
pub async fn record<F: std::future::Future>(recorder: Arc<Recorder>, call: F) -> F::Output {
    CURRENT.scope(recorder, call).await
}

fn with_current(f: impl FnOnce(&Recorder)) {
    let _ = CURRENT.try_with(|r| f(r));
}

/// The signer's wall-clock time when this attempt was signed (time source, no skew).
#[derive(Debug, Clone, Copy)]
struct SignedAt(SystemTime);
impl Storable for SignedAt {
    type Storer = StoreReplace<Self>;
}

impl Intercept for WireInterceptor {
    fn name(&self) -> &'static str {
        "kms-lambda-kit::WireInterceptor"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // This invocation's trace header, whichever interceptor ran first: the SDK's recursion
        // detection leaves a header it finds, and an environment variable it might have read
        // belongs to no invocation in particular when several run at once.
        let _ = CURRENT.try_with(|r| {
            if let Some(trace_id) = &r.trace_id {
                // A value HTTP cannot carry (Lambda sends ASCII) is left out, not fatal.
                let _ = ctx
                    .request_mut()
                    .headers_mut()
                    .try_insert(TRACE_HEADER, trace_id.clone());
            }
        });
        Ok(())
    }

    fn read_after_signing(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(ts) = rc.time_source() {
            cfg.interceptor_state().store_put(SignedAt(ts.now()));
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let signed_at = cfg.load::<SignedAt>().map(|s| s.0);
        let now = rc.time_source().map(|ts| ts.now());
        let age = match (signed_at, now) {
            (Some(signed), Some(now)) => now.duration_since(signed).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        // X-Amz-Date is the signer's time with the SDK's skew correction applied, truncated to
        // the second. Adding half a second before rounding makes the estimate unbiased.
        let skew_ms = signed_at.and_then(|signed| {
            let stamped = ctx
                .request()
                .headers()
                .get("x-amz-date")
                .and_then(amz_date::parse)?;
            let diff = signed_diff_ms(stamped, signed) + 500;
            Some(diff.div_euclid(1000) * 1000)
        });
        with_current(|r| r.on_send(age, skew_ms));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        with_current(Recorder::on_attempt_end);
        Ok(())
    }
}

fn signed_diff_ms(a: SystemTime, b: SystemTime) -> i64 {
    match a.duration_since(b) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Everything besides the measurements that goes into the EMF line.
#[derive(Debug, Clone, Copy)]
pub struct EmfContext<'a> {
    /// CloudWatch namespace.
    pub namespace: &'a str,
    /// The `FunctionName` dimension.
    pub function_name: &'a str,
    /// The Lambda request id (a property, not a dimension: high cardinality).
    pub request_id: &'a str,
    /// `encrypt`, `decrypt`, or absent when the event named none.
    pub operation: Option<&'a str>,
    /// `1` on the sandbox's first invocation.
    pub cold_start: bool,
    /// The `errorType` returned, absent on success.
    pub error_type: Option<&'a str>,
}

/// Renders one CloudWatch Embedded Metric Format line (no trailing newline).
///
/// Written straight into one buffer (strings escaped by `serde_json`) rather than built as a
/// `serde_json::Value` tree and serialised: the line is written on every invocation, and the
/// tree of maps showed in a warm invocation's profile (kms-lambda's docs/benchmarks.md, "Managed
/// Instances").
pub fn emf_line(m: &Measurements, ctx: EmfContext<'_>) -> String {
    let ms = |d: Duration| Number::Millis(d.as_secs_f64() * 1000.0);
    let metrics = [
        Some(("ColdStart", "Count", Number::Int(i64::from(ctx.cold_start)))),
        m.client_init
            .map(|d| ("ClientInitMs", "Milliseconds", ms(d))),
        m.secret_init
            .map(|d| ("SecretInitMs", "Milliseconds", ms(d))),
        m.init_to_send
            .map(|d| ("InitToSendMs", "Milliseconds", ms(d))),
        m.max_signature_age
            .map(|d| ("SignatureAgeMs", "Milliseconds", ms(d))),
        m.kms_round_trip
            .map(|d| ("KmsRoundTripMs", "Milliseconds", ms(d))),
        (m.attempts > 0).then(|| ("KmsAttempts", "Count", Number::Int(i64::from(m.attempts)))),
        m.clock_skew_ms
            .map(|skew| ("ClockSkewMs", "Milliseconds", Number::Int(skew))),
    ];
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);

    // Writing to a Vec<u8> cannot fail.
    let mut out = Vec::with_capacity(512);
    let string = |out: &mut Vec<u8>, s: &str| {
        let _ = serde_json::to_writer(out, s);
    };
    let _ = write!(
        out,
        r#"{{"_aws":{{"Timestamp":{timestamp},"CloudWatchMetrics":[{{"Namespace":"#
    );
    string(&mut out, ctx.namespace);
    out.extend_from_slice(br#","Dimensions":[["FunctionName"]],"Metrics":["#);
    for (i, (name, unit, _)) in metrics.iter().flatten().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(out, r#"{comma}{{"Name":"{name}","Unit":"{unit}"}}"#);
    }
    out.extend_from_slice(br#"]}]},"FunctionName":"#);
    string(&mut out, ctx.function_name);
    out.extend_from_slice(br#","requestId":"#);
    string(&mut out, ctx.request_id);
    if let Some(op) = ctx.operation {
        out.extend_from_slice(br#","Operation":"#);
        string(&mut out, op);
    }
    out.extend_from_slice(br#","ErrorType":"#);
    string(&mut out, ctx.error_type.unwrap_or("None"));
    for (name, _, value) in metrics.iter().flatten() {
        let _ = match value {
            Number::Int(v) => write!(out, r#","{name}":{v}"#),
            // Microsecond resolution, always with three decimals.
            Number::Millis(v) => write!(out, r#","{name}":{v:.3}"#),
        };
    }
    out.push(b'}');
    // Only `&str`s and formatted numbers went in.
    String::from_utf8(out).unwrap_or_default()
}

/// A metric's value: a count or a whole number of ms, or a duration in ms.
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i64),
    Millis(f64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ctx() -> EmfContext<'static> {
        EmfContext {
            namespace: "KmsLambda",
            function_name: "fn",
            request_id: "req-1",
            operation: Some("encrypt"),
            cold_start: true,
            error_type: None,
        }
    }

    #[test]
    fn every_listed_metric_is_present_at_the_root_and_vice_versa() {
        let m = Measurements {
            client_init: Some(Duration::from_micros(12_345)),
            secret_init: Some(Duration::from_micros(4_321)),
            init_to_send: Some(Duration::from_millis(15)),
            max_signature_age: Some(Duration::from_micros(80)),
            kms_round_trip: Some(Duration::from_millis(3)),
            attempts: 2,
            clock_skew_ms: Some(-900_000),
        };
        let v: Value = serde_json::from_str(&emf_line(&m, ctx())).unwrap();
        let defs = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        let names: Vec<&str> = defs.iter().map(|d| d["Name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "ColdStart",
                "ClientInitMs",
                "SecretInitMs",
                "InitToSendMs",
                "SignatureAgeMs",
                "KmsRoundTripMs",
                "KmsAttempts",
                "ClockSkewMs"
            ]
        );
        for n in names {
            assert!(v[n].is_number(), "{n} missing at the root");
        }
        assert_eq!(v["ClientInitMs"], json!(12.345));
        assert_eq!(v["ClockSkewMs"], json!(-900_000));
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"]])
        );
        assert_eq!(v["FunctionName"], "fn");
        assert_eq!(v["requestId"], "req-1");
        assert_eq!(v["ErrorType"], "None");
    }

    #[test]
    fn strings_are_escaped_and_durations_keep_microseconds() {
        let mut c = ctx();
        c.request_id = "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓";
        let m = Measurements {
            init_to_send: Some(Duration::from_nanos(15_000_400)),
            kms_round_trip: Some(Duration::from_secs(2)),
            ..Measurements::default()
        };
        let line = emf_line(&m, c);
        assert!(!line.contains('\n'), "one line: {line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["requestId"], c.request_id);
        assert_eq!(v["InitToSendMs"], json!(15.0));
        assert_eq!(v["KmsRoundTripMs"], json!(2000.0));
        assert!(line.contains(r#""InitToSendMs":15.000"#), "{line}");
    }

    #[test]
    fn an_invocation_that_never_reached_kms_reports_only_what_it_has() {
        let mut c = ctx();
        c.cold_start = false;
        c.error_type = Some("InvalidRequest");
        let v: Value = serde_json::from_str(&emf_line(&Measurements::default(), c)).unwrap();
        let defs = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert_eq!(defs.len(), 1);
        assert_eq!(v["ColdStart"], 0);
        assert!(v.get("KmsAttempts").is_none());
        assert_eq!(v["ErrorType"], "InvalidRequest");
    }

    #[test]
    fn the_recorder_keeps_the_first_send_and_the_oldest_signature() {
        let r = Recorder::start(None);
        std::thread::sleep(Duration::from_millis(5));
        r.on_send(Duration::from_millis(2), Some(0));
        r.on_attempt_end();
        r.on_send(Duration::from_millis(7), Some(-1000));
        r.on_send(Duration::from_millis(1), None);
        r.on_attempt_end();
        let m = r.snapshot();
        assert_eq!(m.attempts, 3);
        assert_eq!(m.max_signature_age, Some(Duration::from_millis(7)));
        assert_eq!(m.clock_skew_ms, Some(-1000));
        assert!(m.init_to_send.unwrap() >= Duration::from_millis(5));
        assert!(m.kms_round_trip.is_some());
    }
}
