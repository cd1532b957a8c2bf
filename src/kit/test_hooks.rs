//! Switches for this project's own tests and benchmarks, compiled only with the `test-hooks`
//! cargo feature (off by default, so neither `cargo build`, `cargo lambda build`, `cargo lambda
//! watch` nor `sam build` ever contains them). `make test` and `make bench` turn it on.
//!
//! - [`Panic`]: an operation, `{"operation": "panic"}`, that panics, so a test can show that a
//!   panic fails one invocation as `Internal` and the sandbox keeps serving. `main` adds its row
//!   to the table it serves ([`with_test_rows`]); `ops::OPERATIONS` never has it.
//! - [`EAGER_CLIENT`]: when that variable is set, `main` builds the KMS client during INIT, so
//!   `make bench` can price the lazy build against the eager one. It reintroduces exactly what
//!   this template avoids.

use crate::kit::error::Error;
use crate::kit::event::fields::Fields;
use crate::kit::key::Key;
use crate::kit::operation::{Ctx, Entry, Operation};
use crate::kit::reply::Reply;
use aws_sdk_kms::types::{KeySpec, KeyUsageType};

/// The variable that makes `main` build the client in INIT (benchmarks only).
pub const EAGER_CLIENT: &str = "KMS_LAMBDA_BENCH_EAGER_CLIENT";

/// `{"operation": "panic"}`: panics when run.
#[derive(Debug)]
pub struct Panic;

/// The kind of key of [`Panic`], which calls no KMS: not a row of `keys!`, never read.
static NO_KEY: Key = Key {
    name: "NO_KEY",
    variable: "",
    spec: KeySpec::SymmetricDefault,
    usage: KeyUsageType::EncryptDecrypt,
    purpose: "",
};

impl Operation for Panic {
    const NAME: &'static str = "panic";
    const FIELDS: &'static [&'static str] = &[];
    const KEY: &'static Key = &NO_KEY;
    const IAM_ACTIONS: &'static [&'static str] = &[];

    fn parse(_: &Fields<'_>) -> Result<Self, Error> {
        Ok(Panic)
    }

    async fn run(self, _: &Ctx<'_>) -> Result<Reply, Error> {
        panic!("forced panic (test-hooks)")
    }
}

/// `table` and the rows of the test hooks, for `main` to serve.
pub fn with_test_rows(table: &'static [Entry]) -> &'static [Entry] {
    let mut rows = table.to_vec();
    rows.push(Entry::test_only::<Panic>());
    // Once per process, in INIT: the table lives as long as the process.
    Box::leak(rows.into_boxed_slice())
}
