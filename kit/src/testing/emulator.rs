//! A Lambda Runtime API emulator: enough of `/2018-06-01/runtime/*` to run the real function
//! binary as Lambda would, hold a gap between INIT and the first event, and deliver events
//! concurrently (for `AWS_LAMBDA_MAX_CONCURRENCY`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};

/// The function's name, as the emulator runs it (`AWS_LAMBDA_FUNCTION_NAME`): the encryption
/// context of its secrets in a test.
pub const FUNCTION_NAME: &str = "kms-lambda-test";

/// What the function answered for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `/response` with this JSON body.
    Ok(Value),
    /// `/error` with this `errorType` and `errorMessage`.
    Err {
        /// Its `errorType`.
        error_type: String,
        /// Its `errorMessage`.
        message: String,
    },
}

impl Outcome {
    /// The success body, or a panic naming the error.
    #[track_caller]
    pub fn ok(self) -> Value {
        match self {
            Outcome::Ok(v) => v,
            Outcome::Err {
                error_type,
                message,
            } => panic!("expected success, got {error_type}: {message}"),
        }
    }

    /// The `errorType`, or a panic naming the body.
    #[track_caller]
    pub fn error_type(&self) -> &str {
        match self {
            Outcome::Err { error_type, .. } => error_type,
            Outcome::Ok(v) => panic!("expected an error, got {v}"),
        }
    }

    /// The `errorMessage`, or a panic naming the body.
    #[track_caller]
    pub fn error_message(&self) -> &str {
        match self {
            Outcome::Err { message, .. } => message,
            Outcome::Ok(v) => panic!("expected an error, got {v}"),
        }
    }
}

struct Pending {
    id: String,
    trace_id: String,
    body: Bytes,
    deadline_ms: u64,
}

struct State {
    queue_tx: mpsc::UnboundedSender<Pending>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    polls: AtomicUsize,
    polled: Notify,
    next_id: AtomicUsize,
    restore_polled: AtomicBool,
    restored: tokio::sync::watch::Sender<bool>,
    first_poll: std::sync::OnceLock<Instant>,
}

