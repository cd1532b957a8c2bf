//! Lambda Managed Instances: one function process on one vCPU serving
//! `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once, fed as fast as it answers.
//!
//! Conditions, as AWS documents Managed Instances (docs/benchmarks.md has the sources): JSON
//! logs (the only format there), the concurrency in `AWS_LAMBDA_MAX_CONCURRENCY` (Rust's
//! runtime polls with that many tasks; AWS's Node.js runtime runs async handlers concurrently
//! in one worker thread per vCPU, which `bench/node/index.mjs` does with that many polling
//! loops in its one thread). The process is held to one vCPU: a cgroup quota of one core
//! (period 20 ms, quota 20 ms) and pinned to CPU 1 while this harness — emulator, TLS endpoint,
//! SigV4 gate and the local KMS (`local_kms.rs` beside this file, AES-GCM in Rust, so the KMS is never the
//! bottleneck) — is pinned to CPU 0. KMS is reached over HTTPS (RSA-2048 chain).
//!
//! A closed loop keeps `c` invocations in flight; after a warm-up, a window of invocations is
//! timed from submission to answer (p50 / p99), and the process's CPU time (all threads,
//! `schedstat`) over the window gives CPU ms per invocation. Invocations per second per vCPU
//! is 1,000 ÷ CPU ms: what one saturated vCPU serves, the figure Managed Instances bill
//! (observed invocations per second is reported too; at low CPU per invocation the harness on
//! its one core, not the function, sets that pace).

use crate::conditions::Peer;
use crate::cpu::CpuShare;
use crate::local_kms::LocalKms;
use crate::support::{self, gate::Gate, tls::TlsEndpoint};
use crate::support::{Emulator, Outcome, Process};
use crate::{stats, Stats};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The concurrencies measured: classic Lambda's one, Rust's default per vCPU (8), and more.
pub const CONCURRENCY: [usize; 4] = [1, 8, 32, 64];

/// What every invocation of a row sends.
pub struct Workload {
    pub name: &'static str,
    event: Vec<u8>,
}

/// The workloads: a 100-byte encrypt and decrypt (direct KMS calls) and a 64 KiB envelope
/// (one `GenerateDataKey`, AES-GCM here).
pub fn workloads(kms: &LocalKms) -> Vec<Workload> {
    let context = json!({"bench": "1"});
    let small = vec![0x5a_u8; 100];
    let sealed: Value = serde_json::from_str(
        &kms.answer(
            "TrentService.Encrypt",
            json!({"KeyId": "alias/bench", "Plaintext": support::b64(&small), "EncryptionContext": context})
                .to_string()
                .as_bytes(),
        )
        .1,
    )
    .expect("local KMS answer");
    let w = |name, event: Value| Workload {
        name,
        event: serde_json::to_vec(&event).unwrap(),
    };
    vec![
        w(
            "encrypt 100 B",
            json!({"operation": "encrypt", "plaintext": support::b64(&small), "encryptionContext": context}),
        ),
        w(
            "decrypt 100 B",
            json!({"operation": "decrypt", "ciphertext": sealed["CiphertextBlob"], "encryptionContext": context}),
        ),
        w(
            "envelope encrypt 64 KiB",
            json!({"operation": "encrypt", "plaintext": support::b64(&vec![0x5a_u8; 64 * 1024]), "encryptionContext": context}),
        ),
    ]
}

/// One measured window.
#[derive(Clone, Copy)]
struct Window {
    per_s: f64,
    p50: f64,
    p99: f64,
    cpu_ms: f64,
    rss_mb: f64,
}

/// The measures of one peer at one workload and concurrency, over the repetitions.
#[derive(Clone, Copy)]
pub struct Cell {
    pub per_s: Stats,
    pub p50: Stats,
    pub p99: Stats,
    pub cpu_ms: Stats,
    pub rss_mb: Stats,
}

impl Cell {
    /// Invocations per second one saturated vCPU serves (1,000 ÷ median CPU ms).
    pub fn per_vcpu(&self) -> f64 {
        1000.0 / self.cpu_ms.median
    }
}

