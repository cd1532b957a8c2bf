//! The project's own tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`): the
//! kit does the work from the function's tables (`src/ops/mod.rs`) — `cargo xtask template
//! [--check]` (`make template`), `cargo xtask local-keys URL` (`make invoke`).

fn main() -> std::process::ExitCode {
    kms_lambda_kit::tools::xtask(function::ops::FUNCTION)
}
