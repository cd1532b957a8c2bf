//! The parts of the event contract every operation shares: the event is a JSON object with an
//! `"operation"` field, unknown fields are refused, and [`Fields`] reads the rest.
//!
//! Fields are read by hand from a `serde_json::Value` rather than derived, so that every message
//! can name the field and the rule without ever echoing a value from the event (serde's own
//! messages quote the offending value, which may be secret). The helpers are generic over the
//! field: an operation says which field, how large it may be and what exceeding that is; no
//! helper knows any field by name.
//!
//! The event arrives as an [`Event`], not a plain `serde_json::Value`: a payload of several MB
//! is decoded from base64 while the runtime parses the event, instead of being copied into a
//! `String` first and decoded afterwards. Near Lambda's 6 MB limit that copy would be 6 MB more
//! held at the moment the function holds the most (docs/envelope.md, "Memory").

use crate::config::check_key_id;
use crate::error::{Error, ErrorType};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Lambda's synchronous payload limit, for the request and for the response.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6_291_456;

/// Largest encryption context this function accepts: keys and values together, in UTF-8 bytes.
/// A context travels in every KMS request and lands in CloudTrail; 8 KiB is generous for
/// non-secret labels and keeps it within what KMS accepts.
pub const MAX_CONTEXT_BYTES: usize = 8192;

/// Prefix by which [`crate::raw_event`] marks an event that was not JSON at all.
pub const MALFORMED_MARKER: &str = "\u{0}kms-lambda: malformed event: ";

/// Top-level strings this long or longer that are valid base64 are decoded while the event is
/// parsed (see [`Event`]). Below it a copy costs nothing worth avoiding, and short fields
/// (`"mode": "envelope"` is valid base64) stay text.
pub const DECODE_WHILE_PARSING: usize = 64 * 1024;

/// The event the handler receives: the JSON the caller sent, except that each top-level string of
/// [`DECODE_WHILE_PARSING`] bytes or more that is valid base64 has already been decoded.
///
/// Why: `serde_json::Value` would copy a 6 MB base64 payload out of the runtime's buffer into a
/// `String`, and the operation would then decode that into a third buffer. Decoding straight
/// from the runtime's buffer holds 4.5 MB instead of 6 MB beside it. Nothing else changes:
/// [`Event`] accepts exactly the documents `Value` accepts (the same parser, the same limits),
/// and [`Fields`] reads a decoded field exactly as it would read the text — an operation that
/// wants text gets the identical base64 back, an operation that wants bytes gets them without a
/// second decode.
pub struct Event {
    json: Value,
    /// Decoded top-level fields, absent from `json`. Moved out when read (see [`Fields::base64`]).
    decoded: RefCell<BTreeMap<String, Vec<u8>>>,
}

impl Event {
    /// The event as a JSON object. `hint` tells the caller which operations exist.
    pub fn object(&self, hint: &str) -> Result<&Map<String, Value>, Error> {
        match &self.json {
            Value::Object(obj) => Ok(obj),
            Value::String(s) if s.starts_with(MALFORMED_MARKER) => {
                Err(Error::invalid_request(format!(
                    "the event is not valid JSON ({})",
                    &s[MALFORMED_MARKER.len()..]
                )))
            }
            other => Err(Error::invalid_request(format!(
                "the event must be a JSON object with an \"operation\" field ({hint}), got {}",
                type_name(other)
            ))),
        }
    }

    /// The event's `"operation"` value.
    pub fn operation(&self, hint: &str) -> Result<Cow<'_, str>, Error> {
        let obj = self.object(hint)?;
        match self.field(obj, "operation") {
            None => Err(Error::invalid_request(format!(
                "missing field \"operation\": {hint}"
            ))),
            Some(Cow::Borrowed(Value::String(op))) => Ok(Cow::Borrowed(op)),
            Some(Cow::Owned(Value::String(op))) => Ok(Cow::Owned(op)),
            Some(other) => Err(Error::invalid_request(format!(
                "field \"operation\" must be a string, got {}",
                type_name(&other)
            ))),
        }
    }

    /// A top-level field as the caller sent it (a decoded one is encoded again: only oversized
    /// values of text fields, on their way to an error, take that path); absent or `null` is
    /// `None`.
    fn field<'a>(&self, obj: &'a Map<String, Value>, name: &str) -> Option<Cow<'a, Value>> {
        if let Some(bytes) = self.decoded.borrow().get(name) {
            return Some(Cow::Owned(Value::String(encode_base64(bytes))));
        }
        obj.get(name).filter(|v| !v.is_null()).map(Cow::Borrowed)
    }
}

