//! The first invoke under Lambda's conditions, Rust beside the Node.js peer in the same run:
//! HTTPS to KMS (an RSA-2048 chain, trusted through the system bundle plus one root) and the
//! CPU share of a memory size (a cgroup quota, period 20 ms, quota 20 ms × MB / 1,769), applied
//! once INIT is done (at the first `/next`) or from exec. See docs/benchmarks.md.

use crate::cpu::CpuShare;
use crate::support::{self, tls::TlsEndpoint, Emulator, Outcome, Process};
use crate::{ms, stats, Stats};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// One row of conditions.
#[derive(Clone)]
pub struct Condition {
    pub label: String,
    tls: bool,
    memory_mb: Option<u64>,
    from_exec: bool,
    /// The events sign a webhook with a secret decrypted on first use (else: encrypt).
    secret: bool,
}

/// Everything measured on one cold sandbox.
struct Run {
    init: f64,
    first: f64,
    first_cpu: f64,
    warm: f64,
    client_init: Option<f64>,
    init_to_send: Option<f64>,
    round_trip: Option<f64>,
}

/// The measures of one runtime under one condition, min/median/max over the runs.
pub struct Measured {
    pub init: Stats,
    pub first: Stats,
    pub first_cpu: Stats,
    pub penalty: Stats,
    pub warm: Stats,
    pub client_init: Option<Stats>,
    pub init_to_send: Option<Stats>,
    pub round_trip: Option<Stats>,
}

/// A runtime to start: program, arguments, extra environment.
pub struct Peer {
    pub name: &'static str,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
}

fn event(c: &Condition) -> Value {
    if c.secret {
        // The first one decrypts the signing key (one KMS Decrypt); the warm ones call no KMS.
        return json!({"operation": "webhookSignature", "payload": support::b64(b"{\"event\":\"push\"}")});
    }
    json!({"operation": "encrypt", "plaintext": support::b64(b"benchmark payload"), "encryptionContext": {"bench": "1"}})
}

async fn timed(emu: &Emulator, event: &Value) -> f64 {
    let t = Instant::now();
    match emu
        .invoke_raw(serde_json::to_vec(event).unwrap(), Duration::from_secs(60))
        .await
    {
        Outcome::Ok(_) => ms(t.elapsed()),
        Outcome::Err {
            error_type,
            message,
        } => panic!("benchmark invocation failed: {error_type}: {message}"),
    }
}

async fn one_run(
    peer: &Peer,
    c: &Condition,
    endpoint: &str,
    ca: &support::tls::TestCa,
    warm: usize,
) -> Result<Run, String> {
    let share = match c.memory_mb {
        Some(mb) => Some(CpuShare::new(mb)?),
        None => None,
    };
    let emu = Emulator::start().await;
    let mut env = peer.env.clone();
    env.push(("AWS_ENDPOINT_URL_KMS", endpoint.to_string()));
    if c.tls {
        env.push(("SSL_CERT_FILE", ca.bundle().display().to_string()));
        env.push(("NODE_EXTRA_CA_CERTS", ca.root().display().to_string()));
    }
    if let Some(mb) = c.memory_mb {
        env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb.to_string()));
    }
    let args: Vec<&str> = peer.args.iter().map(String::as_str).collect();
    let join = share
        .as_ref()
        .filter(|_| c.from_exec)
        .map(|s| s.procs_file());
    let t0 = Instant::now();
    let f = Process::spawn_command_in(&emu, &peer.program, &args, &env, join.as_deref());
    emu.wait_for_polls(1, Duration::from_secs(120)).await;
    let init = ms(emu.first_poll_at().unwrap() - t0);
    if let (Some(s), false) = (&share, c.from_exec) {
        // INIT is done and the runtime waits for its first event: from now on, the share.
        s.add(f.pid()).map_err(|e| e.to_string())?;
    }
    // A gap between INIT and the first event (proactive initialisation; profiling).
    if let Some(gap) = std::env::var("KMS_LAMBDA_BENCH_GAP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    let cpu_before = f.cpu_time();
    let first = timed(&emu, &event(c)).await;
    let first_cpu = ms(f.cpu_time().saturating_sub(cpu_before));
    // Each warm invoke after an idle gap longer than the quota period, as invocations arrive on
    // Lambda, so it does not inherit a period the previous one used up.
    let mut w = Vec::new();
    for _ in 0..warm {
        tokio::time::sleep(Duration::from_millis(50)).await;
        w.push(timed(&emu, &event(c)).await);
    }
    let emf = if !peer.name.starts_with("Node.js") {
        f.emf_wait(1 + warm).await.first().cloned()
    } else {
        None
    };
    let metric = |name: &str| emf.as_ref().and_then(|l| l[name].as_f64());
    Ok(Run {
        init,
        first,
        first_cpu,
        warm: stats(w).median,
        client_init: metric("ClientInitMs"),
        init_to_send: metric("InitToSendMs"),
        round_trip: metric("KmsRoundTripMs"),
    })
}

