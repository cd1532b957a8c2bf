//! What an operation is ([`Operation`]), what it runs with ([`Ctx`]), and the table that names
//! them all ([`Entry`], filled by `operations!` in `src/ops/mod.rs`).
//!
//! As in mini-redis's `cmd/`: an operation is a type in its own file — its event's fields (the
//! type's own, read by its `#[derive(Deserialize)]`), their checks, its kind of key, the KMS
//! calls it makes and its answer (a `#[derive(Serialize)]` type). The table drives everything
//! else: dispatch by the event's `"operation"`, the "use encrypt or decrypt" hints in error
//! messages, and (with the kind of key) the IAM statements `make template` writes. Adding an
//! operation is one module and one row; nothing else lists operations, and nothing lists an
//! operation's fields or answer but the operation's own types.
//!
//! What every operation gets for free: unknown fields are refused before it is read, a bad event
//! costs no KMS client build, every message about its fields names the field and never a value,
//! every KMS call it sends through [`Ctx::kms`] is bounded by the invocation's deadline,
//! measured, retried on expired signatures and mapped to the `errorType` taxonomy, and an answer
//! larger than Lambda returns is `PayloadTooLarge` before it is written.

use crate::config::Config;
use crate::envelope::datakey::DataKeyCache;
use crate::envelope::{self, Opened, Sealed};
use crate::error::{Error, ErrorType};
use crate::event::de::{self, fields_of};
use crate::event::types::Context;
use crate::event::Event;
use crate::key::{Key, Secret};
use crate::kms::call::Kms;
use crate::reply::Reply;
use crate::secret::SecretBytes;
use crate::secrets::Secrets;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One operation: the event it takes (the type itself, `#[derive(Deserialize)]`), which key it
/// uses, what it may call and what it answers.
///
/// ```
/// use kms_lambda_kit::{keys, non_empty, Ctx, Error, Key, KeyId, Operation};
/// use serde::{Deserialize, Serialize};
///
/// keys! {
///     /// Encrypts and decrypts payloads.
///     ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt;
/// }
///
/// /// `{"operation": "describeKey", "keyId": "optional"}` → `{"keyId": "<key ARN>"}`.
/// #[derive(Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// pub struct DescribeKey {
///     key_id: Option<KeyId>,
/// }
///
/// #[derive(Serialize)]
/// #[serde(rename_all = "camelCase")]
/// pub struct Described {
///     key_id: String,
/// }
///
/// impl Operation for DescribeKey {
///     const NAME: &'static str = "describeKey";
///     const KEY: &'static Key = &ENCRYPTION;
///     const IAM_ACTIONS: &'static [&'static str] = &["kms:DescribeKey"];
///     type Answer = Described;
///
///     async fn run(self, cx: &Ctx<'_>) -> Result<Described, Error> {
///         let key = cx.key_id(self.key_id.as_deref())?;
///         let out = cx.kms.call(cx.kms.client().describe_key().key_id(key)).await?;
///         let arn = out.key_metadata.and_then(|m| m.arn);
///         Ok(Described { key_id: non_empty(arn, "DescribeKey", "KeyMetadata.Arn")? })
///     }
/// }
/// # fn main() {}
/// ```
pub trait Operation: DeserializeOwned + Send + 'static {
    /// The event's `"operation"` value.
    const NAME: &'static str;
    /// The kind of key it uses: a row of `keys!` in `src/ops/mod.rs`. Its calls default to that
    /// kind's key ([`Ctx::key_id`]), the role grants its [`IAM_ACTIONS`](Self::IAM_ACTIONS) on
    /// that key, and a key KMS refuses for it is answered with advice naming this kind.
    const KEY: &'static Key;
    /// The IAM actions its KMS calls need (`kms:Encrypt`, …), on keys of [`KEY`](Self::KEY)'s
    /// kind: `make template` grants exactly these, and a function's tests check each call its
    /// sample event makes against the list.
    const IAM_ACTIONS: &'static [&'static str];
    /// What it answers: a `#[derive(Serialize)]` struct, whose fields are the answer's (bytes
    /// as [`Bytes`](crate::Bytes) or [`SecretBytes`](crate::SecretBytes), written as base64).
    type Answer: Serialize + Send + 'static;

    /// Checks the event beyond its fields' types (sizes, fields that exclude each other), and
    /// settles what depends on them. Runs before the KMS client is built: a bad event costs
    /// nothing. Nothing to check by default.
    fn check(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Does the work and returns the answer.
    fn run(self, cx: &Ctx<'_>) -> impl Future<Output = Result<Self::Answer, Error>> + Send;
}

/// What an operation runs with: KMS for this invocation ([`Ctx::kms`]), its default keys, its
/// deadline, envelopes.
pub struct Ctx<'a> {
    /// KMS for this invocation (deadline-bounded, measured, aware of the operation's kind of key).
    pub kms: &'a Kms,
    config: &'a Config,
    data_keys: &'a DataKeyCache,
    secrets: &'a Secrets,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        kms: &'a Kms,
        config: &'a Config,
        data_keys: &'a DataKeyCache,
        secrets: &'a Secrets,
    ) -> Self {
        Ctx {
            kms,
            config,
            data_keys,
            secrets,
        }
    }
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
    /// the ESDK's: `InvalidRequest`.
    pub async fn seal_envelope(
        &self,
        key: &str,
        context: Context,
        plaintext: &[u8],
        signed: bool,
    ) -> Result<Sealed, Error> {
        envelope::seal_for(self.kms, self.data_keys, key, context.0, plaintext, signed).await
    }

    /// Opens an envelope as the ESDK's decrypt does: the message checked whole, the commitment
    /// policy (`ENVELOPE_COMMITMENT_POLICY`), every pair of `stated` (the event's context)
    /// stored with the same value, a signed message's signature — all before KMS is asked for
    /// anything — then its data key from KMS `Decrypt` pinned to `key` (or the cache), then the
    /// frames. Any fault of the message is `InvalidCiphertext`, and no plaintext comes back.
    pub async fn open_envelope(
        &self,
        key: &str,
        ciphertext: &[u8],
        stated: &Context,
    ) -> Result<Opened, Error> {
        let policy = self.config.commitment;
        envelope::open_for(self.kms, self.data_keys, policy, key, ciphertext, stated).await
    }

    /// A secret of the function's `secrets!` table, decrypted: by the first ask in the sandbox —
    /// one KMS `Decrypt`, however many invocations ask at once, bounded by this invocation's
    /// deadline and reported on its EMF line (`SecretInitMs`) — and held for the later asks,
    /// which cost no KMS call. A ciphertext KMS refuses for this function is `Configuration`,
    /// naming the variable; a failed decrypt is tried again by the next ask. The plaintext is
    /// wiped when the last holder drops it, and never printed.
    ///
    /// ```ignore
    /// let signing_key = cx.secret(&WEBHOOK_SIGNING_KEY).await?;
    /// let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(HMAC_SHA256, &signing_key), payload);
    /// ```
    pub async fn secret(&self, secret: &'static Secret) -> Result<Arc<SecretBytes>, Error> {
        self.secrets.ask(secret, self.kms, self.config).await
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

/// A row of the operations table, made by `operations!`.
#[derive(Clone, Copy)]
pub struct Entry {
    name: &'static str,
    module: &'static str,
    key: &'static Key,
    iam_actions: &'static [&'static str],
    fields: fn() -> Option<&'static [&'static str]>,
    parse: fn(&Event) -> Result<Request, Error>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entry({})", self.name)
    }
}