/// Field names and sizes only: an event may carry a plaintext.
impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = match &self.json {
            Value::Object(obj) => obj.keys().map(String::as_str).collect(),
            other => vec![type_name(other)],
        };
        let decoded: Vec<(String, usize)> = (self.decoded.borrow().iter())
            .map(|(k, v)| (k.clone(), v.len()))
            .collect();
        f.debug_struct("Event")
            .field("fields", &fields)
            .field("decoded (field, bytes)", &decoded)
            .finish()
    }
}

/// For tests and tools that start from a `Value`: the same decoding as parsing.
impl From<Value> for Event {
    fn from(json: Value) -> Event {
        let mut decoded = BTreeMap::new();
        let json = match json {
            Value::Object(obj) => Value::Object(
                obj.into_iter()
                    .filter_map(|(k, v)| match v {
                        Value::String(s) => match decode_while_parsing(&s) {
                            Some(bytes) => {
                                decoded.insert(k, bytes);
                                None
                            }
                            None => Some((k, Value::String(s))),
                        },
                        v => Some((k, v)),
                    })
                    .collect(),
            ),
            other => other,
        };
        Event {
            json,
            decoded: RefCell::new(decoded),
        }
    }
}

fn decode_while_parsing(text: &str) -> Option<Vec<u8>> {
    (text.len() >= DECODE_WHILE_PARSING)
        .then(|| base64_simd::STANDARD.decode_to_vec(text).ok())
        .flatten()
}

/// The visits both visitors below answer with a plain `Value`, built by `Value`'s own
/// deserializer (so what is accepted is exactly what `Value` accepts); `$wrap` makes the
/// visitor's result of it.
macro_rules! visit_as_value {
    ($de:lifetime, $out:ty, $wrap:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_unit<E: de::Error>(self) -> Result<$out, E> {
            Ok($wrap(Value::Null))
        }
        fn visit_seq<A: SeqAccess<$de>>(self, seq: A) -> Result<$out, A::Error> {
            Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map($wrap)
        }
    };
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

/// Builds an [`Event`]: a top-level object field by field, anything else as a `Value` (by
/// `Value`'s own visitor, so the accepted documents are exactly the same).
struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    visit_as_value!('de, Event, json_event);
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Event, E> {
        Value::deserialize(v.into_deserializer()).map(json_event)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let (mut obj, mut decoded) = (Map::new(), BTreeMap::new());
        while let Some(key) = map.next_key::<String>()? {
            // A repeated key: the last one wins, as with `Value`.
            match map.next_value::<FieldValue>()? {
                FieldValue::Json(v) => {
                    decoded.remove(&key);
                    obj.insert(key, v);
                }
                FieldValue::Decoded(bytes) => {
                    obj.remove(&key);
                    decoded.insert(key, bytes);
                }
            }
        }
        Ok(Event {
            json: Value::Object(obj),
            decoded: RefCell::new(decoded),
        })
    }
}

fn json_event(json: Value) -> Event {
    Event {
        json,
        decoded: RefCell::default(),
    }
}

/// One top-level field: decoded if it is a long base64 string, else a `Value`.
enum FieldValue {
    Json(Value),
    Decoded(Vec<u8>),
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FieldValue, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    visit_as_value!('de, FieldValue, FieldValue::Json);
    // `serde_json` lends a string without escapes straight from the runtime's buffer: decoding
    // it here is what saves the copy.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(match decode_while_parsing(v) {
            Some(bytes) => FieldValue::Decoded(bytes),
            None => FieldValue::Json(Value::String(v.to_owned())),
        })
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldValue, E> {
        Ok(match decode_while_parsing(&v) {
            Some(bytes) => FieldValue::Decoded(bytes),
            None => FieldValue::Json(Value::String(v)),
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldValue, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(FieldValue::Json)
    }
}

/// A size limit on a decoded field, and what exceeding it is.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Largest decoded size, in bytes.
    pub max: usize,
    /// The error type of a larger value (e.g. `PayloadTooLarge` for a plaintext).
    pub kind: ErrorType,
    /// Why the limit is what it is, for the message.
    pub why: &'static str,
}

/// The fields of one event, as one operation reads them. Unknown fields were refused when it
/// was made, so an operation reads only what it declared.
#[derive(Debug)]
pub struct Fields<'a> {
    event: &'a Event,
    obj: &'a Map<String, Value>,
    /// Base64 fields read so far: a payload is moved out on its first read (debug check).
    #[cfg(debug_assertions)]
    read: RefCell<Vec<String>>,
    operation: &'static str,
    declared: &'static [&'static str],
}