/// Pins every thread of this process to `cpus` (a `taskset` list such as `0` or `0-1`).
fn pin_self(cpus: &str) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Keeps `c` invocations in flight until `n` have been answered; their latencies (ms).
async fn closed_loop(emu: &Arc<Emulator>, event: &[u8], c: usize, n: usize) -> Vec<f64> {
    paced_loop(emu, event, c, n, Duration::ZERO).await
}

/// [`closed_loop`], each slot pausing `gap` after every answer before its next invocation.
async fn paced_loop(
    emu: &Arc<Emulator>,
    event: &[u8],
    c: usize,
    n: usize,
    gap: Duration,
) -> Vec<f64> {
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..c {
        let (emu, left, event) = (
            emu.clone(),
            left.clone(),
            bytes::Bytes::copy_from_slice(event),
        );
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while left
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |l| l.checked_sub(1),
                )
                .is_ok()
            {
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                let t = Instant::now();
                match emu.invoke_raw(event.clone(), Duration::from_secs(60)).await {
                    Outcome::Ok(_) => lat.push(crate::ms(t.elapsed())),
                    Outcome::Err {
                        error_type,
                        message,
                    } => panic!("benchmark invocation failed: {error_type}: {message}"),
                }
            }
            lat
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(lat) = tasks.join_next().await {
        all.extend(lat.expect("closed-loop task"));
    }
    all
}

fn rss_mb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// The harness's shared parts: the local KMS behind the gate, over TLS.
pub struct Kms {
    pub local: Arc<LocalKms>,
    tls: TlsEndpoint,
    gate: Gate,
}

impl Kms {
    pub async fn start() -> Self {
        let local = Arc::new(LocalKms::default());
        let answering = local.clone();
        let gate = Gate::start_answering(
            "testing",
            Arc::new(move |target, body| answering.answer(target, body)),
        )
        .await;
        let tls = TlsEndpoint::start(&gate.url()).await;
        Kms { local, tls, gate }
    }

    /// Every request answered `latency` after it arrives (in-region KMS takes milliseconds).
    pub fn set_latency(&self, latency: Duration) {
        self.gate.hang((!latency.is_zero()).then_some(latency));
    }

