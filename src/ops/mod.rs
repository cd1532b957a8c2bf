//! The function's operations and the keys they use: this folder is yours.
//!
//! Each operation is one file here: its event, a type implementing
//! [`Operation`](kms_lambda_kit::Operation) (its fields are the event's, its answer a type of its
//! own, its kind of key, its KMS calls), declared below with a `mod` line and listed in
//! `operations!`. Each kind of key is one row of `keys!`: the variable of its default key, and
//! the spec and usage KMS gives it. Each secret is one row of `secrets!`: the variable holding
//! its ciphertext and the kind of key that encrypted it (an operation asks for it with
//! `cx.secret(&NAME)`). From these tables the kit dispatches events, reads and checks every
//! default key and secret at start-up, advises on a key of the wrong kind, and `make template`
//! writes the keys, aliases, outputs, variables, secret parameters and least-privilege
//! statements of `template.yaml`. Nothing else lists operations, keys or secrets.

use kms_lambda_kit::{keys, operations, secrets, Function};

keys! {
    /// Encrypts and decrypts payloads, and the data keys of envelopes.
    ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt;
    /// Encrypts the function's secrets, which only this function may decrypt.
    ENV_SECRETS: "KMS_ENV_SECRETS_KEY_ID", SymmetricDefault, EncryptDecrypt;
}

secrets! {
    /// Signs webhook payloads: webhookSignature.
    WEBHOOK_SIGNING_KEY: "WEBHOOK_SIGNING_KEY", ENV_SECRETS;
}

pub mod decrypt;
pub mod encrypt;
pub mod webhook_signature;

operations! {
    // module::Type — the module is src/ops/<module>.rs
    encrypt::Encrypt,
    decrypt::Decrypt,
    webhook_signature::WebhookSignature,
}

/// This function: its name and its tables. `main` runs it; its tests and tasks read it.
pub const FUNCTION: Function =
    Function::new(env!("CARGO_PKG_NAME"), KEYS, OPERATIONS).secrets(SECRETS);
