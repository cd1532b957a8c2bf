//! The probe's operations and keys: a function made with the kit for the kit's own tests (and
//! the template's benchmarks), never one that deploys. Each operation exists to test one thing
//! every function gets from the kit.

use kms_lambda_kit::aws_sdk_kms::primitives::Blob;
use kms_lambda_kit::{keys, operations, secrets};
use kms_lambda_kit::{non_empty, Bytes, Context, Ctx, Error, Function, Key, KeyId, Operation};
use kms_lambda_kit::{ErrorType, Limit, SecretBytes};
use serde::{Deserialize, Serialize};

keys! {
    /// Encrypts the probe's payloads.
    DATA: "KMS_KEY_ID", SymmetricDefault, EncryptDecrypt;
    /// Encrypts the probe's secret.
    VAULT: "KMS_VAULT_KEY_ID", SymmetricDefault, EncryptDecrypt;
}

secrets! {
    /// A secret for the kit's tests of secrets: `secretLength` asks for it.
    PROBE_SECRET: "KIT_PROBE_SECRET", VAULT;
}

pub mod seal {
    //! `seal`: every field type an operation reads, end to end to KMS —
    //! `{"operation": "seal", "plaintext": "<base64>", "encryptionContext": {…},
    //! "keyId": "optional", "mode": "optional: direct | envelope", "signed": false}` →
    //! `{"ciphertext": "<base64>", "keyId": "<key ARN>"}` (KMS `Encrypt`; `mode` and `signed`
    //! are read and checked, nothing more).
    use super::*;

    /// The event: one field of each kind the kit reads.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Seal {
        plaintext: SecretBytes,
        #[serde(default)]
        encryption_context: Context,
        key_id: Option<KeyId>,
        #[allow(dead_code)]
        mode: Option<Mode>,
        #[allow(dead_code)]
        #[serde(default)]
        signed: bool,
    }

    /// A choice of two, as an operation's own enum.
    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Mode {
        /// One.
        Direct,
        /// The other.
        Envelope,
    }

    /// The answer.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Sealed {
        ciphertext: Bytes,
        key_id: String,
    }

    const PLAINTEXT: Limit = Limit {
        max: 4096,
        kind: ErrorType::PayloadTooLarge,
        why: "what KMS Encrypt takes",
    };

    impl Operation for Seal {
        const NAME: &'static str = "seal";
        const KEY: &'static Key = &DATA;
        const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt"];
        type Answer = Sealed;

        fn check(&mut self) -> Result<(), Error> {
            PLAINTEXT.check("plaintext", self.plaintext.len())
        }

        async fn run(self, cx: &Ctx<'_>) -> Result<Sealed, Error> {
            let key = cx.key_id(self.key_id.as_deref())?;
            let request = cx
                .kms
                .client()
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(self.plaintext.to_vec()))
                .set_encryption_context(self.encryption_context.into_option());
            let out = cx.kms.call(request).await?;
            Ok(Sealed {
                ciphertext: Bytes(non_empty(
                    out.ciphertext_blob.map(Blob::into_inner),
                    "Encrypt",
                    "CiphertextBlob",
                )?),
                key_id: non_empty(out.key_id, "Encrypt", "KeyId")?,
            })
        }
    }
}

pub mod calls {
    //! `calls`: `n` KMS calls one after another, so a test can show that the invocation's
    //! deadline bounds an operation however many calls it makes (`"n": 0`: an invocation that
    //! calls no KMS, a benchmark's control) — `{"operation": "calls", "keyId": "…", "n": 3}` →
    //! `{"calls": 3}`.
    use super::*;

    /// The event.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Calls {
        key_id: KeyId,
        n: u8,
    }

    /// The answer.
    #[derive(Serialize)]
    pub struct Called {
        calls: u8,
    }

    impl Operation for Calls {
        const NAME: &'static str = "calls";
        const KEY: &'static Key = &DATA;
        const IAM_ACTIONS: &'static [&'static str] = &["kms:Encrypt"];
        type Answer = Called;

        async fn run(self, cx: &Ctx<'_>) -> Result<Called, Error> {
            for _ in 0..self.n {
                let request = cx
                    .kms
                    .client()
                    .encrypt()
                    .key_id(&*self.key_id)
                    .plaintext(Blob::new(vec![1]));
                cx.kms.call(request).await?;
            }
            Ok(Called { calls: self.n })
        }
    }
}

pub mod secret_length {
    //! `secretLength`: asks for the probe's secret and answers its length (never the secret) —
    //! `{"operation": "secretLength"}` → `{"bytes": 42}`.
    use super::*;

    /// The event.
    #[derive(Deserialize)]
    pub struct SecretLength {}

    /// The answer.
    #[derive(Serialize)]
    pub struct Length {
        bytes: usize,
    }

    impl Operation for SecretLength {
        const NAME: &'static str = "secretLength";
        const KEY: &'static Key = &VAULT;
        const IAM_ACTIONS: &'static [&'static str] = &[];
        type Answer = Length;

        async fn run(self, cx: &Ctx<'_>) -> Result<Length, Error> {
            let secret = cx.secret(&PROBE_SECRET).await?;
            Ok(Length {
                bytes: secret.len(),
            })
        }
    }
}

pub mod panic {
    //! `panic`: panics — `{"operation": "panic"}` → an `Internal` error, and the sandbox keeps
    //! serving.
    use super::*;

    /// The event.
    #[derive(Deserialize)]
    pub struct Panic {}

    impl Operation for Panic {
        const NAME: &'static str = "panic";
        const KEY: &'static Key = &DATA;
        const IAM_ACTIONS: &'static [&'static str] = &[];
        type Answer = ();

        async fn run(self, _: &Ctx<'_>) -> Result<(), Error> {
            panic!("forced panic (the kit's probe)")
        }
    }
}

operations! {
    seal::Seal,
    calls::Calls,
    secret_length::SecretLength,
    panic::Panic,
}

/// The probe.
pub const FUNCTION: Function = Function::new("kit-probe", KEYS, OPERATIONS).secrets(SECRETS);
