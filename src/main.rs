//! The INIT story: read configuration, set up logging, prepare what signs nothing, start the
//! runtime loop. Nothing here touches the network: the KMS client is built by the first
//! invocation (see `kit::kms::lazy`), so nothing signed can sit in a frozen or snapshotted
//! sandbox.

use kms_lambda::kit::config::Config;
use kms_lambda::kit::event::{raw::RawEventGuard, Event};
use kms_lambda::kit::handler::App;
use kms_lambda::kit::kms::client::SdkClientBuilder;
use kms_lambda::kit::memory::MemoryBudget;
use kms_lambda::kit::{executor, logging};
use kms_lambda::ops::{KEYS, OPERATIONS};
use lambda_runtime::{service_fn, LambdaEvent, Runtime};
use std::process::ExitCode;

fn main() -> ExitCode {
    logging::init();

    // Every default key and setting, checked now: a typo fails the deployment at start-up with
    // one line naming the variable.
    let config = match Config::from_env(KEYS) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("kms-lambda: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::debug!(keys = ?config.keys, max_attempts = config.max_attempts, "configuration loaded");

    // One thread when invocations come one at a time (or there is one CPU), a worker per CPU
    // when Managed Instances send several at once.
    let flavor = executor::flavor(config.concurrency, executor::cpus());
    match executor::build(flavor) {
        Ok(tokio) => tokio.block_on(serve(config)),
        Err(err) => {
            eprintln!("kms-lambda: cannot start the Tokio runtime ({flavor:?}): {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    // Prepared now, while INIT has the CPU to spare: the SDK configuration and the HTTPS
    // connector with its trust roots. Nothing in them signs, sends or expires. The KMS client
    // itself is built by the first invocation.
    let builder = SdkClientBuilder::new(&config);
    if let Err(err) = builder.prepare().await {
        eprintln!("kms-lambda: {err}");
        return ExitCode::FAILURE;
    }
    #[cfg(feature = "test-hooks")]
    let operations = kms_lambda::kit::test_hooks::with_test_rows(OPERATIONS);
    #[cfg(not(feature = "test-hooks"))]
    let operations = OPERATIONS;
    // Layers wrap outwards (see the runtime below): the memory budget sees each raw event
    // first and refuses one that is too large unread; the guard then answers a non-JSON event
    // with a typed error.
    let budget = MemoryBudget::new(&config.memory, config.deadline_margin);
    let app = App::new(operations, config, builder);
    #[cfg(feature = "test-hooks")]
    if std::env::var_os(kms_lambda::kit::test_hooks::EAGER_CLIENT).is_some() {
        // Benchmarks only: build the client in INIT, to price the lazy build against it.
        if let Err(err) = app.client().get().await {
            eprintln!("kms-lambda: test hook: the eager client build failed: {err}");
        }
    }
    let for_handler = app.clone();
    let handler = service_fn(move |event: LambdaEvent<Event>| {
        let app = for_handler.clone();
        async move { app.handle(event).await }
    });

    // `run_concurrent` serves one event at a time on classic Lambda and
    // AWS_LAMBDA_MAX_CONCURRENCY at once on Lambda Managed Instances.
    // SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start): the app forgets its client around
    // the snapshot. Elsewhere the hook is never called.
    // No per-invocation tracing span: the handler's own log lines carry the request id, and a
    // span on every invocation cost more CPU than it told (docs/benchmarks.md).
    let runtime = Runtime::new(handler)
        .layer(RawEventGuard)
        .layer(budget)
        .register_snapstart_resource(app);
    match runtime.run_concurrent().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kms-lambda: runtime stopped: {err}");
            ExitCode::FAILURE
        }
    }
}
