//! The KMS kit for AWS Lambda functions in Rust: everything a function that calls KMS keeps as
//! it is, whatever its operations. A function writes its operations and its tables; the kit does
//! the rest:
//!
//! - the KMS client is built **on the first invocation**, never in INIT, once however many
//!   invocations arrive together, and again if a build failed;
//! - every KMS call an operation sends is **bounded by the invocation's deadline**, **re-signed**
//!   when its signature expired on the way (the freeze/thaw case the SDK's own skew correction
//!   does not retry), measured, and mapped to a stable `errorType`;
//! - every invocation writes **one CloudWatch EMF line**: the client build, handler entry to
//!   first send, each signature's age on the wire, attempts, applied clock skew;
//! - events are read field by field with messages that never echo a value; payloads above KMS's
//!   4 KiB are sealed in **AWS Encryption SDK messages**.
//!
//! # A function
//!
//! Its `main` is one call — the wiring is the kit's, so a new version of the kit reaches a
//! function without an edit of its `main`:
//!
//! ```no_run
//! # mod ops { kms_lambda_kit::keys! { /// Encrypts.
//! #     ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt; }
//! #     pub static OPERATIONS: &[kms_lambda_kit::Entry] = &[];
//! #     pub const FUNCTION: kms_lambda_kit::Function =
//! #         kms_lambda_kit::Function::new("my-function", KEYS, OPERATIONS); }
//! fn main() -> std::process::ExitCode {
//!     ops::FUNCTION.run()
//! }
//! ```
//!
//! # An operation
//!
//! One type per operation: its event is the type itself (`#[derive(Deserialize)]`: its fields
//! are the event's, declared once), its checks, its kind of key, its KMS calls and its answer (a
//! `#[derive(Serialize)]` type). Every call it sends through [`Ctx::kms`] gets the deadline, the
//! re-signing, the metrics and the error mapping without a line of its own.
//!
//! ```
//! use kms_lambda_kit::{keys, operations, Function};
//!
//! keys! {
//!     /// Encrypts and decrypts payloads.
//!     ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt;
//! }
//!
//! mod describe_key {
//!     //! `{"operation": "describeKey", "keyId": "optional"}` → `{"keyId": "<key ARN>"}`
//!     use super::ENCRYPTION;
//!     use kms_lambda_kit::{non_empty, Ctx, Error, Key, KeyId, Operation};
//!     use serde::{Deserialize, Serialize};
//!
//!     #[derive(Deserialize)]
//!     #[serde(rename_all = "camelCase")]
//!     pub struct DescribeKey {
//!         key_id: Option<KeyId>,
//!     }
//!
//!     #[derive(Serialize)]
//!     #[serde(rename_all = "camelCase")]
//!     pub struct Described {
//!         key_id: String,
//!     }
//!
//!     impl Operation for DescribeKey {
//!         const NAME: &'static str = "describeKey";
//!         const KEY: &'static Key = &ENCRYPTION;
//!         const IAM_ACTIONS: &'static [&'static str] = &["kms:DescribeKey"];
//!         type Answer = Described;
//!
//!         async fn run(self, cx: &Ctx<'_>) -> Result<Described, Error> {
//!             let key = cx.key_id(self.key_id.as_deref())?;
//!             let out = cx.kms.call(cx.kms.client().describe_key().key_id(key)).await?;
//!             let arn = out.key_metadata.and_then(|m| m.arn);
//!             Ok(Described { key_id: non_empty(arn, "DescribeKey", "KeyMetadata.Arn")? })
//!         }
//!     }
//! }
//!
//! operations! {
//!     describe_key::DescribeKey,
//! }
//!
//! const FUNCTION: Function = Function::new("my-function", KEYS, OPERATIONS);
//! # fn main() {}
//! ```
//!
//! # Layout
//!
//! Each layer imports only from the layers below it (a test of the kit's checks it):
//!
//! 1. `error`, `key`, `secret`, `deadline`, `logging`, `executor`: the `errorType` taxonomy, the
//!    kinds of key, wiped buffers, deadline arithmetic, payload-safe logs, the Tokio runtime's
//!    flavour;
//! 2. `event`: the event contract — parsed once, read into an operation's type with messages
//!    that never echo a value, the field types ([`Bytes`], [`Context`], [`KeyId`]);
//! 3. `memory`: concurrent invocations held to the function's memory (Lambda Managed
//!    Instances);
//! 4. `config`: the settings, from the environment, in INIT;
//! 5. `kms`: the lazily built client, the per-invocation [`Kms`] handle, the clock-skew-aware
//!    retry policy, the init-to-send metrics;
//! 6. `envelope`, `secrets`: payloads above KMS's 4 KiB in the AWS Encryption SDK message
//!    format; the function's [`Secret`]s, each decrypted once, on first use;
//! 7. `operation`, `reply`: the [`Operation`] trait, the [`Ctx`] it runs with, the
//!    [`operations!`] table; the answer on its way out;
//! 8. `handler`: one invocation from event to answer and its EMF line;
//! 9. `function`: [`Function`], the wiring `main` runs;
//! 10. `tools` (feature `tools`: what a function's `cargo xtask` runs — `template.yaml` from the
//!     tables, local keys) and `testing` (feature `testing`, for a function's tests: a local KMS,
//!     the Runtime API emulator, the strict SigV4 time gate, an in-memory KMS, the checks every
//!     function runs).

