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
use crate::event::{Base64, Event, Fields};
use crate::kms::Kms;
use crate::secret::SecretBytes;
use serde::ser::{SerializeMap, Serializer};
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

    /// Does the work and returns the response body (see [`respond`]).
    fn run(self, cx: &Ctx<'_>) -> impl Future<Output = Result<Reply, Error>> + Send;
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

/// Validates an event and finds its operation. Every failure is a typed error whose message
/// names the field (never its value).
pub fn parse(event: &Event) -> Result<Request, Error> {
    let hint = hint();
    let name = event.operation(&hint)?;
    let Some(entry) = OPERATIONS.iter().find(|e| e.name == name) else {
        return Err(Error::invalid_request(format!(
            "unknown \"operation\": {hint}"
        )));
    };
    (entry.parse)(&Fields::new(event, entry.name, entry.fields)?)
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

/// What an operation answers: a JSON body and, for an operation that returns a payload, one
/// binary field written as base64 when the runtime serializes the response.
///
/// Why not a `serde_json::Value`: the runtime serializes the response into a buffer of its own,
/// so a payload held as a base64 `String` in a `Value` is there twice at once (6 MB each near
/// Lambda's limit). Held as bytes and encoded piece by piece into that buffer ([`Base64`]), it
/// is there once, plus the 3/4 of it its bytes take.
pub struct Reply {
    body: Value,
    payload: Option<(&'static str, Payload)>,
}

/// A reply's payload: a plaintext is wiped from memory when the reply is dropped
/// ([`SecretBytes`]); a ciphertext needs no wiping and costs none.
pub enum Payload {
    /// A ciphertext, or anything else that is not secret.
    Public(Vec<u8>),
    /// A plaintext.
    Secret(SecretBytes),
}

impl Payload {
    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Public(b) => b,
            Payload::Secret(b) => b,
        }
    }
}

impl Reply {
    /// The response as a `Value`, payload included (tests, tools).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (&self.body, &self.payload) {
            (Value::Object(body), Some((field, bytes))) => {
                let mut map = serializer.serialize_map(Some(body.len() + 1))?;
                for (k, v) in body {
                    map.serialize_entry(k, v)?;
                }
                map.serialize_entry(field, &Base64(bytes.bytes()))?;
                map.end()
            }
            (body, _) => body.serialize(serializer),
        }
    }
}

/// Never the payload: it may be a plaintext.
impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let payload = self
            .payload
            .as_ref()
            .map(|(field, b)| (field, b.bytes().len()));
        f.debug_struct("Reply")
            .field("body", &self.body)
            .field("payload (field, bytes)", &payload)
            .finish()
    }
}

/// An operation's response body. Failing to encode it is a bug, so `Internal`.
pub fn respond(body: impl Serialize) -> Result<Reply, Error> {
    let body = serde_json::to_value(body).map_err(|e| {
        Error::new(
            ErrorType::Internal,
            format!("could not encode the response: {e}"),
        )
    })?;
    Ok(Reply {
        body,
        payload: None,
    })
}

/// [`respond`] with a payload: `bytes` go out as base64 in `field` (see [`Reply`]).
pub fn respond_carrying(
    body: impl Serialize,
    (field, bytes): (&'static str, Payload),
) -> Result<Reply, Error> {
    let reply = respond(body)?;
    match reply.body {
        Value::Object(ref map) if !map.contains_key(field) => Ok(Reply {
            payload: Some((field, bytes)),
            ..reply
        }),
        _ => Err(Error::new(
            ErrorType::Internal,
            format!("a response body is not a JSON object without \"{field}\""),
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
    fn a_reply_writes_its_payload_as_base64_and_never_shows_it() {
        #[derive(Serialize)]
        struct Body {
            mode: &'static str,
        }
        let secret: Vec<u8> = b"attack at dawn".repeat(2000);
        let reply = respond_carrying(
            Body { mode: "envelope" },
            ("plaintext", Payload::Secret(secret.clone().into())),
        )
        .unwrap();
        let written: Value = serde_json::from_slice(&serde_json::to_vec(&reply).unwrap()).unwrap();
        let b64 = crate::event::encode_base64(&secret);
        assert_eq!(written, json!({"mode": "envelope", "plaintext": b64}));
        assert_eq!(reply.to_value(), written);
        let shown = format!("{reply:?}");
        assert!(
            !shown.contains(&b64[..20]) && !shown.contains("attack"),
            "{shown}"
        );
        assert!(shown.contains("28000"), "{shown}");

        let plain = respond(Body { mode: "direct" }).unwrap();
        assert_eq!(plain.to_value(), json!({"mode": "direct"}));
        // A payload field the body already has would be written twice: refused.
        let clash = respond_carrying(
            json!({"plaintext": 1}),
            ("plaintext", Payload::Public(vec![])),
        );
        assert_eq!(clash.unwrap_err().kind(), ErrorType::Internal);
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
            let e = parse(&Event::from(event.clone())).expect_err("rejected");
            assert_eq!(e.kind(), ErrorType::InvalidRequest, "{event}");
            assert!(e.message().contains(fragment), "{event}: {e}");
        }
        let r = parse(&Event::from(
            json!({"operation": "encrypt", "plaintext": "aGk="}),
        ))
        .unwrap();
        assert_eq!(r.operation(), "encrypt");
        assert_eq!(
            format!("{r:?}"),
            "Request(encrypt)",
            "Debug never shows fields"
        );
    }
}
