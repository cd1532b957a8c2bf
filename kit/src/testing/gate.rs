//! A strict SigV4 time gate in front of a local KMS.
//!
//! moto (and LocalStack) accept a request whose `X-Amz-Date` is hours old, so against them a
//! test cannot show that a client survives "Signature expired". This reverse proxy enforces
//! what KMS enforces, against **its own clock** (real time plus a settable offset):
//!
//! - the SigV4 `Authorization` header is recomputed with the known secret (`aws-sigv4`, the
//!   SDK's own signer); a request re-dated without re-signing gets "The request signature we
//!   calculated does not match…";
//! - the signature time must be within 5 minutes of the gate's clock, or the answer is HTTP 400
//!   `InvalidSignatureException` with KMS's exact messages ("Signature expired: … is now earlier
//!   than … (… - 5 min.)", "Signature not yet current: … is still later than … (… + 5 min.)");
//! - every response carries a `Date` from the gate's clock, so the SDK can measure skew.
//!
//! Faults, settable while it runs: clock offset; the next N requests arriving D late (the gate's
//! clock jumps for those requests only, as when a signed request sat in a frozen sandbox);
//! closing idle keep-alive connections; resetting the next requests' connections; canned
//! answers (throttling, 5xx) for the next requests; hanging; refusing connections. It counts
//! requests, connections and rejections.
//!
//! Used by the kit's and a function's integration tests ([`Harness`](super::Harness)); the
//! template's `examples/kms-gate` runs it on its own (in kms-lambda: `cargo run --example
//! kms-gate -- --upstream http://127.0.0.1:4599 --clock-offset 15m`).

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// KMS accepts a signature this far either side of its clock.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// What answers in place of an upstream KMS: (target, body) → (status, JSON body).
pub type Answer = Arc<dyn Fn(&str, &[u8]) -> (u16, String) + Send + Sync>;

/// A request the gate received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Its `X-Amz-Target`, e.g. `TrentService.Encrypt`.
    pub target: String,
    /// The `KeyId` its body names, if any.
    pub key_id: Option<String>,
    /// Its `X-Amzn-Trace-Id` header, if any.
    pub trace_id: Option<String>,
}

/// A canned answer for fault injection.
#[derive(Debug, Clone)]
pub struct Canned {
    /// HTTP status.
    pub status: u16,
    /// JSON body (AWS JSON 1.1 error shape).
    pub body: String,
}

impl Canned {
    /// An AWS JSON error: `{"__type": type, "message": message}` with `status`.
    pub fn aws_error(status: u16, error_type: &str, message: &str) -> Self {
        Canned {
            status,
            body: serde_json::json!({"__type": error_type, "message": message}).to_string(),
        }
    }

    /// KMS throttling.
    pub fn throttling() -> Self {
        Self::aws_error(400, "ThrottlingException", "Rate exceeded")
    }

    /// A bare 5xx.
    pub fn status(status: u16) -> Self {
        Self::aws_error(status, "KMSInternalException", "injected server error")
    }
}

#[derive(Default)]
struct Faults {
    late: VecDeque<Duration>,
    canned: VecDeque<Canned>,
    hang: Option<Duration>,
    reset: usize,
}

/// Where a request that passes the gate goes.
enum Behind {
    /// Forwarded to this KMS (no trailing slash).
    Upstream(String),
    /// Answered by the gate itself (`Gate::start_answering`).
    Answer(Answer),
}

struct State {
    behind: Behind,
    secret: Option<String>,
    client: HttpClient,
    offset_ms: AtomicI64,
    faults: Mutex<Faults>,
    requests: AtomicUsize,
    connections: AtomicUsize,
    rejected: AtomicUsize,
    calls: Mutex<Vec<Call>>,
    close_idle: watch::Sender<u64>,
    refusing: AtomicBool,
    refusal_changed: Notify,
}

/// The running gate. Stops with the Tokio runtime that started it.
pub struct Gate {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Gate {
    /// Starts on a free loopback port, answering every request that passes with `answer`
    /// (target, body) → (status, JSON body) instead of forwarding it: a KMS of the benchmarks'
    /// own, so that the function, not a Python KMS, is what is measured.
    pub async fn start_answering(secret: &str, answer: Answer) -> Self {
        Self::start_answering_on("127.0.0.1:0".parse().unwrap(), secret, answer).await
    }

    /// [`Gate::start_answering`] on `addr`.
    pub async fn start_answering_on(addr: SocketAddr, secret: &str, answer: Answer) -> Self {
        Self::start_with(addr, Behind::Answer(answer), Some(secret)).await
    }

