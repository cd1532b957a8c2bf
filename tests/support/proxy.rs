//! An HTTP proxy between the function and the local KMS that counts requests and can inject
//! faults: a canned error response for the next requests, or a hang.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// A canned answer.
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
}

#[derive(Default)]
struct Faults {
    canned: VecDeque<Canned>,
    hang: Option<Duration>,
}

struct State {
    upstream: String,
    client: HttpClient,
    requests: AtomicUsize,
    targets: Mutex<Vec<String>>,
    faults: Mutex<Faults>,
}

/// The proxy; `url()` is what the function gets as `AWS_ENDPOINT_URL_KMS`.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Proxy {
    /// Starts forwarding to `upstream` (e.g. `http://127.0.0.1:5000`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            requests: AtomicUsize::new(0),
            targets: Mutex::default(),
            faults: Mutex::default(),
        });
        let s = state.clone();
        super::serve(listener, move |req| forward(s.clone(), req));
        Proxy { addr, state }
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far (answered or not).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The `X-Amz-Target` of each request so far, e.g. `TrentService.Encrypt`.
    pub fn targets(&self) -> Vec<String> {
        self.state.targets.lock().unwrap().clone()
    }

    /// Answers the next requests with these responses, in order, without forwarding them.
    pub fn fail_next(&self, responses: impl IntoIterator<Item = Canned>) {
        self.state.faults.lock().unwrap().canned.extend(responses);
    }

    /// Holds every following request for `d` before forwarding it (`None` to stop).
    pub fn hang(&self, d: Option<Duration>) {
        self.state.faults.lock().unwrap().hang = d;
    }
}

async fn forward(
    s: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    s.targets.lock().unwrap().push(target);
    let (canned, hang) = {
        let mut f = s.faults.lock().unwrap();
        (f.canned.pop_front(), f.hang)
    };
    if let Some(c) = canned {
        super::body_bytes(req.into_body()).await;
        return Ok(Response::builder()
            .status(c.status)
            .header("content-type", "application/x-amz-json-1.1")
            .header("date", httpdate_now())
            .body(Full::new(Bytes::from(c.body)))
            .unwrap());
    }
    if let Some(d) = hang {
        tokio::time::sleep(d).await;
    }
    let (parts, body) = req.into_parts();
    let body = super::body_bytes(body).await;
    let uri = format!(
        "{}{}",
        s.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut out = Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        out = out.header(k, v);
    }
    let resp = match s.client.request(out.body(Full::new(body)).unwrap()).await {
        Ok(r) => r,
        Err(e) => {
            return Ok(Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Full::new(Bytes::from(format!("proxy: {e}"))))
                .unwrap())
        }
    };
    let (parts, body) = resp.into_parts();
    let body = super::body_bytes(body).await;
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The current time as an HTTP `Date` header value.
fn httpdate_now() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .unwrap()
}
