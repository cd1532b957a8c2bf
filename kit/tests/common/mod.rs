//! What the kit's tests of its probe share: the probe as a project, and invocations at once.

#[path = "../../probe/ops.rs"]
pub mod ops;

use kms_lambda_kit::testing::{Harness, Outcome, Project};
use std::time::Duration;

/// The probe (`probe/`), as the kit's test support sees a function project.
pub fn probe() -> Project {
    Project {
        binary: env!("CARGO_BIN_EXE_kit-probe"),
        root: env!("CARGO_MANIFEST_DIR"),
        function: ops::FUNCTION,
        bad_input: "tests/bad-input",
    }
}

/// `event`, `n` invocations of it in flight at once; their answers.
pub async fn at_once(h: &Harness, event: &serde_json::Value, n: usize) -> Vec<Outcome> {
    let pending: Vec<_> = (0..n)
        .map(|_| {
            h.emulator
                .submit(serde_json::to_vec(event).unwrap(), Duration::from_secs(20))
        })
        .collect();
    let mut outs = Vec::new();
    for p in pending {
        outs.push(p.await.expect("an answer"));
    }
    outs
}
