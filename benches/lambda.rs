//! `make bench`: the function as Lambda runs it — the artefact that ships (the `bootstrap`
//! `cargo lambda build --release` makes, for this machine's architecture) under the Runtime API
//! emulator, against the local KMS — beside a plain SDK call and the Node.js v3 peer, all in
//! the same run. What the shipped artefact must not have — a client built in INIT, an operation
//! that calls no KMS, a forced runtime flavour — comes from the kit's probe (`kit/probe`, its
//! release build), never from the artefact. Every figure is min / median / max over repeated
//! runs; comparisons are ratios of medians from this run. Writes bench/results/bench.{md,json}.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it makes one pass of each step as a
//! smoke test and writes nothing.

#[path = "lambda/conditions.rs"]
mod conditions;
#[path = "lambda/cpu.rs"]
mod cpu;
#[path = "lambda/local_kms.rs"]
mod local_kms;
#[path = "lambda/managed.rs"]
mod managed;
#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{b64, Emulator, Outcome, Process};

#[derive(Clone, Copy)]
struct Stats {
    min: f64,
    median: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Stats {
        min: v[0],
        median: v[v.len() / 2],
        max: v[v.len() - 1],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn encrypt_event() -> Value {
    json!({"operation": "encrypt", "plaintext": b64(b"benchmark payload"), "encryptionContext": {"bench": "1"}})
}

/// A runtime to start: the Rust binary, the kit's probe (lazy or eager client) or the Node.js
/// peer, and the event it is timed with.
struct Runtime {
    program: String,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    event: Value,
}

struct ColdRun {
    init_ms: f64,
    first_ms: f64,
    warm_ms: f64,
}

async fn invoke_ms(emu: &Emulator, event: &Value) -> f64 {
    let t = Instant::now();
    match emu.invoke(event).await {
        Outcome::Ok(_) => ms(t.elapsed()),
        Outcome::Err {
            error_type,
            message,
        } => panic!("benchmark invocation failed: {error_type}: {message}"),
    }
}

/// Exec → first `/next` poll (INIT), then the first invoke and the median of `warm` more.
async fn cold_run(rt: &Runtime, warm: usize) -> ColdRun {
    let emu = Emulator::start().await;
    let args: Vec<&str> = rt.args.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let _f = Process::spawn_command(&emu, &rt.program, &args, &rt.env);
    emu.wait_for_polls(1, Duration::from_secs(60)).await;
    let init_ms = ms(emu.first_poll_at().unwrap() - t0);
    let first_ms = invoke_ms(&emu, &rt.event).await;
    let mut w = Vec::new();
    for _ in 0..warm {
        w.push(invoke_ms(&emu, &rt.event).await);
    }
    ColdRun {
        init_ms,
        first_ms,
        warm_ms: stats(w).median,
    }
}

async fn cold_runs(rt: &Runtime, reps: usize, warm: usize) -> (Stats, Stats, Stats) {
    let mut init = Vec::new();
    let mut first = Vec::new();
    let mut penalty = Vec::new();
    for _ in 0..reps {
        let r = cold_run(rt, warm).await;
        init.push(r.init_ms);
        first.push(r.first_ms);
        penalty.push(r.first_ms - r.warm_ms);
    }
    (stats(init), stats(first), stats(penalty))
}

fn rss_kib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

struct Row {
    name: String,
    unit: &'static str,
    s: Option<Stats>,
    value: Option<String>,
    target: String,
    ok: Option<bool>,
}

fn row(name: &str, unit: &'static str, s: Stats, target: &str, ok: Option<bool>) -> Row {
    Row {
        name: name.into(),
        unit,
        s: Some(s),
        value: None,
        target: target.into(),
        ok,
    }
}

fn fact(name: &str, value: String, target: &str, ok: Option<bool>) -> Row {
    Row {
        name: name.into(),
        unit: "",
        s: None,
        value: Some(value),
        target: target.into(),
        ok,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(full));
}

/// glibc's settings as `template.yaml` deploys them, so the function runs here as it does there.
fn deployed_glibc_tunables() -> String {
    include_str!("../template.yaml")
        .lines()
        .find_map(|l| l.trim().strip_prefix("GLIBC_TUNABLES: "))
        .expect("template.yaml sets GLIBC_TUNABLES")
        .to_string()
}

/// The function binary timed: the artefact that ships, as `cargo lambda build --release` makes
/// it (`make bench` builds it first), or `KMS_LAMBDA_BENCH_BIN` to compare another build. Under
/// `cargo test` (one pass as a smoke test) without that artefact, the test build.
pub fn function_binary() -> String {
    if let Ok(bin) = std::env::var("KMS_LAMBDA_BENCH_BIN") {
        return bin;
    }
    let shipped = target_dir().join("lambda/kms-lambda/bootstrap");
    if runs_here(&shipped) {
        return shipped.display().to_string();
    }
    assert!(
        !std::env::args().any(|a| a == "--bench"),
        "{} not built for this machine: `make bench` builds it (cargo lambda build --release)",
        shipped.display()
    );
    env!("CARGO_BIN_EXE_kms-lambda").into()
}

/// The kit's probe (`kit/probe`): a function made with the kit that has what the artefact must
/// not — `KMS_LAMBDA_PROBE_EAGER_CLIENT`, `KMS_LAMBDA_PROBE_FLAVOR`, and the `calls` and `seal`
/// operations. Its release build (`make bench` builds it), else the test build.
pub fn probe_binary() -> String {
    if let Ok(bin) = std::env::var("KMS_LAMBDA_BENCH_PROBE") {
        return bin;
    }
    let release = target_dir().join("release/kit-probe");
    if release.exists() {
        return release.display().to_string();
    }
    target_dir().join("debug/kit-probe").display().to_string()
}

/// Whether `binary` is an ELF executable of this machine's architecture (`make build` leaves an
/// arm64 one at the same path).
fn runs_here(binary: &Path) -> bool {
    let Ok(head) = std::fs::read(binary).map(|b| b.get(..20).map(<[u8]>::to_vec)) else {
        return false;
    };
    let machine = head.map(|h| u16::from_le_bytes([h[18], h[19]]));
    match std::env::consts::ARCH {
        "x86_64" => machine == Some(62),
        "aarch64" => machine == Some(183),
        _ => false,
    }
}

/// This build's target directory.
fn target_dir() -> std::path::PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    )
}

