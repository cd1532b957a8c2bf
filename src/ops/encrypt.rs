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
use kms_lambda_kit::envelope;
use kms_lambda_kit::{
    non_empty, respond_carrying, Ctx, Error, ErrorType, Fields, Key, Limit, Operation, Payload,
    Reply, SecretBytes,
};
use serde::Serialize;
use std::collections::HashMap;

/// Largest plaintext KMS `Encrypt` takes.
pub const MAX_DIRECT_PLAINTEXT: usize = 4096;

/// Largest plaintext for envelope mode: its envelope (framing, a header with a key ARN of the
/// largest size and a context of several KiB) as base64, in the encrypt response, still fits
/// Lambda's 6 MB, and so does the request that carries it as base64 with room for a context
/// and a key id. A context so large that the answer would not fit is refused with
/// `PayloadTooLarge` once the sizes are known (the kit's `respond_carrying`).
pub const MAX_ENVELOPE_PLAINTEXT: usize = 4_700_000;

const PLAINTEXT: Limit = Limit {
    max: MAX_ENVELOPE_PLAINTEXT,
    kind: ErrorType::PayloadTooLarge,
    why: "the largest payload whose encrypted form still fits Lambda's 6 MB response as base64",
};

/// How a payload is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// KMS `Encrypt` on the payload itself (1 to 4,096 bytes).
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

/// A validated `encrypt` event. Not `Debug`: it holds a plaintext.
pub struct Encrypt {
    /// The bytes to encrypt, wiped when dropped.
    pub plaintext: SecretBytes,
    /// Additional authenticated data, bound to the ciphertext.
    pub context: HashMap<String, String>,
    /// Overrides `KMS_KEY_ID` for this call.
    pub key_id: Option<String>,
    /// Chosen by size unless the event says.
    pub mode: Mode,
    /// An envelope of the signed suite (0x0578).
    pub signed: bool,
}

/// Sizes and names only, never a value of the event: the plaintext shows its length
/// ([`SecretBytes`]), the context its keys.
impl std::fmt::Debug for Encrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypt")
            .field("plaintext", &self.plaintext)
            .field("context (keys)", &self.context.keys().collect::<Vec<_>>())
            .field("key_id", &self.key_id)
            .field("mode", &self.mode)
            .field("signed", &self.signed)
            .finish()
    }
}

/// The answer to `encrypt`, besides `"ciphertext"` (base64: a KMS ciphertext blob or an
/// envelope), which [`respond_carrying`] moves in.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptResponse {
    /// ARN of the key that encrypted.
    pub key_id: String,
    /// `direct` or `envelope`.
    pub mode: &'static str,
}

