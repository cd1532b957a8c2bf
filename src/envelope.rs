//! Envelope encryption for payloads above KMS's 4 KiB `Encrypt` limit.
//!
//! As the AWS Encryption SDK does: KMS `GenerateDataKey` returns a fresh AES-256 key in
//! plaintext and encrypted under the KMS key; the payload is sealed locally with AES-256-GCM
//! (aws-lc-rs, already linked for TLS) and only the encrypted data key travels with it.
//!
//! # Format (version 1)
//!
//! All integers are big-endian. The header is everything up to and including the nonce.
//!
//! ```text
//!  0      4   5        7            7+K      9+K              9+K+E     21+K+E         end
//!  +------+---+--------+-------------+--------+----------------+---------+--------------+
//!  |magic |ver| K: u16 | key id (K)  | E: u16 | enc. data key  | nonce   | ciphertext   |
//!  |00 4B |01 |        | UTF-8 ARN   |        | (KMS blob, E)  | 12 B    | + GCM tag 16 |
//!  | 4C 45|   |        |             |        |                |         |              |
//!  +------+---+--------+-------------+--------+----------------+---------+--------------+
//! ```
//!
//! - magic `00 4B 4C 45` (`\0KLE`): a KMS ciphertext never starts with a zero byte, so decrypt
//!   tells the two apart without a hint.
//! - AAD for AES-GCM = the header bytes followed by the canonical encryption context (entries
//!   sorted by key; each as `u16` key length, key, `u16` value length, value). Changing any
//!   header byte or the context makes decryption fail; the context is also bound to the data
//!   key by KMS.
//! - The nonce is 96 random bits per message, so a data key reused through the cache is safe
//!   far beyond any cache limit this template accepts.

use crate::error::{Error, ErrorType};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::collections::HashMap;
use std::fmt;
use zeroize::Zeroizing;

/// The four bytes every envelope starts with.
pub const MAGIC: [u8; 4] = [0x00, b'K', b'L', b'E'];
/// The only format version this code writes and reads.
pub const VERSION: u8 = 1;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Largest key id (ARN) stored in a header.
pub const MAX_KEY_ID: usize = 2048;
/// Largest encrypted data key stored in a header (KMS ciphertext limit).
pub const MAX_ENCRYPTED_KEY: usize = 6144;
/// Largest header: magic, version, two lengths, the two fields at their maximum, the nonce.
pub const MAX_HEADER: usize = 4 + 1 + 2 + MAX_KEY_ID + 2 + MAX_ENCRYPTED_KEY + NONCE_LEN;

/// A plaintext AES-256 data key. Wiped when dropped; never printed.
pub struct DataKey(Zeroizing<Vec<u8>>);

impl DataKey {
    /// Wraps key bytes (must be 32 bytes to be usable).
    pub fn new(bytes: Vec<u8>) -> Self {
        DataKey(Zeroizing::new(bytes))
    }

    fn cipher(&self) -> Result<LessSafeKey, Error> {
        let key = UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| {
            Error::new(
                ErrorType::KmsInvalidResponse,
                "KMS returned a data key that is not 32 bytes",
            )
        })?;
        Ok(LessSafeKey::new(key))
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        DataKey(Zeroizing::new(self.0.to_vec()))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The parsed header of an envelope, borrowing from the envelope bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// ARN of the KMS key that encrypted the data key.
    pub key_id: &'a str,
    /// The data key, encrypted by KMS.
    pub encrypted_key: &'a [u8],
    /// The AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Length of the header in bytes (where the ciphertext starts).
    pub len: usize,
}

/// Whether `blob` is an envelope (rather than a direct KMS ciphertext).
pub fn is_envelope(blob: &[u8]) -> bool {
    blob.starts_with(&MAGIC)
}

/// Size of the envelope for a plaintext of `plaintext_len` bytes with these header fields.
pub fn sealed_len(key_id: &str, encrypted_key: &[u8], plaintext_len: usize) -> usize {
    header_len(key_id, encrypted_key) + plaintext_len + TAG_LEN
}

fn header_len(key_id: &str, encrypted_key: &[u8]) -> usize {
    4 + 1 + 2 + key_id.len() + 2 + encrypted_key.len() + NONCE_LEN
}