/// `event` (an `encrypt` of a small payload) as the probe's `seal`, which sends the same KMS
/// `Encrypt`: what the probe's rows time.
pub fn as_seal(event: &Value) -> Value {
    let mut seal = event.clone();
    seal["operation"] = json!("seal");
    seal
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(full: bool) {
    let (reps, warm, rounds, load) = if full {
        (10, 20, 300, 10_000)
    } else {
        (1, 2, 3, 20)
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let url = support::kms_url();
    let key = support::create_key(&url).await;
    // A key of every kind in the table, each in its variable (the first, `key`, is the one the
    // encrypt events use).
    let mut key_vars = vec![(key.kind.variable, key.alias.clone())];
    let mut aliases = vec![(key.kind, key.alias.clone())];
    for kind in &function::ops::KEYS[1..] {
        let alias = support::create_key_of(&url, kind).await.alias;
        key_vars.push((kind.variable, alias.clone()));
        aliases.push((kind, alias));
    }
    // Each secret, encrypted for the function as the emulator names it.
    for secret in function::ops::SECRETS {
        let alias = &aliases
            .iter()
            .find(|(k, _)| std::ptr::eq(*k, secret.key))
            .expect("a key of each kind")
            .1;
        let ciphertext = kms_lambda_kit::tools::local_keys::encrypt_secret(
            &support::admin_client(&url),
            secret,
            alias,
            support::emulator::FUNCTION_NAME,
            "the benchmark's webhook signing key",
        )
        .await;
        key_vars.push((secret.variable, ciphertext));
    }
    let mut base_env = key_vars.clone();
    base_env.extend([
        ("AWS_ENDPOINT_URL_KMS", url.clone()),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN".to_string()),
        ("GLIBC_TUNABLES", deployed_glibc_tunables()),
    ]);
    let rust = Runtime {
        program: function_binary(),
        args: vec![],
        env: base_env.clone(),
        event: encrypt_event(),
    };
    // The probe's own tables: its second kind of key (KMS_VAULT_KEY_ID) and its secret
    // (KIT_PROBE_SECRET, encrypted with that key for the function as the emulator names it).
    let probe_secret = {
        let out = support::admin_client(&url)
            .encrypt()
            .key_id(&key.alias)
            .plaintext(aws_sdk_kms::primitives::Blob::new(
                &b"the probe's secret"[..],
            ))
            .encryption_context("LambdaFunctionName", support::emulator::FUNCTION_NAME)
            .send()
            .await
            .expect("Encrypt the probe's secret");
        support::b64(out.ciphertext_blob.expect("CiphertextBlob").as_ref())
    };
    let probe_env: Vec<(&'static str, String)> = base_env
        .iter()
        .cloned()
        .chain([
            ("KMS_VAULT_KEY_ID", key.alias.clone()),
            ("KIT_PROBE_SECRET", probe_secret),
        ])
        .collect();
    let probe = |eager: bool| {
        let mut env = probe_env.clone();
        if eager {
            env.push(("KMS_LAMBDA_PROBE_EAGER_CLIENT", "1".into()));
        }
        Runtime {
            program: probe_binary(),
            args: vec![],
            env,
            event: as_seal(&encrypt_event()),
        }
    };
    println!(
        "timing {} (the function), {} (the kit's probe)",
        function_binary(),
        probe_binary()
    );
    let node_dir = root.join("bench/node");
    let node_installed = node_dir.join("node_modules/@aws-sdk/client-kms").exists();
    if !node_installed {
        println!("(Node.js peer skipped: run `npm ci` in bench/node, as `make bench` does)");
    }

    // KMS_LAMBDA_BENCH_ONLY=memory: the round trip's peak memory alone, and the largest
    // crafted envelope's (frame length 1).
    if std::env::var("KMS_LAMBDA_BENCH_ONLY").is_ok_and(|v| v == "memory") {
        let reps = if full { 5 } else { 1 };
        let mut rows = round_trip_memory(&base_env, reps).await;
        rows.extend(crafted_envelope_memory(&base_env, &url, &key.key_id, reps).await);
        for r in rows {
            println!("{}: {}", r.name, r.value.unwrap_or_default());
        }
        return;
    }

    // 0. The first invoke under Lambda's conditions: TLS and CPU shares, beside the Node.js peer.
    let mut peers = vec![conditions::Peer {
        name: "Rust",
        program: function_binary(),
        args: vec![],
        env: key_vars
            .iter()
            .cloned()
            .chain([
                ("AWS_LAMBDA_LOG_LEVEL", "WARN".to_string()),
                ("GLIBC_TUNABLES", deployed_glibc_tunables()),
            ])
            .collect(),
    }];
    // Other builds of the function, as more columns of the same run, to keep or reject a
    // candidate change on numbers: KMS_LAMBDA_BENCH_EXTRA="name=/path/to/bootstrap,…".
    for extra in std::env::var("KMS_LAMBDA_BENCH_EXTRA")
        .unwrap_or_default()
        .split(',')
    {
        if let Some((name, path)) = extra.split_once('=') {
            peers.push(conditions::Peer {
                name: Box::leak(name.to_string().into_boxed_str()),
                program: path.to_string(),
                args: vec![],
                env: peers[0].env.clone(),
            });
        }
    }
    if node_installed {
        peers.push(conditions::Peer {
            name: "Node.js",
            program: "node".into(),
            args: vec![node_dir.join("index.mjs").display().to_string()],
            env: key_vars
                .iter()
                .filter(|(k, _)| *k == "KMS_KEY_ID" || *k == "WEBHOOK_SIGNING_KEY")
                .cloned()
                .collect(),
        });
    }
    // Lambda Managed Instances: concurrent invocations on one vCPU, beside the Node.js peer,
    // against a KMS of the bench's own (KMS_LAMBDA_BENCH_ONLY=managed runs this alone).
    let only_section = std::env::var("KMS_LAMBDA_BENCH_ONLY").ok();
    if only_section
        .as_deref()
        .is_none_or(|v| v == "managed" || v == "mixed" || v == "latency")
    {
        let local_key = |peer: &conditions::Peer| conditions::Peer {
            name: peer.name,
            program: peer.program.clone(),
            args: peer.args.clone(),
            env: peer
                .env
                .iter()
                .map(|(k, v)| {
                    let is_key = *k == "KMS_KEY_ID"
                        || function::ops::KEYS.iter().any(|key| key.variable == *k);
                    (
                        *k,
                        if is_key {
                            "alias/bench".to_string()
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect(),
        };
        // KMS_LAMBDA_BENCH_PEERS=Rust,… and KMS_LAMBDA_BENCH_CONCURRENCY=1,8 narrow the section
        // (KMS_LAMBDA_BENCH_WORKLOAD too), e.g. to profile one cell with KMS_LAMBDA_BENCH_PERF.
        let wanted = std::env::var("KMS_LAMBDA_BENCH_PEERS").ok();
        let peers: Vec<conditions::Peer> = peers
            .iter()
            .filter(|p| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.split(',').any(|n| n == p.name))
            })
            .map(local_key)
            .collect();
        let (reps, window, warmup, concurrency) = if full {
            (
                env_usize("KMS_LAMBDA_BENCH_MANAGED_REPS", 3),
                env_usize("KMS_LAMBDA_BENCH_MANAGED_WINDOW", 400),
                200,
                std::env::var("KMS_LAMBDA_BENCH_CONCURRENCY")
                    .ok()
                    .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
                    .unwrap_or_else(|| managed::CONCURRENCY.to_vec()),
            )
        } else {
            (1, 10, 2, vec![1, 8])
        };
        // KMS_LAMBDA_BENCH_ONLY=latency: the warm path against a KMS that takes its time.
        if only_section.as_deref() == Some("latency") {
            let (reps, window, warmup) = if full { (3, 400, 200) } else { (1, 10, 2) };
            let md = managed::latency(&peers, reps, window, warmup).await;
            println!("\n{md}");
            if full {
                write_results("latency", &md, &[]);
            }
            return;
        }
        // KMS_LAMBDA_BENCH_ONLY=mixed: small encrypts beside large envelopes, alone.
        if only_section.as_deref() == Some("mixed") {
            let kms = managed::Kms::start().await;
            let (reps, n) = if full { (3, 800) } else { (1, 20) };
            let mut md = managed::mixed_header(reps, n);
            for p in peers.iter().filter(|p| p.name != "Node.js") {
                md.push_str(&managed::mixed(&kms, p, 8, n, reps).await);
            }
            println!("\n{md}");
            if full {
                write_results("mixed", &md, &[]);
            }
            return;
        }
        let (mut md, json) = managed::run(&peers, reps, window, warmup, &concurrency).await;
        // Memory under concurrency: 64 slots of 1 MiB envelope round trips in one process.
        let (c, n, mb) = if full {
            (
                64,
                4,
                env_usize("KMS_LAMBDA_BENCH_ROUND_TRIP_MEMORY_MB", 512) as u64,
            )
        } else {
            (4, 1, 512)
        };
        if let Some(rust) = peers.iter().find(|p| p.name == "Rust") {
            let kms = managed::Kms::start().await;
            let r = managed::round_trips(&kms, rust, c, n, 1 << 20, mb).await;
            assert!(r.errors.is_empty(), "round trips failed: {:?}", r.errors);
            md.push_str(&format!(
                "\n{c} concurrent 1 MiB envelope round trips ({n} each) at \
                 AWS_LAMBDA_FUNCTION_MEMORY_SIZE={}: peak RSS {:.1} MB, {:.0} invocations/s.\n",
                r.memory_mb, r.peak_rss_mb, r.per_s
            ));
        }
        if full {
            println!("\n{md}");
            write_results("managed", &md, &json);
        }
        if only_section.is_some() {
            return;
        }
    }

    let only = std::env::var("KMS_LAMBDA_BENCH_CONDITION").ok();
    let (like_reps, like_warm, only) = if full {
        (env_usize("KMS_LAMBDA_BENCH_REPS", 10), 5, only)
    } else {
        (
            1,
            1,
            Some(only.unwrap_or_else(|| "TLS, 128 MB (quota after INIT)".into())),
        )
    };
    let (like_md, like_json, skipped) =
        conditions::run(&peers, &url, like_reps, like_warm, only.as_deref()).await;
    for s in &skipped {
        println!("{s}");
    }
    if full {
        println!("\n{like_md}");
        let mut text = like_md.clone();
        if !skipped.is_empty() {
            text.push_str(&format!("\n{}\n", skipped.join("\n")));
        }
        write_results("lambda-like", &text, &like_json);
    }
    if std::env::var("KMS_LAMBDA_BENCH_ONLY").is_ok_and(|v| v == "lambda-like") {
        return;
    }
    let mut rows = Vec::new();

    // 1-2. Cold start and the lazy-init penalty, the function's and the Node.js peer's; the
    // kit's probe lazy and eager, the same binary either way (an eager client is what the
    // function must never have).
    let (init, first, penalty) = cold_runs(&rust, reps, warm).await;
    let (p_init, p_first, p_penalty) = cold_runs(&probe(false), reps, warm).await;
    let (e_init, e_first, e_penalty) = cold_runs(&probe(true), reps, warm).await;
    let node = if node_installed {
        let rt = Runtime {
            program: "node".into(),
            args: vec![node_dir.join("index.mjs").display().to_string()],
            env: base_env.clone(),
            event: encrypt_event(),
        };
        Some(cold_runs(&rt, reps, warm).await)
    } else {
        None
    };
    rows.push(row(
        "Cold start: exec → first /next (INIT), Rust",
        "ms",
        init,
        "≤ 1/20 of Node.js",
        None,
    ));
    rows.push(row(
        "First encrypt invoke, lazy client (Rust)",
        "ms",
        first,
        "",
        None,
    ));
    rows.push(row(
        "Lazy-init penalty: first − warm invoke (Rust)",
        "ms",
        penalty,
        "≤ 15 ms",
        Some(penalty.median <= 15.0),
    ));
    for (what, (i, f, p)) in [
        ("the kit's probe, lazy client", (p_init, p_first, p_penalty)),
        (
            "the kit's probe, client built in INIT",
            (e_init, e_first, e_penalty),
        ),
    ] {
        rows.push(row(&format!("Cold start, {what}"), "ms", i, "", None));
        rows.push(row(&format!("First invoke, {what}"), "ms", f, "", None));
        rows.push(row(&format!("First − warm, {what}"), "ms", p, "", None));
    }
    if let Some((n_init, n_first, n_penalty)) = node {
        rows.push(row(
            "Cold start, Node.js peer (@aws-sdk/client-kms v3)",
            "ms",
            n_init,
            "",
            None,
        ));
        rows.push(row(
            "First encrypt invoke, Node.js peer",
            "ms",
            n_first,
            "",
            None,
        ));
        rows.push(row(
            "Lazy-init penalty, Node.js peer",
            "ms",
            n_penalty,
            "",
            None,
        ));
        let ratio = init.median / n_init.median;
        rows.push(fact(
            "Cold start ratio Rust : Node.js (medians)",
            format!("1 : {:.1}", 1.0 / ratio),
            "≥ 1 : 20",
            Some(ratio <= 0.05),
        ));
        rows.push(fact(
            "First-invoke ratio Rust : Node.js (medians)",
            format!("1 : {:.1}", n_first.median / first.median),
            "",
            None,
        ));
    }

    // 3. Warm latency and the function's overhead above a plain SDK call, same KMS, same run.
    let emu = Emulator::start().await;
    let f = Process::spawn(&function_binary(), &emu, &base_env);
    emu.wait_for_polls(1, Duration::from_secs(60)).await;
    invoke_ms(&emu, &encrypt_event()).await;
    // Invocations and plain SDK calls alternate, so both see the same moto and machine state,
    // and the overhead is the median of the paired differences (robust to drift and outliers).
    let sdk = support::admin_client(&url);
    let raw_call = || async {
        let t = Instant::now();
        sdk.encrypt()
            .key_id(&key.alias)
            .plaintext(aws_sdk_kms::primitives::Blob::new(
                b"benchmark payload".to_vec(),
            ))
            .encryption_context("bench", "1")
            .send()
            .await
            .unwrap();
        ms(t.elapsed())
    };
    raw_call().await;
    let mut enc = Vec::new();
    let mut raw = Vec::new();
    let mut paired = Vec::new();
    let mut ciphertext = Value::Null;
    for _ in 0..rounds {
        let r = raw_call().await;
        let t = Instant::now();
        let out = emu.invoke(&encrypt_event()).await.ok();
        let e = ms(t.elapsed());
        ciphertext = out["ciphertext"].clone();
        enc.push(e);
        raw.push(r);
        paired.push((e - r) * 1000.0);
    }
    // The floor: an invocation rejected before any KMS call (emulator + runtime + parsing).
    let mut floor = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let out = emu.invoke(&json!({"operation": "encrypt"})).await;
        assert_eq!(out.error_type(), "InvalidRequest");
        floor.push(ms(t.elapsed()) * 1000.0);
    }
    // The function's own time before the wire, from its EMF lines (warm invocations only).
    let lines = f.emf_wait(rounds + 1).await;
    let init_to_send: Vec<f64> = lines[1..=rounds]
        .iter()
        .filter_map(|l| l["InitToSendMs"].as_f64())
        .map(|v| v * 1000.0)
        .collect();
    let decrypt = json!({"operation": "decrypt", "ciphertext": ciphertext, "encryptionContext": {"bench": "1"}});
    let mut dec = Vec::new();
    for _ in 0..rounds {
        dec.push(invoke_ms(&emu, &decrypt).await);
    }
    let (enc, dec, raw, paired, floor) = (
        stats(enc),
        stats(dec),
        stats(raw),
        stats(paired),
        stats(floor),
    );
    let overhead_us = paired.median;
    rows.push(row("Warm encrypt invoke", "ms", enc, "", None));
    rows.push(row("Warm decrypt invoke", "ms", dec, "", None));
    rows.push(row(
        "Plain SDK Encrypt to the same KMS (no Lambda)",
        "ms",
        raw,
        "",
        None,
    ));
    rows.push(row(
        "Invoke rejected before KMS (emulator + runtime floor)",
        "µs",
        floor,
        "",
        None,
    ));
    rows.push(row(
        "In-function: handler entry → request on the wire, warm",
        "µs",
        stats(init_to_send),
        "",
        None,
    ));
    rows.push(row(
        "Overhead: warm encrypt invoke − plain SDK call, paired",
        "µs",
        paired,
        "≤ 200 µs (median)",
        Some(overhead_us <= 200.0),
    ));
    // The emulator's two loopback hops and the runtime's own handling are in both the paired
    // overhead and the floor; what is left is the function's own work on the encrypt path.
    let own_us = overhead_us - floor.median;
    rows.push(fact(
        "Overhead less the emulator + runtime floor (medians)",
        format!("{own_us:.0} µs"),
        "≤ 200 µs",
        Some(own_us <= 200.0),
    ));

    // 4. Envelope throughput (from the envelope bench, run first by `make bench`).
    if let Ok(text) = std::fs::read_to_string(root.join("bench/results/envelope.json")) {
        let v: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
        // The frame-length rows have no name; the targets apply to the function's path.
        for e in v.iter().filter(|e| e["name"].is_string()) {
            let name = e["name"].as_str().unwrap_or_default();
            let median = e["median_mib_s"].as_f64().unwrap_or(0.0);
            let target = match name {
                "envelope encrypt (base64 in+out)" => Some(800.0),
                "envelope decrypt (base64 in+out)" => Some(1400.0),
                _ => None,
            };
            rows.push(fact(
                &format!("{name} at 1 MiB"),
                format!(
                    "{median:.0} MiB/s median ({:.2} of raw AES-GCM)",
                    e["ratio"].as_f64().unwrap_or(0.0)
                ),
                &target.map_or(String::new(), |t| format!("≥ {t:.0} MiB/s")),
                target.map(|t| median >= t),
            ));
        }
    }

    // 5. Memory after many warm invocations.
    let pid = f.pid();
    let rss_start = rss_kib(pid, "VmRSS:");
    let mut after_1k = rss_start;
    let mut sent = 0;
    while sent < load {
        let batch: Vec<_> = (0..8.min(load - sent))
            .map(|_| {
                emu.submit(
                    serde_json::to_vec(&encrypt_event()).unwrap(),
                    Duration::from_secs(30),
                )
            })
            .collect();
        for rx in batch {
            assert!(matches!(rx.await.unwrap(), Outcome::Ok(_)));
        }
        sent += 8;
        if sent == 1000 {
            after_1k = rss_kib(pid, "VmRSS:");
        }
    }
    let rss_end = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    let grew = rss_end - after_1k;
    rows.push(fact(
        &format!("Max RSS after {load} warm invocations"),
        format!("{:.1} MB (peak {:.1} MB)", rss_end / 1024.0, peak / 1024.0),
        "≤ 25 MB",
        Some(peak / 1024.0 <= 25.0),
    ));
    rows.push(fact(
        "RSS growth from invocation 1,000 to the last",
        format!("{:+.0} KiB", grew),
        "flat (≤ 1 MiB)",
        Some(grew <= 1024.0),
    ));
    drop(f);

    // 6. The largest round trip's peak memory, and the largest crafted envelope's.
    rows.extend(round_trip_memory(&base_env, reps.min(5)).await);
    rows.extend(crafted_envelope_memory(&base_env, &url, &key.key_id, reps.min(5)).await);

    // 7. Artefact size (written by `make bench` after `cargo lambda build --release --arm64`).
    if let Ok(text) = std::fs::read_to_string(root.join("bench/results/artifact.json")) {
        let a: Value = serde_json::from_str(&text).unwrap();
        let zip = a["zip_bytes"].as_f64().unwrap_or(0.0) / 1e6;
        rows.push(fact(
            "arm64 bootstrap",
            format!(
                "{:.2} MB",
                a["bootstrap_bytes"].as_f64().unwrap_or(0.0) / 1e6
            ),
            "",
            None,
        ));
        rows.push(fact(
            "arm64 zip",
            format!("{zip:.2} MB"),
            "≤ 6 MB",
            Some(zip <= 6.0),
        ));
    }

    if !full {
        println!(
            "lambda bench: smoke run only, {} rows measured (use `make bench` for numbers)",
            rows.len()
        );
        return;
    }
    let mut md = String::from(
        "| Measure | min | median | max | Target | Met |\n|---|---|---|---|---|---|\n",
    );
    let mut out = Vec::new();
    for r in &rows {
        let met = match r.ok {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        match (r.s, &r.value) {
            (Some(s), _) => {
                md.push_str(&format!(
                    "| {} ({}) | {:.2} | {:.2} | {:.2} | {} | {} |\n",
                    r.name, r.unit, s.min, s.median, s.max, r.target, met
                ));
                out.push(json!({"name": r.name, "unit": r.unit, "min": s.min, "median": s.median, "max": s.max, "target": r.target, "met": r.ok}));
            }
            (None, Some(v)) => {
                md.push_str(&format!(
                    "| {} | | {v} | | {} | {} |\n",
                    r.name, r.target, met
                ));
                out.push(json!({"name": r.name, "value": v, "target": r.target, "met": r.ok}));
            }
            _ => {}
        }
    }
    println!("\n{md}");
    write_results("bench", &md, &out);
}

/// Writes bench/results/NAME.md and NAME.json.
fn write_results(name: &str, md: &str, json: &[Value]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.md")), md).unwrap();
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(json).unwrap(),
    )
    .unwrap();
}

/// Peak memory of the largest round trip, with `template.yaml`'s `GLIBC_TUNABLES` as deployed: a
/// fresh process serves one small event, then
/// encrypts the largest payload (4.7 MB, a 6.27 MB event) and decrypts the result. The peak is
/// the process's `VmHWM`, against the encrypt event's size; the growth is that peak less the
/// peak before the large events.
/// The largest envelope decrypt takes, crafted with a frame length of 1 (a frame per byte:
/// ~140,000 frames): the peak memory of decrypting it, beside what the memory bound reserves for
/// an event of its size (its slot holds the event; `WORKING_FACTOR` times it is reserved).
async fn crafted_envelope_memory(
    base_env: &[(&'static str, String)],
    url: &str,
    key_id: &str,
    reps: usize,
) -> Vec<Row> {
    use kms_lambda_kit::__private::{self as envelope, DataKey};
    let generated = support::admin_client(url)
        .generate_data_key()
        .key_id(key_id)
        .key_spec(kms_lambda_kit::aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let data_key = DataKey::new(generated.plaintext.unwrap().into_inner());
    let edk = generated.ciphertext_blob.unwrap().into_inner();
    let arn = generated.key_id.unwrap();
    // Frames of 33 bytes (4 + 12 + 1 + 16): as many as the largest ciphertext decrypt takes.
    let room = kms_lambda_kit::LAMBDA_PAYLOAD_LIMIT / 4 * 3 - 1024;
    let plaintext = vec![0x42u8; room / 33];
    let sealed =
        envelope::seal_framed(&data_key, &arn, &edk, &Default::default(), &plaintext, 1).unwrap();
    let frames = envelope::parse_envelope(&sealed).unwrap().segment_count();
    let event = json!({"operation": "decrypt", "ciphertext": b64(&sealed)});
    let body = serde_json::to_vec(&event).unwrap();
    let event_mb = body.len() as f64 / 1e6;
    let reserved_mb = (1 + kms_lambda_kit::__private::WORKING_FACTOR) as f64 * event_mb;
    let (peak, growth) = peak_memory(base_env, reps, async |emu: &Emulator| {
        let opened = emu
            .invoke_raw(body.clone(), Duration::from_secs(60))
            .await
            .ok();
        assert!(opened["plaintext"] == json!(b64(&plaintext)), "opened");
    })
    .await;
    vec![fact(
        &format!(
            "Peak RSS decrypting the largest crafted envelope ({} bytes, frame length 1, \
                 {frames} frames; event {event_mb:.2} MB)",
            sealed.len()
        ),
        format!(
            "{:.1} MB (min {:.1}, max {:.1} MB); growth over the warm peak {:.1} MB = \
                 {:.2}× the event",
            peak.median,
            peak.min,
            peak.max,
            growth.median,
            growth.median / event_mb
        ),
        &format!("growth ≤ the {reserved_mb:.1} MB the memory bound holds for it"),
        Some(growth.max <= reserved_mb),
    )]
}

/// Peak RSS (MB) of a fresh, warm function process over `reps` runs of `work`, and its growth
/// over the warm peak.
async fn peak_memory(
    base_env: &[(&'static str, String)],
    reps: usize,
    work: impl AsyncFn(&Emulator),
) -> (Stats, Stats) {
    let (mut peaks, mut growths) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let emu = Emulator::start().await;
        let f = Process::spawn_command(&emu, &function_binary(), &[], base_env);
        emu.wait_for_polls(1, Duration::from_secs(60)).await;
        invoke_ms(&emu, &encrypt_event()).await;
        let before = rss_kib(f.pid(), "VmHWM:") * 1024.0 / 1e6;
        work(&emu).await;
        let peak = rss_kib(f.pid(), "VmHWM:") * 1024.0 / 1e6;
        peaks.push(peak);
        growths.push(peak - before);
    }
    (stats(peaks), stats(growths))
}

async fn round_trip_memory(base_env: &[(&'static str, String)], reps: usize) -> Vec<Row> {
    let payload: Vec<u8> = (0..function::ops::encrypt::MAX_ENVELOPE_PLAINTEXT)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let event = json!({"operation": "encrypt", "plaintext": b64(&payload), "encryptionContext": {"bench": "1"}});
    let event_mb = serde_json::to_vec(&event).unwrap().len() as f64 / 1e6;
    let (peak, growth) = peak_memory(base_env, reps, async |emu: &Emulator| {
        let sealed = emu.invoke(&event).await.ok();
        assert_eq!(sealed["mode"], "envelope");
        let decrypt = json!({"operation": "decrypt", "ciphertext": sealed["ciphertext"], "encryptionContext": {"bench": "1"}});
        drop(sealed);
        let opened = emu.invoke(&decrypt).await.ok();
        assert!(opened["plaintext"] == event["plaintext"], "round trip");
    })
    .await;
    vec![
        fact(
            &format!("Peak RSS of a 4.7 MB envelope round trip (event {event_mb:.2} MB)"),
            format!(
                "{:.1} MB = {:.1}× the event (min {:.1}, max {:.1} MB)",
                peak.median,
                peak.median / event_mb,
                peak.min,
                peak.max
            ),
            "≤ 5× the event",
            Some(peak.max <= 5.0 * event_mb),
        ),
        fact(
            "  of which the round trip's growth over the warm peak",
            format!(
                "{:.1} MB = {:.1}× the event",
                growth.median,
                growth.median / event_mb
            ),
            "",
            None,
        ),
    ]
}
