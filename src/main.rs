//! The INIT story: read configuration, set up logging, prepare what signs nothing, start the
//! runtime loop. Nothing here touches the network: the KMS client is built by the first
//! invocation (see `lazy`), so nothing signed can sit in a frozen or snapshotted sandbox.

use kms_lambda::config::Config;
use kms_lambda::event::Event;
use kms_lambda::handler::App;
use kms_lambda::kms::SdkClientBuilder;
use kms_lambda::{logging, memory, raw_event::RawEventGuard};
use lambda_runtime::{layers::TracingLayer, service_fn, LambdaEvent, Runtime};
use std::process::ExitCode;

/// Large buffers get pages of their own and give them back when freed (see `memory`).
#[global_allocator]
static ALLOCATOR: memory::LargeBuffersMapped = memory::LargeBuffersMapped;

fn main() -> ExitCode {
    // Before the runtime's threads exist and anything large is allocated.
    memory::configure_allocator();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(init_then_serve()),
        Err(err) => {
            eprintln!("kms-lambda: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn init_then_serve() -> ExitCode {
    logging::init();

    // Fail the deployment at start-up, with one line naming the variable.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("kms-lambda: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::debug!(key_id = %config.key_id, max_attempts = config.max_attempts, "configuration loaded");

    // Prepared now, while INIT has the CPU to spare: the SDK configuration and the HTTPS
    // connector with its trust roots. Nothing in them signs, sends or expires. The KMS client
    // itself is built by the first invocation (see `kms::SdkClientBuilder` and `lazy`).
    let builder = SdkClientBuilder::new(&config);
    if let Err(err) = builder.prepare().await {
        eprintln!("kms-lambda: {err}");
        return ExitCode::FAILURE;
    }
    let app = App::new(config, builder);
    let for_handler = app.clone();
    let handler = service_fn(move |event: LambdaEvent<Event>| {
        let app = for_handler.clone();
        async move { app.handle(event).await }
    });

    // `run_concurrent` serves one event at a time on classic Lambda and
    // AWS_LAMBDA_MAX_CONCURRENCY at once on Lambda Managed Instances.
    // SnapStart (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start): the app forgets its client around
    // the snapshot. Elsewhere the hook is never called.
    let runtime = Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(RawEventGuard)
        .register_snapstart_resource(app);
    match runtime.run_concurrent().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kms-lambda: runtime stopped: {err}");
            ExitCode::FAILURE
        }
    }
}
