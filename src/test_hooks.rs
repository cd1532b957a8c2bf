//! Switches for the project's own tests and benchmarks, compiled only with the `test-hooks`
//! cargo feature (off by default, so neither `cargo build`, `cargo lambda build`, `cargo lambda
//! watch` nor `sam build` ever contains them). `make test` and `make bench` turn it on.
//!
//! - [`Panic`]: an operation, `{"operation": "panic"}`, that panics, so a test can show that a
//!   panic fails one invocation as `Internal` and the sandbox keeps serving.
//! - [`at_init`]: with `KMS_LAMBDA_BENCH_EAGER_CLIENT` set, builds the KMS client during INIT,
//!   so `make bench` can price the lazy build against the eager one. It reintroduces exactly
//!   what this template avoids.

use crate::error::Error;
use crate::handler::App;
use crate::lazy::BuildClient;
use crate::ops::{Ctx, Operation, Reply};

/// `{"operation": "panic"}`: panics when run.
#[derive(Debug)]
pub struct Panic;

impl Operation for Panic {
    const NAME: &'static str = "panic";
    const FIELDS: &'static [&'static str] = &[];
    const IAM_ACTIONS: &'static [&'static str] = &[];

    fn parse(_: &crate::event::Fields<'_>) -> Result<Self, Error> {
        Ok(Panic)
    }

    async fn run(self, _: &Ctx<'_>) -> Result<Reply, Error> {
        panic!("forced panic (test-hooks)")
    }
}

/// Builds the client now, during INIT, if `KMS_LAMBDA_BENCH_EAGER_CLIENT` is set. `App::new` is
/// synchronous, so the build runs to completion on a helper thread with its own small runtime
/// (building signs and sends nothing; the connections come later, on the main runtime).
pub fn at_init<B: BuildClient<Client = aws_sdk_kms::Client>>(app: &App<B>) {
    if std::env::var_os("KMS_LAMBDA_BENCH_EAGER_CLIENT").is_none() {
        return;
    }
    let built = std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(app.client().get())
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .join()
    });
    if !matches!(built, Ok(Ok(()))) {
        eprintln!("kms-lambda: test hook: the eager client build failed: {built:?}");
    }
}
