//! [`Fields`]: how an operation reads the fields of its event.
//!
//! Fields are read by hand from the event rather than derived, so that every message can name
//! the field and the rule without ever echoing a value from the event (serde's own messages
//! quote the offending value, which may be secret). The helpers are generic over the field: an
//! operation says which field, how large it may be and what exceeding that is; no helper knows
//! any field by name.

use crate::error::{Error, ErrorType};
use crate::event::base64::decode_base64;
use crate::event::{type_name, Event};
use crate::key::check_key_id;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// Largest encryption context this function accepts: keys and values together, in UTF-8 bytes.
/// A context travels in every KMS request and lands in CloudTrail; 8 KiB is generous for
/// non-secret labels and keeps it within what KMS accepts.
pub const MAX_CONTEXT_BYTES: usize = 8192;

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
pub struct Fields<'a> {
    event: &'a Event,
    obj: &'a Map<String, Value>,
    /// Base64 fields read so far: a payload is moved out on its first read (debug check).
    #[cfg(debug_assertions)]
    read: std::cell::RefCell<Vec<String>>,
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
            read: std::cell::RefCell::default(),
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

    /// An optional boolean: absent is `false`.
    pub fn flag(&self, name: &str) -> Result<bool, Error> {
        match self.get(name).as_deref() {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(Error::invalid_request(format!(
                "field \"{name}\" must be true or false (or left out), got {}",
                type_name(other)
            ))),
        }
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

/// The operation and the event (field names and sizes: [`Event`]'s own `Debug`), never a value:
/// an event may carry a plaintext.
impl std::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields")
            .field("operation", &self.operation)
            .field("event", self.event)
            .finish()
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ::base64::engine::general_purpose::STANDARD;
    use ::base64::Engine;
    use serde_json::json;

    pub(in crate::event) const DECLARED: &[&str] = &["blob", "ctx", "key", "pick"];
    pub(in crate::event) const LIMIT: Limit = Limit {
        max: 8,
        kind: ErrorType::PayloadTooLarge,
        why: "a test limit",
    };

    pub(in crate::event) fn with<T>(
        event: Value,
        read: impl FnOnce(&Fields<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let event = Event::from(event);
        read(&Fields::new(&event, "probe", DECLARED)?)
    }

    pub(in crate::event) fn err<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
        r.expect_err("should be rejected")
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
