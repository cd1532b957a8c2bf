//! The project's own tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`): the
//! kit does the work from the function's two tables (`src/ops/mod.rs`).
//!
//! - `cargo xtask template` writes the parts of `template.yaml` that follow from the tables
//!   (`make template`); `cargo xtask template --check` only checks them, naming the first line
//!   that differs (`make package` and so `make deploy` and `make deploy-check`). Either fails,
//!   saying why, when the tables are inconsistent.
//! - `cargo xtask local-keys URL` creates in a local KMS a key of each kind, under its local
//!   alias (`alias/local/encryption`, as the sample events name it), and prints the key
//!   variables that name them (`make invoke`).

use function::ops::{KEYS, OPERATIONS};
use kms_lambda_kit::tools::{local_keys, template};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let path = Path::new("template.yaml");
    let result = match args.as_slice() {
        ["template"] => template::write(path, KEYS, OPERATIONS).map(|changed| {
            let what = if changed { "rewritten from" } else { "already" };
            println!("make template: template.yaml {what} what the tables say");
        }),
        ["template", "--check"] => template::check(path, KEYS, OPERATIONS)
            .map(|()| println!("template.yaml is what the tables say")),
        ["local-keys", url] => {
            let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
            for variable in runtime.block_on(local_keys::create_all(url, KEYS)) {
                println!("{variable}");
            }
            Ok(())
        }
        _ => Err("usage: cargo xtask template [--check] | cargo xtask local-keys KMS_URL".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
