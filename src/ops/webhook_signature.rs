//! `webhookSignature`: the signature of a webhook's payload, an HMAC-SHA256 with a signing key
//! the function keeps as a secret — `{"operation": "webhookSignature", "payload": "<base64>"}` →
//! `{"signature": "sha256=<hex>"}`.
//!
//! The signing key is the `WEBHOOK_SIGNING_KEY` secret, an environment variable encrypted with
//! the `ENV_SECRETS` key for this function: KMS decrypts it on the first signature in the sandbox
//! (never in INIT), and the signatures after it cost no KMS call.

use super::{ENV_SECRETS, WEBHOOK_SIGNING_KEY};
use aws_lc_rs::hmac;
use kms_lambda_kit::{Bytes, Ctx, Error, ErrorType, Key, Limit, Operation};
use serde::{Deserialize, Serialize};

/// The largest payload signed.
const PAYLOAD: Limit = Limit {
    max: 1 << 20,
    kind: ErrorType::PayloadTooLarge,
    why: "the largest webhook payload this function signs",
};

/// A validated `webhookSignature` event: the payload shows its length only.
#[derive(Debug, Deserialize)]
pub struct WebhookSignature {
    /// The bytes to sign.
    pub payload: Bytes,
}

/// The answer to `webhookSignature`.
#[derive(Serialize)]
pub struct Signature {
    /// `sha256=` and the HMAC-SHA256 of the payload, in lower-case hex, as webhook receivers
    /// compare it.
    pub signature: String,
}

impl Operation for WebhookSignature {
    const NAME: &'static str = "webhookSignature";
    const KEY: &'static Key = &ENV_SECRETS;
    // Its one KMS call is its secret's, whose permission `make template` writes from `secrets!`.
    const IAM_ACTIONS: &'static [&'static str] = &[];
    type Answer = Signature;

    fn check(&mut self) -> Result<(), Error> {
        if self.payload.is_empty() {
            return Err(Error::invalid_request("field \"payload\" is empty"));
        }
        PAYLOAD.check("payload", self.payload.len())
    }

    async fn run(self, cx: &Ctx<'_>) -> Result<Signature, Error> {
        let signing_key = cx.secret(&WEBHOOK_SIGNING_KEY).await?;
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &signing_key),
            &self.payload,
        );
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Signature {
            signature: format!("sha256={hex}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FUNCTION;
    use kms_lambda_kit::testing::memory::{self, app};
    use serde_json::json;

    fn expected(key: &str, payload: &[u8]) -> String {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()), payload);
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[tokio::test]
    async fn the_first_signature_decrypts_the_key_once_and_the_next_ones_call_no_kms() {
        let (app, kms) = app(&FUNCTION, &[]);
        let key = memory::secret_value(&WEBHOOK_SIGNING_KEY);
        for payload in [&b"{\"event\":\"push\"}"[..], b"another"] {
            let out = app
                .call(json!({"operation": "webhookSignature", "payload": base64(payload)}))
                .await
                .unwrap();
            assert_eq!(out["signature"], expected(&key, payload));
        }
        assert_eq!(
            kms.calls(),
            ["Decrypt alias/env-secrets"],
            "one Decrypt, on the first ask"
        );
    }

    #[tokio::test]
    async fn a_signing_key_encrypted_for_another_function_is_configuration_naming_its_variable() {
        let other = memory::secret_ciphertext("alias/env-secrets", "another-function", "k");
        let (app, _) = app(&FUNCTION, &[("WEBHOOK_SIGNING_KEY", &other)]);
        let e = app
            .call(json!({"operation": "webhookSignature", "payload": "aGk="}))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorType::Configuration, "{e}");
        assert!(e.message().starts_with("WEBHOOK_SIGNING_KEY: "), "{e}");
        assert!(!e.message().contains("\"k\""), "{e}");
    }

    fn base64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}
