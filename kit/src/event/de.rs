//! How an operation's event type is read from an [`Event`]: the operation declares its fields
//! once, as a `#[derive(Deserialize)]` struct, and this module reads them.
//!
//! serde's own readers would do it too, but their messages quote the offending value ("invalid
//! type: string \"hunter2\", expected a boolean"), and a value may be secret. So the kit reads
//! the event with a deserializer of its own whose errors are the kit's [`Error`]: every message
//! names the field (and the key or element within it) and the rule, and none carries a value —
//! not a string, not a number, not a variant the caller tried.
//!
//! - The fields an operation accepts are the ones its derive declares ([`fields_of`], read off
//!   the derive itself); any other is refused before anything is read, so a misspelt
//!   `encryptionContex` can never silently mean "no context". A field that is `null` is a field
//!   left out.
//! - Bytes travel as base64: a field of the kit's `Bytes` or `SecretBytes` asks for bytes and
//!   gets the decoded payload, without a copy when it was decoded while parsing; any other field
//!   gets text — the same base64 the caller sent.

use crate::error::{Error, ErrorType};
use crate::event::base64::encode_base64;
use crate::event::Event;
use crate::secret::SecretBytes;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt::{self, Display};

/// The kit's errors are serde errors too, so that the kit's readers return them as they are,
/// with messages that never carry a value from the event.
impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::invalid_request(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::invalid_request(format!(
            "must be {}, got {}",
            expected(exp),
            unexpected(unexp)
        ))
    }

    fn invalid_value(_: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::invalid_request(format!("must be {}", expected(exp)))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Error::invalid_request(format!("has {len} elements; expected {}", expected(exp)))
    }

    fn unknown_variant(_: &str, variants: &'static [&'static str]) -> Self {
        Error::invalid_request(format!("must be {} (or left out)", one_of(variants)))
    }

    fn unknown_field(field: &str, allowed: &'static [&'static str]) -> Self {
        Error::invalid_request(format!(
            "unknown field \"{}\": allowed fields are {}",
            shown_name(field),
            allowed.join(", ")
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::invalid_request(format!("missing field \"{field}\""))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::invalid_request(format!("field \"{field}\" is given twice"))
    }
}

/// `"a" or "b"`, `"a", "b" or "c"`.
pub(crate) fn one_of(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
    match quoted.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What a reader expected, in the terms of JSON.
fn expected(exp: &dyn Expected) -> String {
    let said = exp.to_string();
    match said.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128"
        | "isize" => "a whole number in range".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" | "a tuple" => "an array".into(),
        "a map" => "an object".into(),
        "a character" => "a string of one character".into(),
        other if other.starts_with("struct ") => "an object".into(),
        _ => said,
    }
}

/// What was found instead, by its JSON type only: never the value.
fn unexpected(unexp: Unexpected<'_>) -> &'static str {
    match unexp {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) | Unexpected::Float(_) => "a number",
        Unexpected::Char(_) | Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "null",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        _ => "another kind of value",
    }
}

/// Field names come from the caller: a bounded, printable form of them.
pub(crate) fn shown_name(name: &str) -> String {
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

/// `err`, as it happened inside `place` (`field "x"`, `key "k"`, `element 3`).
fn within(err: Error, place: impl Display) -> Error {
    Error::new(err.kind(), format!("{place}: {}", err.message()))
}

/// The fields a `#[derive(Deserialize)]` struct declares (after its `rename_all`), read off the
/// derive itself; `None` for a type that is not a struct with named fields (or uses
/// `flatten`), whose fields the kit could not know.
pub(crate) fn fields_of<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    #[derive(Debug)]
    enum Found {
        Fields(&'static [&'static str]),
        Other,
    }
    impl Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a probe")
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<M: Display>(_: M) -> Self {
            Found::Other
        }
    }
    struct Probe;
    impl<'de> Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found::Other)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found::Fields(fields))
        }
        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found::Fields(&[]))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found::Fields(fields)) => Some(fields),
        _ => None,
    }
}

/// Reads `event` (an object, whose fields were checked against the type's) as `T`.
pub fn read<T: DeserializeOwned>(event: &Event) -> Result<T, Error> {
    let Value::Object(obj) = event.json() else {
        return Err(Error::invalid_request("the event must be a JSON object"));
    };
    T::deserialize(EventDe { event, obj })
}

/// The event, as a struct's fields: every top-level field but `"operation"` and those that are
/// `null`.
struct EventDe<'de> {
    event: &'de Event,
    obj: &'de Map<String, Value>,
}

