//! What an operation is ([`Operation`]), what it runs with ([`Ctx`]), and the table that names
//! them all ([`Entry`], filled by `operations!` in `src/ops/mod.rs`).
//!
//! As in mini-redis's `cmd/`: an operation is a type implementing [`Operation`] in its own file
//! — its event fields, their validation, its kind of key, the KMS calls it makes and its
//! response. The table drives everything else: dispatch by the event's `"operation"`, the "use
//! encrypt or decrypt" hints in error messages, and (with the kind of key) the IAM statements
//! `make template` writes. Adding an operation is one module and one row; nothing else lists
//! operations.
//!
//! What every operation gets for free: unknown fields are refused before it parses, a bad event
//! costs no KMS client build, and every KMS call it sends through [`Ctx::kms`] is bounded by the
//! invocation's deadline, measured, retried on expired signatures and mapped to the `errorType`
//! taxonomy.

use crate::config::Config;
use crate::envelope::datakey::DataKeyCache;
use crate::envelope::{self, Opened, Sealed};
use crate::error::{Error, ErrorType};
use crate::event::fields::Fields;
use crate::event::Event;
use crate::key::Key;
use crate::kms::call::Kms;
use crate::reply::Reply;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// One operation: what an event names, what it may carry, which key it uses and what it may
/// call.
pub trait Operation: Sized + Send + 'static {
    /// The event's `"operation"` value.
    const NAME: &'static str;
    /// The event fields it reads, besides `"operation"`; any other field is refused.
    const FIELDS: &'static [&'static str];
    /// The fields of its answer: the contract its module documents. A function's tests hold
    /// every sample event's answer to exactly these (`testing::contract`), so a field added to
    /// the answer and not here — nor, with it, to the documentation — fails a test naming it.
    const RESPONSE: &'static [&'static str];
    /// The kind of key it uses: a row of `keys!` in `src/ops/mod.rs`. Its calls default to that
    /// kind's key ([`Ctx::key_id`]), the role grants its [`IAM_ACTIONS`](Self::IAM_ACTIONS) on
    /// that key, and a key KMS refuses for it is answered with advice naming this kind.
    const KEY: &'static Key;
    /// The IAM actions its KMS calls need (`kms:Encrypt`, …), on keys of [`KEY`](Self::KEY)'s
    /// kind: `make template` grants exactly these, and a test checks each call against the list.
    const IAM_ACTIONS: &'static [&'static str];

    /// Validates the event. Runs before the KMS client is built: a bad event costs nothing.
    fn parse(fields: &Fields<'_>) -> Result<Self, Error>;

    /// Does the work and returns the response body (see [`respond`](crate::reply::respond)).
    fn run(self, cx: &Ctx<'_>) -> impl Future<Output = Result<Reply, Error>> + Send;
}

/// What an operation runs with.
pub struct Ctx<'a> {
    /// KMS for this invocation (deadline-bounded, measured, aware of the operation's kind of key).
    pub kms: &'a Kms,
    /// The function's settings.
    pub config: &'a Config,
    /// Envelope data keys: from KMS, or cached.
    pub data_keys: &'a DataKeyCache,
}

impl Ctx<'_> {
    /// When the operation must have finished: the invocation's deadline less the margin
    /// (`KMS_DEADLINE_MARGIN_MS`). Every KMS call sent through [`Ctx::kms`] ends by it on its own
    /// (`DeadlineExceeded`), and so does the operation as a whole; an operation that waits for
    /// anything else can bound the wait by it too.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.kms.deadline()
    }

    /// Seals `plaintext` in an envelope (an AWS Encryption SDK message) under a data key of
    /// `key` bound to `context`: from the data-key cache or KMS `GenerateDataKey`; `signed`, of
    /// the signed suite every ESDK writes by default. Context keys beginning `aws-crypto-` are
    /// the ESDK's: `InvalidRequest`. See [`envelope`].
    pub async fn seal_envelope(
        &self,
        key: &str,
        context: HashMap<String, String>,
        plaintext: &[u8],
        signed: bool,
    ) -> Result<Sealed, Error> {
        envelope::seal_for(self.kms, self.data_keys, key, context, plaintext, signed).await
    }

    /// Opens an envelope as the ESDK's decrypt does: the message checked whole, the commitment
    /// policy (`ENVELOPE_COMMITMENT_POLICY`), every pair of `stated` (the event's context)
    /// stored with the same value, the data key from KMS `Decrypt` pinned to `key` (or the
    /// cache), a signed message's signature, then the frames. Any fault of the message is
    /// `InvalidCiphertext`, and no plaintext comes back.
    pub async fn open_envelope(
        &self,
        key: &str,
        ciphertext: &[u8],
        stated: &HashMap<String, String>,
    ) -> Result<Opened, Error> {
        let policy = self.config.commitment;
        envelope::open_for(self.kms, self.data_keys, policy, key, ciphertext, stated).await
    }

    /// The key the event asked for, or the default key of the operation's kind (`KMS_KEY_ID`
    /// for `ENCRYPTION`). A kind with no default key — a row missing from `keys!`, whose
    /// variable start-up never read — is a `Configuration` error naming it, and nothing is sent.
    pub fn key_id<'k>(&'k self, requested: Option<&'k str>) -> Result<&'k str, Error> {
        let kind = self.kms.kind();
        requested
            .or_else(|| self.config.default_key(kind))
            .ok_or_else(|| {
                Error::new(
                    ErrorType::Configuration,
                    format!(
                        "no default {} key: add its row to keys! (src/ops/mod.rs) so that \
                         start-up reads {}, or name a key in the event's keyId",
                        kind.name, kind.variable
                    ),
                )
            })
    }
}

