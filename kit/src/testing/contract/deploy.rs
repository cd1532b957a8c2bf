//! The deploy rehearsal's function side (`make deploy-check` runs it): the shipped arm64
//! `bootstrap` — under `qemu-aarch64` — with exactly the environment the local CloudFormation
//! stack gave the function, signing with the deployed role's credentials while the local AWS
//! enforces IAM (`kit/tools/deploy_check.py` prepared all of it), through the Runtime API
//! emulator and the time gate:
//!
//! - cold start, every sample event in `events/` (each kind's local alias standing for the
//!   stack's key of that kind), and one malformed event;
//! - none of the kit's test support: the kit's probe's operations (`panic`, `calls`) are unknown
//!   to it;
//! - then, for each action of each of the role's KMS statements (one per key, and one per kind
//!   of key that encrypts secrets), the statement without it, the function started afresh (a
//!   secret it decrypted is gone): some sample event must now fail, and every failure must be
//!   `KmsAccessDenied`. The local AWS judges each KMS request on the key it names, and a
//!   secret's statement on its encryption context (`kit/tools/moto_server.py`), so this shows
//!   each action is needed on the key it is granted on;
//! - each secret's variable holding a ciphertext encrypted for another function: what asks for it
//!   is `Configuration`, naming the variable.
//!
//! On a Linux arm64 host the artefact runs natively; elsewhere under qemu. Without qemu and the
//! arm64 C library (macOS has neither) it cannot run: then the host build stands in and the
//! output says so — under CI (`CI=true`) that is a failure.

use crate::testing::events::run_sample_events;
use crate::testing::{Emulator, Gate, Outcome, Process, Project};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-aarch64";
const ARM64_LIBC: &str = "/usr/aarch64-linux-gnu";

