//! Envelope encryption for payloads above KMS's 4 KiB `Encrypt` limit, in the **AWS Encryption
//! SDK message format**, so that any ESDK (Python, Java, JavaScript, .NET, C, the CLI) opens what
//! this function seals, and this function opens what they seal with a KMS key.
//!
//! Sealing writes message format 2 with the committing, unsigned suite
//! `AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0478): a data key from KMS `GenerateDataKey` (bound
//! to the encryption context), one encrypted data key with provider id `aws-kms` and the key ARN
//! as provider information, the message key and a key commitment derived from the data key and
//! a random 32-byte message id with HKDF-SHA512, the encryption context in the header, the
//! header authenticated, the payload in frames of [`FRAME_LENGTH`] bytes under AES-256-GCM.
//!
//! Asked for a signed message, it writes the suite every ESDK writes by default,
//! `AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384` (0x0578): the same, plus an ECDSA P-384
//! signature over the whole message by a key made for it, whose public key the encryption
//! context carries (see [`sign`]).
//!
//! Opening reads formats 2 and 1, framed or not, signed or not, with every suite; format 1
//! suites do not commit to their data key, and (as the ESDK's default commitment policy) they
//! are opened only when the configuration allows it. A signed message's signature is verified
//! before anything is decrypted. The layout is in [`format`](mod@format), the suites and their
//! key derivation in [`suite`], the signature in [`sign`], and where a message's data key comes
//! from — KMS, or the optional data-key cache — in [`datakey`]. An operation needs none of them
//! but [`Ctx::seal_envelope`](crate::Ctx::seal_envelope) and
//! [`Ctx::open_envelope`](crate::Ctx::open_envelope), the whole of it.
//!
//! The encryption context is stored in the header in the clear: it is not secret.

pub mod datakey;
pub mod format;
pub mod sign;
pub mod suite;

pub use format::{parse, EncryptedDataKey, Message};

/// Whether `blob` is an envelope (an AWS Encryption SDK message, of any format) rather than a
/// KMS ciphertext: what an operation that takes either checks to know which it holds.
///
/// ```
/// assert!(kms_lambda_kit::is_envelope(&[0x02, 0x04, 0x78]));
/// assert!(!kms_lambda_kit::is_envelope(&[0x01, 0x02, 0x02, 0x00]), "a KMS ciphertext");
/// ```
pub fn is_envelope(blob: &[u8]) -> bool {
    format::is_message(blob)
}

use crate::config::CommitmentPolicy;
use crate::error::{Error, ErrorType};
use crate::kms::call::Kms;
use crate::secret::SecretBytes;
use aws_lc_rs::aead::{Aad, Nonce};
use datakey::DataKeyCache;
use sign::{Signer, PUBLIC_KEY};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use suite::{Suite, COMMITTING, COMMITTING_SIGNED, IV_LEN, MESSAGE_ID_LEN, TAG_LEN};
use zeroize::Zeroizing;

/// Frame length of the messages this function writes (any frame length opens). Chosen by
/// measurement (kms-lambda's docs/envelope.md): larger frames cost fewer AES-GCM set-ups and fewer
/// framing bytes; beyond this there is no measurable gain, and the largest payload's message still
/// fits Lambda's 6 MB limit as base64.
pub const FRAME_LENGTH: u32 = 65_536;

/// The key provider id of KMS-encrypted data keys.
pub const KMS_PROVIDER_ID: &[u8] = b"aws-kms";

/// A plaintext data key. Wiped when dropped; never printed.
pub struct DataKey(Zeroizing<Vec<u8>>);