async fn measure(
    peer: &Peer,
    c: &Condition,
    endpoint: &str,
    ca: &support::tls::TestCa,
    reps: usize,
    warm: usize,
) -> Result<Measured, String> {
    let mut runs = Vec::new();
    for _ in 0..reps {
        runs.push(one_run(peer, c, endpoint, ca, warm).await?);
    }
    let pick = |f: &dyn Fn(&Run) -> f64| stats(runs.iter().map(f).collect());
    let opt = |f: &dyn Fn(&Run) -> Option<f64>| {
        let v: Vec<f64> = runs.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| stats(v))
    };
    Ok(Measured {
        init: pick(&|r| r.init),
        first: pick(&|r| r.first),
        first_cpu: pick(&|r| r.first_cpu),
        penalty: pick(&|r| r.first - r.warm),
        warm: pick(&|r| r.warm),
        client_init: opt(&|r| r.client_init),
        init_to_send: opt(&|r| r.init_to_send),
        round_trip: opt(&|r| r.round_trip),
    })
}

/// The conditions, Lambda-like first: TLS at the deployed 128 MB with the quota after INIT.
pub fn conditions() -> Vec<Condition> {
    let c = |label: &str, tls, memory_mb, from_exec| Condition {
        label: label.to_string(),
        tls,
        memory_mb,
        from_exec,
        secret: false,
    };
    let signing = |label: &str, memory_mb| Condition {
        label: label.to_string(),
        tls: true,
        memory_mb,
        from_exec: false,
        secret: true,
    };
    vec![
        c("TLS, 128 MB (quota after INIT)", true, Some(128), false),
        signing(
            "TLS, 128 MB (quota after INIT), signing with a secret",
            Some(128),
        ),
        c("TLS, 512 MB (quota after INIT)", true, Some(512), false),
        c("TLS, 1,769 MB (quota after INIT)", true, Some(1769), false),
        c(
            "TLS, 128 MB (quota from exec: no INIT boost)",
            true,
            Some(128),
            true,
        ),
        c("TLS, 512 MB (quota from exec)", true, Some(512), true),
        c("TLS, 1,769 MB (quota from exec)", true, Some(1769), true),
        c("TLS, full speed (no quota)", true, None, false),
        signing("TLS, full speed (no quota), signing with a secret", None),
        c("plain HTTP, full speed (no quota)", false, None, false),
    ]
}

