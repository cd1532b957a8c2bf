//! The function's operations and the keys they use: this folder is yours.
//!
//! Each operation is one file here, a type implementing [`Operation`](kms_lambda_kit::Operation)
//! (its fields, its answer's fields, its kind of key, its KMS calls), declared below with a
//! `mod` line and listed in `operations!`. Each kind of key is one row of `keys!`: the variable
//! of its default key, and the spec and usage KMS gives it. From these two tables the kit
//! dispatches events, reads and checks every default key at start-up, advises on a key of the
//! wrong kind, and `make template` writes the keys, aliases, outputs, variables and
//! least-privilege statements of `template.yaml`. Nothing else lists operations or keys.

use kms_lambda_kit::{keys, operations};

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