impl<'a> Fields<'a> {
    /// The fields of `event` for `operation`, which accepts `declared` besides `"operation"`.
    /// A misspelt field is refused: it must not silently change what is done (a misspelt
    /// `encryptionContex` would encrypt without a context).
    pub fn new(
        event: &'a Event,
        operation: &'static str,
        declared: &'static [&'static str],
    ) -> Result<Self, Error> {
        let obj = event.object(&format!("use \"{operation}\""))?;
        // The first unknown name in sorted order, wherever it was kept: messages stay the same.
        let decoded = event.decoded.borrow();
        let unknown = obj
            .keys()
            .chain(decoded.keys())
            .filter(|k| *k != "operation" && !declared.contains(&k.as_str()))
            .min();
        if let Some(k) = unknown {
            let mut allowed = vec!["operation"];
            allowed.extend_from_slice(declared);
            return Err(Error::invalid_request(format!(
                "unknown field \"{}\" for {operation}: allowed fields are {}",
                field_name(k),
                allowed.join(", ")
            )));
        }
        drop(decoded);
        Ok(Fields {
            event,
            obj,
            #[cfg(debug_assertions)]
            read: RefCell::default(),
            operation,
            declared,
        })
    }

    /// The operation these fields belong to.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The field's value; absent and `null` are the same.
    fn get(&self, name: &str) -> Option<Cow<'a, Value>> {
        debug_assert!(
            self.declared.contains(&name),
            "{}: field {name:?} is read but not declared in its FIELDS",
            self.operation
        );
        self.event.field(self.obj, name)
    }

    /// A required base64 field (RFC 4648, standard alphabet, with padding), decoded.
    pub fn required_base64(&self, name: &str, limit: Limit) -> Result<Vec<u8>, Error> {
        self.base64(name, limit)?.ok_or_else(|| {
            Error::invalid_request(format!(
                "missing field \"{name}\": {} needs it as a base64 string",
                self.operation
            ))
        })
    }

    /// An optional base64 field, decoded. A payload decoded while parsing is moved out, not
    /// copied: read each field once.
    pub fn base64(&self, name: &str, limit: Limit) -> Result<Option<Vec<u8>>, Error> {
        #[cfg(debug_assertions)]
        {
            let mut read = self.read.borrow_mut();
            debug_assert!(
                !read.iter().any(|r| r == name),
                "{}: base64 field {name:?} read twice (its payload moves out on the first read)",
                self.operation
            );
            read.push(name.to_owned());
        }
        let decoded = self.event.decoded.borrow_mut().remove(name);
        let value = match decoded {
            Some(bytes) => return self.bounded(name, limit, bytes).map(Some),
            None => self.get(name),
        };
        let text = match value.as_deref() {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(Error::invalid_request(format!(
                    "field \"{name}\" must be a base64 string, got {}",
                    type_name(other)
                )))
            }
        };
        // Refuse oversized input before decoding it: a 6 MB string should not cost a 4.5 MB
        // buffer only to be rejected.
        let decoded_len = text.len() / 4 * 3;
        if decoded_len > limit.max + 3 {
            return Err(too_large(name, limit, decoded_len, "about "));
        }
        let bytes = decode_base64(text).map_err(|why| {
            Error::invalid_request(format!(
                "field \"{name}\" is not valid standard base64 (RFC 4648 with padding): {why}"
            ))
        })?;
        self.bounded(name, limit, bytes).map(Some)
    }

    /// `bytes` if within `limit`. The message is the one the text would have had: "about" the
    /// length its base64 implies when that alone is over the limit.
    fn bounded(&self, name: &str, limit: Limit, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
        let implied = bytes.len().div_ceil(3) * 3;
        if implied > limit.max + 3 {
            return Err(too_large(name, limit, implied, "about "));
        }
        if bytes.len() > limit.max {
            return Err(too_large(name, limit, bytes.len(), ""));
        }
        Ok(bytes)
    }

    /// An optional KMS key reference: key id, key ARN, `alias/NAME` or alias ARN.
    pub fn key_id(&self, name: &str) -> Result<Option<String>, Error> {
        match self.get(name).as_deref() {
            None => Ok(None),
            Some(Value::String(id)) => {
                check_key_id(id).map_err(|reason| {
                    Error::invalid_request(format!("field \"{name}\": {reason}"))
                })?;
                Ok(Some(id.clone()))
            }
            Some(other) => Err(Error::invalid_request(format!(
                "field \"{name}\" must be a string, got {}",
                type_name(other)
            ))),
        }
    }

    /// An optional encryption context: an object of non-empty keys and string values, at most
    /// [`MAX_CONTEXT_BYTES`] in all. Absent means empty.
    pub fn context(&self, name: &str) -> Result<HashMap<String, String>, Error> {
        let value = self.get(name);
        let map = match value.as_deref() {
            None => return Ok(HashMap::new()),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(Error::invalid_request(format!(
                    "field \"{name}\" must be an object of string values, got {}",
                    type_name(other)
                )))
            }
        };
        let total: usize = map
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if total > MAX_CONTEXT_BYTES {
            return Err(Error::invalid_request(format!(
                "\"{name}\" is {total} bytes (keys and values); the limit is {MAX_CONTEXT_BYTES}"
            )));
        }
        map.iter()
            .map(|(k, v)| {
                if k.is_empty() {
                    return Err(Error::invalid_request(format!(
                        "\"{name}\" has an empty key"
                    )));
                }
                match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(Error::invalid_request(format!(
                        "\"{name}\" value for key \"{}\" must be a string, got {}",
                        field_name(k),
                        type_name(other)
                    ))),
                }
            })
            .collect()
    }

    /// An optional string that must be one of `choices`.
    pub fn choice(
        &self,
        name: &str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, Error> {
        let bad = || {
            let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
            Error::invalid_request(format!(
                "field \"{name}\" must be {} (or left out)",
                quoted.join(" or ")
            ))
        };
        match self.get(name).as_deref() {
            None => Ok(None),
            Some(Value::String(s)) => choices
                .iter()
                .find(|c| **c == s.as_str())
                .copied()
                .map(Some)
                .ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }
}

fn too_large(name: &str, limit: Limit, len: usize, about: &str) -> Error {
    Error::new(
        limit.kind,
        format!(
            "field \"{name}\" is {about}{len} bytes; the limit is {} bytes ({})",
            limit.max, limit.why
        ),
    )
}

/// How a JSON value's type is named in messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field names come from the caller; show a bounded, printable form of them.
fn field_name(name: &str) -> String {
    let shown: String = name
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if shown.len() < name.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// Base64 (RFC 4648, standard alphabet, with padding) of `bytes`, as responses carry it.
///
/// Base64 is most of an envelope's cost — AES-GCM runs at several GB/s — so both directions use
/// `base64-simd` (the SDK's own base64, already in the tree), which picks AVX2, SSE4.1 or NEON at
/// run time: measured in docs/envelope.md.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// Length of the padded base64 text of `bytes` bytes.
pub const fn base64_len(bytes: usize) -> usize {
    4 * bytes.div_ceil(3)
}

/// `bytes` as a base64 JSON string, the way replies carry payloads.
///
/// Serialized, it is produced piece by piece through the serializer's `collect_str`:
/// `serde_json` writes each piece straight into the response buffer, so a payload of several MB
/// never exists as a base64 `String` of its own (docs/envelope.md, "Memory"). At 1 MiB, through
/// the event and response JSON, it is also twice as fast as encoding in one go and copying:
/// the response buffer then grows in steps instead of being resized from exactly full
/// (docs/envelope.md, "Throughput").
pub struct Base64<'a>(pub &'a [u8]);

impl fmt::Display for Base64<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whole 3-byte groups per piece, so only the last piece can carry padding.
        const PIECE: usize = 12 * 1024;
        let mut text = [0u8; PIECE / 3 * 4];
        for piece in self.0.chunks(PIECE) {
            let out = base64_simd::Out::from_slice(&mut text[..]);
            f.write_str(base64_simd::STANDARD.encode_as_str(piece, out))?;
        }
        Ok(())
    }
}