/// Encrypts `plaintext` into a new envelope: one allocation of the final size.
pub fn seal(
    key: &DataKey,
    key_id: &str,
    encrypted_key: &[u8],
    context: &HashMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    if key_id.len() > MAX_KEY_ID
        || encrypted_key.len() > MAX_ENCRYPTED_KEY
        || encrypted_key.is_empty()
    {
        return Err(Error::new(
            ErrorType::KmsInvalidResponse,
            "KMS returned a key id or encrypted data key too large for the envelope header",
        ));
    }
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| Error::new(ErrorType::Internal, "the random generator failed"))?;

    let mut out = Vec::with_capacity(sealed_len(key_id, encrypted_key, plaintext.len()));
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(key_id.len() as u16).to_be_bytes());
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&(encrypted_key.len() as u16).to_be_bytes());
    out.extend_from_slice(encrypted_key);
    out.extend_from_slice(&nonce);
    let header = out.len();
    let aad = aad(&out[..header], context);
    out.extend_from_slice(plaintext);
    let tag = key
        .cipher()?
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut out[header..],
        )
        .map_err(|_| Error::new(ErrorType::Internal, "AES-GCM encryption failed"))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Reads an envelope's header. Every malformation is an `InvalidCiphertext` naming the field.
pub fn parse(blob: &[u8]) -> Result<Header<'_>, Error> {
    let bad = |what: &str| {
        Error::new(
            ErrorType::InvalidCiphertext,
            format!("the envelope is malformed: {what}"),
        )
    };
    let mut r = Reader { buf: blob, pos: 0 };
    if r.take(4).ok_or_else(|| bad("shorter than its magic"))? != MAGIC {
        return Err(bad("wrong magic bytes"));
    }
    let version = r.take(1).ok_or_else(|| bad("no version byte"))?[0];
    if version != VERSION {
        return Err(Error::new(
            ErrorType::InvalidCiphertext,
            format!("envelope format version {version} is not supported (this function reads version {VERSION})"),
        ));
    }
    let key_len = r.u16().ok_or_else(|| bad("truncated key id length"))?;
    if key_len == 0 || key_len > MAX_KEY_ID {
        return Err(bad("key id length out of range"));
    }
    let key_id = std::str::from_utf8(r.take(key_len).ok_or_else(|| bad("truncated key id"))?)
        .map_err(|_| bad("key id is not UTF-8"))?;
    let edk_len = r.u16().ok_or_else(|| bad("truncated data key length"))?;
    if edk_len == 0 || edk_len > MAX_ENCRYPTED_KEY {
        return Err(bad("encrypted data key length out of range"));
    }
    let encrypted_key = r
        .take(edk_len)
        .ok_or_else(|| bad("truncated encrypted data key"))?;
    let nonce: [u8; NONCE_LEN] = r
        .take(NONCE_LEN)
        .ok_or_else(|| bad("truncated nonce"))?
        .try_into()
        .map_err(|_| bad("truncated nonce"))?;
    if blob.len() - r.pos < TAG_LEN {
        return Err(bad(
            "truncated ciphertext (shorter than the authentication tag)",
        ));
    }
    Ok(Header {
        key_id,
        encrypted_key,
        nonce,
        len: r.pos,
    })
}

/// Decrypts an envelope in place and returns the plaintext as a slice of `blob`.
/// A wrong data key, context, or any changed byte gives `InvalidCiphertext` and no plaintext.
pub fn open<'a>(
    key: &DataKey,
    blob: &'a mut [u8],
    context: &HashMap<String, String>,
) -> Result<&'a [u8], Error> {
    let (nonce, header_len) = {
        let h = parse(blob)?;
        (h.nonce, h.len)
    };
    let (header, body) = blob.split_at_mut(header_len);
    let aad = aad(header, context);
    key.cipher()?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), body)
        .map(|plaintext| &*plaintext)
        .map_err(|_| {
            Error::new(
                ErrorType::InvalidCiphertext,
                "the envelope failed authentication: it was altered, or the encryptionContext differs \
                 from the one used to encrypt",
            )
        })
}

