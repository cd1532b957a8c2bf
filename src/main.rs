//! The INIT story: read configuration, set up logging, prepare what signs nothing, start the
//! runtime loop. Nothing here touches the network: the KMS client is built by the first
//! invocation (the kit's `kms::lazy`), so nothing signed can sit in a frozen or snapshotted
//! sandbox.

use function::ops::{KEYS, OPERATIONS};
use kms_lambda_kit::{executor, logging, App, Config, Event, SdkClientBuilder};
use lambda_runtime::{service_fn, LambdaEvent, Runtime};
use std::process::ExitCode;

/// How start-up failures are signed: the package's name.
const NAME: &str = env!("CARGO_PKG_NAME");

fn main() -> ExitCode {
    logging::init();

    // Every default key and setting, checked now: a typo fails the deployment at start-up with
    // one line naming the variable.
    let config = match Config::from_env(KEYS) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{NAME}: {err}");
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
            eprintln!("{NAME}: cannot start the Tokio runtime ({flavor:?}): {err}");
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
        eprintln!("{NAME}: {err}");
        return ExitCode::FAILURE;
    }
    let app = App::new(OPERATIONS, config, builder);
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
    // span on every invocation cost more CPU than it told.
    // Layers wrap outwards: the memory budget sees each raw event first and refuses one that
    // is too large unread; the guard then refuses one that is not JSON. The app answers each
    // refusal with its typed error and EMF line.
    let runtime = Runtime::new(handler)
        .layer(app.raw_event_guard())
        .layer(app.memory_budget())
        .register_snapstart_resource(app);
    match runtime.run_concurrent().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{NAME}: runtime stopped: {err}");
            ExitCode::FAILURE
        }
    }
}
