//! `decrypt`: a ciphertext from `encrypt` in, the payload out.
//!
//! ```json
//! {"operation": "decrypt", "ciphertext": "<base64>", "encryptionContext": {"tenant": "acme"},
//!  "keyId": "optional"}
//! ```
//! → `{"plaintext": "<base64>", "keyId": "<key ARN>", "mode": "envelope", "encryptionContext": {…}}`
//!
//! It needs no hint to tell a KMS ciphertext from an envelope (an AWS Encryption SDK message,
//! from this function or any ESDK), and it pins every KMS call to the expected key, so a
//! ciphertext from another key is refused.
//!
//! The encryption context: a KMS ciphertext opens only with exactly the context it was made
//! with (KMS checks it). An envelope stores its context in its header; as the ESDK checks a
//! reproduced encryption context, every pair the event states must be stored with the same
//! value, and the response returns the whole stored context — for a signed message (the suite
//! every ESDK writes by default) that includes its verification key, `aws-crypto-public-key`,
//! as the ESDK's decrypt returns it. The signature is verified before anything is decrypted.

use super::ENCRYPTION;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::EncryptionAlgorithmSpec;
use kms_lambda_kit::{is_envelope, non_empty, Bytes, Context, Ctx, Error, ErrorType, Key, KeyId};
use kms_lambda_kit::{Operation, SecretBytes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest ciphertext blob KMS `Decrypt` takes.
pub const MAX_CIPHERTEXT: usize = 6144;

/// A validated `decrypt` event: the ciphertext shows its length, the context its keys.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decrypt {
    /// A KMS ciphertext blob or an envelope.
    pub ciphertext: Bytes,
    /// Must equal the context used to encrypt (an envelope's: every pair stored alike).
    #[serde(default)]
    pub encryption_context: Context,
    /// The key expected to have made the ciphertext; defaults to `KMS_KEY_ID`.
    pub key_id: Option<KeyId>,
}

/// What the ciphertext was, as recognised from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Found {
    /// A KMS ciphertext blob.
    Direct,
    /// An envelope.
    Envelope,
}

/// The answer to `decrypt`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decrypted {
    /// The payload, wiped when the answer has been written.
    pub plaintext: SecretBytes,
    /// ARN of the key that decrypted.
    pub key_id: String,
    /// `direct` or `envelope`, as recognised from the ciphertext.
    pub mode: Found,
    /// The encryption context the ciphertext was made with: the envelope's stored one, or (a
    /// KMS ciphertext) the one KMS checked.
    pub encryption_context: BTreeMap<String, String>,
}

