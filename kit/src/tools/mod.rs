//! What a function project's own tasks run (the `tools` feature; its `cargo xtask`): the parts
//! of `template.yaml` that follow from the tables ([`template`]), and local keys of each kind
//! for `make invoke` ([`local_keys`]) — all behind one call, [`xtask`], so that a new version of
//! the kit brings its tasks with it.

pub mod local_keys;
pub mod template;

use crate::Function;
use std::path::Path;
use std::process::ExitCode;

/// The project's tasks, by the command line (`cargo xtask <task>`, an alias in
/// `.cargo/config.toml` for this, run from the project's directory):
///
/// - `template` writes the parts of `template.yaml` that follow from the tables (`make
///   template`); `template --check` only checks them, naming the first line that differs (`make
///   package`, and so `make deploy` and `make deploy-check`). Either fails, saying why, when the
///   tables are inconsistent.
/// - `local-keys URL` creates in a local KMS a key of each kind, under its local alias
///   (`alias/local/encryption`, as the sample events name it), encrypts each secret for the
///   function, and prints the variables that name the keys and hold the secrets (`make invoke`);
/// - `secrets` prints the secrets as JSON — each one's name, variable, `template.yaml`
///   parameter and key resource — for the deploy rehearsal, which encrypts one for the stack.
///
/// ```no_run
/// # mod ops { kms_lambda_kit::keys! { /// Encrypts.
/// #     ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt; }
/// #     pub static OPERATIONS: &[kms_lambda_kit::Entry] = &[];
/// #     pub const FUNCTION: kms_lambda_kit::Function =
/// #         kms_lambda_kit::Function::new("my-function", KEYS, OPERATIONS); }
/// fn main() -> std::process::ExitCode {
///     kms_lambda_kit::tools::xtask(ops::FUNCTION)
/// }
/// ```
pub fn xtask(function: Function) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let path = Path::new("template.yaml");
    let result = match args.as_slice() {
        ["template"] => template::write(path, &function).map(|changed| {
            let what = if changed { "rewritten from" } else { "already" };
            println!("make template: template.yaml {what} what the tables say");
        }),
        ["template", "--check"] => template::check(path, &function)
            .map(|()| println!("template.yaml is what the tables say")),
        ["local-keys", url] => {
            let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
            for variable in runtime.block_on(local_keys::create_all(url, &function)) {
                println!("{variable}");
            }
            Ok(())
        }
        ["secrets"] => {
            let rows: Vec<serde_json::Value> = function
                .secrets_table()
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "variable": s.variable,
                        "parameter": template::parameter(s),
                        "key": template::resource(s.key),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
            Ok(())
        }
        _ => Err(
            "usage: cargo xtask template [--check] | cargo xtask local-keys KMS_URL | cargo xtask secrets"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
