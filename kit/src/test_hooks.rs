//! Switches for a function's own tests and benchmarks, compiled only with the kit's `testing`
//! feature (a dev-dependency: neither `cargo build`, `cargo lambda build`, `cargo lambda watch`
//! nor `sam build` ever contains them).
//!
//! - [`Panic`]: an operation, `{"operation": "panic"}`, that panics, so a test can show that a
//!   panic fails one invocation as `Internal` and the sandbox keeps serving. [`App::new`]
//!   (crate::App::new) adds its row to the table it serves ([`with_test_rows`]).
//! - [`Calls`]: an operation, `{"operation": "calls", "keyId": "…", "n": "3"}`, that encrypts a
//!   byte with that key `n` times, one call after another, so a test can show that the
//!   invocation's deadline bounds an operation however many calls it makes (`"n": "0"`: an
//!   invocation that calls no KMS, a benchmark's control).
//! - [`EAGER_CLIENT`]: when that variable is set, [`SdkClientBuilder::prepare`]
//!   (crate::SdkClientBuilder::prepare) also builds the KMS client, in INIT, so a benchmark can
//!   price the lazy build against the eager one. It reintroduces exactly what the kit avoids.
//! - [`FLAVOR`]: `current-thread` or `multi-thread` forces the Tokio runtime's flavour
//!   ([`executor::flavor`](crate::executor::flavor)), so a benchmark can price one against the
//!   other under the same load.

use crate::error::Error;
use crate::event::fields::Fields;
use crate::key::Key;
use crate::operation::{Ctx, Entry, Operation};
use crate::reply::Reply;
use aws_sdk_kms::types::{KeySpec, KeyUsageType};

/// The variable that makes the client be built in INIT (benchmarks only).
pub const EAGER_CLIENT: &str = "KMS_LAMBDA_BENCH_EAGER_CLIENT";

/// The variable that forces the runtime's flavour (benchmarks only).
pub const FLAVOR: &str = "KMS_LAMBDA_BENCH_FLAVOR";

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
    const RESPONSE: &'static [&'static str] = &[];
    const KEY: &'static Key = &NO_KEY;
    const IAM_ACTIONS: &'static [&'static str] = &[];

    fn parse(_: &Fields<'_>) -> Result<Self, Error> {
        Ok(Panic)
    }

    async fn run(self, _: &Ctx<'_>) -> Result<Reply, Error> {
        panic!("forced panic (test hook)")
    }
}

/// `{"operation": "calls", "keyId": "…", "n": "3"}`: `n` KMS `Encrypt` calls with `keyId`.
#[derive(Debug)]
pub struct Calls {
    key_id: String,
    n: usize,
}

impl Operation for Calls {
    const NAME: &'static str = "calls";
    const FIELDS: &'static [&'static str] = &["keyId", "n"];
    const RESPONSE: &'static [&'static str] = &["calls"];
    const KEY: &'static Key = &NO_KEY;
    const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt"];

    fn parse(fields: &Fields<'_>) -> Result<Self, Error> {
        let key_id = fields
            .key_id("keyId")?
            .ok_or_else(|| Error::invalid_request("calls needs a keyId"))?;
        let n = fields
            .choice("n", &["0", "1", "2", "3", "4", "5"])?
            .unwrap_or("1");
        Ok(Calls {
            key_id,
            n: n.parse().unwrap_or(1),
        })
    }

    async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
        for _ in 0..self.n {
            let request = cx
                .kms
                .client()
                .encrypt()
                .key_id(&self.key_id)
                .plaintext(aws_sdk_kms::primitives::Blob::new(vec![1]))
                .send();
            cx.kms.call("Encrypt", &self.key_id, request).await?;
        }
        crate::reply::respond(serde_json::json!({"calls": self.n}))
    }
}

/// `table` and the rows of the test hooks.
pub fn with_test_rows(table: &'static [Entry]) -> &'static [Entry] {
    if table.iter().any(|e| e.name == Panic::NAME) {
        return table;
    }
    let mut rows = table.to_vec();
    rows.push(Entry::test_only::<Panic>());
    rows.push(Entry::test_only::<Calls>());
    // Once per app, in INIT: the table lives as long as the process.
    Box::leak(rows.into_boxed_slice())
}