impl Operation for Encrypt {
    const NAME: &'static str = "encrypt";
    const FIELDS: &'static [&'static str] =
        &["plaintext", "encryptionContext", "keyId", "mode", "signed"];
    const RESPONSE: &'static [&'static str] = &["ciphertext", "keyId", "mode"];
    const KEY: &'static Key = &ENCRYPTION;
    const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt", "kms:GenerateDataKey"];

    fn parse(fields: &Fields<'_>) -> Result<Self, Error> {
        let requested = fields.choice("mode", &["direct", "envelope"])?;
        let signed = fields.flag("signed")?;
        if signed && requested == Some("direct") {
            return Err(Error::invalid_request(
                "\"signed\": true seals an envelope; KMS Encrypt (\"mode\": \"direct\") has no \
                 signature: leave mode out or send \"envelope\"",
            ));
        }
        let context = fields.context("encryptionContext")?;
        envelope::refuse_reserved_keys(&context)?;
        // Into its wiped-on-drop wrapper at once (no copy).
        let plaintext = SecretBytes::from(fields.required_base64("plaintext", PLAINTEXT)?);
        let mode = match (requested, plaintext.len()) {
            (Some("direct"), n) if n > MAX_DIRECT_PLAINTEXT => {
                return Err(Error::new(
                    ErrorType::PayloadTooLarge,
                    format!(
                        "field \"plaintext\" is {n} bytes; direct mode (KMS Encrypt) takes at most \
                         {MAX_DIRECT_PLAINTEXT} bytes: use \"mode\": \"envelope\" or leave mode out"
                    ),
                ))
            }
            (Some("envelope"), _) => Mode::Envelope,
            _ if signed => Mode::Envelope,
            (_, 0) => {
                return Err(Error::invalid_request(
                    "field \"plaintext\" is empty: KMS Encrypt takes 1 to 4096 bytes; \
                     send \"mode\": \"envelope\" to encrypt an empty payload",
                ))
            }
            (_, n) if n <= MAX_DIRECT_PLAINTEXT => Mode::Direct,
            _ => Mode::Envelope,
        };
        Ok(Encrypt {
            plaintext,
            context,
            key_id: fields.key_id("keyId")?,
            mode,
            signed,
        })
    }

    async fn run(self, cx: &Ctx<'_>) -> Result<Reply, Error> {
        let key = cx.key_id(self.key_id.as_deref())?;
        let (ciphertext, key_id) = match self.mode {
            Mode::Direct => {
                const OP: &str = "Encrypt";
                // The SDK takes its own copy (at most 4 KiB), which it does not wipe; ours is.
                let request = cx
                    .kms
                    .client()
                    .encrypt()
                    .key_id(key)
                    .plaintext(Blob::new(self.plaintext.to_vec()))
                    .set_encryption_context((!self.context.is_empty()).then_some(self.context))
                    .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
                    .send();
                let out = cx.kms.call(OP, key, request).await?;
                (
                    non_empty(
                        out.ciphertext_blob.map(Blob::into_inner),
                        OP,
                        "CiphertextBlob",
                    )?,
                    non_empty(out.key_id, OP, "KeyId")?,
                )
            }
            Mode::Envelope => {
                let sealed = cx
                    .seal_envelope(key, self.context, &self.plaintext, self.signed)
                    .await?;
                // Memory: a large payload is held once at a time where possible.
                drop(self.plaintext);
                (sealed.message, sealed.key_id)
            }
        };
        respond_carrying(
            EncryptResponse {
                key_id,
                mode: self.mode.as_str(),
            },
            ("ciphertext", Payload::Public(ciphertext)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{KEYS, OPERATIONS};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use kms_lambda_kit::envelope::canonical_context;
    use kms_lambda_kit::event::base64::base64_len;
    use kms_lambda_kit::event::{Event, LAMBDA_PAYLOAD_LIMIT};
    use kms_lambda_kit::reply::answer_len;
    use kms_lambda_kit::testing::memory::{app, call};
    use serde_json::{json, Value};

    fn parse(event: Value) -> Result<Encrypt, Error> {
        let event = Event::from(event);
        Encrypt::parse(&Fields::new(&event, Encrypt::NAME, Encrypt::FIELDS)?)
    }

    fn mode_of(event: Value) -> Mode {
        parse(event).unwrap().mode
    }

    #[test]
    fn encrypt_with_context_and_key_override_and_never_show_the_plaintext() {
        let r = parse(json!({"plaintext":"aGVsbG8=","encryptionContext":{"tenant":"acme"},"keyId":"alias/other"}))
            .unwrap();
        assert_eq!(&r.plaintext[..], b"hello");
        assert_eq!(r.context, HashMap::from([("tenant".into(), "acme".into())]));
        assert_eq!(r.key_id.as_deref(), Some("alias/other"));
        assert_eq!(r.mode, Mode::Direct);
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
            let (app, kms) = app(OPERATIONS, KEYS, &[]);
            kms.answer_next(target, 200, &answer.to_string());
            let e = call(&app, event).await.unwrap_err();
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
        assert_eq!((signed.mode, signed.signed), (Mode::Envelope, true));
        let empty = parse(json!({"plaintext": "", "signed": true})).unwrap();
        assert_eq!(empty.mode, Mode::Envelope);
        assert!(!parse(json!({"plaintext": "aGk="})).unwrap().signed);
        let e = parse(json!({"plaintext": "aGk=", "signed": true, "mode": "direct"})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(e.message().contains("no signature"), "{e}");
        let e = parse(json!({"plaintext": "aGk=", "signed": "yes"})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidRequest);
        assert!(e.message().contains("true or false"), "{e}");
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
    fn plaintext_over_the_envelope_limit_is_payload_too_large_before_decoding() {
        let over = STANDARD.encode(vec![7u8; MAX_ENVELOPE_PLAINTEXT + 1]);
        let e = parse(json!({"plaintext": over})).unwrap_err();
        assert_eq!(e.kind(), ErrorType::PayloadTooLarge);
        assert!(e.message().contains("4700000"), "{e}");
        let huge = "A".repeat(6_400_000);
        assert_eq!(
            parse(json!({"plaintext": huge})).unwrap_err().kind(),
            ErrorType::PayloadTooLarge
        );
    }

    #[test]
    fn the_limit_fits_the_lambda_payload_limit_in_both_directions() {
        // A key ARN of the largest size, a KMS data-key blob with room to spare, and a context of
        // 8 KiB in a few dozen pairs: the envelope of the largest payload still fits.
        let arn = "a".repeat(2048);
        // Signed, the larger: a footer, and the public key in the context.
        let mut context: HashMap<String, String> = (0..32)
            .map(|i| (format!("key-{i:02}"), "v".repeat(250)))
            .collect();
        let signer = envelope::sign::Signer::generate().unwrap();
        context.insert(
            envelope::sign::PUBLIC_KEY.into(),
            signer.public_key().into(),
        );
        let envelope = envelope::sealed_len(
            &canonical_context(&context),
            &arn,
            &[0u8; 512],
            MAX_ENVELOPE_PLAINTEXT,
            true,
        );
        let body = serde_json::json!({"keyId": arn, "mode": "envelope"});
        let response = answer_len(&body, "ciphertext", envelope);
        assert!(response <= LAMBDA_PAYLOAD_LIMIT, "{response}");
        let request =
            base64_len(MAX_ENVELOPE_PLAINTEXT) + r#"{"operation":"encrypt","plaintext":""}"#.len();
        assert!(
            LAMBDA_PAYLOAD_LIMIT - request > 16_000,
            "room for a context and a key id"
        );
    }
}
