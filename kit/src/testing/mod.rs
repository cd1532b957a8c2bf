//! What a function's tests use (the `testing` feature, as a dev-dependency):
//!
//! - [`memory`]: an in-memory KMS behind the SDK's HTTP seam, and the handler serving a table of
//!   operations with it — for unit tests of an operation, no process, no server;
//! - a real local KMS (moto's server mode, [`kms_url`]) with a key of each kind
//!   ([`create_key_of`]), the strict SigV4 time gate in front of it ([`gate`]: signature and clock
//!   checked as KMS checks them, faults injected, requests counted), and a Lambda Runtime API
//!   emulator ([`emulator`]) running the function's real binary: together a [`Harness`];
//! - [`contract`]: the checks every function made with the kit runs in a few lines — each
//!   operation's sample event (success, the IAM actions and the kind of key of each call, its
//!   answer and its event against its module doc, its EMF line, an expired signature re-signed,
//!   advice on a key of the wrong kind), its bad-input cases, the module table, `template.yaml`
//!   against the tables, the build flags, and the deploy rehearsal;
//! - [`tls`]: an HTTPS endpoint shaped like KMS's, for tests of the TLS path.
//!
//! A function describes itself once, with [`project!`](crate::project):
//!
//! ```ignore
//! const PROJECT: kms_lambda_kit::testing::Project = kms_lambda_kit::project!(function::ops::FUNCTION);
//!
//! #[tokio::test]
//! async fn sample_events() {
//!     kms_lambda_kit::testing::contract::sample_events(&PROJECT).await;
//! }
//! ```
//!
//! Testing an operation's own promises — a slow KMS, a short deadline, a KMS error of each kind,
//! a freeze between calls — takes a [`Harness`] (the function's real binary, the emulator, the
//! SigV4 [`Gate`] in front of the local KMS) and the gate's faults: [`Gate::hang`],
//! [`Gate::arrive_late`], [`Gate::fail_next`] with a [`Canned`] answer. A function's
//! `docs/operations.md` walks through one.
//!
//! The local KMS: `KMS_LAMBDA_TEST_KMS_URL` if set (a `Makefile` starts one moto for a whole
//! run), otherwise a `moto_server` started for this test process — `MOTO_SERVER`, or the
//! project's `.venv/bin/moto_server` — which a watchdog stops when the process exits.

pub mod memory;

#[cfg(feature = "testing")]
pub mod contract;
#[cfg(feature = "testing")]
pub mod emulator;
#[cfg(feature = "testing")]
pub mod events;
#[cfg(feature = "testing")]
pub mod gate;
#[cfg(feature = "testing")]
mod harness;
#[cfg(feature = "testing")]
pub mod tls;

#[cfg(feature = "testing")]
pub use emulator::{Emulator, Outcome, Process};
#[cfg(feature = "testing")]
pub use gate::{Canned, Gate};
#[cfg(feature = "testing")]
pub use harness::*;

use crate::key::Key;
use crate::operation::Entry;
use crate::Function;
use std::path::PathBuf;

/// A function project under test: its binary, its directory and its [`Function`] (its tables).
#[derive(Debug, Clone, Copy)]
pub struct Project {
    /// The function's binary, as built for the tests (`CARGO_BIN_EXE_<name>`).
    pub binary: &'static str,
    /// The project's directory (`CARGO_MANIFEST_DIR`): `events/`, `tests/bad-input/`,
    /// `template.yaml`, `src/ops/`, `.venv/`.
    pub root: &'static str,
    /// The function: its name and tables (`FUNCTION` in `src/ops/mod.rs`).
    pub function: Function,
    /// Where its bad-input cases are, in `root` (`tests/bad-input`).
    pub bad_input: &'static str,
}

impl Project {
    /// `relative` in the project's directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        PathBuf::from(self.root).join(relative)
    }

    /// Its kinds of key.
    pub fn keys(&self) -> &'static [&'static Key] {
        self.function.keys()
    }

    /// Its operations.
    pub fn rows(&self) -> impl Iterator<Item = &'static Entry> {
        self.function.operations().iter()
    }
}

/// Reads `event` as the kit reads it for operation `T` — its fields checked against the ones
/// `T` declares, read into `T`, then `T`'s own [`check`](crate::Operation::check) — for a unit
/// test of an operation's event. (`"operation"` may be left out.)
pub fn read<T: crate::Operation>(event: serde_json::Value) -> Result<T, crate::Error> {
    let event = crate::event::Event::from(event);
    let entry = Entry::of::<T>("");
    crate::operation::known_fields(&entry, &event)?;
    let mut op: T = crate::event::de::read(&event)?;
    op.check()?;
    Ok(op)
}

/// The [`Project`] of the crate whose tests call it: its binary (named after its package), its
/// directory, and the [`Function`] named, e.g. `kms_lambda_kit::project!(function::ops::FUNCTION)`.
#[macro_export]
macro_rules! project {
    ($function:path) => {
        $crate::testing::Project {
            binary: env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME"))),
            root: env!("CARGO_MANIFEST_DIR"),
            function: $function,
            bad_input: "tests/bad-input",
        }
    };
}