/// Runs every condition for every peer; returns the markdown table, its JSON and the
/// conditions that could not run (and why).
pub async fn run(
    peers: &[Peer],
    http_url: &str,
    reps: usize,
    warm: usize,
    only: Option<&str>,
) -> (String, Vec<Value>, Vec<String>) {
    let ca = support::tls::test_ca();
    let tls = TlsEndpoint::start(http_url).await;
    let mut md = format!(
        "| Condition | Measure (ms) | {} | Node.js ÷ Rust (medians) |\n|---|---|{}---|\n",
        peers
            .iter()
            .map(|p| format!("{0} min | {0} median | {0} max", p.name))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|---|---|".repeat(peers.len())
    );
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    // (condition, measure, peer) → stats, for the targets below.
    let mut seen: Vec<(String, &str, &str, Stats)> = Vec::new();
    for c in conditions() {
        if only.is_some_and(|o| !c.label.contains(o)) {
            continue;
        }
        let endpoint = if c.tls {
            tls.url()
        } else {
            http_url.to_string()
        };
        let mut results = Vec::new();
        for p in peers {
            // Another build (KMS_LAMBDA_BENCH_EXTRA) may predate the secret's operation.
            if c.secret && p.name != "Rust" && p.name != "Node.js" {
                results.push(None);
                continue;
            }
            match measure(p, &c, &endpoint, ca, reps, warm).await {
                Ok(m) => results.push(Some(m)),
                Err(why) => {
                    skipped.push(format!("{}: skipped ({why})", c.label));
                    break;
                }
            }
        }
        if results.len() != peers.len() {
            continue;
        }
        type Get = fn(&Measured) -> Option<Stats>;
        let rows: [(&str, Get); 8] = [
            ("INIT (exec → first /next)", |m| Some(m.init)),
            ("first invoke", |m| Some(m.first)),
            ("first invoke: CPU time, all threads", |m| Some(m.first_cpu)),
            ("lazy-init penalty (first − warm)", |m| Some(m.penalty)),
            ("warm invoke", |m| Some(m.warm)),
            ("first invoke: ClientInitMs", |m| m.client_init),
            ("first invoke: InitToSendMs", |m| m.init_to_send),
            ("first invoke: KmsRoundTripMs", |m| m.round_trip),
        ];
        for (name, get) in rows {
            let cells: Vec<Option<Stats>> =
                results.iter().map(|m| m.as_ref().and_then(get)).collect();
            if cells.iter().all(Option::is_none) {
                continue;
            }
            let mut line = format!("| {} | {name} |", c.label);
            for s in &cells {
                match s {
                    Some(s) => {
                        line.push_str(&format!(" {:.1} | {:.1} | {:.1} |", s.min, s.median, s.max))
                    }
                    None => line.push_str(" | — | |"),
                }
            }
            let node = peers.iter().position(|p| p.name == "Node.js");
            let ratio = match (
                cells.first().copied().flatten(),
                node.and_then(|i| cells[i]),
            ) {
                (Some(r), Some(n)) if r.median > 0.0 && !name.contains("warm") => {
                    format!("{:.1}×", n.median / r.median)
                }
                _ => String::new(),
            };
            line.push_str(&format!(" {ratio} |\n"));
            md.push_str(&line);
            for (p, s) in peers.iter().zip(&cells) {
                if let Some(s) = s {
                    seen.push((c.label.clone(), name, p.name, *s));
                }
            }
            let by_peer: Vec<Value> = peers
                .iter()
                .zip(&cells)
                .map(|(p, s)| json!({"peer": p.name, "min": s.map(|s| s.min), "median": s.map(|s| s.median), "max": s.map(|s| s.max)}))
                .collect();
            out.push(
                json!({"condition": c.label, "measure": name, "unit": "ms", "peers": by_peer}),
            );
        }
    }
    md.push_str(&targets(&seen));
    (md, out, skipped)
}

/// The targets of the first-invoke work, checked on this run's medians.
fn targets(seen: &[(String, &str, &str, Stats)]) -> String {
    let get = |cond: &str, measure: &str, peer: &str| {
        seen.iter()
            .find(|(c, m, p, _)| c.starts_with(cond) && *m == measure && *p == peer)
            .map(|(.., s)| s.median)
    };
    let first = "first invoke";
    let rows = [
        (
            "Rust first invoke, TLS, 128 MB (quota after INIT)",
            get("TLS, 128 MB (quota after INIT)", first, "Rust")
                .map(|v| (format!("{v:.1} ms"), v <= 80.0)),
            "≤ 80 ms",
        ),
        (
            "Node.js ÷ Rust first invoke, TLS, 128 MB (quota after INIT)",
            get("TLS, 128 MB (quota after INIT)", first, "Node.js")
                .zip(get("TLS, 128 MB (quota after INIT)", first, "Rust"))
                .map(|(n, r)| (format!("{:.1}×", n / r), n / r >= 15.0)),
            "≥ 15×",
        ),
        (
            "Rust lazy-init penalty, TLS, full speed",
            get(
                "TLS, full speed",
                "lazy-init penalty (first − warm)",
                "Rust",
            )
            .map(|v| (format!("{v:.1} ms"), v <= 8.0)),
            "≤ 8 ms",
        ),
        (
            "Rust INIT, TLS, full speed",
            get("TLS, full speed", "INIT (exec → first /next)", "Rust")
                .map(|v| (format!("{v:.1} ms"), v <= 5.0)),
            "≤ 5 ms",
        ),
    ];
    let mut md = String::from(
        "\n| Target (medians of this run) | Measured | Target | Met |\n|---|---|---|---|\n",
    );
    for (name, measured, target) in rows {
        match measured {
            Some((v, ok)) => md.push_str(&format!(
                "| {name} | {v} | {target} | {} |\n",
                if ok { "yes" } else { "**no**" }
            )),
            None => md.push_str(&format!("| {name} | not measured | {target} | |\n")),
        }
    }
    md
}