impl Entry {
    /// The row for operation `T`, in `src/ops/<module>.rs` (what `operations!` writes).
    #[doc(hidden)]
    pub const fn of<T: Operation>(module: &'static str) -> Entry {
        Entry {
            name: T::NAME,
            module,
            key: T::KEY,
            iam_actions: T::IAM_ACTIONS,
            fields: fields_of::<T>,
            parse: parse_as::<T>,
        }
    }

    /// The event's `"operation"` value.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its module: the file `src/ops/<module>.rs`.
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// The kind of key it uses.
    pub fn key(&self) -> &'static Key {
        self.key
    }

    /// The IAM actions it needs, on keys of that kind.
    pub fn iam_actions(&self) -> &'static [&'static str] {
        self.iam_actions
    }

    /// Its event's fields besides `"operation"`, as its type declares them; an error naming the
    /// operation when its type is not a struct with named fields.
    pub fn fields(&self) -> Result<&'static [&'static str], Error> {
        (self.fields)().ok_or_else(|| {
            Error::new(
                ErrorType::Internal,
                format!(
                    "operation {}'s type is not a struct with named fields (#[derive(Deserialize)], \
                     no flatten), so the kit cannot know its event's fields",
                    self.name
                ),
            )
        })
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
        pub static OPERATIONS: &[$crate::Entry] = &[
            $($crate::Entry::of::<$module::$op>(stringify!($module)),)+
        ];
    };
}

fn parse_as<T: Operation>(event: &Event) -> Result<Request, Error> {
    let mut op: T = de::read(event)?;
    op.check()?;
    Ok(Request {
        name: T::NAME,
        key: T::KEY,
        op: Box::new(op),
    })
}

