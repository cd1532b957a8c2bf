//! A function made with the kit, and the whole of its wiring: [`Function`], which `main` runs.
//!
//! The INIT story, in order, so that a new version of the kit reaches every function without an
//! edit of its `main` (as lambda_runtime's own `run(service_fn(f))` does):
//!
//! 1. logging, payload-safe at every level (`logging`);
//! 2. the tables checked against each other, and the configuration read from the environment —
//!    every default key, every setting: a typo stops start-up with one line naming the variable;
//! 3. the Tokio runtime, of the flavour the concurrency calls for (`executor`);
//! 4. the SDK configuration and the HTTPS connector prepared — nothing signed, nothing sent;
//!    the KMS client itself is built by the first invocation;
//! 5. the runtime served with the kit's layers in their order: the memory budget sees each raw
//!    event first and refuses one that is too large unread, the parser then reads it once (or
//!    refuses one that is not JSON), and the handler answers every refusal with its typed error
//!    and EMF line; SnapStart hooks forget the client around a snapshot; `run_concurrent`
//!    serves one event at a time on classic Lambda and `AWS_LAMBDA_MAX_CONCURRENCY` at once on
//!    Lambda Managed Instances.

use crate::config::Config;
use crate::handler::App;
use crate::key::{Key, Secret};
use crate::kms::client::SdkClientBuilder;
use crate::kms::lazy::BuildClient;
use crate::operation::Entry;
use crate::{executor, logging};
use lambda_runtime::{service_fn, LambdaEvent, Runtime};
use std::process::ExitCode;

/// A function made with the kit: its name and its tables. `main` runs it:
///
/// ```no_run
/// use kms_lambda_kit::{keys, Function};
/// # mod ops { kms_lambda_kit::keys! { /// Encrypts.
/// #     ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt; }
/// #     pub static OPERATIONS: &[kms_lambda_kit::Entry] = &[]; }
///
/// const FUNCTION: Function = Function::new("my-function", ops::KEYS, ops::OPERATIONS);
///
/// fn main() -> std::process::ExitCode {
///     FUNCTION.run()
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Function {
    name: &'static str,
    keys: &'static [&'static Key],
    operations: &'static [Entry],
    secrets: &'static [&'static Secret],
}

impl Function {
    /// The function `name` (its package's: start-up failures are signed with it), with its kinds
    /// of key (`KEYS`, from `keys!`) and its operations (`OPERATIONS`, from `operations!`).
    pub const fn new(
        name: &'static str,
        keys: &'static [&'static Key],
        operations: &'static [Entry],
    ) -> Function {
        Function {
            name,
            keys,
            operations,
            secrets: &[],
        }
    }

    /// The function's secrets (`SECRETS`, from `secrets!`): environment variables holding KMS
    /// ciphertexts, checked at start-up and decrypted on first use.
    pub const fn secrets(self, secrets: &'static [&'static Secret]) -> Function {
        Function { secrets, ..self }
    }

    /// Runs the function: the INIT story of the module documentation, then the runtime loop.
    /// Returns only when start-up fails (the one line naming why is on stderr) or the runtime
    /// stops.
    pub fn run(self) -> ExitCode {
        logging::init();
        let config = match self.configure() {
            Ok(config) => config,
            Err(err) => return self.fail(err),
        };
        let flavor = executor::flavor(config.concurrency, executor::cpus());
        match executor::build(flavor) {
            Ok(tokio) => {
                let builder = SdkClientBuilder::new(&config);
                tokio.block_on(self.serve(config, builder))
            }
            Err(err) => self.fail(format!(
                "cannot start the Tokio runtime ({flavor:?}): {err}"
            )),
        }
    }

    /// Step 2 of the INIT story: the tables checked, the configuration read.
    #[doc(hidden)]
    pub fn configure(&self) -> Result<Config, String> {
        if let Some(problem) = problems(self.keys, self.operations, self.secrets)
            .into_iter()
            .next()
        {
            return Err(format!("the tables of src/ops/mod.rs: {problem}"));
        }
        let config = Config::from_env(self.keys, self.secrets).map_err(|e| e.to_string())?;
        tracing::debug!(keys = ?config.keys, max_attempts = config.max_attempts, "configuration loaded");
        Ok(config)
    }

    /// Steps 4 and 5 of the INIT story, with the client `builder` prepares and the first
    /// invocation builds.
    #[doc(hidden)]
    pub async fn serve<B: BuildClient<Client = aws_sdk_kms::Client>>(
        self,
        config: Config,
        builder: B,
    ) -> ExitCode {
        if let Err(err) = builder.prepare().await {
            return self.fail(err.to_string());
        }
        let app = App::new(self.operations, config, builder);
        let for_handler = app.clone();
        // The event itself was parsed by the parser layer; the runtime parses `{}`.
        let handler = service_fn(move |event: LambdaEvent<serde::de::IgnoredAny>| {
            let app = for_handler.clone();
            async move { app.handle(event.context).await }
        });
        // Layers wrap outwards: the last added sees each invocation first.
        let runtime = Runtime::new(handler)
            .layer(app.parser())
            .layer(app.memory_budget())
            .register_snapstart_resource(app);
        match runtime.run_concurrent().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => self.fail(format!("runtime stopped: {err}")),
        }
    }

    /// Its kinds of key.
    pub fn keys(&self) -> &'static [&'static Key] {
        self.keys
    }

    /// Its operations.
    pub fn operations(&self) -> &'static [Entry] {
        self.operations
    }

    /// Its secrets.
    pub fn secrets_table(&self) -> &'static [&'static Secret] {
        self.secrets
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn fail(&self, why: impl std::fmt::Display) -> ExitCode {
        eprintln!("{}: {why}", self.name);
        ExitCode::FAILURE
    }
}

