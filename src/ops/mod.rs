//! The function's operations and the keys they use: this folder is yours.
//!
//! Each operation is one file here: its event, a type implementing
//! [`Operation`](kms_lambda_kit::Operation) (its fields are the event's, its answer a type of its
//! own, its kind of key, its KMS calls), declared below with a `mod` line and listed in
//! `operations!`. Each kind of key is one row of `keys!`: the variable of its default key, and
//! the spec and usage KMS gives it. From these tables the kit dispatches events, reads and
//! checks every default key at start-up, advises on a key of the wrong kind, and `make template`
//! writes the keys, aliases, outputs, variables and least-privilege statements of
//! `template.yaml`. Nothing else lists operations or keys.

use kms_lambda_kit::{keys, operations, Function};

keys! {
    /// Encrypts and decrypts payloads, and the data keys of envelopes.
    ENCRYPTION: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt;
}

pub mod decrypt;
pub mod encrypt;

operations! {
    // module::Type — the module is src/ops/<module>.rs
    encrypt::Encrypt,
    decrypt::Decrypt,
}

/// This function: its name and its tables. `main` runs it; its tests and tasks read it.
pub const FUNCTION: Function = Function::new(env!("CARGO_PKG_NAME"), KEYS, OPERATIONS);