impl serde::Serialize for Base64<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Decodes strict standard base64: padding required, non-canonical final characters refused
/// (as the `base64` crate's `STANDARD` does; a test keeps the two in agreement). On failure it
/// says where, never echoing the input.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    base64_simd::STANDARD
        .decode_to_vec(text)
        .map_err(|_| match STANDARD.decode(text) {
            // The fast decoder gives no position; the slow one, on this error path only, does.
            Err(e) => describe_base64_error(&e),
            Ok(_) => "rejected by the strict decoder".into(),
        })
}

/// The base64 crate's messages quote the offending byte; say where instead.
fn describe_base64_error(e: &base64::DecodeError) -> String {
    use base64::DecodeError::*;
    match e {
        InvalidByte(offset, _) => format!("invalid character at offset {offset}"),
        InvalidLength(len) => format!("length {len} is not a whole number of base64 blocks"),
        InvalidLastSymbol(offset, _) => format!("non-canonical final character at offset {offset}"),
        InvalidPadding => "missing or misplaced '=' padding".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DECLARED: &[&str] = &["blob", "ctx", "key", "pick"];
    const LIMIT: Limit = Limit {
        max: 8,
        kind: ErrorType::PayloadTooLarge,
        why: "a test limit",
    };

    fn with<T>(
        event: Value,
        read: impl FnOnce(&Fields<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let event = Event::from(event);
        read(&Fields::new(&event, "probe", DECLARED)?)
    }

    fn err<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
        r.expect_err("should be rejected")
    }

    /// What the event stands for, decoded fields as the caller wrote them.
    fn as_value(event: &Event) -> Value {
        let mut json = event.json.clone();
        if let Value::Object(obj) = &mut json {
            for (k, bytes) in event.decoded.borrow().iter() {
                obj.insert(k.clone(), Value::String(encode_base64(bytes)));
            }
        }
        json
    }

    /// The event as it would be if nothing were decoded while parsing.
    fn as_text(json: Value) -> Event {
        Event {
            json,
            decoded: RefCell::default(),
        }
    }

    #[test]
    fn a_large_base64_field_is_decoded_while_parsing_and_reads_as_its_text_would() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let big = STANDARD.encode(&payload);
        let doc = json!({"operation": "probe", "blob": big, "key": big, "pick": "b"});
        let event: Event = serde_json::from_str(&doc.to_string()).unwrap();
        assert_eq!(
            event.decoded.borrow().keys().collect::<Vec<_>>(),
            ["blob", "key"]
        );
        assert!(event.json.get("blob").is_none(), "not kept twice");
        let shown = format!("{event:?}");
        assert!(
            !shown.contains(&big[..16]) && shown.contains("100000"),
            "{shown}"
        );
        let fields = Fields::new(&event, "probe", DECLARED).unwrap();
        let limit = Limit {
            max: 200_000,
            ..LIMIT
        };
        assert_eq!(fields.required_base64("blob", limit).unwrap(), payload);
        // A text field holding a payload fails exactly as the text would.
        let text = as_text(doc.clone());
        let text_fields = Fields::new(&text, "probe", DECLARED).unwrap();
        assert_eq!(
            fields.key_id("key").unwrap_err().message(),
            text_fields.key_id("key").unwrap_err().message()
        );
        // Over the limit: the same message, decoded or not.
        let decoded = Event::from(doc.clone());
        assert_eq!(
            Fields::new(&decoded, "probe", DECLARED)
                .unwrap()
                .base64("blob", LIMIT)
                .unwrap_err()
                .message(),
            text_fields.base64("blob", LIMIT).unwrap_err().message()
        );
        // An unknown field is named the same way wherever it was kept.
        let doc = json!({"zzz": big, "yyy": 1, "xxx": big});
        let e = err(Fields::new(&Event::from(doc.clone()), "probe", DECLARED));
        let t = err(Fields::new(&as_text(doc), "probe", DECLARED));
        assert_eq!(e.message(), t.message());
        assert!(e.message().starts_with("unknown field \"xxx\""), "{e}");
    }

    #[test]
    fn a_large_string_that_is_not_base64_stays_text_with_the_same_error() {
        let mut bad = STANDARD.encode(vec![1u8; 90_000]);
        bad.replace_range(70_000..70_001, "*");
        let doc = json!({"blob": bad});
        let event: Event = serde_json::from_str(&doc.to_string()).unwrap();
        assert!(event.decoded.borrow().is_empty());
        let limit = Limit {
            max: 100_000,
            ..LIMIT
        };
        let e = err(with(doc, |f| f.required_base64("blob", limit)));
        assert!(
            e.message().ends_with("invalid character at offset 70000"),
            "{e}"
        );
    }

    #[test]
    fn events_accept_exactly_what_values_accept_and_stand_for_the_same_json() {
        let big = STANDARD.encode(vec![9u8; 70_000]);
        let escaped = format!("\"{}\\/\"", &big[..big.len() - 4]); // "\/" is '/'
        let deep_ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let deep_bad = format!("{}{}", "[".repeat(129), "]".repeat(129));
        let docs: Vec<String> = vec![
            json!({"operation": "encrypt", "plaintext": big}).to_string(),
            format!("{{\"a\": {escaped}, \"b\": [{escaped}], \"c\": {{\"d\": {escaped}}}}}"),
            format!("{{\"a\": \"{big}\", \"a\": 1}}"),
            format!("{{\"a\": 1, \"a\": \"{big}\"}}"),
            format!("\"{big}\""),
            format!("[\"{big}\"]"),
            "{\"n\": 1e400}".into(),
            "{\"n\": -0.0, \"m\": 18446744073709551615, \"k\": -9223372036854775808}".into(),
            "[1, 2.5, true, null, \"x\"]".into(),
            "null".into(),
            "7".into(),
            "{\"a\": }".into(),
            "{\"a\": \"\\ud800\"}".into(),
            deep_ok,
            deep_bad,
            format!("{{\"x\": {{\"y\": \"{big}\"}}}}"),
        ];
        for doc in &docs {
            let value = serde_json::from_str::<Value>(doc);
            let event = serde_json::from_str::<Event>(doc);
            assert_eq!(
                value.is_ok(),
                event.is_ok(),
                "{}",
                &doc[..doc.len().min(80)]
            );
            if let (Ok(value), Ok(event)) = (value, event) {
                assert_eq!(as_value(&event), value, "{}", &doc[..doc.len().min(80)]);
                assert_eq!(as_value(&Event::from(value.clone())), value);
            }
        }
    }

    #[test]
    fn base64_written_in_pieces_is_the_same_text() {
        const PIECE: usize = 12 * 1024;
        for len in [0, 1, 2, 3, 4, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 2] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
            let expected = STANDARD.encode(&bytes);
            assert_eq!(Base64(&bytes).to_string(), expected, "{len}");
            assert_eq!(base64_len(bytes.len()), expected.len());
            let written = serde_json::to_string(&Base64(&bytes)).unwrap();
            assert_eq!(written, format!("\"{expected}\""), "{len}");
        }
    }

    #[test]
    fn a_misspelt_field_is_refused_and_the_allowed_ones_are_listed() {
        let e = err(with(json!({"operation": "probe", "ctz": {}}), |_| Ok(())));
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert_eq!(
            e.message(),
            "unknown field \"ctz\" for probe: allowed fields are operation, blob, ctx, key, pick"
        );
    }

    #[test]
    fn base64_fields_are_strict_and_bounded_by_the_given_limit() {
        let read = |v: Value| with(json!({"blob": v}), |f| f.required_base64("blob", LIMIT));
        assert_eq!(read(json!("aGk=")).unwrap(), b"hi");
        for (bad, fragment) in [
            (json!("aGk"), "not valid standard base64"),
            (json!("aG k="), "invalid character at offset 2"),
            (json!(7), "must be a base64 string, got a number"),
        ] {
            let e = err(read(bad));
            assert_eq!(e.kind(), ErrorType::InvalidRequest);
            assert!(e.message().contains(fragment), "{e}");
        }
        let e = err(read(json!(STANDARD.encode([0u8; 9]))));
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert_eq!(
            e.message(),
            "field \"blob\" is 9 bytes; the limit is 8 bytes (a test limit)"
        );
        let e = err(read(json!("A".repeat(400))));
        assert!(e.message().contains("is about 300 bytes"), "{e}");
        let e = err(with(json!({}), |f| f.required_base64("blob", LIMIT)));
        assert_eq!(
            e.message(),
            "missing field \"blob\": probe needs it as a base64 string"
        );
        assert_eq!(
            with(json!({"blob": null}), |f| f.base64("blob", LIMIT)).unwrap(),
            None
        );
    }

    // The fast decoder must accept exactly what the strict reference (`base64`'s STANDARD)
    // accepts, and decode it to the same bytes: a looser decoder would let two different
    // events mean the same ciphertext.
    proptest::proptest! {
        #[test]
        fn the_fast_base64_agrees_with_the_strict_reference(
            text in "[AQgwBR+/=a9_ -]{0,14}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            proptest::prop_assert_eq!(decode_base64(&text).ok(), STANDARD.decode(&text).ok());
            let encoded = encode_base64(&bytes);
            proptest::prop_assert_eq!(&encoded, &STANDARD.encode(&bytes));
            proptest::prop_assert_eq!(decode_base64(&encoded).unwrap(), bytes);
        }
    }

    #[test]
    fn non_canonical_and_unpadded_base64_is_refused_by_the_fast_decoder_too() {
        for bad in ["aGl=", "aGk", "aR==", "aGk==", "=aGk", "aGk=aGk=", "aG\nk="] {
            assert!(decode_base64(bad).is_err(), "{bad}");
            assert!(STANDARD.decode(bad).is_err(), "{bad}");
        }
        // Large enough for the vector paths (AVX2 / NEON) to run, with one bad byte deep inside.
        let mut long = STANDARD.encode(vec![0x5au8; 3000]).into_bytes();
        long[2999] = b'*';
        let e = decode_base64(std::str::from_utf8(&long).unwrap()).unwrap_err();
        assert_eq!(e, "invalid character at offset 2999");
    }

    #[test]
    fn contexts_keys_and_choices_name_the_field_in_every_message() {
        let e = err(with(json!({"ctx": {"n": 1}}), |f| f.context("ctx")));
        assert_eq!(
            e.message(),
            "\"ctx\" value for key \"n\" must be a string, got a number"
        );
        let e = err(with(json!({"ctx": {"": "x"}}), |f| f.context("ctx")));
        assert_eq!(e.message(), "\"ctx\" has an empty key");
        let e = err(with(json!({"ctx": "a=b"}), |f| f.context("ctx")));
        assert!(
            e.message().starts_with("field \"ctx\" must be an object"),
            "{e}"
        );
        let big = json!({"ctx": {"k": "v".repeat(MAX_CONTEXT_BYTES)}});
        assert!(err(with(big, |f| f.context("ctx")))
            .message()
            .contains("8192"));
        let e = err(with(json!({"key": "my-key"}), |f| f.key_id("key")));
        assert!(e.message().starts_with("field \"key\": "), "{e}");
        let e = err(with(json!({"pick": "c"}), |f| {
            f.choice("pick", &["a", "b"])
        }));
        assert_eq!(
            e.message(),
            "field \"pick\" must be \"a\" or \"b\" (or left out)"
        );
        assert_eq!(
            with(json!({"pick": "b"}), |f| f.choice("pick", &["a", "b"])).unwrap(),
            Some("b")
        );
    }

    #[test]
    fn the_event_must_be_an_object_with_a_string_operation() {
        let hint = "use \"probe\"";
        assert!(err(Event::from(json!([1])).object(hint))
            .message()
            .contains("got an array"));
        assert_eq!(
            err(Event::from(json!({"plaintext": "x"})).operation(hint)).message(),
            "missing field \"operation\": use \"probe\""
        );
        assert!(err(Event::from(json!({"operation": 7})).operation(hint))
            .message()
            .contains("must be a string, got a number"));
    }

    #[test]
    fn a_malformed_event_marked_by_the_raw_event_guard_says_so() {
        let marked = Value::String(format!(
            "{MALFORMED_MARKER}expected value at line 1 column 2"
        ));
        let e = err(Event::from(marked).object("use \"probe\""));
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert_eq!(
            e.message(),
            "the event is not valid JSON (expected value at line 1 column 2)"
        );
    }

    #[test]
    fn messages_never_echo_values_from_the_event() {
        let secret = "c2VjcmV0LXZhbHVl!"; // invalid base64 with a recognisable prefix
        let e = err(with(json!({"blob": secret}), |f| {
            f.required_base64("blob", LIMIT)
        }));
        assert!(!e.message().contains("c2VjcmV0"), "{e}");
        let e = err(with(json!({"ctx": {"k": ["secret-value"]}}), |f| {
            f.context("ctx")
        }));
        assert!(!e.message().contains("secret"), "{e}");
        let e = err(with(json!({"pick": "secret-value"}), |f| {
            f.choice("pick", &["a"])
        }));
        assert!(!e.message().contains("secret"), "{e}");
    }
}
