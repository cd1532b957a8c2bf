//! The AWS Encryption SDK's algorithm suites: which ones a message may name, which of them this
//! function can open, and how each turns the data key into the key that encrypts the message.
//!
//! Defined in the ESDK specification (`framework/algorithm-suites.md`); where its text and the
//! official implementations differ, the Python ESDK is the oracle.

use crate::error::{Error, ErrorType};
use aws_lc_rs::aead::{self, LessSafeKey, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::{digest, signature};

/// How a suite derives the message key from the data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kdf {
    /// The data key is the message key (deprecated suites, message format 1).
    Identity,
    /// HKDF-SHA256, no salt, info = suite id ‖ message id (message format 1).
    HkdfSha256,
    /// The same with SHA-384 (format 1's P-384 signed suites).
    HkdfSha384,
    /// HKDF-SHA512, salt = message id, info = suite id ‖ "DERIVEKEY", plus a 32-byte key
    /// commitment: HKDF-SHA512, salt = message id, info = "COMMITKEY" (message format 2).
    HkdfSha512Committing,
}

/// The curve and hash of a signed suite's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// ECDSA on P-256 with SHA-256 (format 1's `…_ECDSA_P256`); 71-byte signatures.
    P256Sha256,
    /// ECDSA on P-384 with SHA-384 (the `…_ECDSA_P384` suites); 103-byte signatures.
    P384Sha384,
}

impl Signing {
    /// The length the ESDK writes its signatures at.
    pub fn signature_len(self) -> usize {
        match self {
            Signing::P256Sha256 => 71,
            Signing::P384Sha384 => 103,
        }
    }

    pub(crate) fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Signing::P256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
            Signing::P384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        }
    }

    pub(crate) fn digest(self) -> &'static digest::Algorithm {
        match self {
            Signing::P256Sha256 => &digest::SHA256,
            Signing::P384Sha384 => &digest::SHA384,
        }
    }

    /// The compressed point's length: a byte for the sign of y, then x.
    pub(crate) fn public_key_len(self) -> usize {
        match self {
            Signing::P256Sha256 => 33,
            Signing::P384Sha384 => 49,
        }
    }
}

/// One algorithm suite.
#[derive(Debug, PartialEq, Eq)]
pub struct Suite {
    /// The two-byte id in the message header.
    pub id: u16,
    /// Its name in the ESDK.
    pub name: &'static str,
    /// The message format version it belongs to (1 or 2).
    pub format: u8,
    /// Whether the message ends with an ECDSA signature over it (the footer): the signed suites,
    /// every ESDK's default. See [`sign`](super::sign).
    pub signed: bool,
    /// The curve and hash of that signature.
    pub signing: Option<Signing>,
    key_len: usize,
    kdf: Kdf,
}

/// The suite this function encrypts with: AES-256-GCM, HKDF-SHA512 key derivation, key
/// commitment, no signature (`AES_256_GCM_HKDF_SHA512_COMMIT_KEY`).
pub const COMMITTING: &Suite = &SUITES[9];

/// The same with an ECDSA P-384 signature (`AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`):
/// every ESDK's default, and what this function seals when an event asks for a signed message.
pub const COMMITTING_SIGNED: &Suite = &SUITES[10];

/// Length of the message id in message format 2 (16 in format 1).
pub const MESSAGE_ID_LEN: usize = 32;
/// Length of the key commitment in the header of a committing suite.
pub const COMMITMENT_LEN: usize = 32;
/// AES-GCM's IV and tag lengths, the same in every suite.
pub const IV_LEN: usize = 12;
/// See [`IV_LEN`].
pub const TAG_LEN: usize = 16;

const fn suite(
    id: u16,
    name: &'static str,
    format: u8,
    signing: Option<Signing>,
    key_len: usize,
    kdf: Kdf,
) -> Suite {
    Suite {
        id,
        name,
        format,
        signed: signing.is_some(),
        signing,
        key_len,
        kdf,
    }
}

/// Every suite the ESDK defines for its message formats.
static SUITES: [Suite; 11] = [
    suite(0x0014, "AES_128_GCM_IV12_TAG16", 1, None, 16, Kdf::Identity),
    suite(0x0046, "AES_192_GCM_IV12_TAG16", 1, None, 24, Kdf::Identity),
    suite(0x0078, "AES_256_GCM_IV12_TAG16", 1, None, 32, Kdf::Identity),
    suite(
        0x0114,
        "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
        1,
        None,
        16,
        Kdf::HkdfSha256,
    ),
    suite(
        0x0146,
        "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
        1,
        None,
        24,
        Kdf::HkdfSha256,
    ),
    suite(
        0x0178,
        "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
        1,
        None,
        32,
        Kdf::HkdfSha256,
    ),
    suite(
        0x0214,
        "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
        1,
        Some(Signing::P256Sha256),
        16,
        Kdf::HkdfSha256,
    ),
    suite(
        0x0346,
        "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        1,
        Some(Signing::P384Sha384),
        24,
        Kdf::HkdfSha384,
    ),
    suite(
        0x0378,
        "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        1,
        Some(Signing::P384Sha384),
        32,
        Kdf::HkdfSha384,
    ),
    suite(
        0x0478,
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        2,
        None,
        32,
        Kdf::HkdfSha512Committing,
    ),
    suite(
        0x0578,
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        2,
        Some(Signing::P384Sha384),
        32,
        Kdf::HkdfSha512Committing,
    ),
];

