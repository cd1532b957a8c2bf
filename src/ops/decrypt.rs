//! `decrypt`: a ciphertext from `encrypt` in, the payload out.
//!
//! ```json
//! {"operation": "decrypt", "ciphertext": "<base64>", "encryptionContext": {"tenant": "acme"},
//!  "keyId": "optional"}
//! ```
//! → `{"plaintext": "<base64>", "keyId": "<key ARN>", "mode": "envelope"}`
//!
//! It needs no hint to tell a KMS ciphertext from an envelope, and it pins every KMS call to
//! the expected key, so a ciphertext from another key is refused.

use super::encrypt::{Mode, MAX_ENVELOPE_PLAINTEXT};
use super::{respond, Ctx, Operation};
use crate::envelope;
use crate::error::{Error, ErrorType};
use crate::event::{Fields, Limit};
use crate::kms::non_empty;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::EncryptionAlgorithmSpec;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// Largest ciphertext blob KMS `Decrypt` takes.
pub const MAX_CIPHERTEXT: usize = 6144;

/// Largest ciphertext decrypt accepts: an envelope of the largest plaintext.
pub const MAX_ENVELOPE_CIPHERTEXT: usize =
    MAX_ENVELOPE_PLAINTEXT + envelope::MAX_HEADER + envelope::TAG_LEN;

const CIPHERTEXT: Limit = Limit {
    max: MAX_ENVELOPE_CIPHERTEXT,
    kind: ErrorType::InvalidCiphertext,
    why: "the envelope of the largest payload encrypt accepts",
};

/// A validated `decrypt` event.
#[derive(Debug, PartialEq, Eq)]
pub struct Decrypt {
    /// A KMS ciphertext blob or an envelope.
    pub ciphertext: Vec<u8>,
    /// Must equal the context used to encrypt.
    pub context: HashMap<String, String>,
    /// The key expected to have made the ciphertext; defaults to `KMS_KEY_ID`.
    pub key_id: Option<String>,
}

/// The answer to `decrypt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptResponse {
    /// Base64 plaintext.
    pub plaintext: String,
    /// ARN of the key that decrypted.
    pub key_id: String,
    /// `direct` or `envelope`, as recognised from the ciphertext.
    pub mode: &'static str,
}

impl Operation for Decrypt {
    const NAME: &'static str = "decrypt";
    const FIELDS: &'static [&'static str] = &["ciphertext", "encryptionContext", "keyId"];
    const IAM_ACTIONS: &'static [&'static str] = &["kms:Decrypt"];

    fn parse(fields: &Fields<'_>) -> Result<Self, Error> {
        let ciphertext = fields.required_base64("ciphertext", CIPHERTEXT)?;
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
        Ok(Decrypt {
            ciphertext,
            context: fields.context("encryptionContext")?,
            key_id: fields.key_id("keyId")?,
        })
    }

    async fn run(mut self, cx: &Ctx<'_>) -> Result<Value, Error> {
        let key = cx.key_id(self.key_id.as_deref());
        if envelope::is_envelope(&self.ciphertext) {
            let encrypted_key = envelope::parse(&self.ciphertext)?.encrypted_key.to_vec();
            let data_key = cx
                .data_keys
                .for_decrypt(cx.kms, key, &encrypted_key, &self.context)
                .await?;
            // Opened in place: a 4.7 MB envelope is not copied.
            let plaintext = envelope::open(&data_key.key, &mut self.ciphertext, &self.context)?;
            return respond(DecryptResponse {
                plaintext: STANDARD.encode(plaintext),
                key_id: data_key.key_id,
                mode: Mode::Envelope.as_str(),
            });
        }
        const OP: &str = "Decrypt";
        let request = cx
            .kms
            .client()
            .decrypt()
            .key_id(key)
            .ciphertext_blob(Blob::new(self.ciphertext))
            .set_encryption_context((!self.context.is_empty()).then_some(self.context))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
            .send();
        let out = cx.kms.call(OP, key, request).await?;
        respond(DecryptResponse {
            plaintext: STANDARD.encode(non_empty(
                out.plaintext.map(Blob::into_inner),
                OP,
                "Plaintext",
            )?),
            key_id: non_empty(out.key_id, OP, "KeyId")?,
            mode: Mode::Direct.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(event: Value) -> Result<Decrypt, Error> {
        let obj = event.as_object().unwrap();
        Decrypt::parse(&Fields::new(obj, Decrypt::NAME, Decrypt::FIELDS)?)
    }

    #[test]
    fn decrypt_without_context() {
        assert_eq!(
            parse(json!({"ciphertext": "AQID"})).unwrap(),
            Decrypt {
                ciphertext: vec![1, 2, 3],
                context: HashMap::new(),
                key_id: None
            }
        );
    }

    #[test]
    fn an_empty_or_oversized_kms_ciphertext_is_invalid_ciphertext() {
        for blob in [vec![], vec![1u8; MAX_CIPHERTEXT + 1]] {
            let e = parse(json!({"ciphertext": STANDARD.encode(&blob)})).unwrap_err();
            assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
            assert!(e.message().contains("1 to 6144"), "{e}");
        }
    }
}