impl<'de> EventDe<'de> {
    fn fields(&self) -> TopFields<'de> {
        let mut entries: Vec<(Cow<'de, str>, Option<&'de Value>)> = self
            .obj
            .iter()
            .filter(|(k, v)| *k != "operation" && !v.is_null())
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Some(v)))
            .collect();
        entries.extend(
            self.event
                .field_names()
                .into_iter()
                .filter(|k| !self.obj.contains_key(k))
                .map(|k| (Cow::Owned(k), None)),
        );
        TopFields {
            event: self.event,
            entries: entries.into_iter(),
            current: None,
        }
    }
}

impl<'de> Deserializer<'de> for EventDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(self.fields())
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The top-level fields, one after another; a decoded field's bytes are moved out when read.
struct TopFields<'de> {
    event: &'de Event,
    entries: std::vec::IntoIter<(Cow<'de, str>, Option<&'de Value>)>,
    current: Option<(Cow<'de, str>, Option<&'de Value>)>,
}

impl<'de> MapAccess<'de> for TopFields<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        let key = seed.deserialize(de::value::StrDeserializer::<Error>::new(&entry.0))?;
        self.current = Some(entry);
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (name, value) = self
            .current
            .take()
            .ok_or_else(|| Error::new(ErrorType::Internal, "a value read before its field"))?;
        let place = format_args!("field \"{}\"", shown_name(&name)).to_string();
        match value {
            Some(value) => seed.deserialize(ValueDe(value)),
            None => match self.event.take_decoded(&name) {
                Some(bytes) => seed.deserialize(DecodedDe(bytes)),
                None => Err(Error::new(
                    ErrorType::Internal,
                    "a decoded field read twice",
                )),
            },
        }
        .map_err(|e| within(e, place))
    }
}

/// A JSON value of the event.
struct ValueDe<'de>(&'de Value);

