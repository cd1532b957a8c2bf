//! The event contract every operation shares: the event is a JSON object with an
//! `"operation"` field, and the rest of it is the operation's own type, read by serde.
//!
//! - [`Event`] (here): the event as it arrived, parsed once, its large base64 payloads already
//!   decoded (why: see the type), its text wiped when it is dropped;
//! - [`de`]: how an operation's `#[derive(Deserialize)]` type is read from it — the field names
//!   the derive declares are the only ones accepted, and every message names the field and the
//!   rule, never a value;
//! - [`types`]: what fields hold — [`Bytes`](types::Bytes) (base64), an encryption
//!   [`Context`](types::Context), a [`KeyId`](types::KeyId), size [`Limit`](types::Limit)s;
//! - [`base64`]: strict base64 in, and base64 written piece by piece into the response;
//! - [`parse`]: the layer in front of the runtime that parses each event once (and refuses one
//!   that is not JSON), and how a layer refuses an event.

pub mod base64;
pub mod de;
pub mod parse;
pub mod types;

use crate::error::Error;
use crate::event::base64::encode_base64;
use crate::secret::{wipe_str, SecretBytes};
use serde::de::{
    self as serde_de, Deserialize, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

/// Lambda's synchronous payload limit, for the request and for the response.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6_291_456;

/// Top-level strings this long or longer that are valid base64 are decoded while the event is
/// parsed (see [`Event`]). Below it a copy costs nothing worth avoiding, and short fields
/// (`"mode": "envelope"` is valid base64) stay text.
pub const DECODE_WHILE_PARSING: usize = 64 * 1024;

/// The event the handler receives: the JSON the caller sent, except that each top-level string of
/// `DECODE_WHILE_PARSING` bytes or more that is valid base64 has already been decoded.
///
/// Why: `serde_json::Value` would copy a 6 MB base64 payload out of the runtime's buffer into a
/// `String`, and the operation would then decode that into a third buffer. Decoding straight
/// from the runtime's buffer holds 4.5 MB instead of 6 MB beside it. Nothing else changes:
/// [`Event`] accepts exactly the documents `Value` accepts (the same parser, the same limits),
/// and `de` reads a decoded field exactly as it would read the text — a field that wants text
/// gets the identical base64 back, a field that wants bytes gets them without a second decode.
///
/// What the kit owns of an event is wiped when it is dropped: the decoded payloads
/// ([`SecretBytes`]) and every string of the JSON (a short plaintext arrives as base64 text).
/// The body the runtime read from the Runtime API is lambda_runtime's, not the kit's.
pub struct Event {
    json: Value,
    /// Decoded top-level fields, absent from `json`. Moved out when read ([`de`]).
    decoded: RefCell<BTreeMap<String, SecretBytes>>,
}

impl Drop for Event {
    fn drop(&mut self) {
        fn wipe(v: &mut Value) {
            match v {
                Value::String(s) => wipe_str(s),
                Value::Array(a) => a.iter_mut().for_each(wipe),
                Value::Object(o) => o.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.json);
    }
}

impl Event {
    /// The event as a JSON object. `hint` tells the caller which operations exist.
    pub fn object(&self, hint: &str) -> Result<&Map<String, Value>, Error> {
        match &self.json {
            Value::Object(obj) => Ok(obj),
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

    /// A top-level field as the caller sent it (a decoded one is encoded again: only a field
    /// that is not bytes, given a long base64 string, takes that path); absent or `null` is
    /// `None`.
    fn field<'a>(&self, obj: &'a Map<String, Value>, name: &str) -> Option<Cow<'a, Value>> {
        if let Some(bytes) = self.decoded.borrow().get(name) {
            return Some(Cow::Owned(Value::String(encode_base64(bytes))));
        }
        obj.get(name).filter(|v| !v.is_null()).map(Cow::Borrowed)
    }

    /// The names of the top-level fields, wherever they are kept.
    pub(crate) fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.json {
            Value::Object(obj) => obj.keys().cloned().collect(),
            _ => Vec::new(),
        };
        names.extend(self.decoded.borrow().keys().cloned());
        names
    }

    /// A decoded field, moved out (read once).
    pub(crate) fn take_decoded(&self, name: &str) -> Option<SecretBytes> {
        self.decoded.borrow_mut().remove(name)
    }

    /// The JSON of the event, less its decoded fields.
    pub(crate) fn json(&self) -> &Value {
        &self.json
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
                        Value::String(mut s) => match decode_while_parsing(&s) {
                            Some(bytes) => {
                                wipe_str(&mut s);
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

fn decode_while_parsing(text: &str) -> Option<SecretBytes> {
    (text.len() >= DECODE_WHILE_PARSING)
        .then(|| base64_simd::STANDARD.decode_to_vec(text).ok())
        .flatten()
        .map(SecretBytes::from)
}

/// The visits both visitors below answer with a plain `Value`, built by `Value`'s own
/// deserializer (so what is accepted is exactly what `Value` accepts); `$wrap` makes the
/// visitor's result of it.
macro_rules! visit_as_value {
    ($de:lifetime, $out:ty, $wrap:expr) => {
        fn visit_bool<E: serde_de::Error>(self, v: bool) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_i64<E: serde_de::Error>(self, v: i64) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_u64<E: serde_de::Error>(self, v: u64) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_f64<E: serde_de::Error>(self, v: f64) -> Result<$out, E> {
            Value::deserialize(v.into_deserializer()).map($wrap)
        }
        fn visit_unit<E: serde_de::Error>(self) -> Result<$out, E> {
            Ok($wrap(Value::Null))
        }
        fn visit_seq<A: SeqAccess<$de>>(self, seq: A) -> Result<$out, A::Error> {
            Value::deserialize(serde_de::value::SeqAccessDeserializer::new(seq)).map($wrap)
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
    fn visit_str<E: serde_de::Error>(self, v: &str) -> Result<Event, E> {
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
    Decoded(SecretBytes),
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
    fn visit_str<E: serde_de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(match decode_while_parsing(v) {
            Some(bytes) => FieldValue::Decoded(bytes),
            None => FieldValue::Json(Value::String(v.to_owned())),
        })
    }
    fn visit_string<E: serde_de::Error>(self, mut v: String) -> Result<FieldValue, E> {
        Ok(match decode_while_parsing(&v) {
            Some(bytes) => {
                wipe_str(&mut v);
                FieldValue::Decoded(bytes)
            }
            None => FieldValue::Json(Value::String(v)),
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldValue, A::Error> {
        Value::deserialize(serde_de::value::MapAccessDeserializer::new(map)).map(FieldValue::Json)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use ::base64::engine::general_purpose::STANDARD;
    use ::base64::Engine;
    use serde_json::json;

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

    fn err<T>(r: Result<T, Error>) -> Error {
        r.err().expect("should be rejected")
    }

    #[test]
    fn a_large_base64_field_is_decoded_while_parsing_and_never_shown() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let big = STANDARD.encode(&payload);
        let doc = json!({"operation": "probe", "blob": big, "key": big, "pick": "b"});
        let event: Event = serde_json::from_str(&doc.to_string()).unwrap();
        assert_eq!(
            event.decoded.borrow().keys().collect::<Vec<_>>(),
            ["blob", "key"]
        );
        assert!(event.json.get("blob").is_none(), "not kept twice");
        assert_eq!(&event.take_decoded("blob").unwrap()[..], &payload[..]);
        let shown = format!("{event:?}");
        assert!(
            !shown.contains(&big[..16]) && shown.contains("100000"),
            "{shown}"
        );
        // A large string that is not base64 stays text.
        let mut bad = big.clone();
        bad.replace_range(70_000..70_001, "*");
        let event: Event = serde_json::from_str(&json!({"blob": bad}).to_string()).unwrap();
        assert!(event.decoded.borrow().is_empty());
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
    fn a_string_is_no_event_whatever_it_says() {
        // What refusals once looked like inside an event: now just a string, answered as one.
        for text in [
            "\u{0}kms-lambda: refused: KmsThrottled: forged text",
            "KmsThrottled",
        ] {
            let e = err(Event::from(json!(text)).object("use \"probe\""));
            assert_eq!(e.kind(), ErrorType::InvalidRequest);
            assert!(e.message().ends_with("got a string"), "{e}");
            assert!(!e.message().contains("forged") && !e.message().contains("Throttled"));
        }
    }
}
