//! The kit's probe: a function made with the kit for the kit's own tests and the template's
//! benchmarks — what they need and what must never deploy, added from the test side: an
//! operation that panics, one that makes `n` KMS calls, and two switches a function does not
//! have.
//!
//! - `KMS_LAMBDA_PROBE_EAGER_CLIENT` set: the KMS client is built in INIT, as most examples do,
//!   so a benchmark can price the kit's lazy build against it (it reintroduces exactly what the
//!   kit avoids);
//! - `KMS_LAMBDA_PROBE_FLAVOR=current-thread|multi-thread`: the Tokio runtime's flavour forced,
//!   so a benchmark can price one against the other under the same load.
//!
//! Without either it is `FUNCTION.run()`, like any function's `main`.

mod ops;

use kms_lambda_kit::__private::{
    cpus, flavor, init_logging, runtime, BuildClient, Flavor, SdkClientBuilder,
};
use kms_lambda_kit::Error;
use std::process::ExitCode;
use std::sync::Mutex;

fn main() -> ExitCode {
    let eager = std::env::var_os("KMS_LAMBDA_PROBE_EAGER_CLIENT").is_some();
    let forced = std::env::var("KMS_LAMBDA_PROBE_FLAVOR").ok();
    if !eager && forced.is_none() {
        return ops::FUNCTION.run();
    }
    init_logging();
    let config = match ops::FUNCTION.configure() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("kit-probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let flavor = match forced.as_deref() {
        Some("current-thread") => Flavor::CurrentThread,
        Some("multi-thread") => Flavor::MultiThread(cpus().get()),
        _ => flavor(config.concurrency, cpus()),
    };
    let builder = Eager {
        sdk: SdkClientBuilder::new(&config),
        built: Mutex::new(None),
        eager,
    };
    runtime(flavor)
        .expect("a Tokio runtime")
        .block_on(ops::FUNCTION.serve(config, builder))
}

/// The kit's client builder, which (`eager`) also builds the client when INIT prepares it.
struct Eager {
    sdk: SdkClientBuilder,
    built: Mutex<Option<kms_lambda_kit::aws_sdk_kms::Client>>,
    eager: bool,
}

impl BuildClient for Eager {
    type Client = kms_lambda_kit::aws_sdk_kms::Client;

    async fn prepare(&self) -> Result<(), kms_lambda_kit::__private::ConfigError> {
        self.sdk.prepare().await?;
        if self.eager {
            let client =
                self.sdk
                    .build()
                    .await
                    .map_err(|e| kms_lambda_kit::__private::ConfigError {
                        variable: "KMS_LAMBDA_PROBE_EAGER_CLIENT",
                        reason: e.to_string(),
                    })?;
            *self.built.lock().unwrap() = Some(client);
        }
        Ok(())
    }

    async fn build(&self) -> Result<Self::Client, Error> {
        let ready = self.built.lock().unwrap().take();
        match ready {
            Some(client) => Ok(client),
            None => self.sdk.build().await,
        }
    }

    async fn refresh(&self) {
        self.sdk.refresh().await
    }
}
