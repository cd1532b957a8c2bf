//! The KMS kit for AWS Lambda functions in Rust: everything a function that calls KMS keeps as
//! it is, whatever its operations. A function project (such as one made from the kms-lambda
//! template with `cargo lambda new`) writes its operations and two tables; the kit does the rest:
//!
//! - the KMS client is built **on the first invocation**, never in INIT, once however many
//!   invocations arrive together, and again if a build failed;
//! - every KMS call an operation sends is **bounded by the invocation's deadline**, **re-signed**
//!   when its signature expired on the way (the freeze/thaw case the SDK's own skew correction
//!   does not retry), measured, and mapped to a stable `errorType`;
//! - every invocation writes **one CloudWatch EMF line**: the client build, handler entry to
//!   first send, each signature's age on the wire, attempts, applied clock skew;
//! - events are validated field by field with messages that never echo a value; payloads above
//!   KMS's 4 KiB are sealed in **AWS Encryption SDK messages**.
//!
//! # Layout
//!
//! - [`operation`]: the [`Operation`] trait an operation implements, the [`Ctx`] it runs with,
//!   and the [`operations!`] table; [`key`]: the kinds of key ([`Key`], the [`keys!`] table);
//! - [`event`]: the event contract — the [`Event`], its [`Fields`], base64, the non-JSON guard;
//! - [`reply`]: what an operation answers ([`respond`], [`respond_carrying`]);
//! - [`kms`]: KMS as the function talks to it — the lazily built client, the per-invocation
//!   [`Kms`] handle, the clock-skew-aware retry policy, the init-to-send metrics;
//! - [`handler`]: one invocation from event to answer and its EMF line ([`App`]);
//! - [`envelope`]: payloads above KMS's 4 KiB in the AWS Encryption SDK message format;
//! - [`config`], [`error`], [`logging`], [`secret`]: settings from the environment, the
//!   `errorType` taxonomy, payload-safe logs, plaintext buffers wiped on drop;
//! - [`executor`], [`memory`]: Lambda Managed Instances — the Tokio runtime's flavour by
//!   concurrency, and concurrent invocations held to the function's memory;
//! - `tools` (feature `tools`): `template.yaml` written from the tables, local keys of each
//!   kind — what a function project's `xtask` runs;
//! - `testing` (feature `testing`, for a function's tests): a local KMS, the Lambda Runtime API
//!   emulator, the strict SigV4 time gate, an in-memory KMS, and the checks every operation with
//!   a sample event gets.
//!
//! # An operation
//!
//! One type per operation: its fields, their validation, its kind of key, its KMS calls and its
//! answer. Every call it sends through [`Ctx::kms`] gets the deadline, the re-signing, the
//! metrics and the error mapping without a line of its own.
//!
//! ```
//! use kms_lambda_kit::{keys, operations};
//!
//! keys! {
//!     /// Encrypts and decrypts payloads.
//!     ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt;
//! }
//!
//! mod describe_key {
//!     use super::ENCRYPTION;
//!     use kms_lambda_kit::{non_empty, respond, Ctx, Error, Fields, Key, Operation, Reply};
//!
//!     /// `{"operation": "describeKey", "keyId": "optional"}` → `{"keyId": "<key ARN>"}`.
//!     pub struct DescribeKey {
//!         key_id: Option<String>,
//!     }
//!
//!     impl Operation for DescribeKey {
//!         const NAME: &'static str = "describeKey";
//!         const FIELDS: &'static [&'static str] = &["keyId"];
//!         const RESPONSE: &'static [&'static str] = &["keyId"];
//!         const KEY: &'static Key = &ENCRYPTION;
//!         const IAM_ACTIONS: &'static [&'static str] = &["kms:DescribeKey"];
//!
//!         fn parse(fields: &Fields<'_>) -> Result<Self, Error> {
//!             Ok(DescribeKey { key_id: fields.key_id("keyId")? })
//!         }
//!
//!         async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
//!             let key = cx.key_id(self.key_id.as_deref())?;
//!             let request = cx.kms.client().describe_key().key_id(key).send();
//!             let out = cx.kms.call("DescribeKey", key, request).await?;
//!             let arn = out.key_metadata.and_then(|m| m.arn);
//!             respond(serde_json::json!({"keyId": non_empty(arn, "DescribeKey", "KeyMetadata.Arn")?}))
//!         }
//!     }
//! }
//!
//! operations! {
//!     describe_key::DescribeKey,
//! }
//!
//! fn main() {
//!     assert_eq!(OPERATIONS[0].name, "describeKey");
//!     assert_eq!(OPERATIONS[0].key.variable, "KMS_KEY_ID");
//! }
//! ```
//!
//! A function's `main` reads [`Config`] from the environment in INIT, prepares the SDK
//! configuration ([`SdkClientBuilder::prepare`], which signs nothing), and serves [`App`] with
//! `lambda_runtime`, behind [`RawEventGuard`] and [`MemoryBudget`].

#![deny(missing_docs)]

pub mod config;
pub mod envelope;
pub mod error;
pub mod event;
pub mod executor;
pub mod handler;
pub mod key;
pub mod kms;
pub mod logging;
pub mod memory;
pub mod operation;
pub mod reply;
pub mod secret;
#[cfg(feature = "testing")]
mod test_hooks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(feature = "tools")]
pub mod tools;

#[cfg(test)]
mod debug_tests;

pub use config::Config;
pub use error::{Error, ErrorType};
pub use event::fields::{Fields, Limit};
pub use event::raw::RawEventGuard;
pub use event::Event;
pub use handler::App;
pub use key::Key;
pub use kms::call::{non_empty, required, Kms};
pub use kms::client::SdkClientBuilder;
pub use memory::MemoryBudget;
pub use operation::{Ctx, Entry, Operation};
pub use reply::{respond, respond_carrying, Payload, Reply};
pub use secret::SecretBytes;

/// The SDK client's crate, as the kit links it: operations build their requests with it.
pub use aws_sdk_kms;
/// The runtime's crate, as the kit links it: `main` serves the [`App`] with it.
pub use lambda_runtime;