/// A row of the operations table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The event's `"operation"` value.
    pub name: &'static str,
    /// Its module: the file `src/ops/<module>.rs`.
    pub module: &'static str,
    /// Its fields besides `"operation"`.
    pub fields: &'static [&'static str],
    /// The fields of its answer.
    pub response: &'static [&'static str],
    /// The kind of key it uses.
    pub key: &'static Key,
    /// The IAM actions it needs, on keys of that kind.
    pub iam_actions: &'static [&'static str],
    /// A row only this project's own tests have (the `test-hooks` feature adds it in `main`): it
    /// is not advertised in hints.
    pub test_only: bool,
    parse: fn(&Fields<'_>) -> Result<Request, Error>,
}

impl Entry {
    /// The row for operation `T`, in `src/ops/<module>.rs`.
    pub const fn of<T: Operation>(module: &'static str) -> Entry {
        Entry {
            name: T::NAME,
            module,
            fields: T::FIELDS,
            response: T::RESPONSE,
            key: T::KEY,
            iam_actions: T::IAM_ACTIONS,
            test_only: false,
            parse: parse_as::<T>,
        }
    }

    /// A row for this project's own tests only.
    pub const fn test_only<T: Operation>() -> Entry {
        Entry {
            test_only: true,
            ..Entry::of::<T>("")
        }
    }
}

/// Lists the operations in `OPERATIONS`, the table the kit dispatches by: one row each, the
/// module (declared with a plain `mod` line beside it, so `cargo fmt` formats it) and the type.
///
/// ```ignore
/// mod encrypt; // src/ops/encrypt.rs
///
/// operations! {
///     encrypt::Encrypt,
/// }
/// ```
///
/// A module left out of the table serves nothing; a function's tests name it
/// (`testing::contract::layout`).
#[macro_export]
macro_rules! operations {
    ($($module:ident :: $op:ident,)+) => {
        /// Every operation the function serves, in the order the hints name them.
        pub static OPERATIONS: &[$crate::operation::Entry] = &[
            $($crate::operation::Entry::of::<$module::$op>(stringify!($module)),)+
        ];
    };
}

fn parse_as<T: Operation>(fields: &Fields<'_>) -> Result<Request, Error> {
    Ok(Request {
        name: T::NAME,
        key: T::KEY,
        op: Box::new(T::parse(fields)?),
    })
}

/// A validated event, ready to run.
pub struct Request {
    name: &'static str,
    key: &'static Key,
    op: Box<dyn Run>,
}

impl Request {
    /// The operation's name, as in the event.
    pub fn operation(&self) -> &'static str {
        self.name
    }

    /// The kind of key the operation uses.
    pub fn key(&self) -> &'static Key {
        self.key
    }

    /// Runs it.
    pub async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
        self.op.run(cx).await
    }
}

/// Never the fields: they may hold a plaintext.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Request({})", self.name)
    }
}

/// [`Operation::run`] behind a box, so the table can hold every operation.
trait Run: Send {
    fn run<'a>(
        self: Box<Self>,
        cx: &'a Ctx<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send + 'a>>;
}

impl<T: Operation> Run for T {
    fn run<'a>(
        self: Box<Self>,
        cx: &'a Ctx<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send + 'a>> {
        Box::pin(Operation::run(*self, cx))
    }
}

/// An event, dispatched: the operation it names when that is a row of the table (even if its
/// fields are then refused, so metrics and tests can tell which operation refused it), and the
/// request or why there is none.
#[derive(Debug)]
pub struct Dispatched {
    /// The row the event's `"operation"` names, if any.
    pub operation: Option<&'static str>,
    /// The validated request, or a typed error whose message names the field (never its value).
    pub request: Result<Request, Error>,
}