/// A validated event, ready to run.
pub(crate) struct Request {
    name: &'static str,
    key: &'static Key,
    op: Box<dyn Run>,
}

impl Request {
    /// The operation's name, as in the event.
    pub(crate) fn operation(&self) -> &'static str {
        self.name
    }

    /// The kind of key the operation uses.
    pub fn key(&self) -> &'static Key {
        self.key
    }

    /// Runs it; its answer, sized.
    pub(crate) async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
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
        Box::pin(async move { Reply::of(Operation::run(*self, cx).await?) })
    }
}

/// An event, dispatched: the operation it names when that is a row of the table (even if its
/// fields are then refused, so metrics and tests can tell which operation refused it), and the
/// request or why there is none.
#[derive(Debug)]
pub(crate) struct Dispatched {
    /// The row the event's `"operation"` names, if any.
    pub(crate) operation: Option<&'static str>,
    /// The validated request, or a typed error whose message names the field (never its value).
    pub(crate) request: Result<Request, Error>,
}

/// Finds the event's operation in `table` and reads the event for it.
pub(crate) fn dispatch(table: &'static [Entry], event: &Event) -> Dispatched {
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
            request: known_fields(entry, event).and_then(|()| (entry.parse)(event)),
        },
        Err(e) => Dispatched {
            operation: None,
            request: Err(e),
        },
    }
}

/// Refuses a field the operation does not declare — the first in sorted order, wherever it was
/// kept — before anything is read: a misspelt field must not silently change what is done (a
/// misspelt `encryptionContex` would encrypt without a context).
pub(crate) fn known_fields(entry: &Entry, event: &Event) -> Result<(), Error> {
    let declared = entry.fields()?;
    let unknown = event
        .field_names()
        .into_iter()
        .filter(|k| k != "operation" && !declared.contains(&k.as_str()))
        .min();
    match unknown {
        None => Ok(()),
        Some(k) => {
            let mut allowed = vec!["operation"];
            allowed.extend_from_slice(declared);
            Err(Error::invalid_request(format!(
                "unknown field \"{}\" for {}: allowed fields are {}",
                de::shown_name(&k),
                entry.name,
                allowed.join(", ")
            )))
        }
    }
}

/// `use "encrypt" or "decrypt"`, from the table.
pub(crate) fn hint(table: &[Entry]) -> String {
    match table {
        [] => "this function serves no operation".into(),
        rows => {
            let names: Vec<&str> = rows.iter().map(|e| e.name).collect();
            format!("use {}", de::one_of(&names))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use crate::key::test_kinds::DATA;
    use serde::Deserialize;
    use serde_json::json;

    /// `{"operation": "probe", "n": "1"}`: a table of its own, so the kit is tested without the
    /// copy's operations.
    #[derive(Deserialize)]
    struct Probe {
        #[allow(dead_code)]
        n: Option<One>,
    }

    #[derive(Deserialize)]
    enum One {
        #[serde(rename = "1")]
        One,
    }

    impl Operation for Probe {
        const NAME: &'static str = "probe";
        const KEY: &'static Key = &DATA;
        const IAM_ACTIONS: &'static [&'static str] = &[];
        type Answer = ();

        async fn run(self, _: &Ctx<'_>) -> Result<(), Error> {
            Ok(())
        }
    }

    #[derive(Deserialize)]
    struct Other {}

    impl Operation for Other {
        const NAME: &'static str = "other";
        const KEY: &'static Key = &DATA;
        const IAM_ACTIONS: &'static [&'static str] = &[];
        type Answer = ();

        async fn run(self, _: &Ctx<'_>) -> Result<(), Error> {
            Ok(())
        }
    }

    static TABLE: &[Entry] = &[Entry::of::<Probe>("probe"), Entry::of::<Other>("other")];

    #[test]
    fn the_hint_names_the_rows() {
        assert_eq!(hint(TABLE), "use \"probe\" or \"other\"");
        assert_eq!(hint(&TABLE[..1]), "use \"probe\"");
        assert_eq!(hint(&[]), "this function serves no operation");
        assert_eq!(TABLE[0].fields().unwrap(), ["n"]);
        assert!(TABLE[1].fields().unwrap().is_empty());
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
                "field \"n\": must be \"1\"",
                Some("probe"),
            ),
            (
                json!({"operation": "other", "n": null}),
                "unknown field \"n\" for other: allowed fields are operation",
                Some("other"),
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
        assert_eq!((r.operation(), r.key().name), ("probe", "DATA"));
        assert_eq!(
            format!("{r:?}"),
            "Request(probe)",
            "Debug never shows fields"
        );
    }
}