impl DataKey {
    /// Wraps key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        DataKey(Zeroizing::new(bytes))
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
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

/// The encryption context as the message header stores it (sorted by key). Also the cache key
/// of a context.
pub fn canonical_context(context: &HashMap<String, String>) -> Vec<u8> {
    let sorted: BTreeMap<&str, &str> = context
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    format::serialize_context(&sorted)
}

/// An envelope sealed by [`Ctx::seal_envelope`](crate::Ctx::seal_envelope).
#[derive(Debug)]
pub struct Sealed {
    /// The message (not secret).
    pub message: Vec<u8>,
    /// ARN of the KMS key that made its data key.
    pub key_id: String,
}

/// What [`Ctx::open_envelope`](crate::Ctx::open_envelope) found in an envelope. Not `Debug`: it holds the plaintext.
pub struct Opened {
    /// The payload, wiped when dropped.
    pub plaintext: SecretBytes,
    /// ARN of the KMS key that decrypted its data key.
    pub key_id: String,
    /// The encryption context stored in the message — for a signed message, with its
    /// verification key under [`PUBLIC_KEY`], as the ESDK's decrypt returns it.
    pub context: BTreeMap<String, String>,
}

pub(crate) use crate::event::types::refuse_reserved_keys;

/// The whole of envelope encryption for an operation ([`Ctx::seal_envelope`](crate::Ctx::seal_envelope)):
/// a data key for `key` bound to `context` (from the cache, or KMS `GenerateDataKey`), then the
/// message. Signed (`signed`), a signing
/// key is made for this message alone and its public key added to the context before KMS binds
/// the context to the data key, as the ESDK does; a signed message never takes a cached data
/// key (its context is its own). Reserved context keys are refused.
pub(crate) async fn seal_for(
    kms: &Kms,
    data_keys: &DataKeyCache,
    key: &str,
    mut context: HashMap<String, String>,
    plaintext: &[u8],
    signed: bool,
) -> Result<Sealed, Error> {
    refuse_reserved_keys(&context)?;
    let signer = signed.then(Signer::generate).transpose()?;
    if let Some(signer) = &signer {
        context.insert(PUBLIC_KEY.to_string(), signer.public_key().to_string());
    }
    let data_key = data_keys
        .for_encrypt(kms, key, &context, plaintext.len())
        .await?;
    let message = seal_kms(
        &data_key.key,
        &data_key.key_id,
        &data_key.encrypted,
        &context,
        plaintext,
        FRAME_LENGTH,
        signer.as_ref(),
    )?;
    Ok(Sealed {
        message,
        key_id: data_key.key_id,
    })
}

/// The whole of opening an envelope for an operation
/// ([`Ctx::open_envelope`](crate::Ctx::open_envelope)), as the ESDK's decrypt does it: the
/// message parsed and checked; a suite without key commitment refused unless the commitment
/// policy allows it; every pair of the `stated` context (the event's) stored with the same
/// value; a signed suite's signature — all before KMS is asked for anything; then the data key
/// from KMS `Decrypt` pinned to `key` (or the cache), then the frames. Every failure of the
/// message is `InvalidCiphertext`.
pub(crate) async fn open_for(
    kms: &Kms,
    data_keys: &DataKeyCache,
    commitment: CommitmentPolicy,
    key: &str,
    ciphertext: &[u8],
    stated: &HashMap<String, String>,
) -> Result<Opened, Error> {
    let message = parse(ciphertext)?;
    let suite = message.suite;
    if !suite.commits() && commitment == CommitmentPolicy::RequireDecrypt {
        return Err(Error::new(
            ErrorType::InvalidCiphertext,
            format!(
                "the envelope uses {} (0x{:04x}), which does not commit to its data key; set \
                 ENVELOPE_COMMITMENT_POLICY=REQUIRE_ENCRYPT_ALLOW_DECRYPT to open such messages, \
                 as the ESDK's policy of that name does",
                suite.name, suite.id
            ),
        ));
    }
    check_stated_context(stated, &message.context)?;
    verify_signature(&message)?;
    let data_key = data_keys.for_message(kms, key, &message).await?;
    let plaintext = open_verified(&message, &data_key.key)?;
    Ok(Opened {
        plaintext,
        key_id: data_key.key_id,
        context: message.context,
    })
}

/// The ESDK's check of a reproduced encryption context: every pair the event states is stored
/// with the same value. (Values are never echoed: the message names keys only.)
pub fn check_stated_context(
    stated: &HashMap<String, String>,
    stored: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let mut keys: Vec<&String> = stated
        .iter()
        .filter(|(k, v)| stored.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort();
    let shown: Vec<String> = keys
        .iter()
        .take(5)
        .map(|k| format!("\"{}\"", k.escape_debug()))
        .collect();
    Err(Error::new(
        ErrorType::InvalidCiphertext,
        format!(
            "the encryptionContext differs from the one stored in the envelope (key {}): every \
             pair the event gives must be stored with the same value",
            shown.join(", ")
        ),
    ))
}

/// Size of the message [`seal`] (or, `signed`, a signed seal) writes for these parts; a signed
/// message's `context` includes its public key.
pub fn sealed_len(
    context: &[u8],
    key_arn: &str,
    encrypted_key: &[u8],
    plaintext_len: usize,
    signed: bool,
) -> usize {
    format::message_len(
        context.len(),
        &[(KMS_PROVIDER_ID.len(), key_arn.len(), encrypted_key.len())],
        FRAME_LENGTH as usize,
        plaintext_len,
    ) + if signed {
        footer_len(COMMITTING_SIGNED)
    } else {
        0
    }
}

/// The footer's size: the signature's length field and the signature at the ESDK's length.
fn footer_len(suite: &Suite) -> usize {
    suite.signing.map_or(0, |s| 2 + s.signature_len())
}

/// Seals `plaintext` under a data key from KMS (`encrypted_key`, made by `key_arn`).
pub fn seal(
    data_key: &DataKey,
    key_arn: &str,
    encrypted_key: &[u8],
    context: &HashMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    seal_framed(
        data_key,
        key_arn,
        encrypted_key,
        context,
        plaintext,
        FRAME_LENGTH,
    )
}

/// [`seal`] with another frame length (for the frame-length measurement).
pub fn seal_framed(
    data_key: &DataKey,
    key_arn: &str,
    encrypted_key: &[u8],
    context: &HashMap<String, String>,
    plaintext: &[u8],
    frame_length: u32,
) -> Result<Vec<u8>, Error> {
    seal_kms(
        data_key,
        key_arn,
        encrypted_key,
        context,
        plaintext,
        frame_length,
        None,
    )
}

/// A message of one data key KMS made (`encrypted_key`, by `key_arn`), signed by `signer` if
/// given: the key ARN and the encrypted data key must fit the header's 16-bit length fields.
fn seal_kms(
    data_key: &DataKey,
    key_arn: &str,
    encrypted_key: &[u8],
    context: &HashMap<String, String>,
    plaintext: &[u8],
    frame_length: u32,
    signer: Option<&Signer>,
) -> Result<Vec<u8>, Error> {
    let field = u16::MAX as usize;
    if key_arn.is_empty()
        || key_arn.len() > field
        || encrypted_key.is_empty()
        || encrypted_key.len() > field
    {
        return Err(Error::new(
            ErrorType::KmsInvalidResponse,
            "KMS returned a key id or an encrypted data key that does not fit the message header",
        ));
    }
    let keys = [EncryptedDataKey {
        provider_id: KMS_PROVIDER_ID,
        provider_info: key_arn.as_bytes(),
        ciphertext: encrypted_key,
    }];
    seal_with_keys(data_key, &keys, context, plaintext, frame_length, signer)
}

/// Seals `plaintext` under `data_key`, stored as each of `keys` encrypted it — a message any of
/// them opens, as the ESDK writes one for several master keys. With a `signer`, the message is
/// of the signed suite (0x0578) and signed by it; `context` must then carry its public key
/// under [`PUBLIC_KEY`] (it was bound to the data key when KMS made it).
pub fn seal_with_keys(
    data_key: &DataKey,
    keys: &[EncryptedDataKey<'_>],
    context: &HashMap<String, String>,
    plaintext: &[u8],
    frame_length: u32,
    signer: Option<&Signer>,
) -> Result<Vec<u8>, Error> {
    let suite = if signer.is_some() {
        COMMITTING_SIGNED
    } else {
        COMMITTING
    };
    if context.get(PUBLIC_KEY).map(String::as_str) != signer.map(Signer::public_key) {
        return Err(Error::new(
            ErrorType::Internal,
            format!(
                "a signed message's context carries its signer's public key under {PUBLIC_KEY}, \
                 and an unsigned one has none"
            ),
        ));
    }
    let field = u16::MAX as usize;
    let fits = |k: &EncryptedDataKey<'_>| {
        [k.provider_id, k.provider_info, k.ciphertext]
            .iter()
            .all(|part| part.len() <= field)
    };
    if keys.is_empty() || keys.len() > field || !keys.iter().all(fits) {
        return Err(Error::new(
            ErrorType::Internal,
            "a message carries 1 to 65,535 encrypted data keys, each part of at most 65,535 bytes",
        ));
    }
    if !(1..=format::MAX_FRAME_LENGTH).contains(&frame_length) {
        return Err(Error::new(
            ErrorType::Internal,
            "a frame length is 1 to 2^31 - 1 bytes",
        ));
    }
    let context = canonical_context(context);
    if context.len() > field {
        return Err(Error::invalid_request(
            "the encryption context does not fit the message header (64 KiB serialized)",
        ));
    }
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    aws_lc_rs::rand::fill(&mut message_id)
        .map_err(|_| Error::new(ErrorType::Internal, "the random generator failed"))?;
    let commitment = suite.commitment(data_key.bytes(), &message_id)?;
    let key = suite.message_key(data_key.bytes(), &message_id)?;
    let frame = frame_length as usize;
    let sizes: Vec<(usize, usize, usize)> = keys
        .iter()
        .map(|k| {
            (
                k.provider_id.len(),
                k.provider_info.len(),
                k.ciphertext.len(),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(
        format::message_len(context.len(), &sizes, frame, plaintext.len()) + footer_len(suite),
    );
    format::write_header_v2(
        &mut out,
        suite,
        &message_id,
        &context,
        keys,
        frame_length,
        &commitment,
    );
    let aes = |e| {
        Error::new(
            ErrorType::Internal,
            format!("AES-GCM encryption failed: {e:?}"),
        )
    };
    let header_tag = key
        .seal_in_place_separate_tag(nonce([0; IV_LEN]), Aad::from(&out[..]), &mut [])
        .map_err(aes)?;
    out.extend_from_slice(header_tag.as_ref());

    // Full frames, then a final frame with the rest — empty when the payload is a whole number
    // of frames, as the ESDK writes it.
    let mut chunks = plaintext.chunks_exact(frame);
    let mut sequence: u32 = 1;
    for chunk in chunks.by_ref() {
        out.extend_from_slice(&sequence.to_be_bytes());
        seal_frame(&key, &mut out, &message_id, sequence, chunk, false).map_err(aes)?;
        sequence = sequence
            .checked_add(1)
            .filter(|&n| n != u32::MAX)
            .ok_or_else(|| Error::new(ErrorType::PayloadTooLarge, "too many frames"))?;
    }
    out.extend_from_slice(&u32::MAX.to_be_bytes()); // the final frame's marker
    out.extend_from_slice(&sequence.to_be_bytes());
    seal_frame(
        &key,
        &mut out,
        &message_id,
        sequence,
        chunks.remainder(),
        true,
    )
    .map_err(aes)?;
    if let Some(signer) = signer {
        let signature = signer.sign(&out)?;
        out.extend_from_slice(&(signature.len() as u16).to_be_bytes());
        out.extend_from_slice(&signature);
    }
    Ok(out)
}

fn nonce(iv: [u8; IV_LEN]) -> Nonce {
    Nonce::assume_unique_for_key(iv)
}

/// Appends a frame's IV, (for the final frame) its length, its ciphertext and its tag.
fn seal_frame(
    key: &aws_lc_rs::aead::LessSafeKey,
    out: &mut Vec<u8>,
    message_id: &[u8],
    sequence: u32,
    chunk: &[u8],
    is_final: bool,
) -> Result<(), aws_lc_rs::error::Unspecified> {
    let iv = format::frame_iv(sequence);
    out.extend_from_slice(&iv);
    let aad_string = if is_final {
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        format::FINAL_FRAME_AAD
    } else {
        format::FRAME_AAD
    };
    let start = out.len();
    out.extend_from_slice(chunk);
    let aad = format::body_aad(message_id, aad_string, sequence, chunk.len());
    let tag = key.seal_in_place_separate_tag(nonce(iv), Aad::from(aad), &mut out[start..])?;
    out.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Opens a parsed message with its decrypted data key: the signature of a signed suite, the
/// key commitment, the header tag, then every segment. Any failure is `InvalidCiphertext`, and
/// no plaintext is returned.
pub fn open(message: &Message<'_>, data_key: &DataKey) -> Result<SecretBytes, Error> {
    verify_signature(message)?;
    open_verified(message, data_key)
}

/// A signed message's signature, checked with the verification key its context carries (an
/// unsigned message has none to check). Needs no data key: checked before KMS is asked for one,
/// so a message altered after it was signed, or signed by another key, costs no KMS call and
/// never yields a byte.
pub fn verify_signature(message: &Message<'_>) -> Result<(), Error> {
    if let Some(footer) = &message.footer {
        let public_key = message
            .context
            .get(PUBLIC_KEY)
            .expect("parse checks a signed message carries its public key");
        sign::verify(message.suite, public_key, footer.signed, footer.signature)?;
    }
    Ok(())
}

/// [`open`], its signature already verified ([`verify_signature`]).
fn open_verified(message: &Message<'_>, data_key: &DataKey) -> Result<SecretBytes, Error> {
    let suite = message.suite;
    let key = suite.message_key(data_key.bytes(), message.message_id)?;
    if let Some(stored) = message.commitment {
        let expected = suite.commitment(data_key.bytes(), message.message_id)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(stored, &expected).is_err() {
            return Err(Error::new(
                ErrorType::InvalidCiphertext,
                "the envelope's key commitment does not match its data key: it was altered, or \
                 made to open differently under different keys",
            ));
        }
    }
    let mut tag = message.header_tag.to_vec();
    key.open_in_place(
        nonce(message.header_iv),
        Aad::from(message.header),
        &mut tag,
    )
    .map_err(|_| {
        Error::new(
            ErrorType::InvalidCiphertext,
            "the envelope's header failed authentication: it was altered",
        )
    })?;
    let mut out = SecretBytes::zeroed(message.plaintext_len());
    let mut at = 0;
    for segment in message.segments() {
        let len = segment.ciphertext.len();
        let aad = format::body_aad(
            message.message_id,
            segment.aad_string,
            segment.sequence,
            len,
        );
        let iv: [u8; IV_LEN] = segment.iv.try_into().expect("parsed as 12 bytes");
        debug_assert_eq!(segment.tag.len(), TAG_LEN);
        key.open_separate_gather(
            nonce(iv),
            Aad::from(aad),
            segment.ciphertext,
            segment.tag,
            &mut out[at..at + len],
        )
        .map_err(|_| {
            Error::new(
                ErrorType::InvalidCiphertext,
                format!(
                    "the envelope failed authentication in frame {}: it was altered",
                    segment.sequence
                ),
            )
        })?;
        at += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