fn state() -> Value {
    let path = std::env::var("KMS_LAMBDA_DEPLOY_STATE").expect("run by `make deploy-check`");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn script(args: &[&str]) -> String {
    // The kit's own script, with the project's Python (the tests run in the project directory).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/deploy_check.py");
    let out = Command::new(".venv/bin/python")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The program to run: the arm64 artefact — natively on an arm64 host, else under qemu — or
/// (no qemu here, not CI) the host build.
fn program(project: &Project) -> (String, Vec<String>, &'static str) {
    let bootstrap =
        std::env::var("KMS_LAMBDA_DEPLOY_BOOTSTRAP").expect("run by `make deploy-check`");
    // A Linux arm64 host runs the Linux arm64 artefact as Lambda does (a Mac's arm64 cannot:
    // another operating system).
    if cfg!(target_os = "linux") && std::env::consts::ARCH == "aarch64" {
        return (bootstrap, vec![], "the arm64 artefact, natively");
    }
    let qemu = Command::new(QEMU)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let libc = Path::new(ARM64_LIBC)
        .join("lib/ld-linux-aarch64.so.1")
        .exists();
    if qemu && libc {
        return (
            QEMU.into(),
            vec!["-L".into(), ARM64_LIBC.into(), bootstrap],
            "the arm64 artefact under qemu-aarch64",
        );
    }
    let why = format!(
        "qemu-aarch64 {} and the arm64 C library in {ARM64_LIBC} {} (Debian: apt-get install \
         qemu-user libc6-arm64-cross)",
        if qemu { "found" } else { "not found" },
        if libc { "found" } else { "not found" }
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must run the arm64 artefact: {why}"
    );
    println!("deploy-check: SKIPPED the arm64 artefact: {why}; the host build stands in");
    (project.binary.into(), vec![], "the host build")
}

struct Deployed {
    emulator: Emulator,
    function: Process,
}

async fn start(
    project: &Project,
    state: &Value,
    gate: &Gate,
    overrides: &[(&str, String)],
) -> Deployed {
    let (program, args, what) = program(project);
    let creds = &state["role_credentials"];
    let mut env: Vec<(&str, String)> = state["environment"]
        .as_object()
        .unwrap()
        .iter()
        // Lambda stores strings; moto keeps CloudFormation's Number parameters as numbers.
        .map(|(k, v)| {
            (
                k.as_str(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    env.extend([
        ("AWS_ENDPOINT_URL_KMS", gate.url()),
        (
            "AWS_ACCESS_KEY_ID",
            creds["AccessKeyId"].as_str().unwrap().to_string(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            creds["SecretAccessKey"].as_str().unwrap().to_string(),
        ),
        (
            "AWS_SESSION_TOKEN",
            creds["SessionToken"].as_str().unwrap().to_string(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            state["memory_mb"].to_string(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_NAME",
            state["outputs"]["FunctionName"]
                .as_str()
                .unwrap()
                .to_string(),
        ),
    ]);
    env.extend(overrides.iter().cloned());
    let emulator = Emulator::start().await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let function = Process::spawn_command(&emulator, &program, &args, &env);
    emulator.wait_for_polls(1, Duration::from_secs(60)).await;
    println!(
        "deploy-check: {what} started (exec → first /next: {:.0} ms)",
        emulator
            .first_poll_at()
            .unwrap()
            .duration_since(started)
            .as_secs_f64()
            * 1000.0
    );
    Deployed { emulator, function }
}

/// Each kind's local alias, and the stack's alias for that kind (its `<Kind>KeyAlias` output).
fn aliases(project: &Project, state: &Value) -> Vec<(String, String)> {
    project
        .keys()
        .iter()
        .map(|k| {
            let output = format!("{}KeyAlias", k.pascal());
            let alias = state["outputs"][&output]
                .as_str()
                .unwrap_or_else(|| panic!("the stack has no output {output}"));
            (k.local_alias(), alias.to_string())
        })
        .collect()
}

/// Every sample event: (file, outcome).
async fn sample_events(
    project: &Project,
    d: &Deployed,
    aliases: &[(String, String)],
) -> Vec<(String, Outcome)> {
    let mut out = Vec::new();
    run_sample_events(project, &d.emulator, aliases, |file, _, o| {
        out.push((file.to_string(), o.clone()))
    })
    .await;
    out
}

/// The sample events that did not succeed: (file, outcome).
async fn failed_sample_events(
    project: &Project,
    d: &Deployed,
    aliases: &[(String, String)],
) -> Vec<(String, Outcome)> {
    let mut failed = sample_events(project, d, aliases).await;
    failed.retain(|(_, o)| !matches!(o, Outcome::Ok(_)));
    failed
}

/// The deploy rehearsal's function side, as the module documentation says; `make deploy-check`
/// runs it (through a test marked `#[ignore]`) after `kit/tools/deploy_check.py prepare`.
pub async fn deploy(project: &Project) {
    let state = state();
    let creds = &state["role_credentials"];
    // The gate checks the signature with the role session's secret, then moto checks IAM.
    let gate = Gate::start(
        state["url"].as_str().unwrap(),
        creds["SecretAccessKey"].as_str(),
    )
    .await;
    // moto's CloudFormation stores an inline role policy in a form its IAM cannot evaluate: put
    // the role's policies again, exactly as deployed, before anything signs as the role.
    let path = std::env::var("KMS_LAMBDA_DEPLOY_STATE").unwrap();
    script(&["policy", &path]);
    let mut d = start(project, &state, &gate, &[]).await;
    let aliases = aliases(project, &state);
    let arns: Vec<&str> = state["keys"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["arn"].as_str().unwrap())
        .collect();

    for (file, out) in sample_events(project, &d, &aliases).await {
        let Outcome::Ok(body) = &out else {
            panic!("{file} failed with the deployed role: {out:?}")
        };
        if let Some(key) = body["keyId"].as_str() {
            // KMS answers with the key's ARN (moto's GenerateMac with its bare id).
            let ours = arns
                .iter()
                .any(|a| *a == key || a.ends_with(&format!("/{key}")));
            assert!(ours, "{file}: {key} is none of the stack's keys");
        }
        println!("deploy-check: {file}: ok");
    }
    let malformed = d
        .emulator
        .invoke_raw(&b"{\"operation\": encrypt"[..], Duration::from_secs(10))
        .await;
    assert_eq!(malformed.error_type(), "InvalidRequest");
    println!("deploy-check: a malformed event: InvalidRequest");
    // The artefact that deploys has none of the kit's test support: the probe's operations are
    // unknown to it, as is anything its own table does not list.
    for hook in ["panic", "calls"] {
        if project.rows().any(|r| r.name() == hook) {
            continue;
        }
        let out = d
            .emulator
            .invoke(&serde_json::json!({"operation": hook}))
            .await;
        assert_eq!(out.error_type(), "InvalidRequest", "{hook}: {out:?}");
        assert!(
            out.error_message().starts_with("unknown \"operation\""),
            "{hook}: {out:?}"
        );
        println!(
            "deploy-check: {{\"operation\": \"{hook}\"}}: InvalidRequest, {}",
            out.error_message()
        );
    }

    for statement in state["statements"].as_array().unwrap() {
        let sid = statement["sid"].as_str().unwrap();
        for action in statement["actions"].as_array().unwrap() {
            let action = action.as_str().unwrap();
            script(&["policy", &path, "--without", sid, action]);
            // Afresh: a secret decrypted before would hide its statement's removal.
            d = start(project, &state, &gate, &[]).await;
            let failed = failed_sample_events(project, &d, &aliases).await;
            assert!(
                !failed.is_empty(),
                "without {action} in {sid} every sample event still succeeded: the role grants \
                 more than the function needs there, or the local AWS did not enforce IAM"
            );
            for (file, out) in &failed {
                assert!(
                    matches!(out.error_type(), "KmsAccessDenied" | "NotSent"),
                    "without {action} in {sid}, {file}: {out:?}"
                );
            }
            let shown: Vec<String> = failed
                .iter()
                .map(|(f, o)| format!("{f} {}", o.error_type()))
                .collect();
            println!(
                "deploy-check: without {action} on {sid}: {}",
                shown.join(", ")
            );
        }
    }
    script(&["policy", &path]);
    d = start(project, &state, &gate, &[]).await;
    let restored = sample_events(project, &d, &aliases).await;
    for (file, out) in restored {
        assert!(
            matches!(out, Outcome::Ok(_)),
            "{file}, the policy restored: {out:?}"
        );
    }
    // A secret encrypted for another function: refused for this one, naming its variable.
    for secret in state["secrets"].as_array().into_iter().flatten() {
        let variable = secret["variable"].as_str().unwrap();
        let other = secret["other_ciphertext"].as_str().unwrap().to_string();
        let refused = start(project, &state, &gate, &[(variable, other)]).await;
        let failed = failed_sample_events(project, &refused, &aliases).await;
        assert!(
            !failed.is_empty(),
            "with {variable} encrypted for another function, every sample event succeeded"
        );
        for (file, out) in &failed {
            assert!(
                matches!(out.error_type(), "Configuration" | "NotSent")
                    && (out.error_type() == "NotSent" || out.error_message().starts_with(variable)),
                "{variable} encrypted for another function, {file}: {out:?}"
            );
        }
        println!(
            "deploy-check: {variable} encrypted for another function: {} Configuration, naming it",
            failed
                .iter()
                .map(|(f, _)| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    assert!(
        !d.function.output().iter().any(|l| l.contains("panicked")),
        "{:#?}",
        d.function.output()
    );
}
