//! The event contract: what callers send and get back. Validation happens here, before any
//! KMS call, so a bad event costs no KMS request and gets a precise message.
//!
//! The event is parsed by hand from a `serde_json::Value` rather than derived, so that every
//! message can name the field and the rule without ever echoing a value from the event (serde's
//! own messages quote the offending value, which may be secret).

use crate::config::check_key_id;
use crate::envelope;
use crate::error::{Error, ErrorType};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Largest plaintext KMS `Encrypt` takes.
pub const MAX_DIRECT_PLAINTEXT: usize = 4096;
/// Largest ciphertext blob KMS `Decrypt` takes.
pub const MAX_CIPHERTEXT: usize = 6144;
/// Lambda's synchronous payload limit, for the request and for the response.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6_291_456;
/// Largest plaintext for envelope mode: its envelope (header at its largest, tag) as base64,
/// in the encrypt response with a key ARN of the largest size, still fits
/// [`LAMBDA_PAYLOAD_LIMIT`] (≈ 4,708,000; rounded down), and so does the request that carries
/// it as base64 with room for a context and a key id.
pub const MAX_ENVELOPE_PLAINTEXT: usize = 4_700_000;
/// Largest ciphertext decrypt accepts: an envelope of the largest plaintext.
pub const MAX_ENVELOPE_CIPHERTEXT: usize =
    MAX_ENVELOPE_PLAINTEXT + envelope::MAX_HEADER + envelope::TAG_LEN;

/// How encrypt protects the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// KMS `Encrypt` on the payload itself (1 to 4096 bytes).
    Direct,
    /// A KMS data key and AES-256-GCM (any size up to [`MAX_ENVELOPE_PLAINTEXT`]).
    Envelope,
}

impl Mode {
    /// `direct` or `envelope`, as in events and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Envelope => "envelope",
        }
    }
}

/// A validated request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Encrypt `plaintext` under `key_id` (or the function's key).
    Encrypt {
        /// The bytes to encrypt (1 to 4096).
        plaintext: Vec<u8>,
        /// Additional authenticated data, bound to the ciphertext.
        context: HashMap<String, String>,
        /// Overrides `KMS_KEY_ID` for this call.
        key_id: Option<String>,
        /// Chosen by size unless the event says.
        mode: Mode,
    },
    /// Decrypt `ciphertext`, which must have been made with the same `context`.
    Decrypt {
        /// The KMS ciphertext blob.
        ciphertext: Vec<u8>,
        /// Must equal the context used to encrypt.
        context: HashMap<String, String>,
        /// The key expected to have made the ciphertext; defaults to `KMS_KEY_ID`.
        key_id: Option<String>,
    },
}

impl Request {
    /// `encrypt` or `decrypt`.
    pub fn operation(&self) -> &'static str {
        match self {
            Request::Encrypt { .. } => "encrypt",
            Request::Decrypt { .. } => "decrypt",
        }
    }
}

/// The answer to `encrypt`.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EncryptResponse {
    /// Base64 KMS ciphertext blob.
    pub ciphertext: String,
    /// ARN of the key that encrypted.
    pub key_id: String,
    /// `direct` or `envelope`.
    pub mode: &'static str,
}

/// The answer to `decrypt`.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DecryptResponse {
    /// Base64 plaintext.
    pub plaintext: String,
    /// ARN of the key that decrypted.
    pub key_id: String,
    /// `direct` or `envelope`, as recognised from the ciphertext.
    pub mode: &'static str,
}

/// Largest encryption context this function accepts: keys and values together, in UTF-8 bytes.
/// A context travels in every KMS request and lands in CloudTrail; 8 KiB is generous for
/// non-secret labels and keeps it within what KMS accepts.
pub const MAX_CONTEXT_BYTES: usize = 8192;

/// Prefix by which [`crate::raw_event`] marks an event that was not JSON at all.
pub const MALFORMED_MARKER: &str = "\u{0}kms-lambda: malformed event: ";

const ENCRYPT_FIELDS: &[&str] = &[
    "operation",
    "plaintext",
    "encryptionContext",
    "keyId",
    "mode",
];
const DECRYPT_FIELDS: &[&str] = &["operation", "ciphertext", "encryptionContext", "keyId"];