    /// Starts on a free loopback port, forwarding to `upstream`. With `secret`, signatures are
    /// verified; with `None`, only their time is checked.
    pub async fn start(upstream: &str, secret: Option<&str>) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), upstream, secret).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, upstream: &str, secret: Option<&str>) -> Self {
        let upstream = Behind::Upstream(upstream.trim_end_matches('/').to_string());
        Self::start_with(addr, upstream, secret).await
    }

    async fn start_with(addr: SocketAddr, behind: Behind, secret: Option<&str>) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind the gate");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            behind,
            secret: secret.map(str::to_string),
            client: Client::builder(TokioExecutor::new()).build_http(),
            offset_ms: AtomicI64::new(0),
            faults: Mutex::default(),
            requests: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            calls: Mutex::default(),
            close_idle: watch::channel(0).0,
            refusing: AtomicBool::new(false),
            refusal_changed: Notify::new(),
        });
        tokio::spawn(accept_loop(listener, addr, state.clone()));
        Gate { addr, state }
    }

    /// The gate's URL, for `AWS_ENDPOINT_URL_KMS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The gate's clock: real time plus the offset.
    pub fn now(&self) -> SystemTime {
        self.state.now()
    }

    /// Sets the gate's clock offset from real time (what a skewed client sees as KMS's clock).
    pub fn set_clock_offset(&self, seconds: i64) {
        self.state.offset_ms.store(seconds * 1000, Ordering::SeqCst);
    }

    /// The next `n` requests are judged as if they arrived `by` late.
    pub fn arrive_late(&self, n: usize, by: Duration) {
        self.state.lock().late.extend(std::iter::repeat_n(by, n));
    }

    /// Takes back the delays [`arrive_late`](Self::arrive_late) set that no request used.
    pub fn arrive_on_time(&self) {
        self.state.lock().late.clear();
    }

    /// Answers the next requests with these, in order, without forwarding them.
    pub fn fail_next(&self, answers: impl IntoIterator<Item = Canned>) {
        self.state.lock().canned.extend(answers);
    }

    /// Holds every following request for `d` before handling it (`None` to stop).
    pub fn hang(&self, d: Option<Duration>) {
        self.state.lock().hang = d;
    }

    /// Drops the connection of each of the next `n` requests without answering.
    pub fn reset_next(&self, n: usize) {
        self.state.lock().reset += n;
    }

    /// Closes every idle keep-alive connection now (in-flight requests finish first).
    pub fn close_idle_connections(&self) {
        self.state.close_idle.send_modify(|g| *g += 1);
    }

    /// Stops listening (connections are refused) or listens again on the same port.
    pub fn refuse_connections(&self, refuse: bool) {
        self.state.refusing.store(refuse, Ordering::SeqCst);
        self.state.refusal_changed.notify_waiters();
    }

    /// Requests received (every attempt that reached the gate).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Requests answered with `InvalidSignatureException`.
    pub fn rejected(&self) -> usize {
        self.state.rejected.load(Ordering::SeqCst)
    }

    /// The `X-Amz-Target` of each request so far, e.g. `TrentService.Encrypt`.
    pub fn targets(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.target).collect()
    }

    /// Each request so far: its target and the key it names.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> SystemTime {
        shift(SystemTime::now(), self.offset_ms.load(Ordering::SeqCst))
    }
}

fn shift(t: SystemTime, ms: i64) -> SystemTime {
    if ms >= 0 {
        t + Duration::from_millis(ms as u64)
    } else {
        t - Duration::from_millis(ms.unsigned_abs())
    }
}

async fn accept_loop(mut listener: TcpListener, addr: SocketAddr, state: Arc<State>) {
    loop {
        if state.refusing.load(Ordering::SeqCst) {
            drop(listener);
            while state.refusing.load(Ordering::SeqCst) {
                let _ = tokio::time::timeout(
                    Duration::from_millis(50),
                    state.refusal_changed.notified(),
                )
                .await;
            }
            listener = loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
        }
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = state.refusal_changed.notified() => continue,
        };
        let Ok((stream, _)) = accepted else { continue };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let s = state.clone();
        let mut close_idle = state.close_idle.subscribe();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(s.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    changed = close_idle.changed() => {
                        if changed.is_err() { break }
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
}

/// Why a request is refused: the error hyper turns into a dropped connection.
#[derive(Debug)]
struct Reset;
impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the gate (fault injection)")
    }
}
impl std::error::Error for Reset {}