    /// `peer`'s environment as Managed Instances would set it — `c` invocations at once,
    /// `memory_mb`, JSON logs — with this KMS's endpoint and trust settings.
    pub fn function_env(
        &self,
        peer: &Peer,
        c: usize,
        memory_mb: u64,
    ) -> Vec<(&'static str, String)> {
        let ca = support::tls::test_ca();
        let mut env = peer.env.clone();
        env.extend([
            ("AWS_ENDPOINT_URL_KMS", self.tls.url()),
            ("SSL_CERT_FILE", ca.bundle().display().to_string()),
            ("NODE_EXTRA_CA_CERTS", ca.root().display().to_string()),
            ("AWS_LAMBDA_MAX_CONCURRENCY", c.to_string()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ]);
        env
    }
}

/// How a window is run besides its workload.
#[derive(Clone, Copy)]
struct Setup {
    /// The function pinned to CPU 1 (the harness to CPU 0).
    pinned: bool,
    /// Its CPU quota, in cores.
    cores: u64,
    /// Each slot's pause between an answer and its next invocation.
    gap: Duration,
    /// `KMS_LAMBDA_PROBE_FLAVOR` for the kit's probe, if any.
    flavor: Option<&'static str>,
}

impl Setup {
    fn pinned(pinned: bool) -> Self {
        Setup {
            pinned,
            cores: 1,
            gap: Duration::ZERO,
            flavor: None,
        }
    }
}

/// `reps` windows of `peer` under `setup`, one process each: their medians (min–max).
#[allow(clippy::too_many_arguments)]
async fn cell_with(
    kms: &Kms,
    peer: &Peer,
    event: &[u8],
    name: &str,
    c: usize,
    n: usize,
    warmup: usize,
    setup: Setup,
    reps: usize,
) -> Cell {
    let mut runs = Vec::new();
    for _ in 0..reps {
        runs.push(window_with(kms, peer, event, name, c, n, warmup, setup).await);
    }
    let pick = |f: fn(&Window) -> f64| stats(runs.iter().map(f).collect());
    Cell {
        per_s: pick(|r| r.per_s),
        p50: pick(|r| r.p50),
        p99: pick(|r| r.p99),
        cpu_ms: pick(|r| r.cpu_ms),
        rss_mb: pick(|r| r.rss_mb),
    }
}

/// One process, one window under `setup`: spawn, warm up, measure.
#[allow(clippy::too_many_arguments)]
async fn window_with(
    kms: &Kms,
    peer: &Peer,
    event: &[u8],
    name: &str,
    c: usize,
    n: usize,
    warmup: usize,
    setup: Setup,
) -> Window {
    let share = CpuShare::new(1769 * setup.cores).ok();
    let emu = Arc::new(Emulator::start().await);
    let mut env = kms.function_env(peer, c, 2048);
    if let Some(flavor) = setup.flavor {
        env.push(("KMS_LAMBDA_PROBE_FLAVOR", flavor.to_string()));
    }
    let mut args: Vec<&str> = Vec::new();
    let program = if setup.pinned {
        args.extend(["-c", "1", &peer.program]);
        "taskset"
    } else {
        &peer.program
    };
    args.extend(peer.args.iter().map(String::as_str));
    let join = share.as_ref().map(|s| s.procs_file());
    let f = Process::spawn_command_in(&emu, program, &args, &env, join.as_deref());
    emu.wait_for_polls(c, Duration::from_secs(120)).await;
    // Warm-up: the client built, connections open, Node.js's JIT settled.
    paced_loop(&emu, event, c, warmup.max(c), setup.gap).await;
    // KMS_LAMBDA_BENCH_PERF=DIR: a `perf` profile of the function over the window, to DIR.
    let perf = std::env::var("KMS_LAMBDA_BENCH_PERF").ok().map(|dir| {
        let name = format!(
            "{dir}/{}-{}-c{c}-gap{}.data",
            peer.name,
            name.replace(' ', "-"),
            setup.gap.as_millis()
        );
        std::process::Command::new("perf")
            .args([
                "record",
                "-q",
                "-F",
                "2000",
                "--call-graph",
                "dwarf,16384",
                "-o",
                &name,
            ])
            .args(["-p", &f.pid().to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("perf")
    });
    if perf.is_some() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu = f.cpu_time();
    let t = Instant::now();
    let mut lat = paced_loop(&emu, event, c, n, setup.gap).await;
    let wall = t.elapsed().as_secs_f64();
    if let Some(perf) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait_with_output();
    }
    let cpu_ms = crate::ms(f.cpu_time().saturating_sub(cpu)) / n as f64;
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let window = Window {
        per_s: n as f64 / wall,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        cpu_ms,
        rss_mb: rss_mb(f.pid(), "VmHWM:"),
    };
    drop(f);
    window
}

/// Every peer at every workload and concurrency; the markdown table, its JSON, and the targets.
pub async fn run(
    peers: &[Peer],
    reps: usize,
    window: usize,
    warmup: usize,
    concurrency: &[usize],
) -> (String, Vec<Value>) {
    let kms = Kms::start().await;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = cpus >= 2 && pin_self("0");
    let mut md = format!(
        "Conditions: one vCPU (cgroup quota of one core{}), HTTPS to the local KMS, JSON logs, \
         {reps} processes per cell, each warmed up by {warmup} invocations (at least 4 per concurrent \
         slot), then {window} timed (at least 10 per slot).\n\n\
         | Workload | Concurrency | Runtime | inv/s observed | p50 ms | p99 ms | CPU ms / inv | inv/s per vCPU | max RSS MB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        if pinned {
            "; function pinned to CPU 1, harness to CPU 0"
        } else {
            "; not pinned: fewer than two CPUs"
        },
    );
    let mut out = Vec::new();
    let mut cells: Vec<(&str, usize, &str, Cell)> = Vec::new();
    let only = std::env::var("KMS_LAMBDA_BENCH_WORKLOAD").unwrap_or_default();
    for w in workloads(&kms.local)
        .into_iter()
        .filter(|w| w.name.contains(&only))
    {
        for &c in concurrency {
            for p in peers {
                let n = window.max(10 * c);
                let setup = Setup::pinned(pinned);
                let cell = cell_with(
                    &kms,
                    p,
                    &w.event,
                    w.name,
                    c,
                    n,
                    warmup.max(4 * c),
                    setup,
                    reps,
                )
                .await;
                md.push_str(&format!(
                    "| {} | {c} | {} | {:.0} | {:.2} | {:.2} | {:.3} ({:.3}–{:.3}) | {:.0} | {:.1} |\n",
                    w.name,
                    p.name,
                    cell.per_s.median,
                    cell.p50.median,
                    cell.p99.median,
                    cell.cpu_ms.median,
                    cell.cpu_ms.min,
                    cell.cpu_ms.max,
                    cell.per_vcpu(),
                    cell.rss_mb.max,
                ));
                let s = |s: Stats| json!({"min": s.min, "median": s.median, "max": s.max});
                out.push(json!({
                    "workload": w.name, "concurrency": c, "peer": p.name,
                    "invocations_per_s": s(cell.per_s), "p50_ms": s(cell.p50), "p99_ms": s(cell.p99),
                    "cpu_ms_per_invocation": s(cell.cpu_ms), "per_vcpu_per_s": cell.per_vcpu(),
                    "max_rss_mb": s(cell.rss_mb),
                }));
                cells.push((w.name, c, p.name, cell));
            }
        }
    }
    if pinned {
        pin_self(&format!("0-{}", cpus - 1));
    }
    md.push_str(&targets(&cells));
    (md, out)
}

/// The targets, checked on this run's medians.
fn targets(cells: &[(&str, usize, &str, Cell)]) -> String {
    let get = |w: &str, c: usize, p: &str| {
        cells
            .iter()
            .find(|(cw, cc, cp, _)| *cw == w && *cc == c && *cp == p)
            .map(|(.., cell)| *cell)
    };
    let enc = "encrypt 100 B";
    let row = |name: String, measured: Option<(String, bool)>, target: &str| match measured {
        Some((v, ok)) => format!(
            "| {name} | {v} | {target} | {} |\n",
            if ok { "yes" } else { "**no**" }
        ),
        None => format!("| {name} | not measured | {target} | |\n"),
    };
    let mut md = String::from(
        "\n| Target (medians of this run) | Measured | Target | Met |\n|---|---|---|---|\n",
    );
    for (c, limit) in [(1, 0.6), (8, 0.35)] {
        md.push_str(&row(
            format!("Rust CPU per warm 100-byte encrypt, concurrency {c}"),
            get(enc, c, "Rust").map(|x| {
                (
                    format!("{:.3} ms", x.cpu_ms.median),
                    x.cpu_ms.median <= limit,
                )
            }),
            &format!("≤ {limit} ms"),
        ));
    }
    md.push_str(&row(
        "Invocations per second per vCPU, Rust ÷ Node.js, encrypt, concurrency 8".into(),
        get(enc, 8, "Rust")
            .zip(get(enc, 8, "Node.js"))
            .map(|(r, n)| {
                let ratio = r.per_vcpu() / n.per_vcpu();
                (format!("{ratio:.1}×"), ratio >= 10.0)
            }),
        "≥ 10×",
    ));
    md.push_str(&row(
        "Rust p99 ÷ p50, encrypt, concurrency 64".into(),
        get(enc, 64, "Rust").map(|x| {
            let ratio = x.p99.median / x.p50.median;
            (format!("{ratio:.2}"), ratio <= 3.0)
        }),
        "≤ 3",
    ));
    md
}

/// What `c` concurrent envelope round trips of `size` bytes did to one process.
pub struct RoundTrips {
    pub peak_rss_mb: f64,
    pub per_s: f64,
    pub memory_mb: u64,
    pub errors: Vec<String>,
}

/// `c` slots, each encrypting `size` bytes as an envelope and decrypting what came back, `n`
/// times, against a function told it has `memory_mb` (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`): its
/// peak RSS, and any invocation that failed (named by its `errorType`).
pub async fn round_trips(
    kms: &Kms,
    peer: &Peer,
    c: usize,
    n: usize,
    size: usize,
    memory_mb: u64,
) -> RoundTrips {
    let emu = Arc::new(Emulator::start().await);
    let env = kms.function_env(peer, c, memory_mb);
    let args: Vec<&str> = peer.args.iter().map(String::as_str).collect();
    let f = Process::spawn_command(&emu, &peer.program, &args, &env);
    emu.wait_for_polls(c, Duration::from_secs(120)).await;
    let plaintext = support::b64(&vec![0xa5_u8; size]);
    let encrypt = bytes::Bytes::from(
        serde_json::to_vec(&json!({"operation": "encrypt", "plaintext": plaintext, "encryptionContext": {"bench": "rt"}}))
            .unwrap(),
    );
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..c {
        let (emu, encrypt, plaintext) = (emu.clone(), encrypt.clone(), plaintext.clone());
        tasks.spawn(async move {
            let mut errors = Vec::new();
            for _ in 0..n {
                let sealed = match emu.invoke_raw(encrypt.clone(), Duration::from_secs(120)).await {
                    Outcome::Ok(v) => v["ciphertext"].clone(),
                    Outcome::Err { error_type, message } => {
                        errors.push(format!("encrypt: {error_type}: {message}"));
                        continue;
                    }
                };
                let decrypt = json!({"operation": "decrypt", "ciphertext": sealed, "encryptionContext": {"bench": "rt"}});
                match emu.invoke(&decrypt).await {
                    Outcome::Ok(v) if v["plaintext"] == plaintext.as_str() => {}
                    Outcome::Ok(_) => errors.push("decrypt: a different plaintext".into()),
                    Outcome::Err { error_type, message } => {
                        errors.push(format!("decrypt: {error_type}: {message}"))
                    }
                }
            }
            errors
        });
    }
    let mut errors = Vec::new();
    while let Some(e) = tasks.join_next().await {
        errors.extend(e.expect("round-trip task"));
    }
    RoundTrips {
        peak_rss_mb: rss_mb(f.pid(), "VmHWM:"),
        per_s: (2 * c * n) as f64 / t.elapsed().as_secs_f64(),
        memory_mb,
        errors,
    }
}

/// Small encrypts beside large envelopes, on one vCPU at concurrency `c`: the p99 of 100-byte
/// encrypts while one slot keeps decrypting a 1 MiB envelope, against their p99 alone (all `c`
/// slots small), in the same process. Whether a large invocation's CPU-bound work (base64,
/// AES-GCM) holds back the small ones served beside it.
pub async fn mixed(kms: &Kms, peer: &Peer, c: usize, n: usize, reps: usize) -> String {
    let context = json!({"bench": "1"});
    let small = serde_json::to_vec(&json!({"operation": "encrypt", "plaintext": support::b64(&[0x5a; 100]), "encryptionContext": context})).unwrap();
    let share = CpuShare::new(1769).ok();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = cpus >= 2 && pin_self("0");
    let (mut alone, mut beside, mut large_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let emu = Arc::new(Emulator::start().await);
        let env = kms.function_env(peer, c, 2048);
        let mut args: Vec<&str> = Vec::new();
        let program = if pinned {
            args.extend(["-c", "1", &peer.program]);
            "taskset"
        } else {
            &peer.program
        };
        args.extend(peer.args.iter().map(String::as_str));
        let join = share.as_ref().map(|s| s.procs_file());
        let f = Process::spawn_command_in(&emu, program, &args, &env, join.as_deref());
        emu.wait_for_polls(c, Duration::from_secs(120)).await;
        // One 1 MiB envelope, sealed by the function itself.
        let payload = vec![0xa5_u8; 1 << 20];
        let sealed = emu
            .invoke(&json!({"operation": "encrypt", "plaintext": support::b64(&payload), "encryptionContext": context}))
            .await
            .ok();
        let large = serde_json::to_vec(&json!({"operation": "decrypt", "ciphertext": sealed["ciphertext"], "encryptionContext": context})).unwrap();
        closed_loop(&emu, &small, c, 4 * c).await;
        closed_loop(&emu, &large, 1, 4).await;
        let mut lat = closed_loop(&emu, &small, c, n).await;
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        alone.push(percentile(&lat, 0.99));
        // One slot decrypts the envelope over and over while the others serve small encrypts.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let looping = {
            let (emu, stop, large) = (emu.clone(), stop.clone(), bytes::Bytes::from(large));
            tokio::spawn(async move {
                let mut took = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let t = Instant::now();
                    emu.invoke_raw(large.clone(), Duration::from_secs(60))
                        .await
                        .ok();
                    took.push(crate::ms(t.elapsed()));
                }
                took
            })
        };
        let mut lat = closed_loop(&emu, &small, c - 1, n).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut took = looping.await.expect("the large loop");
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        beside.push(percentile(&lat, 0.99));
        took.sort_by(|a, b| a.partial_cmp(b).unwrap());
        large_ms.push(percentile(&took, 0.5));
        drop(f);
    }
    if pinned {
        pin_self(&format!("0-{}", cpus - 1));
    }
    let (a, b, l) = (stats(alone), stats(beside), stats(large_ms));
    let ratio = b.median / a.median;
    format!(
        "| {} | {c} | {:.2} ({:.2}–{:.2}) | {:.2} ({:.2}–{:.2}) | {:.2} | {ratio:.1}× | {} |\n",
        peer.name,
        a.median,
        a.min,
        a.max,
        b.median,
        b.min,
        b.max,
        l.median,
        if ratio <= 3.0 { "yes" } else { "**no**" },
    )
}