/// Validates an event. Every failure is an [`ErrorType::InvalidRequest`] (or
/// [`ErrorType::PayloadTooLarge`]) whose message names the field.
pub fn parse(event: &Value) -> Result<Request, Error> {
    let obj = match event {
        Value::Object(obj) => obj,
        Value::String(s) if s.starts_with(MALFORMED_MARKER) => {
            return Err(Error::invalid_request(format!(
                "the event is not valid JSON ({})",
                &s[MALFORMED_MARKER.len()..]
            )))
        }
        other => {
            return Err(Error::invalid_request(format!(
                "the event must be a JSON object with an \"operation\" field, got {}",
                type_name(other)
            )))
        }
    };
    let operation = match obj.get("operation") {
        None => {
            return Err(Error::invalid_request(
                "missing field \"operation\": use \"encrypt\" or \"decrypt\"",
            ))
        }
        Some(Value::String(op)) => op.as_str(),
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "field \"operation\" must be a string, got {}",
                type_name(other)
            )))
        }
    };
    match operation {
        "encrypt" => {
            reject_unknown(obj, ENCRYPT_FIELDS, "encrypt")?;
            let requested = mode(obj)?;
            let plaintext = required_base64(obj, "plaintext", "encrypt")?;
            let mode = match (requested, plaintext.len()) {
                (_, n) if n > MAX_ENVELOPE_PLAINTEXT => return Err(too_large_plaintext(n)),
                (Some(Mode::Direct), n) if n > MAX_DIRECT_PLAINTEXT => {
                    return Err(Error::new(
                        ErrorType::PayloadTooLarge,
                        format!(
                            "field \"plaintext\" is {n} bytes; direct mode (KMS Encrypt) takes at most \
                             {MAX_DIRECT_PLAINTEXT} bytes: use \"mode\": \"envelope\" or leave mode out"
                        ),
                    ))
                }
                (Some(Mode::Envelope), _) => Mode::Envelope,
                (_, 0) => {
                    return Err(Error::invalid_request(
                        "field \"plaintext\" is empty: KMS Encrypt takes 1 to 4096 bytes; \
                         send \"mode\": \"envelope\" to encrypt an empty payload",
                    ))
                }
                (_, n) if n <= MAX_DIRECT_PLAINTEXT => Mode::Direct,
                _ => Mode::Envelope,
            };
            Ok(Request::Encrypt {
                plaintext,
                context: context(obj)?,
                key_id: key_id(obj)?,
                mode,
            })
        }
        "decrypt" => {
            reject_unknown(obj, DECRYPT_FIELDS, "decrypt")?;
            let ciphertext = required_base64(obj, "ciphertext", "decrypt")?;
            if ciphertext.is_empty()
                || (!envelope::is_envelope(&ciphertext) && ciphertext.len() > MAX_CIPHERTEXT)
            {
                return Err(Error::new(
                    ErrorType::InvalidCiphertext,
                    format!(
                        "field \"ciphertext\" decodes to {} bytes and is not an envelope; a KMS ciphertext is 1 to {MAX_CIPHERTEXT} bytes",
                        ciphertext.len()
                    ),
                ));
            }
            Ok(Request::Decrypt {
                ciphertext,
                context: context(obj)?,
                key_id: key_id(obj)?,
            })
        }
        _ => Err(Error::invalid_request(
            "unknown \"operation\": use \"encrypt\" or \"decrypt\"",
        )),
    }
}

fn too_large_plaintext(len: usize) -> Error {
    Error::new(
        ErrorType::PayloadTooLarge,
        format!(
            "field \"plaintext\" is {len} bytes; the limit is {MAX_ENVELOPE_PLAINTEXT} bytes, the largest \
             payload whose encrypted form still fits Lambda's 6 MB response as base64"
        ),
    )
}