#![deny(missing_docs)]

mod config;
mod deadline;
mod envelope;
mod error;
mod event;
mod executor;
mod function;
mod handler;
mod key;
mod kms;
mod logging;
mod memory;
mod operation;
mod reply;
mod secret;
mod secrets;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(feature = "tools")]
pub mod tools;

#[cfg(test)]
mod debug_tests;

pub use envelope::{is_envelope, Opened, Sealed};
pub use error::{Error, ErrorType};
pub use event::types::{Bytes, Context, KeyId, Limit};
pub use event::LAMBDA_PAYLOAD_LIMIT;
pub use function::Function;
pub use key::{Key, Secret};
pub use kms::call::{non_empty, required, Kms, KmsRequest};
pub use operation::{Ctx, Entry, Operation};
pub use secret::SecretBytes;

/// The SDK client's crate, as the kit links it: operations build their requests with it.
pub use aws_sdk_kms;
/// The runtime's crate, as the kit links it.
pub use lambda_runtime;

/// What the kit's own probe, the template's benchmarks and fuzz targets reach inside the kit.
/// No promise: anything here may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::config::{CommitmentPolicy, Config, ConfigError};
    pub use crate::envelope::{
        canonical_context, datakey::DataKeyCache, open, parse as parse_envelope, seal, seal_framed,
        seal_with_keys, sealed_len, sign, DataKey, EncryptedDataKey, FRAME_LENGTH, KMS_PROVIDER_ID,
    };
    pub use crate::event::base64::{base64_len, decode_base64, encode_base64, json_len, Base64};
    pub use crate::event::de::read;
    pub use crate::event::Event;
    pub use crate::executor::{build as runtime, cpus, flavor, Flavor};
    pub use crate::kms::amz_date;
    pub use crate::kms::client::SdkClientBuilder;
    pub use crate::kms::lazy::BuildClient;
    pub use crate::kms::skew::{retry_config, OffsetClock};
    pub use crate::logging::init as init_logging;
    pub use crate::memory::WORKING_FACTOR;

    /// Reads `body` as the function would, up to the operation's own checks (nothing is run):
    /// the fuzz target's whole path from bytes to a validated request.
    pub fn read_event(table: &'static [crate::Entry], body: &[u8]) -> Result<(), crate::Error> {
        let event = crate::event::parse::parse(body)?;
        crate::operation::dispatch(table, &event).request.map(drop)
    }
}
