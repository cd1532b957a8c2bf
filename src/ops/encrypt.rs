//! `encrypt`: a payload in, a ciphertext out.
//!
//! ```json
//! {"operation": "encrypt", "plaintext": "<base64>", "encryptionContext": {"tenant": "acme"},
//!  "keyId": "optional override", "mode": "optional: direct | envelope", "signed": false}
//! ```
//! → `{"ciphertext": "<base64>", "keyId": "<key ARN>", "mode": "direct"}`
//!
//! Up to 4,096 bytes go to KMS `Encrypt` itself (`direct`); larger payloads, up to
//! [`MAX_ENVELOPE_PLAINTEXT`], are sealed in an envelope under a KMS data key (`envelope`): an
//! AWS Encryption SDK message any ESDK can open (the kit's `envelope`). `"signed": true` seals
//! an envelope whatever the size, of the signed suite every ESDK writes by default: its receiver
//! holds the sender to the message, as a holder of the data key alone cannot forge one.
//! Context keys beginning `aws-crypto-` are the ESDK's, refused in either mode.

use super::ENCRYPTION;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::EncryptionAlgorithmSpec;
use kms_lambda_kit::{non_empty, Bytes, Context, Ctx, Error, ErrorType, Key, KeyId, Limit};
use kms_lambda_kit::{Operation, SecretBytes};
use serde::{Deserialize, Serialize};

/// Largest plaintext KMS `Encrypt` takes.
pub const MAX_DIRECT_PLAINTEXT: usize = 4096;

/// Largest plaintext for envelope mode: its envelope (framing, a header with a key ARN of the
/// largest size and a context of several KiB) as base64, in the encrypt response, still fits
/// Lambda's 6 MB, and so does the request that carries it as base64 with room for a context
/// and a key id. A context so large that the answer would not fit is refused with
/// `PayloadTooLarge` once the sizes are known (the kit sizes every answer).
pub const MAX_ENVELOPE_PLAINTEXT: usize = 4_700_000;

const PLAINTEXT: Limit = Limit {
    max: MAX_ENVELOPE_PLAINTEXT,
    kind: ErrorType::PayloadTooLarge,
    why: "the largest payload whose encrypted form still fits Lambda's 6 MB response as base64",
};

/// How a payload is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// KMS `Encrypt` on the payload itself (1 to 4,096 bytes).
    Direct,
    /// A KMS data key and AES-256-GCM (any size up to [`MAX_ENVELOPE_PLAINTEXT`]).
    Envelope,
}

/// A validated `encrypt` event: the plaintext shows only its length, the context its keys.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encrypt {
    /// The bytes to encrypt, wiped when dropped.
    pub plaintext: SecretBytes,
    /// Additional authenticated data, bound to the ciphertext.
    #[serde(default)]
    pub encryption_context: Context,
    /// Overrides `KMS_KEY_ID` for this call.
    pub key_id: Option<KeyId>,
    /// Chosen by size unless the event says ([`Encrypt::mode`]).
    pub mode: Option<Mode>,
    /// An envelope of the signed suite (0x0578).
    #[serde(default)]
    pub signed: bool,
}

/// The answer to `encrypt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Encrypted {
    /// A KMS ciphertext blob or an envelope.
    pub ciphertext: Bytes,
    /// ARN of the key that encrypted.
    pub key_id: String,
    /// `direct` or `envelope`.
    pub mode: Mode,
}

impl Encrypt {
    /// The mode the event asked for, or the one its size calls for: direct up to 4,096 bytes,
    /// an envelope above (and whenever it is signed).
    pub fn mode(&self) -> Mode {
        match self.mode {
            Some(mode) => mode,
            None if self.signed || self.plaintext.len() > MAX_DIRECT_PLAINTEXT => Mode::Envelope,
            None => Mode::Direct,
        }
    }
}

impl Operation for Encrypt {
    const NAME: &'static str = "encrypt";
    const KEY: &'static Key = &ENCRYPTION;
    const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt", "kms:GenerateDataKey"];
    type Answer = Encrypted;

    fn check(&mut self) -> Result<(), Error> {
        if self.signed && self.mode == Some(Mode::Direct) {
            return Err(Error::invalid_request(
                "\"signed\": true seals an envelope; KMS Encrypt (\"mode\": \"direct\") has no \
                 signature: leave mode out or send \"envelope\"",
            ));
        }
        self.encryption_context.refuse_esdk_reserved()?;
        PLAINTEXT.check("plaintext", self.plaintext.len())?;
        match (self.mode(), self.plaintext.len()) {
            (Mode::Direct, n) if n > MAX_DIRECT_PLAINTEXT => Err(Error::new(
                ErrorType::PayloadTooLarge,
                format!(
                    "field \"plaintext\" is {n} bytes; direct mode (KMS Encrypt) takes at most \
                     {MAX_DIRECT_PLAINTEXT} bytes: use \"mode\": \"envelope\" or leave mode out"
                ),
            )),
            (Mode::Direct, 0) => Err(Error::invalid_request(
                "field \"plaintext\" is empty: KMS Encrypt takes 1 to 4096 bytes; \
                 send \"mode\": \"envelope\" to encrypt an empty payload",
            )),
            _ => Ok(()),
        }
    }

