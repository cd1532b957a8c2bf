//! The operations the function serves, one module each, and [`OPERATIONS`], the one table that
//! names them.
//!
//! As in mini-redis's `cmd/`: an operation is a type implementing [`Operation`] in its own file —
//! its event fields, their validation, the KMS calls it makes and its response. The table drives
//! everything else: dispatch by the event's `"operation"`, the "use encrypt or decrypt" hints in
//! error messages, and the IAM actions `template.yaml` must grant (a test compares them). Adding
//! an operation is one module and one row; nothing else lists operations.
//!
//! What every operation gets for free: unknown fields are refused before it parses, a bad event
//! costs no KMS client build, every KMS call it sends through [`Ctx::kms`] is bounded by the
//! invocation's deadline, measured, retried on expired signatures and mapped to the `errorType`
//! taxonomy.

use crate::config::Config;
use crate::datakey::DataKeyCache;
use crate::error::{Error, ErrorType};
use crate::event::{self, Fields};
use crate::kms::Kms;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

operations! {
    // module::Type — the module is src/ops/<module>.rs
    encrypt::Encrypt,
    decrypt::Decrypt,
}

/// Declares each operation's module and lists it in [`OPERATIONS`], so a row is all it takes.
macro_rules! operations {
    ($($module:ident :: $op:ident,)+) => {
        $(pub mod $module;)+

        /// Every operation the function serves, in the order the hints name them.
        pub static OPERATIONS: &[Entry] = &[
            $(entry::<$module::$op>(),)+
            #[cfg(feature = "test-hooks")]
            entry::<crate::test_hooks::Panic>(),
        ];
    };
}
use operations;

/// One operation: what an event names, what it may carry, what it is allowed to call.
pub trait Operation: Sized + Send + 'static {
    /// The event's `"operation"` value.
    const NAME: &'static str;
    /// The event fields it reads, besides `"operation"`; any other field is refused.
    const FIELDS: &'static [&'static str];
    /// The IAM actions its KMS calls need (`kms:Encrypt`, …): `template.yaml` grants exactly
    /// the union over the table, and a test checks each operation's calls against its list.
    const IAM_ACTIONS: &'static [&'static str];

    /// Validates the event. Runs before the KMS client is built: a bad event costs nothing.
    fn parse(fields: &Fields<'_>) -> Result<Self, Error>;

    /// Does the work and returns the response body.
    fn run(self, cx: &Ctx<'_>) -> impl Future<Output = Result<Value, Error>> + Send;
}

/// What an operation runs with.
pub struct Ctx<'a> {
    /// KMS for this invocation (deadline-bounded, measured).
    pub kms: &'a Kms,
    /// The function's settings.
    pub config: &'a Config,
    /// Envelope data keys: from KMS, or cached.
    pub data_keys: &'a DataKeyCache,
}

impl Ctx<'_> {
    /// The key the event asked for, or the function's default (`KMS_KEY_ID`).
    pub fn key_id<'k>(&'k self, requested: Option<&'k str>) -> &'k str {
        requested.unwrap_or(&self.config.key_id)
    }
}

/// A row of [`OPERATIONS`].
pub struct Entry {
    /// The event's `"operation"` value.
    pub name: &'static str,
    /// Its fields besides `"operation"`.
    pub fields: &'static [&'static str],
    /// The IAM actions it needs.
    pub iam_actions: &'static [&'static str],
    parse: fn(&Fields<'_>) -> Result<Request, Error>,
}

/// The row for operation `T`.
pub const fn entry<T: Operation>() -> Entry {
    Entry {
        name: T::NAME,
        fields: T::FIELDS,
        iam_actions: T::IAM_ACTIONS,
        parse: parse_as::<T>,
    }
}

fn parse_as<T: Operation>(fields: &Fields<'_>) -> Result<Request, Error> {
    Ok(Request {
        name: T::NAME,
        op: Box::new(T::parse(fields)?),
    })
}

/// A validated event, ready to run.
pub struct Request {
    name: &'static str,
    op: Box<dyn Run>,
}

impl Request {
    /// The operation's name, as in the event.
    pub fn operation(&self) -> &'static str {
        self.name
    }

    /// Runs it.
    pub async fn run(self, cx: &Ctx<'_>) -> Result<Value, Error> {
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
    ) -> Pin<Box<dyn Future<Output = Result<Value, Error>> + Send + 'a>>;
}

