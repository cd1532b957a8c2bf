//! Secrets in encrypted environment variables, decrypted on first use — the other way a function
//! meets KMS.
//!
//! A secret (a database password, an API token, a webhook's signing key) is kept in an
//! environment variable, encrypted client-side with a KMS key under the encryption context
//! `{"LambdaFunctionName": <the function's name>}`, as Lambda's console encryption helpers
//! write it. The usual snippet decrypts it at module scope — in INIT, where this kit's whole
//! case lives: a request signed in INIT, a SnapStart snapshot holding the plaintext, a cold start
//! paying a KMS round trip before the runtime asks for an event. Here:
//!
//! - start-up only checks that each variable holds a base64 KMS ciphertext (`config`);
//! - the first operation that asks ([`Ctx::secret`](crate::Ctx::secret)) makes the one `Decrypt`
//!   of the sandbox — single-flight, however many invocations ask at once — through the same
//!   deadline-bounded, re-signing, measured call as any other (`SecretInitMs` on its EMF line),
//!   with the function's name as encryption context and the key pinned to its kind's default
//!   key; later asks cost no KMS call;
//! - a failed decrypt is not kept (the next ask tries again), and one KMS refuses because the
//!   ciphertext is another function's, context's or key's is `Configuration`, naming the
//!   variable;
//! - the plaintext is [`SecretBytes`] (wiped when the last holder drops it, never printed), and
//!   a SnapStart snapshot never holds it: it is forgotten before the snapshot and after restore,
//!   and decrypted again on the next ask.

use crate::config::Config;
use crate::error::{Error, ErrorType};
use crate::key::Secret;
use crate::kms::call::{non_empty, Kms};
use crate::secret::SecretBytes;
use aws_sdk_kms::primitives::Blob;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tokio::sync::OnceCell;

/// The encryption context key Lambda's console encryption helpers bind a variable's ciphertext to.
pub(crate) const FUNCTION_NAME_CONTEXT: &str = "LambdaFunctionName";

/// The function's secrets for the life of the sandbox: each ciphertext as start-up read it, and
/// its plaintext once an operation asked for it.
pub(crate) struct Secrets {
    function_name: String,
    cells: Vec<Cell>,
}

struct Cell {
    secret: &'static Secret,
    ciphertext: Vec<u8>,
    // The `RwLock` is held only to clone or swap the `Arc`, never across an await.
    value: RwLock<Arc<OnceCell<Arc<SecretBytes>>>>,
}

impl Cell {
    fn current(&self) -> Arc<OnceCell<Arc<SecretBytes>>> {
        self.value.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Secrets {
    /// The secrets `config` read; nothing decrypted.
    pub(crate) fn new(config: &Config) -> Self {
        Secrets {
            function_name: config.function_name.clone().unwrap_or_default(),
            cells: config
                .secrets
                .iter()
                .map(|(secret, ciphertext)| Cell {
                    secret,
                    ciphertext: ciphertext.clone(),
                    value: RwLock::new(Arc::new(OnceCell::new())),
                })
                .collect(),
        }
    }

    /// `secret`'s plaintext: decrypted by the first ask in the sandbox (the others wait for it),
    /// through `kms` — this invocation's, so its deadline bounds it and its EMF line reports it.
    pub(crate) async fn ask(
        &self,
        secret: &'static Secret,
        kms: &Kms,
        config: &Config,
    ) -> Result<Arc<SecretBytes>, Error> {
        let cell = self
            .cells
            .iter()
            .find(|c| std::ptr::eq(c.secret, secret))
            .ok_or_else(|| {
                Error::new(
                    ErrorType::Configuration,
                    format!(
                        "the {} secret is no row of this function's secrets! table \
                         (src/ops/mod.rs), so start-up never read {}: add its row",
                        secret.name, secret.variable
                    ),
                )
            })?;
        let once = cell.current();
        let value = once
            .get_or_try_init(|| self.decrypt(cell, kms, config))
            .await?;
        Ok(value.clone())
    }

    async fn decrypt(
        &self,
        cell: &Cell,
        kms: &Kms,
        config: &Config,
    ) -> Result<Arc<SecretBytes>, Error> {
        let secret = cell.secret;
        let key = config.default_key(secret.key).ok_or_else(|| {
            Error::new(
                ErrorType::Configuration,
                format!(
                    "the {} secret is encrypted with the {} key, which is no row of keys! \
                     (src/ops/mod.rs): add its row so that start-up reads {}",
                    secret.name, secret.key.name, secret.key.variable
                ),
            )
        })?;
        let kms = kms.for_kind(secret.key);
        let started = Instant::now();
        let request = kms
            .client()
            .decrypt()
            .key_id(key)
            .ciphertext_blob(Blob::new(cell.ciphertext.clone()))
            .encryption_context(FUNCTION_NAME_CONTEXT, &self.function_name);
        let out = kms
            .call(request)
            .await
            .map_err(|e| refused(secret, &self.function_name, e))?;
        // Straight into its wiped-on-drop wrapper (no copy).
        let plaintext = non_empty(out.plaintext.map(Blob::into_inner), "Decrypt", "Plaintext")?;
        let plaintext = SecretBytes::from(plaintext);
        kms.recorder().secret_decrypted(started.elapsed());
        tracing::info!(
            secret = secret.name,
            took_ms = started.elapsed().as_secs_f64() * 1000.0,
            "decrypted a secret on first use"
        );
        Ok(Arc::new(plaintext))
    }

    /// Forgets every plaintext (SnapStart, before the snapshot and after restore): the next ask
    /// decrypts again. An operation still holding one finishes with it; it is wiped when
    /// dropped.
    pub(crate) fn forget(&self) {
        for cell in &self.cells {
            *cell.value.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(OnceCell::new());
        }
    }

    /// How many secrets hold a plaintext right now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| c.current().initialized())
            .count()
    }
}

/// What a failed decrypt of `secret` is: a ciphertext KMS cannot open for this function — another
/// function's, another context's, another key's — is the deployment's fault, `Configuration`,
/// naming the variable; any other failure keeps its type, the variable named.
fn refused(secret: &Secret, function: &str, e: Error) -> Error {
    match e.kind() {
        ErrorType::InvalidCiphertext => Error::new(
            ErrorType::Configuration,
            format!(
                "{}: KMS cannot decrypt the {} secret for this function ({}): it was encrypted for \
                 another function, under another encryption context or with another key than the \
                 {} key; encrypt it again with that key and --encryption-context \
                 LambdaFunctionName={function}",
                secret.variable,
                secret.name,
                e.message(),
                secret.key.name
            ),
        ),
        kind => Error::new(
            kind,
            format!(
                "{}: decrypting the {} secret: {}",
                secret.variable,
                secret.name,
                e.message()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_of_the_ciphertext_is_the_deployments_fault_and_names_the_variable() {
        static S: Secret = Secret::new("HOOK", "HOOK_SECRET", &crate::key::test_kinds::DATA, "");
        let e = refused(
            &S,
            "fn",
            Error::new(ErrorType::InvalidCiphertext, "KMS Decrypt failed"),
        );
        assert_eq!(e.kind(), ErrorType::Configuration);
        assert!(e.message().starts_with("HOOK_SECRET: "), "{e}");
        assert!(e.message().contains("LambdaFunctionName=fn"), "{e}");
        let e = refused(&S, "fn", Error::new(ErrorType::KmsThrottled, "slow down"));
        assert_eq!(e.kind(), ErrorType::KmsThrottled);
        assert!(e.message().starts_with("HOOK_SECRET: decrypting"), "{e}");
    }
}
