//! The KMS kit: everything a function that calls KMS from Lambda keeps as it is, whatever its
//! operations. An operation (`src/ops/`) sees the kit through the names re-exported here.
//!
//! - [`operation`]: the [`Operation`] trait, the [`Ctx`] it runs with, and the table rows;
//! - [`key`]: kinds of key ([`Key`], the `keys!` rows) and the syntax of a key id;
//! - [`reply`]: what an operation answers ([`respond`], [`respond_carrying`]);
//! - [`handler`]: one invocation, from event to answer and its EMF line;
//! - [`kms`]: KMS itself — the lazily built client, the per-invocation [`Kms`] handle through
//!   which every call goes, the clock-skew-aware retry policy, the init-to-send metrics;
//! - [`event`]: the event contract — the event, its [`Fields`], base64, the non-JSON guard;
//! - [`envelope`]: payloads above KMS's 4 KiB in the AWS Encryption SDK message format, and
//!   their data keys;
//! - [`config`], [`error`], [`logging`], [`secret`]: settings from the environment, the
//!   `errorType` taxonomy, payload-safe logs, plaintext buffers wiped on drop;
//! - [`executor`]: the Tokio runtime's flavour, by how many invocations arrive at once;
//! - [`memory`]: concurrent invocations held to the function's memory (a bound at start-up,
//!   back-pressure per invocation).

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
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
#[cfg(test)]
pub(crate) mod testing;

pub use error::{Error, ErrorType};
pub use event::fields::{Fields, Limit};
pub(crate) use key::keys;
pub use key::Key;
pub use kms::call::{non_empty, required, Kms};
pub(crate) use operation::operations;
pub use operation::{Ctx, Operation};
pub use reply::{respond, respond_carrying, Payload, Reply};
pub use secret::SecretBytes;