/// Finds the event's operation in `table` and validates the event for it.
pub fn dispatch(table: &'static [Entry], event: &Event) -> Dispatched {
    let hint = hint(table);
    let entry = event.operation(&hint).and_then(|name| {
        table
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::invalid_request(format!("unknown \"operation\": {hint}")))
    });
    match entry {
        Ok(entry) => Dispatched {
            operation: Some(entry.name),
            request: Fields::new(event, entry.name, entry.fields).and_then(|f| (entry.parse)(&f)),
        },
        Err(e) => Dispatched {
            operation: None,
            request: Err(e),
        },
    }
}

/// `use "encrypt" or "decrypt"`, from the table (rows for tests only are not advertised).
pub fn hint(table: &[Entry]) -> String {
    let names: Vec<String> = table
        .iter()
        .filter(|e| !e.test_only)
        .map(|e| format!("\"{}\"", e.name))
        .collect();
    match names.as_slice() {
        [one] => format!("use {one}"),
        [init @ .., last] => format!("use {} or {last}", init.join(", ")),
        [] => "this function serves no operation".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use crate::reply::respond;
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    use serde_json::json;

    static PROBE_KEY: Key = Key {
        name: "PROBE",
        variable: "KMS_PROBE_KEY_ID",
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsageType::EncryptDecrypt,
        purpose: "",
    };

    /// `{"operation": "probe", "n": 1}`: a table of its own, so the kit is tested without the
    /// copy's operations.
    struct Probe;

    impl Operation for Probe {
        const NAME: &'static str = "probe";
        const FIELDS: &'static [&'static str] = &["n"];
        const RESPONSE: &'static [&'static str] = &[];
        const KEY: &'static Key = &PROBE_KEY;
        const IAM_ACTIONS: &'static [&'static str] = &[];

        fn parse(fields: &Fields<'_>) -> Result<Self, Error> {
            fields.choice("n", &["1"]).map(|_| Probe)
        }

        async fn run(self, _: &Ctx<'_>) -> Result<Reply, Error> {
            respond(json!({}))
        }
    }

    struct Other;

    impl Operation for Other {
        const NAME: &'static str = "other";
        const FIELDS: &'static [&'static str] = &[];
        const RESPONSE: &'static [&'static str] = &[];
        const KEY: &'static Key = &PROBE_KEY;
        const IAM_ACTIONS: &'static [&'static str] = &[];

        fn parse(_: &Fields<'_>) -> Result<Self, Error> {
            Ok(Other)
        }

        async fn run(self, _: &Ctx<'_>) -> Result<Reply, Error> {
            respond(json!({}))
        }
    }

    static TABLE: &[Entry] = &[
        Entry::of::<Probe>("probe"),
        Entry::of::<Other>("other"),
        Entry::test_only::<Other>(),
    ];

    #[test]
    fn the_hint_names_the_rows_but_not_those_for_tests_only() {
        assert_eq!(hint(TABLE), "use \"probe\" or \"other\"");
        assert_eq!(hint(&TABLE[..1]), "use \"probe\"");
        assert_eq!(hint(&[]), "this function serves no operation");
    }

    #[test]
    fn dispatch_names_the_operation_it_reached_and_every_error_names_the_field() {
        for (event, fragment, reached) in [
            (json!([1, 2]), "JSON object", None),
            (
                json!({"n": "1"}),
                "missing field \"operation\": use \"probe\" or \"other\"",
                None,
            ),
            (
                json!({"operation": 7}),
                "\"operation\" must be a string",
                None,
            ),
            (
                json!({"operation": "sign"}),
                "unknown \"operation\": use \"probe\"",
                None,
            ),
            (
                json!({"operation": "probe", "plaintext": "aGk="}),
                "unknown field \"plaintext\" for probe",
                Some("probe"),
            ),
            (
                json!({"operation": "probe", "n": "2"}),
                "field \"n\" must be \"1\"",
                Some("probe"),
            ),
        ] {
            let d = dispatch(TABLE, &Event::from(event.clone()));
            assert_eq!(d.operation, reached, "{event}");
            let e = d.request.expect_err("rejected");
            assert_eq!(e.kind(), ErrorType::InvalidRequest, "{event}");
            assert!(e.message().contains(fragment), "{event}: {e}");
        }
        let d = dispatch(TABLE, &Event::from(json!({"operation": "probe", "n": "1"})));
        let r = d.request.unwrap();
        assert_eq!((r.operation(), r.key().name), ("probe", "PROBE"));
        assert_eq!(
            format!("{r:?}"),
            "Request(probe)",
            "Debug never shows fields"
        );
    }
}