/// The canonical encryption context: entries sorted by key, each length-prefixed.
pub fn canonical_context(context: &HashMap<String, String>) -> Vec<u8> {
    let mut entries: Vec<(&String, &String)> = context.iter().collect();
    entries.sort();
    let mut out = Vec::new();
    for (k, v) in entries {
        for part in [k, v] {
            out.extend_from_slice(&(part.len().min(u16::MAX as usize) as u16).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

fn aad(header: &[u8], context: &HashMap<String, String>) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&canonical_context(context));
    aad
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn key() -> DataKey {
        DataKey::new(vec![7u8; 32])
    }

    fn ctx(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_round_trip_returns_the_plaintext_and_the_layout_is_as_documented() {
        let c = ctx(&[("tenant", "acme")]);
        let mut env = seal(&key(), ARN, b"edk-bytes", &c, b"hello envelope").unwrap();
        assert_eq!(&env[..4], &MAGIC);
        assert_eq!(env[4], VERSION);
        assert_eq!(u16::from_be_bytes([env[5], env[6]]) as usize, ARN.len());
        assert_eq!(env.len(), sealed_len(ARN, b"edk-bytes", 14));
        let h = parse(&env).unwrap();
        assert_eq!((h.key_id, h.encrypted_key), (ARN, &b"edk-bytes"[..]));
        assert_eq!(open(&key(), &mut env, &c).unwrap(), b"hello envelope");
    }

    #[test]
    fn an_empty_payload_round_trips() {
        let mut env = seal(&key(), ARN, b"k", &HashMap::new(), b"").unwrap();
        assert_eq!(open(&key(), &mut env, &HashMap::new()).unwrap(), b"");
    }

    #[test]
    fn two_envelopes_of_the_same_payload_differ_by_their_random_nonce() {
        let a = seal(&key(), ARN, b"k", &HashMap::new(), b"same").unwrap();
        let b = seal(&key(), ARN, b"k", &HashMap::new(), b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_different_context_or_key_fails_authentication() {
        let env = seal(&key(), ARN, b"k", &ctx(&[("a", "1")]), b"secret").unwrap();
        for c in [ctx(&[("a", "2")]), ctx(&[]), ctx(&[("a", "1"), ("b", "1")])] {
            let e = open(&key(), &mut env.clone(), &c).unwrap_err();
            assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
        }
        let other = DataKey::new(vec![8u8; 32]);
        assert_eq!(
            open(&other, &mut env.clone(), &ctx(&[("a", "1")]))
                .unwrap_err()
                .kind(),
            ErrorType::InvalidCiphertext
        );
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_an_invalid_ciphertext_without_plaintext() {
        let c = ctx(&[("k", "v")]);
        let env = seal(&key(), ARN, b"encrypted-data-key", &c, b"0123456789abcdef").unwrap();
        for bit in 0..env.len() * 8 {
            let mut bad = env.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let e = open(&key(), &mut bad, &c).unwrap_err();
            assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "bit {bit}");
        }
        for len in 0..env.len() {
            let mut cut = env[..len].to_vec();
            assert_eq!(
                open(&key(), &mut cut, &c).unwrap_err().kind(),
                ErrorType::InvalidCiphertext,
                "len {len}"
            );
        }
    }

    #[test]
    fn a_future_version_is_named_in_the_error() {
        let mut env = seal(&key(), ARN, b"k", &HashMap::new(), b"x").unwrap();
        env[4] = 2;
        let e = parse(&env).unwrap_err();
        assert!(e.message().contains("version 2"), "{e}");
    }

    #[test]
    fn the_canonical_context_does_not_depend_on_insertion_order() {
        let a = ctx(&[("b", "2"), ("a", "1")]);
        let b = ctx(&[("a", "1"), ("b", "2")]);
        assert_eq!(canonical_context(&a), canonical_context(&b));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(
            canonical_context(&ctx(&[("ab", "c")])),
            canonical_context(&ctx(&[("a", "bc")]))
        );
    }

    #[test]
    fn a_data_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", key()), "DataKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn encode_then_decode_returns_every_field(
            key_id in "[a-zA-Z0-9:/_-]{1,300}",
            edk in proptest::collection::vec(any::<u8>(), 1..600),
            plaintext in proptest::collection::vec(any::<u8>(), 0..2000),
            pairs in proptest::collection::hash_map("[a-z]{1,8}", ".{0,16}", 0..4),
        ) {
            let mut env = seal(&key(), &key_id, &edk, &pairs, &plaintext).unwrap();
            let h = parse(&env).unwrap();
            prop_assert_eq!(h.key_id, key_id.as_str());
            prop_assert_eq!(h.encrypted_key, edk.as_slice());
            prop_assert_eq!(open(&key(), &mut env, &pairs).unwrap(), plaintext.as_slice());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(mut blob in proptest::collection::vec(any::<u8>(), 0..400), magic in any::<bool>()) {
            if magic && blob.len() >= 5 {
                blob[..4].copy_from_slice(&MAGIC);
                blob[4] = VERSION;
            }
            let _ = open(&key(), &mut blob, &HashMap::new());
        }
    }
}
