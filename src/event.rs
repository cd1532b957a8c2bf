//! The parts of the event contract every operation shares: the event is a JSON object with an
//! `"operation"` field, unknown fields are refused, and [`Fields`] reads the rest.
//!
//! Fields are read by hand from a `serde_json::Value` rather than derived, so that every message
//! can name the field and the rule without ever echoing a value from the event (serde's own
//! messages quote the offending value, which may be secret). The helpers are generic over the
//! field: an operation says which field, how large it may be and what exceeding that is; no
//! helper knows any field by name.

use crate::config::check_key_id;
use crate::error::{Error, ErrorType};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Lambda's synchronous payload limit, for the request and for the response.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6_291_456;

/// Largest encryption context this function accepts: keys and values together, in UTF-8 bytes.
/// A context travels in every KMS request and lands in CloudTrail; 8 KiB is generous for
/// non-secret labels and keeps it within what KMS accepts.
pub const MAX_CONTEXT_BYTES: usize = 8192;

/// Prefix by which [`crate::raw_event`] marks an event that was not JSON at all.
pub const MALFORMED_MARKER: &str = "\u{0}kms-lambda: malformed event: ";

/// The event as a JSON object. `hint` tells the caller which operations exist.
pub fn object<'a>(event: &'a Value, hint: &str) -> Result<&'a Map<String, Value>, Error> {
    match event {
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
pub fn operation<'a>(obj: &'a Map<String, Value>, hint: &str) -> Result<&'a str, Error> {
    match obj.get("operation") {
        None => Err(Error::invalid_request(format!(
            "missing field \"operation\": {hint}"
        ))),
        Some(Value::String(op)) => Ok(op),
        Some(other) => Err(Error::invalid_request(format!(
            "field \"operation\" must be a string, got {}",
            type_name(other)
        ))),
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
    obj: &'a Map<String, Value>,
    operation: &'static str,
    declared: &'static [&'static str],
}

impl<'a> Fields<'a> {
    /// The fields of `obj` for `operation`, which accepts `declared` besides `"operation"`.
    /// A misspelt field is refused: it must not silently change what is done (a misspelt
    /// `encryptionContex` would encrypt without a context).
    pub fn new(
        obj: &'a Map<String, Value>,
        operation: &'static str,
        declared: &'static [&'static str],
    ) -> Result<Self, Error> {
        if let Some(k) = obj
            .keys()
            .find(|k| *k != "operation" && !declared.contains(&k.as_str()))
        {
            let mut allowed = vec!["operation"];
            allowed.extend_from_slice(declared);
            return Err(Error::invalid_request(format!(
                "unknown field \"{}\" for {operation}: allowed fields are {}",
                field_name(k),
                allowed.join(", ")
            )));
        }
        Ok(Fields {
            obj,
            operation,
            declared,
        })
    }

    /// The operation these fields belong to.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The field's value; absent and `null` are the same.
    fn get(&self, name: &str) -> Option<&'a Value> {
        debug_assert!(
            self.declared.contains(&name),
            "{}: field {name:?} is read but not declared in its FIELDS",
            self.operation
        );
        self.obj.get(name).filter(|v| !v.is_null())
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

    /// An optional base64 field, decoded.
    pub fn base64(&self, name: &str, limit: Limit) -> Result<Option<Vec<u8>>, Error> {
        let text = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(Error::invalid_request(format!(
                    "field \"{name}\" must be a base64 string, got {}",
                    type_name(other)
                )))
            }
        };
        let too_large = |len: usize, about: &str| {
            Error::new(
                limit.kind,
                format!(
                    "field \"{name}\" is {about}{len} bytes; the limit is {} bytes ({})",
                    limit.max, limit.why
                ),
            )
        };
        // Refuse oversized input before decoding it: a 6 MB string should not cost a 4.5 MB
        // buffer only to be rejected.
        let decoded_len = text.len() / 4 * 3;
        if decoded_len > limit.max + 3 {
            return Err(too_large(decoded_len, "about "));
        }
        let bytes = decode_base64(text).map_err(|why| {
            Error::invalid_request(format!(
                "field \"{name}\" is not valid standard base64 (RFC 4648 with padding): {why}"
            ))
        })?;
        if bytes.len() > limit.max {
            return Err(too_large(bytes.len(), ""));
        }
        Ok(Some(bytes))
    }

    /// An optional KMS key reference: key id, key ARN, `alias/NAME` or alias ARN.
    pub fn key_id(&self, name: &str) -> Result<Option<String>, Error> {
        match self.get(name) {
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
        let map = match self.get(name) {
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
        match self.get(name) {
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
        let obj = object(&event, "use \"probe\"")?;
        read(&Fields::new(obj, "probe", DECLARED)?)
    }

    fn err<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
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
        assert!(err(object(&json!([1]), hint))
            .message()
            .contains("got an array"));
        let obj = json!({"plaintext": "x"});
        assert_eq!(
            err(operation(obj.as_object().unwrap(), hint)).message(),
            "missing field \"operation\": use \"probe\""
        );
        let obj = json!({"operation": 7});
        assert!(err(operation(obj.as_object().unwrap(), hint))
            .message()
            .contains("must be a string, got a number"));
    }

    #[test]
    fn a_malformed_event_marked_by_the_raw_event_guard_says_so() {
        let marked = Value::String(format!(
            "{MALFORMED_MARKER}expected value at line 1 column 2"
        ));
        let e = err(object(&marked, "use \"probe\""));
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