    async fn run(self, cx: &Ctx<'_>) -> Result<Encrypted, Error> {
        let key = cx.key_id(self.key_id.as_deref())?;
        let mode = self.mode();
        let (ciphertext, key_id) = match mode {
            Mode::Direct => {
                // The SDK takes its own copy (at most 4 KiB), which it does not wipe; ours is.
                let request = cx
                    .kms
                    .client()
                    .encrypt()
                    .key_id(key)
                    .plaintext(Blob::new(self.plaintext.to_vec()))
                    .set_encryption_context(self.encryption_context.into_option())
                    .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault);
                let out = cx.kms.call(request).await?;
                let blob = out.ciphertext_blob.map(Blob::into_inner);
                (
                    non_empty(blob, "Encrypt", "CiphertextBlob")?,
                    non_empty(out.key_id, "Encrypt", "KeyId")?,
                )
            }
            Mode::Envelope => {
                let sealed = cx
                    .seal_envelope(key, self.encryption_context, &self.plaintext, self.signed)
                    .await?;
                // Memory: a large payload is held once at a time where possible.
                drop(self.plaintext);
                (sealed.message, sealed.key_id)
            }
        };
        Ok(Encrypted {
            ciphertext: Bytes(ciphertext),
            key_id,
            mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FUNCTION;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use kms_lambda_kit::testing::{memory::app, read};
    use serde_json::{json, Value};
    use std::collections::HashMap;

    fn parse(event: Value) -> Result<Encrypt, Error> {
        read::<Encrypt>(event)
    }

    fn mode_of(event: Value) -> Mode {
        parse(event).unwrap().mode()
    }

    #[test]
    fn encrypt_with_context_and_key_override_and_never_show_the_plaintext() {
        let r = parse(json!({"plaintext":"aGVsbG8=","encryptionContext":{"tenant":"acme"},"keyId":"alias/other"}))
            .unwrap();
        assert_eq!(&r.plaintext[..], b"hello");
        assert_eq!(
            *r.encryption_context,
            HashMap::from([("tenant".into(), "acme".into())])
        );
        assert_eq!(r.key_id.as_deref(), Some("alias/other"));
        assert_eq!(r.mode(), Mode::Direct);
        let shown = format!("{r:?}");
        assert!(shown.contains("SecretBytes(5 bytes)"), "{shown}");
        assert!(
            !shown.contains("hello") && !shown.contains("104, 101"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_kms_answer_without_a_required_field_or_with_a_short_data_key_is_never_a_success() {
        for (event, target, answer, said) in [
            (
                json!({"operation":"encrypt","plaintext":"aGk="}),
                "Encrypt",
                json!({}),
                "KMS Encrypt answered without CiphertextBlob",
            ),
            (
                json!({"operation":"encrypt","plaintext":STANDARD.encode([1u8; 5000])}),
                "GenerateDataKey",
                json!({}),
                "KMS GenerateDataKey answered without Plaintext",
            ),
            (
                json!({"operation":"encrypt","plaintext":STANDARD.encode([1u8; 5000])}),
                "GenerateDataKey",
                json!({"Plaintext": STANDARD.encode([1u8; 16]), "CiphertextBlob": "AQID", "KeyId": "k"}),
                "returned a 16-byte data key where AES_256 takes 32",
            ),
        ] {
            let (app, kms) = app(&FUNCTION, &[]);
            kms.answer_next(target, 200, &answer.to_string());
            let e = app.call(event).await.unwrap_err();
            assert_eq!(e.kind(), ErrorType::KmsInvalidResponse, "{target}: {e}");
            assert!(e.message().contains(said), "{e}");
        }
    }

    #[test]
    fn the_mode_is_chosen_by_size_unless_the_event_says() {
        let b64 = |n: usize| STANDARD.encode(vec![7u8; n]);
        assert_eq!(mode_of(json!({"plaintext": b64(4096)})), Mode::Direct);
        assert_eq!(mode_of(json!({"plaintext": b64(4097)})), Mode::Envelope);
        assert_eq!(
            mode_of(json!({"plaintext": b64(10), "mode": "envelope"})),
            Mode::Envelope
        );
        assert_eq!(
            mode_of(json!({"plaintext": "", "mode": "envelope"})),
            Mode::Envelope
        );
        assert_eq!(
            mode_of(json!({"plaintext": b64(10), "mode": "direct"})),
            Mode::Direct
        );

        let e = parse(json!({"plaintext": b64(4097), "mode": "direct"})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert!(e.message().contains("4097 bytes"), "{e}");
        let e = parse(json!({"plaintext": b64(1), "mode": "fast"})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        let e = parse(json!({"plaintext": ""})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(e.message().contains("empty"), "{e}");
    }

    #[test]
    fn signed_asks_for_an_envelope_of_any_size_and_never_direct_mode() {
        let signed = parse(json!({"plaintext": "aGk=", "signed": true})).unwrap();
        assert_eq!((signed.mode(), signed.signed), (Mode::Envelope, true));
        let empty = parse(json!({"plaintext": "", "signed": true})).unwrap();
        assert_eq!(empty.mode(), Mode::Envelope);
        assert!(!parse(json!({"plaintext": "aGk="})).unwrap().signed);
        let e = parse(json!({"plaintext": "aGk=", "signed": true, "mode": "direct"})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(e.message().contains("no signature"), "{e}");
        let e = parse(json!({"plaintext": "aGk=", "signed": "yes"})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(e.message().contains("must be a boolean"), "{e}");
    }

    #[test]
    fn the_esdks_reserved_context_keys_are_refused_in_either_mode() {
        for mode in ["direct", "envelope"] {
            let e = parse(json!({"plaintext": "aGk=", "mode": mode, "encryptionContext": {"aws-crypto-public-key": "A1"}}))
                .unwrap_err();
            assert_eq!(e.kind(), ErrorType::InvalidRequest, "{mode}");
            assert!(e.message().contains("reserves"), "{mode}: {e}");
        }
    }

    #[test]
    fn plaintext_over_the_envelope_limit_is_payload_too_large() {
        let over = STANDARD.encode(vec![7u8; MAX_ENVELOPE_PLAINTEXT + 1]);
        let e = parse(json!({"plaintext": over})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert!(e.message().contains("4700000"), "{e}");
    }
}
