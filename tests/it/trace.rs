//! Each KMS request carries its own invocation's X-Ray trace header, one invocation at a time
//! and several at once (Lambda Managed Instances), where the runtime sets no
//! `_X_AMZN_TRACE_ID` for the SDK to read.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::{Emulator, Harness, PROJECT};

async fn each_request_carries_its_invocations_trace_id(concurrency: &str) {
    const N: usize = 16;
    let h = Harness::start(
        &PROJECT,
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", concurrency),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"),
        ],
    )
    .await;
    let workers: usize = concurrency.parse().unwrap();
    h.emulator
        .wait_for_polls(workers, Duration::from_secs(30))
        .await;
    // Each invocation makes one Encrypt call; submitted together, they overlap when they can.
    let pending: Vec<_> = (0..N)
        .map(|i| {
            let event = support::encrypt(format!("trace {i}").as_bytes(), serde_json::json!({}));
            h.emulator
                .submit(serde_json::to_vec(&event).unwrap(), Duration::from_secs(30))
        })
        .collect();
    for rx in pending {
        rx.await.unwrap().ok();
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for call in h.gate.calls() {
        let Some(id) = call.trace_id.clone() else {
            panic!("a KMS request without a trace header: {call:?}")
        };
        *seen.entry(id).or_default() += 1;
    }
    let sent: BTreeMap<String, usize> = (0..N).map(|n| (Emulator::trace_id(n), 1)).collect();
    assert_eq!(
        seen, sent,
        "concurrency {concurrency}: each invocation's one KMS request carries its trace id"
    );
}

#[tokio::test]
async fn one_invocation_at_a_time() {
    each_request_carries_its_invocations_trace_id("1").await;
}

#[tokio::test]
async fn eight_at_once() {
    each_request_carries_its_invocations_trace_id("8").await;
}