/// The emulator; serves on a loopback port until dropped with the test's runtime.
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Emulator {
    /// Starts serving on 127.0.0.1 on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            waiting: Mutex::default(),
            polls: AtomicUsize::new(0),
            polled: Notify::new(),
            next_id: AtomicUsize::new(0),
            restore_polled: AtomicBool::new(false),
            restored: tokio::sync::watch::channel(false).0,
            first_poll: std::sync::OnceLock::new(),
        });
        let s = state.clone();
        super::serve(listener, move |req| route(s.clone(), req));
        Emulator { addr, state }
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// How many `/next` polls have arrived so far.
    pub fn polls(&self) -> usize {
        self.state.polls.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` `/next` polls have arrived (INIT done, workers ready).
    pub async fn wait_for_polls(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.polls() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} /next polls within {limit:?}",
                self.polls()
            );
            let _ = tokio::time::timeout(
                left.min(Duration::from_millis(100)),
                self.state.polled.notified(),
            )
            .await;
        }
    }

    /// When the first `/next` poll arrived (INIT done), if it has.
    pub fn first_poll_at(&self) -> Option<Instant> {
        self.state.first_poll.get().copied()
    }

    /// SnapStart: waits until the runtime, its INIT done, asks `/restore/next` (the snapshot point).
    pub async fn wait_for_snapshot_point(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.state.restore_polled.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the runtime never called /restore/next"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SnapStart: answers `/restore/next`, i.e. restores the sandbox from its snapshot.
    pub fn restore(&self) {
        self.state.restored.send_replace(true);
    }

    /// The X-Ray trace header the emulator gives the invocation numbered `n` (from 0), as
    /// Lambda's `Lambda-Runtime-Trace-Id`: each invocation its own.
    pub fn trace_id(n: usize) -> String {
        format!("Root=1-6a000000-{n:024x};Parent={n:016x};Sampled=0")
    }

    /// Queues an event (raw bytes) with `timeout` until its deadline; resolves with the answer.
    pub fn submit(&self, body: impl Into<Bytes>, timeout: Duration) -> oneshot::Receiver<Outcome> {
        let n = self.state.next_id.fetch_add(1, Ordering::SeqCst);
        let id = format!("req-{n:04}");
        let deadline = SystemTime::now() + timeout;
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().unwrap().insert(id.clone(), tx);
        let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let _ = self.state.queue_tx.send(Pending {
            id,
            trace_id: Self::trace_id(n),
            body: body.into(),
            deadline_ms,
        });
        rx
    }

    /// Sends `event` and waits for the answer (the event's timeout plus a grace period).
    pub async fn invoke(&self, event: &Value) -> Outcome {
        self.invoke_raw(serde_json::to_vec(event).unwrap(), Duration::from_secs(10))
            .await
    }

    /// Sends raw bytes with a given function timeout and waits for the answer.
    pub async fn invoke_raw(&self, body: impl Into<Bytes>, timeout: Duration) -> Outcome {
        let rx = self.submit(body, timeout);
        tokio::time::timeout(timeout + Duration::from_secs(20), rx)
            .await
            .expect("the function did not answer")
            .expect("emulator dropped the invocation")
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()))
        .unwrap()
}

async fn route(s: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let body = super::body_bytes(req.into_body()).await;
    let parts: Vec<&str> = path
        .trim_start_matches("/2018-06-01/runtime/")
        .split('/')
        .collect();
    Ok(match parts.as_slice() {
        ["invocation", "next"] => {
            let _ = s.first_poll.set(Instant::now());
            s.polls.fetch_add(1, Ordering::SeqCst);
            s.polled.notify_waiters();
            let next = s.queue_rx.lock().await.recv().await;
            match next {
                Some(p) => Response::builder()
                    .status(StatusCode::OK)
                    .header("Lambda-Runtime-Aws-Request-Id", &p.id)
                    .header("Lambda-Runtime-Deadline-Ms", p.deadline_ms.to_string())
                    .header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:kms-lambda-test",
                    )
                    .header("Lambda-Runtime-Trace-Id", &p.trace_id)
                    .body(Full::new(p.body))
                    .unwrap(),
                None => reply(StatusCode::INTERNAL_SERVER_ERROR, "emulator closed"),
            }
        }
        ["invocation", id, kind @ ("response" | "error")] => {
            let outcome = if *kind == "response" {
                Outcome::Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
            } else {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                Outcome::Err {
                    error_type: v["errorType"].as_str().unwrap_or_default().to_string(),
                    message: v["errorMessage"].as_str().unwrap_or_default().to_string(),
                }
            };
            if let Some(tx) = s.waiting.lock().unwrap().remove(*id) {
                let _ = tx.send(outcome);
            }
            reply(StatusCode::ACCEPTED, "")
        }
        ["restore", "next"] => {
            s.restore_polled.store(true, Ordering::SeqCst);
            let mut restored = s.restored.subscribe();
            let _ = restored.wait_for(|r| *r).await;
            reply(StatusCode::OK, "")
        }
        ["init", "error"] | ["restore", "error"] => reply(StatusCode::ACCEPTED, ""),
        _ => reply(StatusCode::NOT_FOUND, "unknown runtime API path"),
    })
}

/// A function's real binary, running against an emulator. Killed when dropped.
pub struct Process {
    child: tokio::process::Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Spawns the function's binary with Lambda's reserved variables, dummy credentials and
    /// `env`.
    pub fn spawn(binary: &str, emulator: &Emulator, env: &[(&str, String)]) -> Self {
        Self::spawn_command(emulator, binary, &[], env)
    }

    /// Spawns any Lambda runtime (e.g. the Node.js peer in the benchmarks) the same way.
    pub fn spawn_command(
        emulator: &Emulator,
        program: &str,
        args: &[&str],
        env: &[(&str, String)],
    ) -> Self {
        Self::spawn_command_in(emulator, program, args, env, None)
    }

    /// Like [`Process::spawn_command`], the process joining the cgroup whose `cgroup.procs`
    /// file is `cgroup` between fork and exec, so it runs under that group's CPU quota from its
    /// first instruction.
    pub fn spawn_command_in(
        emulator: &Emulator,
        program: &str,
        args: &[&str],
        env: &[(&str, String)],
        cgroup: Option<&std::path::Path>,
    ) -> Self {
        // Joining a cgroup between fork and exec, in plain code: a shell writes "0" (its
        // own pid) to the group's `cgroup.procs`, then becomes the program.
        let mut cmd = match cgroup {
            Some(procs) => {
                let mut c = tokio::process::Command::new("sh");
                c.args(["-c", "echo 0 > \"$0\" && exec \"$@\""])
                    .arg(procs)
                    .arg(program);
                c
            }
            None => tokio::process::Command::new(program),
        };
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", emulator.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    out.lock().unwrap().push(line);
                }
            });
        }
        Process { child, output }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// CPU time the process has used so far, all its threads together (from each thread's
    /// `schedstat`, nanosecond resolution; threads that already exited are not counted).
    pub fn cpu_time(&self) -> Duration {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return Duration::ZERO;
        };
        let ns: u64 = tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(ns)
    }

    /// Everything the function printed so far (stdout and stderr, in arrival order per stream).
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// The EMF lines printed so far, parsed.
    pub fn emf(&self) -> Vec<Value> {
        self.output()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    }

    /// Waits until at least `n` EMF lines have been read, and returns them all, in order.
    pub async fn emf_wait(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let lines = self.emf();
            if lines.len() >= n {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "fewer than {n} EMF lines; output:\n{}",
            self.output().join("\n")
        );
    }

    /// Waits for the process to exit (for start-up failures).
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("function did not exit")
            .unwrap();
        // Let the reader tasks drain the pipes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        status
    }
}
