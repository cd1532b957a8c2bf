//! The message signature of the signed suites — what every AWS Encryption SDK writes by default
//! (`AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`, 0x0578).
//!
//! The sender makes a key pair for each message; its public key, a SEC1 compressed point in
//! base64, goes into the encryption context under [`PUBLIC_KEY`] (so KMS binds it to the data
//! key, as the rest of the context), and an ECDSA signature over the whole message — header,
//! header tag, body — follows the body as the footer: its length (two bytes), then the
//! signature, DER-encoded. The receiver verifies it before any plaintext leaves; a holder of the
//! data key alone cannot forge a message, so a receiver holds the sender to it.
//!
//! Signatures are written at the static length the ESDK writes (103 bytes for P-384): the
//! digest is signed again until it has it, as the Python ESDK does.

use super::suite::{Signing, Suite};
use crate::error::{Error, ErrorType};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

/// The encryption-context key of a signed message's verification key, reserved by the ESDK
/// (as is every key beginning `aws-crypto-`).
pub const PUBLIC_KEY: &str = "aws-crypto-public-key";

/// The prefix of the encryption-context keys the ESDK reserves for itself.
pub const RESERVED_PREFIX: &str = "aws-crypto-";

fn invalid(what: impl fmt::Display) -> Error {
    Error::new(ErrorType::InvalidCiphertext, what.to_string())
}

/// Checks `signature` over `signed` with the verification key `public_key` (the encryption
/// context's base64 compressed point), for a message of `suite`. Every failure is
/// `InvalidCiphertext` naming what failed.
pub fn verify(
    suite: &Suite,
    public_key: &str,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let signing = suite
        .signing
        .expect("only a signed suite's message has a signature");
    let point = STANDARD
        .decode(public_key)
        .ok()
        .filter(|p| p.len() == signing.public_key_len() && matches!(p[0], 0x02 | 0x03))
        .ok_or_else(|| {
            invalid(format!(
                "the envelope's verification key ({PUBLIC_KEY} in its encryption context) is not \
                 a compressed point of {}'s curve in base64",
                suite.name
            ))
        })?;
    UnparsedPublicKey::new(signing.verification(), &point)
        .verify(signed, signature)
        .map_err(|_| {
            invalid(format!(
                "the envelope's signature ({}) does not verify with the key its header names: it \
                 was altered after it was signed, or signed by another key; nothing was decrypted",
                suite.name
            ))
        })
}

/// A message's signing key: made for one message, its public key in the message's encryption
/// context, the key itself never leaving the process.
pub struct Signer {
    key: EcdsaKeyPair,
    public_key: String,
}

impl Signer {
    /// A fresh P-384 key pair, for a message of the committing signed suite (0x0578).
    pub fn generate() -> Result<Signer, Error> {
        let fail = |_| Error::new(ErrorType::Internal, "generating a signing key failed");
        let key =
            EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).map_err(fail)?;
        let point: EcPublicKeyCompressedBin<'_> = key.public_key().as_be_bytes().map_err(fail)?;
        let public_key = STANDARD.encode(point.as_ref());
        Ok(Signer { key, public_key })
    }

    /// The verification key, as the encryption context carries it under [`PUBLIC_KEY`].
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The signature of `message` (everything before the footer), at the ESDK's static length.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let signing = Signing::P384Sha384;
        let digest = digest::digest(signing.digest(), message);
        // ECDSA signatures are random; their DER length varies with the leading bits of r and
        // s. A few tries reach the ESDK's length.
        for _ in 0..64 {
            let signature = self
                .key
                .sign_digest(&digest)
                .map_err(|_| Error::new(ErrorType::Internal, "signing the envelope failed"))?;
            if signature.as_ref().len() == signing.signature_len() {
                return Ok(signature.as_ref().to_vec());
            }
        }
        Err(Error::new(
            ErrorType::Internal,
            "no signature of the ESDK's length in 64 tries",
        ))
    }
}

/// The public key only: the signing key stays out of logs.
impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &self.public_key)
            .finish()
    }
}