fn mode(obj: &Map<String, Value>) -> Result<Option<Mode>, Error> {
    match obj.get("mode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(m)) if m == "direct" => Ok(Some(Mode::Direct)),
        Some(Value::String(m)) if m == "envelope" => Ok(Some(Mode::Envelope)),
        Some(_) => Err(Error::invalid_request(
            "field \"mode\" must be \"direct\" or \"envelope\" (or left out to choose by size)",
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
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

fn reject_unknown(obj: &Map<String, Value>, allowed: &[&str], op: &str) -> Result<(), Error> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(Error::invalid_request(format!(
            "unknown field \"{}\" for {op}: allowed fields are {}",
            field_name(k),
            allowed.join(", ")
        ))),
    }
}

fn required_base64(obj: &Map<String, Value>, field: &str, op: &str) -> Result<Vec<u8>, Error> {
    let text = match obj.get(field) {
        None | Some(Value::Null) => {
            return Err(Error::invalid_request(format!(
                "missing field \"{field}\": {op} needs it as a base64 string"
            )))
        }
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "field \"{field}\" must be a base64 string, got {}",
                type_name(other)
            )))
        }
    };
    // Refuse oversized input before decoding it: a 6 MB string should not cost a 4.5 MB buffer
    // only to be rejected.
    let max = if field == "plaintext" {
        MAX_ENVELOPE_PLAINTEXT
    } else {
        MAX_ENVELOPE_CIPHERTEXT
    };
    let decoded_len = text.len() / 4 * 3;
    if decoded_len > max + 3 {
        return Err(if field == "plaintext" {
            too_large_plaintext(decoded_len)
        } else {
            Error::new(
                ErrorType::InvalidCiphertext,
                format!("field \"{field}\" is about {decoded_len} bytes; the largest envelope is {max} bytes"),
            )
        });
    }
    STANDARD.decode(text).map_err(|e| {
        Error::invalid_request(format!(
            "field \"{field}\" is not valid standard base64 (RFC 4648 with padding): {}",
            describe_base64_error(&e)
        ))
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

fn key_id(obj: &Map<String, Value>) -> Result<Option<String>, Error> {
    match obj.get("keyId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => {
            check_key_id(id)
                .map_err(|reason| Error::invalid_request(format!("field \"keyId\": {reason}")))?;
            Ok(Some(id.clone()))
        }
        Some(other) => Err(Error::invalid_request(format!(
            "field \"keyId\" must be a string, got {}",
            type_name(other)
        ))),
    }
}

fn context(obj: &Map<String, Value>) -> Result<HashMap<String, String>, Error> {
    let map = match obj.get("encryptionContext") {
        None | Some(Value::Null) => return Ok(HashMap::new()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "field \"encryptionContext\" must be an object of string values, got {}",
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
            "\"encryptionContext\" is {total} bytes (keys and values); the limit is {MAX_CONTEXT_BYTES}"
        )));
    }
    map.iter()
        .map(|(k, v)| {
            if k.is_empty() {
                return Err(Error::invalid_request(
                    "\"encryptionContext\" has an empty key",
                ));
            }
            match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(Error::invalid_request(format!(
                    "\"encryptionContext\" value for key \"{}\" must be a string, got {}",
                    field_name(k),
                    type_name(other)
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> Error {
        parse(&v).expect_err("should be rejected")
    }

    #[test]
    fn encrypt_with_context_and_key_override() {
        let r = parse(&json!({"operation":"encrypt","plaintext":"aGVsbG8=","encryptionContext":{"tenant":"acme"},"keyId":"alias/other"})).unwrap();
        assert_eq!(
            r,
            Request::Encrypt {
                plaintext: b"hello".to_vec(),
                context: HashMap::from([("tenant".into(), "acme".into())]),
                key_id: Some("alias/other".into()),
                mode: Mode::Direct,
            }
        );
    }

    #[test]
    fn decrypt_without_context() {
        let r = parse(&json!({"operation":"decrypt","ciphertext":"AQID"})).unwrap();
        assert_eq!(
            r,
            Request::Decrypt {
                ciphertext: vec![1, 2, 3],
                context: HashMap::new(),
                key_id: None
            }
        );
        assert_eq!(r.operation(), "decrypt");
    }

    #[test]
    fn each_common_mistake_gets_a_message_naming_the_field() {
        let cases = [
            (json!([1, 2]), ErrorType::InvalidRequest, "JSON object"),
            (
                json!({"plaintext":"aGk="}),
                ErrorType::InvalidRequest,
                "missing field \"operation\"",
            ),
            (
                json!({"operation":7}),
                ErrorType::InvalidRequest,
                "\"operation\" must be a string",
            ),
            (
                json!({"operation":"sign"}),
                ErrorType::InvalidRequest,
                "unknown \"operation\"",
            ),
            (
                json!({"operation":"encrypt"}),
                ErrorType::InvalidRequest,
                "missing field \"plaintext\"",
            ),
            (
                json!({"operation":"encrypt","plaintext":"not base64!"}),
                ErrorType::InvalidRequest,
                "not valid standard base64",
            ),
            (
                json!({"operation":"encrypt","plaintext":"aGk"}),
                ErrorType::InvalidRequest,
                "not valid standard base64",
            ),
            (
                json!({"operation":"encrypt","plaintext":""}),
                ErrorType::InvalidRequest,
                "empty",
            ),
            (
                json!({"operation":"encrypt","plaintext":12}),
                ErrorType::InvalidRequest,
                "must be a base64 string, got a number",
            ),
            (
                json!({"operation":"encrypt","plaintext":"aGk=","encryptionContext":{"n":1}}),
                ErrorType::InvalidRequest,
                "key \"n\" must be a string",
            ),
            (
                json!({"operation":"encrypt","plaintext":"aGk=","encryptionContext":"a=b"}),
                ErrorType::InvalidRequest,
                "must be an object",
            ),
            (
                json!({"operation":"encrypt","plaintext":"aGk=","encryptionContext":{"":"x"}}),
                ErrorType::InvalidRequest,
                "empty key",
            ),
            (
                json!({"operation":"encrypt","plaintext":"aGk=","encryptionContex":{}}),
                ErrorType::InvalidRequest,
                "unknown field \"encryptionContex\"",
            ),
            (
                json!({"operation":"encrypt","plaintext":"aGk=","keyId":"my-key"}),
                ErrorType::InvalidRequest,
                "field \"keyId\"",
            ),
            (
                json!({"operation":"decrypt","plaintext":"aGk="}),
                ErrorType::InvalidRequest,
                "unknown field \"plaintext\" for decrypt",
            ),
            (
                json!({"operation":"decrypt","ciphertext":""}),
                ErrorType::InvalidCiphertext,
                "1 to 6144",
            ),
        ];
        for (event, kind, fragment) in cases {
            let e = err(event.clone());
            assert_eq!(e.kind(), kind, "{event}: {e}");
            assert!(e.message().contains(fragment), "{event}: {e}");
        }
    }

    fn mode_of(event: Value) -> Mode {
        match parse(&event).unwrap() {
            Request::Encrypt { mode, .. } => mode,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_mode_is_chosen_by_size_unless_the_event_says() {
        let b64 = |n: usize| STANDARD.encode(vec![7u8; n]);
        assert_eq!(
            mode_of(json!({"operation":"encrypt","plaintext":b64(4096)})),
            Mode::Direct
        );
        assert_eq!(
            mode_of(json!({"operation":"encrypt","plaintext":b64(4097)})),
            Mode::Envelope
        );
        assert_eq!(
            mode_of(json!({"operation":"encrypt","plaintext":b64(10),"mode":"envelope"})),
            Mode::Envelope
        );
        assert_eq!(
            mode_of(json!({"operation":"encrypt","plaintext":"","mode":"envelope"})),
            Mode::Envelope
        );
        assert_eq!(
            mode_of(json!({"operation":"encrypt","plaintext":b64(10),"mode":"direct"})),
            Mode::Direct
        );

        let e = err(json!({"operation":"encrypt","plaintext":b64(4097),"mode":"direct"}));
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert!(e.message().contains("4097 bytes"), "{e}");
        assert_eq!(
            err(json!({"operation":"encrypt","plaintext":b64(1),"mode":"fast"})).kind(),
            ErrorType::InvalidRequest
        );
    }

    #[test]
    fn plaintext_over_the_envelope_limit_is_payload_too_large_before_decoding() {
        let over = STANDARD.encode(vec![7u8; MAX_ENVELOPE_PLAINTEXT + 1]);
        let e = err(json!({"operation":"encrypt","plaintext":over}));
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert!(e.message().contains("4700000"), "{e}");
        let huge = "A".repeat(6_400_000);
        assert_eq!(
            err(json!({"operation":"encrypt","plaintext":huge})).kind(),
            ErrorType::PayloadTooLarge
        );
    }

    #[test]
    fn the_limit_fits_the_lambda_payload_limit_in_both_directions() {
        let envelope = MAX_ENVELOPE_PLAINTEXT + envelope::MAX_HEADER + envelope::TAG_LEN;
        let response = 4 * envelope.div_ceil(3)
            + r#"{"ciphertext":"","keyId":"","mode":"envelope"}"#.len()
            + 2048;
        assert!(response <= LAMBDA_PAYLOAD_LIMIT, "{response}");
        let request = 4 * MAX_ENVELOPE_PLAINTEXT.div_ceil(3)
            + r#"{"operation":"encrypt","plaintext":""}"#.len();
        assert!(
            LAMBDA_PAYLOAD_LIMIT - request > 16_000,
            "room for a context and a key id"
        );
    }

    #[test]
    fn messages_never_echo_values_from_the_event() {
        let secret = "c2VjcmV0LXZhbHVl!"; // invalid base64 with a recognisable prefix
        for event in [
            json!({"operation":"encrypt","plaintext":secret}),
            json!({"operation":"encrypt","plaintext":"aGk=","encryptionContext":{"k":["secret-value"]}}),
            json!({"operation":"secret-value"}),
        ] {
            let e = err(event);
            assert!(!e.message().contains("secret"), "{e}");
            assert!(!e.message().contains("c2VjcmV0"), "{e}");
        }
    }

    #[test]
    fn a_malformed_event_marked_by_the_raw_event_guard_says_so() {
        let e = err(Value::String(format!(
            "{MALFORMED_MARKER}expected value at line 1 column 2"
        )));
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert_eq!(
            e.message(),
            "the event is not valid JSON (expected value at line 1 column 2)"
        );
    }
}
