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
//!   answer's fields, its EMF line, an expired signature re-signed, advice on a key of the wrong
//!   kind), the bad-input corpus, the module table, `template.yaml` against the tables, the build
//!   flags, and the deploy rehearsal;
//! - [`tls`]: an HTTPS endpoint shaped like KMS's, for tests of the TLS path.
//!
//! A function describes itself once, with [`project!`](crate::project):
//!
//! ```ignore
//! const PROJECT: kms_lambda_kit::testing::Project = kms_lambda_kit::project!(function::ops);
//!
//! #[tokio::test]
//! async fn every_sample_event_gets_what_the_kit_promises_its_operation() {
//!     kms_lambda_kit::testing::contract::sample_events(&PROJECT).await;
//! }
//! ```
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
pub use emulator::{Emulator, Function, Outcome};
#[cfg(feature = "testing")]
pub use gate::{Canned, Gate};
#[cfg(feature = "testing")]
pub use harness::*;

use crate::key::Key;
use crate::operation::Entry;
use std::path::PathBuf;

/// A function project under test: its binary, its directory and its two tables.
#[derive(Debug, Clone, Copy)]
pub struct Project {
    /// The function's binary, as built for the tests (`CARGO_BIN_EXE_<name>`).
    pub binary: &'static str,
    /// The project's directory (`CARGO_MANIFEST_DIR`): `events/`, `tests/bad-input/`,
    /// `template.yaml`, `src/ops/`, `.venv/`.
    pub root: &'static str,
    /// Its kinds of key (`KEYS`, from `keys!`).
    pub keys: &'static [&'static Key],
    /// Its operations (`OPERATIONS`, from `operations!`).
    pub operations: &'static [Entry],
}

impl Project {
    /// `relative` in the project's directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        PathBuf::from(self.root).join(relative)
    }

    /// The rows a caller can name (the test hooks' rows aside).
    pub fn rows(&self) -> impl Iterator<Item = &'static Entry> {
        self.operations.iter().filter(|r| !r.test_only)
    }
}

/// The [`Project`] of the crate whose tests call it: its binary (named after its package), its
/// directory, and the `KEYS` and `OPERATIONS` of the module named, e.g.
/// `kms_lambda_kit::project!(function::ops)`.
#[macro_export]
macro_rules! project {
    ($($ops:ident)::+) => {
        $crate::testing::Project {
            binary: env!(concat!("CARGO_BIN_EXE_", env!("CARGO_PKG_NAME"))),
            root: env!("CARGO_MANIFEST_DIR"),
            keys: $($ops)::+::KEYS,
            operations: $($ops)::+::OPERATIONS,
        }
    };
}
