//! This function against what the kit promises every function made with it: each check is the
//! kit's (`kms_lambda_kit::testing::contract`), run on this project's binary, events, bad-input
//! cases, tables and `template.yaml`. `cargo test --test function <name>` runs one. An
//! operation's own promises go in `tests/<operation>.rs` (docs/operations.md, "Testing").

use kms_lambda_kit::testing::{contract, Project};

const PROJECT: Project = kms_lambda_kit::project!(function::ops::FUNCTION);

/// Each sample event in `events/` succeeds through the real binary, against a local KMS behind
/// the SigV4 time gate: only its row's IAM actions, on a key of its row's kind; exactly the
/// answer its module doc shows; its EMF line; re-signed once when its signature expired on the
/// way; a key of another kind refused naming the kind it needs. Every operation has one.
#[tokio::test]
async fn sample_events() {
    contract::sample_events(&PROJECT).await;
}

/// Each case in `tests/bad-input/` gets what `expected.json` says, reaching its operation, and
/// the function keeps serving.
#[tokio::test]
async fn bad_input() {
    contract::bad_input(&PROJECT).await;
}

/// Every module under `src/ops/` is a row of the table, the tables agree, and each module doc
/// shows its event's fields.
#[test]
fn layout() {
    contract::layout(&PROJECT);
}

/// `template.yaml`'s keys, role and secrets are what the tables give (`make template`), least
/// privilege holds, and its alarms and dashboard read metrics the function emits.
#[tokio::test]
async fn template() {
    contract::template(&PROJECT).await;
}

/// aws-lc was built without its CPU-jitter entropy (`.cargo/config.toml`).
#[test]
fn built_without_jitter_entropy() {
    contract::built_without_jitter_entropy(&PROJECT);
}

/// The deploy rehearsal's function side: `make deploy-check` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by `make deploy-check`, after kit/tools/deploy_check.py prepared the stack"]
async fn deploy() {
    contract::deploy(&PROJECT).await;
}