impl<'de> Deserializer<'de> for ValueDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visitor.visit_seq(Elements {
                iter: a.iter(),
                index: 0,
            }),
            Value::Object(o) => visitor.visit_map(Entries {
                iter: o.iter(),
                current: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::<Error>::new(s)),
            other => Err(Error::invalid_request(format!(
                "must be {} (or left out), got {}",
                one_of(variants),
                unexpected(unexpected_of(other))
            ))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A value's JSON type, for [`de::Error::invalid_type`] (whose message drops the value).
fn unexpected_of(v: &Value) -> Unexpected<'static> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(_) => Unexpected::Bool(false),
        Value::Number(_) => Unexpected::Unsigned(0),
        Value::String(_) => Unexpected::Str(""),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct Elements<'de> {
    iter: std::slice::Iter<'de, Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Elements<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.iter.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDe(value))
            .map(Some)
            .map_err(|e| within(e, format_args!("element {index}")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Entries<'de> {
    iter: serde_json::map::Iter<'de>,
    current: Option<(&'de String, &'de Value)>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.iter.next() else {
            return Ok(None);
        };
        self.current = Some(entry);
        seed.deserialize(BorrowedStrDeserializer::<Error>::new(entry.0))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self
            .current
            .take()
            .ok_or_else(|| Error::new(ErrorType::Internal, "a value read before its key"))?;
        seed.deserialize(ValueDe(value))
            .map_err(|e| within(e, format_args!("key \"{}\"", shown_name(key))))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A top-level field decoded while parsing: bytes to a field that asks for bytes, the base64
/// text it arrived as to any other.
struct DecodedDe(SecretBytes);

impl<'de> Deserializer<'de> for DecodedDe {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_string(encode_base64(&self.0))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // The kit's byte fields wrap it again at once (a plaintext into `SecretBytes`).
        visitor.visit_byte_buf(self.0.into_public())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::types::{Bytes, Context, KeyId};
    use ::base64::engine::general_purpose::STANDARD;
    use ::base64::Engine;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Probe {
        blob: Bytes,
        secret: Option<SecretBytes>,
        #[serde(default)]
        encryption_context: Context,
        key_id: Option<KeyId>,
        pick: Option<Pick>,
        #[serde(default)]
        flag: bool,
        n: Option<u8>,
        text: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Pick {
        A,
        B,
    }

    fn probe(event: Value) -> Result<Probe, Error> {
        read(&Event::from(event))
    }

    fn message(event: Value) -> String {
        let e = probe(event).expect_err("refused");
        assert_eq!(e.kind(), ErrorType::InvalidRequest, "{e}");
        e.message().to_string()
    }

    #[test]
    fn the_fields_are_read_off_the_derive_after_its_renaming() {
        assert_eq!(
            fields_of::<Probe>().unwrap(),
            [
                "blob",
                "secret",
                "encryptionContext",
                "keyId",
                "pick",
                "flag",
                "n",
                "text"
            ]
        );
        #[derive(Deserialize)]
        struct Unit;
        assert_eq!(fields_of::<Unit>().unwrap(), [] as [&str; 0]);
        assert!(fields_of::<Value>().is_none(), "not a struct");
        assert!(fields_of::<std::collections::HashMap<String, u8>>().is_none());
    }

    #[test]
    fn every_field_type_is_read_and_null_is_left_out() {
        let p = probe(
            json!({"operation": "probe", "blob": "aGk=", "secret": "c2VjcmV0",
            "encryptionContext": {"tenant": "acme"}, "keyId": "alias/x", "pick": "b",
            "flag": true, "n": 7, "text": "aGk=", "unused": null}),
        )
        .unwrap();
        assert_eq!(&p.blob[..], b"hi");
        assert_eq!(&p.secret.unwrap()[..], b"secret");
        assert_eq!(
            p.encryption_context.get("tenant").map(String::as_str),
            Some("acme")
        );
        assert_eq!(p.key_id.as_deref(), Some("alias/x"));
        assert_eq!((p.pick, p.flag, p.n), (Some(Pick::B), true, Some(7)));
        assert_eq!(p.text.as_deref(), Some("aGk="));
        let p = probe(json!({"blob": "", "keyId": null, "encryptionContext": null})).unwrap();
        assert!(p.key_id.is_none() && p.encryption_context.is_empty() && p.blob.is_empty());
        assert_eq!(message(json!({"blob": null})), "missing field \"blob\"");
    }

    #[test]
    fn a_large_payload_is_bytes_to_a_byte_field_and_its_text_to_any_other() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let big = STANDARD.encode(&payload);
        let doc = json!({"blob": big, "secret": big, "text": big});
        let event: Event = serde_json::from_str(&doc.to_string()).unwrap();
        let p: Probe = read(&event).unwrap();
        assert_eq!(&p.blob[..], &payload[..]);
        assert_eq!(&p.secret.unwrap()[..], &payload[..]);
        assert_eq!(p.text.unwrap(), big);
        // The same, read from text (a `Value`-built event decodes the same way).
        let p = probe(doc).unwrap();
        assert_eq!(&p.blob[..], &payload[..]);
    }

    #[test]
    fn every_message_names_the_field_and_the_rule() {
        for (event, said) in [
            (json!({"blob": 7}), "field \"blob\": must be a base64 string, got a number"),
            (
                json!({"blob": "aG k="}),
                "field \"blob\": not valid standard base64 (RFC 4648 with padding): invalid character at offset 2",
            ),
            (
                json!({"blob": "", "pick": "c"}),
                "field \"pick\": must be \"a\" or \"b\" (or left out)",
            ),
            (
                json!({"blob": "", "pick": 1}),
                "field \"pick\": must be \"a\" or \"b\" (or left out), got a number",
            ),
            (json!({"blob": "", "flag": "yes"}), "field \"flag\": must be a boolean, got a string"),
            (json!({"blob": "", "n": 300}), "field \"n\": must be a whole number in range"),
            (json!({"blob": "", "n": -1}), "field \"n\": must be a whole number in range"),
            (
                json!({"blob": "", "encryptionContext": {"k": 1}}),
                "field \"encryptionContext\": key \"k\": must be a string, got a number",
            ),
            (
                json!({"blob": "", "encryptionContext": {"": "x"}}),
                "field \"encryptionContext\": has an empty key",
            ),
            (
                json!({"blob": "", "encryptionContext": "a=b"}),
                "field \"encryptionContext\": must be an object of string values, got a string",
            ),
            (
                json!({"blob": "", "keyId": "my-key"}),
                "field \"keyId\": not a key id; expected a key id (UUID or mrk-…), a key ARN, alias/NAME or an alias ARN",
            ),
        ] {
            assert_eq!(message(event.clone()), said, "{event}");
        }
        let big = json!({"blob": "", "encryptionContext": {"k": "v".repeat(8192)}});
        assert!(message(big).ends_with("the limit is 8192"));
    }

    #[test]
    fn messages_never_echo_values_from_the_event() {
        for event in [
            json!({"blob": "c2VjcmV0LXZhbHVl!"}),
            json!({"blob": "", "pick": "secret-value"}),
            json!({"blob": "", "encryptionContext": {"k": ["secret-value"]}}),
            json!({"blob": "", "flag": "secret-value"}),
            json!({"blob": "", "n": 987654321}),
            json!({"blob": "", "text": 987654321}),
        ] {
            let m = message(event.clone());
            assert!(
                !m.contains("secret") && !m.contains("c2VjcmV0") && !m.contains("987654321"),
                "{event}: {m}"
            );
        }
    }
}
