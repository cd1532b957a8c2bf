//! The lab's tests' support: the kit's (`kms_lambda_kit::testing`), this project's tables, and
//! events for its two operations.

#![allow(dead_code, unused_imports)]

pub use kms_lambda_kit::testing::*;

/// This project, as the kit's test support sees it.
pub const PROJECT: Project = kms_lambda_kit::project!(function::ops::FUNCTION);

/// The first kind of key (`ENCRYPTION`), which most tests use.
pub fn encryption() -> &'static kms_lambda_kit::Key {
    PROJECT.keys()[0]
}

/// A key of the first kind (`ENCRYPTION`) in the local KMS at `url`.
pub async fn create_key(url: &str) -> TestKey {
    create_key_of(url, encryption()).await
}

/// An `encrypt` event with a context (pass `json!({})` for none).
pub fn encrypt(plaintext: &[u8], context: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"operation": "encrypt", "plaintext": b64(plaintext), "encryptionContext": context})
}

/// A `decrypt` event for a ciphertext from an `encrypt` response (a JSON string).
pub fn decrypt(ciphertext: &serde_json::Value, context: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"operation": "decrypt", "ciphertext": ciphertext, "encryptionContext": context})
}