/// The table [`mixed`] fills, with its conditions.
pub fn mixed_header(reps: usize, n: usize) -> String {
    format!(
        "Small encrypts beside 1 MiB envelope decrypts: one vCPU (cgroup quota of one core, \
         function pinned to CPU 1, harness to CPU 0), HTTPS to the local KMS, JSON logs; per \
         process {n} timed 100-byte encrypts alone (every slot), then {n} while one slot decrypts \
         a 1 MiB envelope over and over; {reps} processes, medians (min–max).\n\n\
         | Runtime | Concurrency | small p99 alone, ms | small p99 beside, ms | 1 MiB decrypt p50, ms | beside ÷ alone | ≤ 3× |\n\
         |---|---|---|---|---|---|---|\n"
    )
}

/// The warm path against a KMS that takes its time: CPU per warm 100-byte encrypt with KMS
/// answering at once, after 5 ms and after 20 ms (`KMS_LAMBDA_BENCH_KMS_LATENCY_MS`), at
/// concurrency 1 and 8 on one vCPU, every peer; beside it a control — the same process's
/// invocations that call no KMS (the kit's probe, `{"operation": "calls", "n": 0}`), each slot
/// pausing as long
/// between invocations, so that the process parks exactly as long with no request in flight; and
/// on two vCPUs, the multi-thread runtime against the current-thread one at concurrency 8 and
/// 64. Returns the markdown.
pub async fn latency(peers: &[Peer], reps: usize, window: usize, warmup: usize) -> String {
    let kms = Kms::start().await;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = cpus >= 2 && pin_self("0");
    let latencies: Vec<u64> = std::env::var("KMS_LAMBDA_BENCH_KMS_LATENCY_MS")
        .ok()
        .map(|v| v.split(',').filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 5, 20]);
    // KMS_LAMBDA_BENCH_LATENCY_PART=kms|control|flavour runs one part (to profile it, with
    // KMS_LAMBDA_BENCH_PERF and a longer KMS_LAMBDA_BENCH_MANAGED_WINDOW).
    let part = std::env::var("KMS_LAMBDA_BENCH_LATENCY_PART").unwrap_or_default();
    let runs_part = |name: &str| part.is_empty() || part == name;
    let window = crate::env_usize("KMS_LAMBDA_BENCH_MANAGED_WINDOW", window);
    let encrypt = &workloads(&kms.local)[0];
    let control =
        serde_json::to_vec(&json!({"operation": "calls", "keyId": "alias/bench", "n": 0})).unwrap();
    let mut md = format!(
        "Conditions: {}, HTTPS to the local KMS (its answer held back by the latency), JSON logs, \
         {reps} processes per row (medians, min–max), each warmed up by {warmup} invocations, \
         then {window} timed (at least 10 per slot); rows run in table order.\n\n\
         | KMS latency | Concurrency | Runtime | CPU ms / inv | p50 ms | p99 ms | inv/s observed |\n\
         |---|---|---|---|---|---|---|\n",
        if pinned {
            "one vCPU (cgroup quota of one core; function pinned to CPU 1, harness to CPU 0)"
        } else {
            "one vCPU (cgroup quota of one core; not pinned: fewer than two CPUs)"
        },
    );
    for &l in latencies.iter().filter(|_| runs_part("kms")) {
        kms.set_latency(Duration::from_millis(l));
        for c in [1usize, 8] {
            for p in peers {
                let n = window.max(10 * c);
                let name = format!("{} at {l} ms", encrypt.name);
                let setup = Setup::pinned(pinned);
                let x = cell_with(&kms, p, &encrypt.event, &name, c, n, warmup, setup, reps).await;
                md.push_str(&format!(
                    "| {l} ms | {c} | {} | {:.3} ({:.3}–{:.3}) | {:.2} | {:.2} | {:.0} |\n",
                    p.name,
                    x.cpu_ms.median,
                    x.cpu_ms.min,
                    x.cpu_ms.max,
                    x.p50.median,
                    x.p99.median,
                    x.per_s.median
                ));
            }
        }
    }
    kms.set_latency(Duration::ZERO);
    // The probe, as the function's peer is configured: what the artefact must not have.
    let probe = peers.iter().find(|p| p.name == "Rust").map(|rust| Peer {
        name: "Rust (the kit's probe)",
        program: crate::probe_binary(),
        args: vec![],
        // Its own tables on top: a second kind of key, and its secret's variable, as start-up
        // requires it (never asked for here).
        env: rust
            .env
            .iter()
            .cloned()
            .chain([
                ("KMS_VAULT_KEY_ID", "alias/bench".to_string()),
                ("KIT_PROBE_SECRET", crate::support::b64(&[7u8; 64])),
            ])
            .collect(),
    });
    if let Some(rust) = probe.as_ref().filter(|_| runs_part("control")) {
        md.push_str(
            "\nThe control: invocations that call no KMS, each slot pausing between them as long \
             as KMS took above (the process parks as long, with no request in flight).\n\n\
             | Pause | Concurrency | CPU ms / inv (the kit's probe, no KMS call) |\n|---|---|---|\n",
        );
        for &l in &latencies {
            for c in [1usize, 8] {
                let setup = Setup {
                    gap: Duration::from_millis(l),
                    ..Setup::pinned(pinned)
                };
                let x = cell_with(
                    &kms,
                    rust,
                    &control,
                    "no KMS call",
                    c,
                    window.max(10 * c),
                    warmup,
                    setup,
                    reps,
                )
                .await;
                md.push_str(&format!(
                    "| {l} ms | {c} | {:.3} ({:.3}–{:.3}) |\n",
                    x.cpu_ms.median, x.cpu_ms.min, x.cpu_ms.max
                ));
            }
        }
    }
    if pinned {
        pin_self(&format!("0-{}", cpus - 1));
    }
    if let Some(rust) = probe.as_ref().filter(|_| runs_part("flavour")) {
        let seal = serde_json::to_vec(&crate::as_seal(
            &serde_json::from_slice::<serde_json::Value>(&encrypt.event).unwrap(),
        ))
        .unwrap();
        // Two vCPUs: the process and the harness share both cores.
        if cpus >= 2 {
            kms.set_latency(Duration::from_millis(5));
            md.push_str(
                "\nTwo vCPUs (cgroup quota of two cores, nothing pinned: the harness shares them), \
                 KMS latency 5 ms, 100-byte encrypts (the kit's probe's `seal`), the runtime's \
                 flavour forced:\n\n\
                 | Concurrency | Runtime flavour | CPU ms / inv | p50 ms | p99 ms | inv/s observed |\n\
                 |---|---|---|---|---|---|\n",
            );
            for c in [8usize, 64] {
                for flavor in ["current-thread", "multi-thread"] {
                    let setup = Setup {
                        pinned: false,
                        cores: 2,
                        gap: Duration::ZERO,
                        flavor: Some(flavor),
                    };
                    let x = cell_with(
                        &kms,
                        rust,
                        &seal,
                        encrypt.name,
                        c,
                        window.max(10 * c),
                        warmup.max(4 * c),
                        setup,
                        reps,
                    )
                    .await;
                    md.push_str(&format!(
                        "| {c} | {flavor} | {:.3} ({:.3}–{:.3}) | {:.2} | {:.2} | {:.0} |\n",
                        x.cpu_ms.median,
                        x.cpu_ms.min,
                        x.cpu_ms.max,
                        x.p50.median,
                        x.p99.median,
                        x.per_s.median
                    ));
                }
            }
            kms.set_latency(Duration::ZERO);
        }
    }
    md
}
