//! A KMS that answers `Encrypt`, `Decrypt` and `GenerateDataKey` itself, with AES-256-GCM under
//! one local key, for benchmarks that measure the function, not the KMS: moto answers in
//! milliseconds of Python, which at 64 concurrent invocations is the bottleneck. The gate in
//! front of it still verifies every SigV4 signature and its time (`Gate::start_answering`), so
//! the function does all the work it does against KMS. Tests keep moto.
//!
//! Any key id or alias names the one key. A ciphertext is `01 02` (a KMS ciphertext's first
//! bytes, so the function never takes it for an envelope) ‖ a 12-byte nonce ‖ AES-GCM of the
//! plaintext, with the encryption context (its pairs sorted, as JSON) as additional data: a wrong
//! context is refused as KMS refuses it.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The ARN the local key answers with.
pub const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001";

/// The local KMS: one AES-256 key.
pub struct LocalKms {
    key: LessSafeKey,
}

impl Default for LocalKms {
    fn default() -> Self {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("random key");
        LocalKms {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("AES-256 key")),
        }
    }
}

fn error(code: &str, message: &str) -> (u16, String) {
    (400, json!({"__type": code, "message": message}).to_string())
}

/// The additional data for an encryption context: its pairs, sorted.
fn aad(input: &Value) -> Vec<u8> {
    let context: BTreeMap<String, Value> = input["EncryptionContext"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    serde_json::to_vec(&context).unwrap()
}

impl LocalKms {
    /// KMS's answer (status, JSON body) to `target` (`TrentService.Encrypt`) with `body`.
    pub fn answer(&self, target: &str, body: &[u8]) -> (u16, String) {
        let Ok(input) = serde_json::from_slice::<Value>(body) else {
            return error("SerializationException", "not JSON");
        };
        match target.strip_prefix("TrentService.").unwrap_or(target) {
            "Encrypt" => {
                let Some(plaintext) = input["Plaintext"]
                    .as_str()
                    .and_then(|p| STANDARD.decode(p).ok())
                else {
                    return error("ValidationException", "Plaintext");
                };
                let blob = self.seal(&plaintext, &aad(&input));
                (200, json!({"CiphertextBlob": STANDARD.encode(blob), "KeyId": ARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}).to_string())
            }
            "GenerateDataKey" => {
                let mut data_key = [0u8; 32];
                aws_lc_rs::rand::fill(&mut data_key).expect("random data key");
                let blob = self.seal(&data_key, &aad(&input));
                (200, json!({"Plaintext": STANDARD.encode(data_key), "CiphertextBlob": STANDARD.encode(blob), "KeyId": ARN}).to_string())
            }
            "Decrypt" => {
                let opened = input["CiphertextBlob"]
                    .as_str()
                    .and_then(|b| STANDARD.decode(b).ok())
                    .and_then(|blob| self.open(&blob, &aad(&input)));
                match opened {
                    Some(plaintext) => (200, json!({"Plaintext": STANDARD.encode(plaintext), "KeyId": ARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}).to_string()),
                    None => error("InvalidCiphertextException", "the ciphertext or its context is not this key's"),
                }
            }
            other => error(
                "UnsupportedOperationException",
                &format!("the local KMS does not answer {other}"),
            ),
        }
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        aws_lc_rs::rand::fill(&mut nonce).expect("random nonce");
        let mut out = vec![0x01, 0x02];
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[start..],
            )
            .expect("AES-GCM");
        out.extend_from_slice(tag.as_ref());
        out
    }

    fn open(&self, blob: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let rest = blob.strip_prefix(&[0x01, 0x02])?;
        if rest.len() < 12 + 16 {
            return None;
        }
        let (nonce, sealed) = rest.split_at(12);
        let mut sealed = sealed.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce.try_into().ok()?);
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut sealed)
            .ok()?;
        Some(plaintext.to_vec())
    }
}
