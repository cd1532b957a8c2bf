//! What an operation answers, on its way to the runtime: [`Reply`], the operation's own
//! `Answer` type, sized before it is written.

use crate::error::{Error, ErrorType};
use crate::event::base64::json_len;
use crate::event::LAMBDA_PAYLOAD_LIMIT;
use serde::{Serialize, Serializer};
use std::fmt;

/// An operation's answer, as the handler hands it to the runtime.
///
/// Why not a `serde_json::Value`: the runtime serializes the response into a buffer of its own,
/// so a payload held as a base64 `String` in a `Value` would be there twice at once (6 MB each
/// near Lambda's limit). The answer stays the operation's own type, its bytes stay bytes
/// ([`Bytes`](crate::Bytes), [`SecretBytes`](crate::SecretBytes)), and the runtime's serializer
/// writes them as base64 piece by piece into its buffer: a payload is there once, plus the 3/4
/// of it its bytes take. The buffer is lambda_runtime's: it frees it, unwiped, once sent.
pub(crate) struct Reply(Box<dyn erased_serde::Serialize + Send>);

impl Reply {
    /// `answer`, once its size is known to fit what Lambda returns: an answer larger than
    /// [`LAMBDA_PAYLOAD_LIMIT`] is `PayloadTooLarge`, saying how large it would have been,
    /// whatever fields an operation puts in it. Counted without encoding its payloads.
    pub(crate) fn of<T: Serialize + Send + 'static>(answer: T) -> Result<Reply, Error> {
        let len = json_len(&answer).map_err(|e| {
            Error::new(
                ErrorType::Internal,
                format!("could not encode the answer: {e}"),
            )
        })?;
        if len > LAMBDA_PAYLOAD_LIMIT {
            return Err(Error::new(
                ErrorType::PayloadTooLarge,
                format!(
                    "the answer would be {len} bytes, over the {LAMBDA_PAYLOAD_LIMIT} bytes \
                     Lambda returns: send less"
                ),
            ));
        }
        Ok(Reply(Box::new(answer)))
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        erased_serde::serialize(&*self.0, serializer)
    }
}

/// Never the answer: it may carry a plaintext.
impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reply(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::types::Bytes;
    use crate::secret::SecretBytes;
    use serde_json::json;

    #[derive(Serialize)]
    struct Opened {
        mode: &'static str,
        plaintext: SecretBytes,
    }

    #[test]
    fn an_answer_writes_its_bytes_as_base64_and_is_never_shown() {
        let secret: Vec<u8> = b"attack at dawn".repeat(2000);
        let reply = Reply::of(Opened {
            mode: "envelope",
            plaintext: secret.clone().into(),
        })
        .unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&serde_json::to_vec(&reply).unwrap()).unwrap();
        let b64 = crate::event::base64::encode_base64(&secret);
        assert_eq!(written, json!({"mode": "envelope", "plaintext": b64}));
        assert_eq!(serde_json::to_value(&reply).unwrap(), written);
        assert_eq!(format!("{reply:?}"), "Reply(..)");
    }

    #[test]
    fn an_answer_over_lambdas_limit_is_payload_too_large_naming_its_size() {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Sealed {
            key_id: &'static str,
            ciphertext: Bytes,
        }
        let big = Bytes(vec![0u8; LAMBDA_PAYLOAD_LIMIT / 4 * 3]);
        let e = Reply::of(Sealed {
            key_id: "k",
            ciphertext: big,
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert!(
            e.message().starts_with("the answer would be 6291485 bytes"),
            "{e}"
        );
        let fits = Bytes(vec![0u8; LAMBDA_PAYLOAD_LIMIT / 4 * 3 - 30]);
        assert!(Reply::of(Sealed {
            key_id: "k",
            ciphertext: fits
        })
        .is_ok());
    }
}