impl Operation for Decrypt {
    const NAME: &'static str = "decrypt";
    const KEY: &'static Key = &ENCRYPTION;
    const IAM_ACTIONS: &'static [&'static str] = &["kms:Decrypt"];
    type Answer = Decrypted;

    fn check(&mut self) -> Result<(), Error> {
        let len = self.ciphertext.len();
        if len == 0 || (!is_envelope(&self.ciphertext) && len > MAX_CIPHERTEXT) {
            return Err(Error::new(
                ErrorType::InvalidCiphertext,
                format!(
                    "field \"ciphertext\" decodes to {len} bytes and is not an envelope; a KMS \
                     ciphertext is 1 to {MAX_CIPHERTEXT} bytes"
                ),
            ));
        }
        Ok(())
    }

    async fn run(self, cx: &Ctx<'_>) -> Result<Decrypted, Error> {
        let key = cx.key_id(self.key_id.as_deref())?;
        if is_envelope(&self.ciphertext) {
            let opened = cx
                .open_envelope(key, &self.ciphertext, &self.encryption_context)
                .await?;
            // Memory: the ciphertext goes before the answer is written.
            drop(self.ciphertext);
            return Ok(Decrypted {
                plaintext: opened.plaintext,
                key_id: opened.key_id,
                mode: Found::Envelope,
                encryption_context: opened.context,
            });
        }
        let stated: BTreeMap<String, String> =
            self.encryption_context.0.clone().into_iter().collect();
        let request = cx
            .kms
            .client()
            .decrypt()
            .key_id(key)
            .ciphertext_blob(Blob::new(self.ciphertext.0))
            .set_encryption_context(self.encryption_context.into_option())
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault);
        let out = cx.kms.call(request).await?;
        let plaintext = non_empty(out.plaintext.map(Blob::into_inner), "Decrypt", "Plaintext")?;
        Ok(Decrypted {
            plaintext: plaintext.into(),
            key_id: non_empty(out.key_id, "Decrypt", "KeyId")?,
            mode: Found::Direct,
            encryption_context: stated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FUNCTION;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use kms_lambda_kit::testing::memory::{self, app, MemoryApp};
    use kms_lambda_kit::testing::read;
    use serde_json::{json, Value};

    fn parse(event: Value) -> Result<Decrypt, Error> {
        read::<Decrypt>(event)
    }

    #[test]
    fn decrypt_without_context() {
        let d = parse(json!({"ciphertext": "AQID"})).unwrap();
        assert_eq!(*d.ciphertext, [1, 2, 3]);
        assert!(d.encryption_context.is_empty() && d.key_id.is_none());
    }

    #[test]
    fn an_empty_or_oversized_kms_ciphertext_is_invalid_ciphertext() {
        for blob in [vec![], vec![1u8; MAX_CIPHERTEXT + 1]] {
            let e = parse(json!({"ciphertext": STANDARD.encode(&blob)})).unwrap_err();
            assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
            assert!(e.message().contains("1 to 6144"), "{e}");
        }
    }

    async fn roundtrip(app: &MemoryApp, payload: &[u8]) -> Value {
        let enc = app.call(json!({"operation":"encrypt","plaintext":STANDARD.encode(payload),"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        let dec = app.call(json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        assert_eq!(dec["plaintext"], STANDARD.encode(payload));
        assert_eq!(dec["mode"], enc["mode"]);
        enc
    }

    #[tokio::test]
    async fn encrypt_then_decrypt_round_trips_with_the_same_context_only() {
        let (app, kms) = app(&FUNCTION, &[]);
        let enc = app
            .call(
                json!({"operation":"encrypt","plaintext":"aGVsbG8=","encryptionContext":{"t":"1"}}),
            )
            .await
            .unwrap();
        assert_eq!(enc["keyId"], memory::arn("alias/default"));
        let dec = app.call(json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        assert_eq!(dec["plaintext"], "aGVsbG8=");
        let wrong = app.call(json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"2"}}))
            .await
            .unwrap_err();
        assert_eq!(wrong.kind(), ErrorType::InvalidCiphertext);
        assert_eq!(app.builds(), 1);
        assert_eq!(
            kms.calls(),
            [
                "Encrypt alias/default",
                "Decrypt alias/default",
                "Decrypt alias/default"
            ]
        );
    }

    #[tokio::test]
    async fn payloads_above_4096_bytes_use_an_envelope_and_round_trip() {
        let (app, kms) = app(&FUNCTION, &[]);
        let enc = roundtrip(&app, &vec![5u8; 10_000]).await;
        assert_eq!(enc["mode"], "envelope");
        let blob = STANDARD
            .decode(enc["ciphertext"].as_str().unwrap())
            .unwrap();
        assert!(is_envelope(&blob));
        assert_eq!(
            kms.calls(),
            ["GenerateDataKey alias/default", "Decrypt alias/default"]
        );
        assert_eq!(roundtrip(&app, b"small").await["mode"], "direct");
    }

    #[tokio::test]
    async fn a_kms_answer_without_plaintext_is_never_a_success_but_a_short_data_key_is_the_envelopes_fault(
    ) {
        let (app, kms) = app(&FUNCTION, &[]);
        let direct = app
            .call(json!({"operation":"encrypt","plaintext":"aGk="}))
            .await
            .unwrap();
        let sealed = app
            .call(json!({"operation":"encrypt","plaintext":STANDARD.encode([1u8; 5000])}))
            .await
            .unwrap();
        for ciphertext in [&direct["ciphertext"], &sealed["ciphertext"]] {
            kms.answer_next("Decrypt", 200, "{}");
            let e = app
                .call(json!({"operation":"decrypt","ciphertext":ciphertext}))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorType::KmsInvalidResponse, "{e}");
            assert!(
                e.message()
                    .contains("KMS Decrypt answered without Plaintext"),
                "{e}"
            );
        }
        // KMS decrypted what the envelope carries, and it is no AES-256 key: the message is
        // at fault (a genuine one carries a data key of its suite's length), not KMS.
        let short =
            json!({"Plaintext": STANDARD.encode([1u8; 16]), "KeyId": memory::arn("alias/default")});
        kms.answer_next("Decrypt", 200, &short.to_string());
        let e = app
            .call(json!({"operation":"decrypt","ciphertext":sealed["ciphertext"]}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "{e}");
        assert!(e.message().contains("data key decrypts to 16 bytes"), "{e}");
    }
}