impl<T: Operation> Run for T {
    fn run<'a>(
        self: Box<Self>,
        cx: &'a Ctx<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Value, Error>> + Send + 'a>> {
        Box::pin(Operation::run(*self, cx))
    }
}

/// Validates an event and finds its operation. Every failure is a typed error whose message
/// names the field (never its value).
pub fn parse(event: &Value) -> Result<Request, Error> {
    let hint = hint();
    let obj = event::object(event, &hint)?;
    let name = event::operation(obj, &hint)?;
    let Some(entry) = OPERATIONS.iter().find(|e| e.name == name) else {
        return Err(Error::invalid_request(format!(
            "unknown \"operation\": {hint}"
        )));
    };
    (entry.parse)(&Fields::new(obj, entry.name, entry.fields)?)
}

/// `use "encrypt" or "decrypt"`, from the table.
pub fn hint() -> String {
    let names: Vec<String> = OPERATIONS
        .iter()
        .map(|e| format!("\"{}\"", e.name))
        .collect();
    match names.as_slice() {
        [one] => format!("use {one}"),
        [init @ .., last] => format!("use {} or {last}", init.join(", ")),
        [] => "this function serves no operation".into(),
    }
}

/// Every IAM action any operation needs, sorted, without repeats.
pub fn iam_actions() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = OPERATIONS
        .iter()
        .flat_map(|e| e.iam_actions.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// An operation's response body. Failing to encode it is a bug, so `Internal`.
pub fn respond(body: impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(body).map_err(|e| {
        Error::new(
            ErrorType::Internal,
            format!("could not encode the response: {e}"),
        )
    })
}

/// [`respond`] with one large text field (a base64 payload) moved into the body rather than
/// serialized: `serde_json::to_value` would copy it, and near Lambda's 6 MB limit that copy is
/// 6 MB more held at the moment the function holds the most (docs/envelope.md, memory).
pub fn respond_carrying(
    body: impl Serialize,
    (field, text): (&str, String),
) -> Result<Value, Error> {
    let mut value = respond(body)?;
    match &mut value {
        Value::Object(map) => {
            map.insert(field.to_owned(), Value::String(text));
            Ok(value)
        }
        _ => Err(Error::new(
            ErrorType::Internal,
            "a response body is not a JSON object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_unique_and_the_hint_lists_them_all() {
        let mut names: Vec<&str> = OPERATIONS.iter().map(|e| e.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "two rows share a name");
        for name in names {
            assert!(hint().contains(&format!("\"{name}\"")), "{}", hint());
        }
    }

    #[test]
    fn every_iam_action_is_a_kms_action_name() {
        for e in OPERATIONS {
            for a in e.iam_actions {
                let action = a.strip_prefix("kms:").unwrap_or_else(|| panic!("{a}"));
                assert!(
                    !action.is_empty() && action.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{}: {a}",
                    e.name
                );
                assert_ne!(
                    action, "ReEncrypt",
                    "IAM knows kms:ReEncryptFrom and kms:ReEncryptTo"
                );
            }
        }
    }

    #[test]
    fn dispatch_errors_name_the_operations_from_the_table() {
        for (event, fragment) in [
            (json!([1, 2]), "JSON object"),
            (
                json!({"plaintext": "aGk="}),
                "missing field \"operation\": use \"encrypt\"",
            ),
            (json!({"operation": 7}), "\"operation\" must be a string"),
            (
                json!({"operation": "sign"}),
                "unknown \"operation\": use \"encrypt\"",
            ),
            (
                json!({"operation": "decrypt", "plaintext": "aGk="}),
                "unknown field \"plaintext\" for decrypt",
            ),
        ] {
            let e = parse(&event).expect_err("rejected");
            assert_eq!(e.kind(), ErrorType::InvalidRequest, "{event}");
            assert!(e.message().contains(fragment), "{event}: {e}");
        }
        let r = parse(&json!({"operation": "encrypt", "plaintext": "aGk="})).unwrap();
        assert_eq!(r.operation(), "encrypt");
        assert_eq!(
            format!("{r:?}"),
            "Request(encrypt)",
            "Debug never shows fields"
        );
    }
}
