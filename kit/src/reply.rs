//! What an operation answers: [`Reply`], made by [`respond`] or [`respond_carrying`].

use crate::error::{Error, ErrorType};
use crate::event::base64::{base64_len, Base64};
use crate::event::LAMBDA_PAYLOAD_LIMIT;
use crate::secret::SecretBytes;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

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

/// The body's field names and the payload's size, never a value: the payload may be a
/// plaintext, and an operation may answer with what its event carried.
impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let payload = self
            .payload
            .as_ref()
            .map(|(field, b)| (field, b.bytes().len()));
        let fields: Vec<&str> = match &self.body {
            Value::Object(map) => map.keys().map(String::as_str).collect(),
            other => vec![crate::event::type_name(other)],
        };
        f.debug_struct("Reply")
            .field("body (fields)", &fields)
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
///
/// An answer larger than Lambda returns ([`LAMBDA_PAYLOAD_LIMIT`]) is `PayloadTooLarge`, saying
/// how large it would have been: its size is known before it is written, whatever fields an
/// operation puts in its body.
pub fn respond_carrying(
    body: impl Serialize,
    (field, bytes): (&'static str, Payload),
) -> Result<Reply, Error> {
    let reply = respond(body)?;
    let Value::Object(ref map) = reply.body else {
        return Err(not_an_object(field));
    };
    if map.contains_key(field) {
        return Err(not_an_object(field));
    }
    let len = answer_len(&reply.body, field, bytes.bytes().len());
    if len > LAMBDA_PAYLOAD_LIMIT {
        return Err(Error::new(
            ErrorType::PayloadTooLarge,
            format!(
                "the answer would be {len} bytes ({} of them the base64 \"{field}\"), over the \
                 {LAMBDA_PAYLOAD_LIMIT} bytes Lambda returns: send less",
                base64_len(bytes.bytes().len())
            ),
        ));
    }
    Ok(Reply {
        payload: Some((field, bytes)),
        ..reply
    })
}

/// The size of the answer a body (a JSON object) carrying `payload_len` bytes as base64 in
/// `field` is written as.
pub fn answer_len(body: &Value, field: &str, payload_len: usize) -> usize {
    let body_len = serde_json::to_vec(body).map_or(0, |b| b.len());
    // `"field":"…"` and its comma; an empty body has no comma, so this errs by one byte at most.
    body_len + field.len() + 6 + base64_len(payload_len)
}

fn not_an_object(field: &str) -> Error {
    Error::new(
        ErrorType::Internal,
        format!("a response body is not a JSON object without \"{field}\""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let b64 = crate::event::base64::encode_base64(&secret);
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
        // The size is known before writing, to the byte (one over for an empty body).
        let written = serde_json::to_vec(&reply).unwrap().len();
        let body = serde_json::to_value(Body { mode: "envelope" }).unwrap();
        assert_eq!(answer_len(&body, "plaintext", secret.len()), written);
    }

    #[test]
    fn an_answer_over_lambdas_limit_is_payload_too_large_naming_its_size() {
        let big = vec![0u8; LAMBDA_PAYLOAD_LIMIT / 4 * 3];
        let e = respond_carrying(json!({"keyId": "k"}), ("ciphertext", Payload::Public(big)))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert!(
            e.message().starts_with("the answer would be 6291485 bytes"),
            "{e}"
        );
    }
}
