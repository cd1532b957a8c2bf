//! This function against what the kit promises every function made with it: each check is the
//! kit's (`kms_lambda_kit::testing::contract`), run on this project's binary, events, bad-input
//! cases, tables and `template.yaml`. `cargo test --test function <name>` runs one.

use kms_lambda_kit::testing::{contract, Project};

const PROJECT: Project = kms_lambda_kit::project!(function::ops::FUNCTION);

/// Each sample event in `events/` succeeds through the real binary against a local KMS behind
/// the SigV4 time gate; its KMS calls need only its row's IAM actions, on a key of its row's
/// kind; its answer has exactly the fields its module doc documents; its EMF line names it;
/// re-signed once when its signature expired on the way; advice naming the kind of key it needs
/// when given a key of another kind. And every operation has a sample event.
#[tokio::test]
async fn sample_events() {
    contract::sample_events(&PROJECT).await;
}

/// Each case in `tests/bad-input/` gets the answer `expected.json` gives it, reaches the
/// operation it names, and the function keeps serving. (Events that name no operation, and the
/// field types every operation shares, are the kit's own tests.)
#[tokio::test]
async fn bad_input() {
    contract::bad_input(&PROJECT).await;
}

/// Every module under `src/ops/` is a row of the table, the tables agree, and each module doc
/// documents its operation's event with exactly the fields its type declares.
#[test]
fn layout() {
    contract::layout(&PROJECT);
}

/// `template.yaml`'s keys and role are what the tables give (`make template` writes them),
/// least privilege holds across it, and its alarms and dashboard read metrics the function
/// emits.
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