fn respond(status: u16, body: String, now: SystemTime) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("date", http_date(now))
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(s: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Reset> {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let target = header("x-amz-target").unwrap_or_default();
    let trace_id = header("x-amzn-trace-id");
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let key_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["KeyId"].as_str().map(str::to_string));
    s.calls.lock().unwrap().push(Call {
        target,
        key_id,
        trace_id,
    });
    let (late, canned, hang, reset) = {
        let mut f = s.lock();
        let reset = f.reset > 0;
        if reset {
            f.reset -= 1;
        }
        (
            f.late.pop_front().unwrap_or_default(),
            f.canned.pop_front(),
            f.hang,
            reset,
        )
    };
    if reset {
        return Err(Reset);
    }
    if let Some(d) = hang {
        tokio::time::sleep(d).await;
    }
    // The clock this request is judged by; a late arrival moves it for this request only.
    let now = s.now() + late;
    // The `Date` header always tells the gate's own clock: after a thaw the clocks agree
    // again, even though this request is judged as the late arrival it is.
    if let Some(c) = canned {
        return Ok(respond(c.status, c.body, s.now()));
    }
    if let Err(message) = check(&parts, &body, s.secret.as_deref(), now) {
        s.rejected.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({"__type": "InvalidSignatureException", "message": message})
            .to_string();
        return Ok(respond(400, body, s.now()));
    }
    let upstream = match &s.behind {
        Behind::Upstream(upstream) => upstream,
        Behind::Answer(answer) => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let (status, body) = answer(target, &body);
            return Ok(respond(status, body, s.now()));
        }
    };
    let uri = format!(
        "{}{}",
        upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut out = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in &parts.headers {
        out = out.header(k, v);
    }
    match s.client.request(out.body(Full::new(body)).unwrap()).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            parts
                .headers
                .insert("date", http_date(s.now()).parse().unwrap());
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(e) => Ok(respond(
            502,
            format!("{{\"message\":\"kms-gate: upstream: {e}\"}}"),
            s.now(),
        )),
    }
}

/// Checks the SigV4 signature (when a secret is known) and its time, as KMS does.
pub fn check(
    parts: &hyper::http::request::Parts,
    body: &[u8],
    secret: Option<&str>,
    now: SystemTime,
) -> Result<(), String> {
    const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
        Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let auth =
        header("authorization").ok_or("Authorization header requires 'Credential' parameter.")?;
    let fields = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Unsupported signature algorithm.")?;
    let field = |key: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(key))
            .ok_or(format!(
                "Authorization header requires '{}' parameter.",
                key.trim_end_matches('=')
            ))
    };
    let credential = field("Credential=")?;
    let signed_headers = field("SignedHeaders=")?;
    let signature = field("Signature=")?;
    let amz_date = header("x-amz-date").ok_or(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    )?;
    let signed_at = crate::kms::amz_date::parse(amz_date)
        .ok_or("X-Amz-Date is not in ISO8601 basic format.")?;

    if let Some(secret) = secret {
        let scope: Vec<&str> = credential.split('/').collect();
        let [akid, _date, region, service, "aws4_request"] = scope.as_slice() else {
            return Err("Credential should be scoped to a valid region.".into());
        };
        let host = header("host").unwrap_or_default();
        let uri = format!(
            "http://{host}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let headers: Vec<(&str, &str)> = signed_headers
            .split(';')
            .filter(|h| *h != "x-amz-date")
            .filter_map(|h| header(h).map(|v| (h, v)))
            .collect();
        let identity =
            aws_credential_types::Credentials::new(*akid, secret, None, None, "kms-gate").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(signed_at)
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = aws_sigv4::http_request::SignableRequest::new(
            parts.method.as_str(),
            uri,
            headers.into_iter(),
            aws_sigv4::http_request::SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let expected =
            aws_sigv4::http_request::sign(request, &params).map_err(|e| e.to_string())?;
        if expected.signature() != signature {
            return Err(MISMATCH.into());
        }
    }

    let fmt = crate::kms::amz_date::format;
    if signed_at + WINDOW < now {
        return Err(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            fmt(signed_at),
            fmt(now - WINDOW),
            fmt(now)
        ));
    }
    if signed_at > now + WINDOW {
        return Err(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            fmt(signed_at),
            fmt(now + WINDOW),
            fmt(now)
        ));
    }
    Ok(())
}

/// An HTTP `Date` header value.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    aws_smithy_types::DateTime::from_secs(secs as i64)
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .unwrap()
}