/// What is wrong with the tables, one line each naming the row and the fix; empty when they are
/// consistent: unique operation names made of letters and digits, event types whose fields the
/// kit can read, IAM actions that are KMS action names, every operation's kind of key a row of
/// `keys!`, unique key names and variables, each kind's purpose stated; each secret's kind of key
/// a row of `keys!` that no operation is granted `kms:Decrypt` on (the secrets' condition would
/// be moot), unique secret names and variables, each secret's purpose stated.
pub(crate) fn problems(
    keys: &[&'static Key],
    operations: &[Entry],
    secrets: &[&'static Secret],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for row in operations {
        if !names.insert(row.name()) {
            problems.push(format!(
                "two rows of operations! are named {:?}",
                row.name()
            ));
        }
        let mut chars = row.name().chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric());
        if !well_formed {
            problems.push(format!(
                "operation {:?}: a NAME is letters and digits, starting with a letter \
                 (`describeKey`)",
                row.name()
            ));
        }
        for a in row.iam_actions() {
            let ok = a.strip_prefix("kms:").is_some_and(|action| {
                !action.is_empty()
                    && action.chars().all(|c| c.is_ascii_alphanumeric())
                    && action != "ReEncrypt"
            });
            if !ok {
                problems.push(format!(
                    "{}: {a} is not an IAM action name of KMS (`kms:Encrypt`; ReEncrypt is \
                     kms:ReEncryptFrom and kms:ReEncryptTo)",
                    row.name()
                ));
            }
        }
        if let Err(e) = row.fields() {
            problems.push(e.message().to_string());
        }
        if !keys.iter().any(|k| std::ptr::eq(*k, row.key())) {
            problems.push(format!(
                "{} uses the {} key, which is no row of keys! in src/ops/mod.rs: add its row \
                 (name, variable, spec, usage)",
                row.name(),
                row.key().name
            ));
        }
    }
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[..i] {
            if a.pascal() == b.pascal() || a.variable == b.variable {
                problems.push(format!(
                    "keys {} and {} share a name or a variable ({})",
                    b.name, a.name, a.variable
                ));
            }
        }
        if a.purpose.trim().is_empty() {
            problems.push(format!(
                "key {} has no doc comment saying what it is for",
                a.name
            ));
        }
    }
    for (i, secret) in secrets.iter().enumerate() {
        if !keys.iter().any(|k| std::ptr::eq(*k, secret.key)) {
            problems.push(format!(
                "secret {} is encrypted with the {} key, which is no row of keys!: add its row",
                secret.name, secret.key.name
            ));
        }
        for op in operations
            .iter()
            .filter(|o| std::ptr::eq(o.key(), secret.key))
        {
            if op.iam_actions().contains(&"kms:Decrypt") {
                problems.push(format!(
                    "secret {} is encrypted with the {} key, which {} may decrypt anything with: \
                     the role could then decrypt what is not this function's; give secrets a \
                     kind of key of their own",
                    secret.name,
                    secret.key.name,
                    op.name()
                ));
            }
        }
        let taken = keys.iter().any(|k| k.variable == secret.variable);
        if taken
            || secrets[..i]
                .iter()
                .any(|s| s.name == secret.name || s.variable == secret.variable)
        {
            problems.push(format!(
                "secret {} shares its name or its variable ({}) with another row",
                secret.name, secret.variable
            ));
        }
        if secret.purpose.trim().is_empty() {
            problems.push(format!(
                "secret {} has no doc comment saying what it is for",
                secret.name
            ));
        }
    }
    problems
}