/// The suite with this id.
pub fn by_id(id: u16) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.id == id)
}

impl Suite {
    /// Whether the message commits to its data key (format 2): a message that opens under one
    /// data key cannot also open under another.
    pub fn commits(&self) -> bool {
        self.kdf == Kdf::HkdfSha512Committing
    }

    /// Length of the data key this suite takes.
    pub fn data_key_len(&self) -> usize {
        self.key_len
    }

    /// The message key: the data key through the suite's key derivation, as an AES-GCM key.
    pub fn message_key(&self, data_key: &[u8], message_id: &[u8]) -> Result<LessSafeKey, Error> {
        if data_key.len() != self.key_len {
            // The callers check the length where they know whose fault it is (`datakey`).
            return Err(internal(&format!(
                "deriving {}'s key from a {}-byte data key (it takes {})",
                self.name,
                data_key.len(),
                self.key_len
            )));
        }
        let mut key = [0u8; 32];
        let key = &mut key[..self.key_len];
        match self.kdf {
            Kdf::Identity => key.copy_from_slice(data_key),
            Kdf::HkdfSha256 | Kdf::HkdfSha384 => {
                let hash = match self.kdf {
                    Kdf::HkdfSha256 => hkdf::HKDF_SHA256,
                    _ => hkdf::HKDF_SHA384,
                };
                let info = [&self.id.to_be_bytes()[..], message_id];
                expand(hash, &[], data_key, &info, key)?;
            }
            Kdf::HkdfSha512Committing => {
                let info = [&self.id.to_be_bytes()[..], b"DERIVEKEY"];
                expand(hkdf::HKDF_SHA512, message_id, data_key, &info, key)?;
            }
        }
        let algorithm = match self.key_len {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            _ => &aead::AES_256_GCM,
        };
        let unbound = UnboundKey::new(algorithm, key).map_err(|_| internal("AES-GCM key"));
        zeroize::Zeroize::zeroize(key);
        Ok(LessSafeKey::new(unbound?))
    }

    /// The key commitment stored in a committing suite's header.
    pub fn commitment(
        &self,
        data_key: &[u8],
        message_id: &[u8],
    ) -> Result<[u8; COMMITMENT_LEN], Error> {
        let mut out = [0u8; COMMITMENT_LEN];
        expand(
            hkdf::HKDF_SHA512,
            message_id,
            data_key,
            &[b"COMMITKEY"],
            &mut out,
        )?;
        Ok(out)
    }
}

/// HKDF extract-then-expand into `out` (an empty salt is HMAC's all-zero key, as `None` is).
fn expand(
    algorithm: hkdf::Algorithm,
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<(), Error> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    hkdf::Salt::new(algorithm, salt)
        .extract(ikm)
        .expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| internal("HKDF"))
}

fn internal(what: &str) -> Error {
    Error::new(ErrorType::Internal, format!("{what} failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_id_is_known_once_and_the_committing_one_is_0478() {
        assert_eq!(COMMITTING.id, 0x0478);
        assert!(COMMITTING.commits() && !COMMITTING.signed && COMMITTING.format == 2);
        for s in &SUITES {
            assert_eq!(by_id(s.id), Some(s));
            assert_eq!(s.commits(), s.format == 2, "{}", s.name);
            assert_eq!(s.signed, s.name.contains("ECDSA"), "{}", s.name);
        }
        assert_eq!(by_id(0x0999), None);
    }

    /// Known answers computed with the Python ESDK's own derivation
    /// (`aws_encryption_sdk.internal.crypto.data_keys`) for data key 0x01…0x20 and message id
    /// 0xa0…0xbf.
    #[test]
    fn the_derivations_match_the_python_esdk() {
        let data_key: Vec<u8> = (1..=32).collect();
        let message_id: Vec<u8> = (0xa0..=0xbf).collect();
        let commitment = COMMITTING.commitment(&data_key, &message_id).unwrap();
        assert_eq!(hex(&commitment), KNOWN_COMMITMENT);
        // The message key, observed through an encryption of a known block.
        let key = COMMITTING.message_key(&data_key, &message_id).unwrap();
        let mut block = vec![0u8; 16];
        let tag = key
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key([0; 12]),
                aead::Aad::empty(),
                &mut block,
            )
            .unwrap();
        assert_eq!(hex(&block), KNOWN_BLOCK);
        assert_eq!(hex(tag.as_ref()), KNOWN_TAG);
    }

    #[test]
    fn no_key_is_derived_from_a_data_key_of_the_wrong_length() {
        // Whose fault it is depends on where the data key came from: `datakey` says.
        let e = COMMITTING.message_key(&[0u8; 16], &[0u8; 32]).unwrap_err();
        assert_eq!(e.kind(), ErrorType::Internal);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const KNOWN_COMMITMENT: &str =
        "779f56aa7e8348f2453531ede9f84580cf09852918ecb923a4a33936e54148ae";
    const KNOWN_BLOCK: &str = "51cb5a2b101cd8825679ba71ebec4bf1";
    const KNOWN_TAG: &str = "7c8f4d729cc6f85efa4f43275fabc416";
}
