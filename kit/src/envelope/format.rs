//! The AWS Encryption SDK message format, byte for byte: the header of message formats 1 and 2
//! (encryption context, encrypted data keys, content type, frame length, key commitment, header
//! authentication) and the framed and non-framed bodies. All integers are big-endian.
//!
//! ```text
//! format 2 header: 02 | suite (2) | message id (32) | context length (2) | context |
//!                  data key count (2) | data keys | content type (1) | frame length (4) |
//!                  commitment (32) | header tag (16)
//! format 1 header: 01 | 80 | suite (2) | message id (16) | context length (2) | context |
//!                  data key count (2) | data keys | content type (1) | 00000000 | 0c |
//!                  frame length (4) | header IV (12) | header tag (16)
//! context:         pair count (2) | { key length (2) | key | value length (2) | value }*,
//!                  sorted by key bytes; absent (length 0) when empty
//! data key:        provider id length (2) | provider id | provider info length (2) |
//!                  provider info | ciphertext length (2) | ciphertext
//! frame:           sequence number (4) | IV (12) | ciphertext (frame length) | tag (16)
//! final frame:     FFFFFFFF | sequence number (4) | IV (12) | length (4) | ciphertext | tag (16)
//! non-framed body: IV (12) | length (8) | ciphertext | tag (16)
//! footer:          signature length (2) | signature   (signed suites only)
//! ```
//!
//! Parsing checks the whole structure — every length, the frame order, nothing after the last
//! frame — before anything is decrypted or sent to KMS. It keeps no record per frame: the body
//! is walked once to check it, and again, frame by frame, to open it ([`Message::segments`]). So
//! what parsing holds does not grow with the number of frames, which a message chooses (a
//! frame length of 1 makes a frame of every byte), and the data keys' list is sized by what the
//! header's bytes can hold, not by the count it claims.

use super::sign::PUBLIC_KEY;
use super::suite::{self, Suite, COMMITMENT_LEN, IV_LEN, MESSAGE_ID_LEN, TAG_LEN};
use crate::error::{Error, ErrorType};
use crate::event::types::MAX_CONTEXT_BYTES;
use std::collections::BTreeMap;

/// Frame sequence number that marks the final frame.
const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;
/// Largest frame length the ESDK reads or writes.
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;
/// Body AAD strings.
pub const FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Frame";
/// See [`FRAME_AAD`].
pub const FINAL_FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Final Frame";
/// See [`FRAME_AAD`].
pub const SINGLE_BLOCK_AAD: &[u8] = b"AWSKMSEncryptionClient Single Block";

/// An encrypted data key from the header.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedDataKey<'a> {
    /// Who can decrypt it: `aws-kms` for KMS.
    pub provider_id: &'a [u8],
    /// For `aws-kms`: the ARN of the KMS key that encrypted it.
    pub provider_info: &'a [u8],
    /// The data key, encrypted (a KMS ciphertext blob for `aws-kms`).
    pub ciphertext: &'a [u8],
}

/// One encrypted piece of the body: a frame, the final frame, or the whole non-framed body.
#[derive(Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Sequence number, from 1.
    pub sequence: u32,
    /// The AAD string of its kind (frame, final frame, single block).
    pub aad_string: &'static [u8],
    /// Its IV.
    pub iv: &'a [u8],
    /// Its ciphertext (as long as its plaintext).
    pub ciphertext: &'a [u8],
    /// Its GCM tag.
    pub tag: &'a [u8],
}

/// A parsed message, borrowing from its bytes.
pub struct Message<'a> {
    /// The algorithm suite.
    pub suite: &'static Suite,
    /// 32 bytes in format 2, 16 in format 1.
    pub message_id: &'a [u8],
    /// The encryption context stored in the header (not secret: anyone can read it).
    pub context: BTreeMap<String, String>,
    /// The encrypted data keys, in header order.
    pub data_keys: Vec<EncryptedDataKey<'a>>,
    /// Frame length; 0 for a non-framed body.
    pub frame_length: u32,
    /// The key commitment (committing suites).
    pub commitment: Option<&'a [u8]>,
    /// The header bytes the header tag authenticates.
    pub header: &'a [u8],
    /// The header tag's IV (all zeros in format 2).
    pub header_iv: [u8; IV_LEN],
    /// The header tag.
    pub header_tag: &'a [u8],
    /// The footer of a signed suite's message: its signature, and the bytes it signs.
    pub footer: Option<Footer<'a>>,
    /// The body's bytes, checked whole by [`parse`].
    body: &'a [u8],
    /// Its segments, and their plaintext length in all.
    segments: usize,
    plaintext_len: usize,
}

impl<'a> Message<'a> {
    /// Total plaintext length.
    pub fn plaintext_len(&self) -> usize {
        self.plaintext_len
    }

    /// How many segments the body has (frames, or one non-framed body).
    pub fn segment_count(&self) -> usize {
        self.segments
    }

    /// The body's segments, in order, read as they are asked for (see the module documentation).
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        let mut r = Reader {
            buf: self.body,
            pos: 0,
        };
        let framed = self.frame_length != 0;
        let mut expected = 1;
        std::iter::from_fn(move || {
            if r.pos == r.buf.len() {
                return None;
            }
            let segment = if framed {
                next_frame(&mut r, self.frame_length, expected)
            } else {
                single_block(&mut r)
            };
            // `parse` walked the same bytes the same way: what it accepted reads again.
            let segment = segment.expect("checked by parse");
            expected = segment.sequence.wrapping_add(1);
            Some(segment)
        })
    }
}

/// A signed message's footer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Footer<'a> {
    /// Everything before the footer — header, header tag, body — which the signature covers.
    pub signed: &'a [u8],
    /// The ECDSA signature, DER-encoded.
    pub signature: &'a [u8],
}

/// Sizes, never the bytes.
impl std::fmt::Debug for Footer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Footer")
            .field("signed (bytes)", &self.signed.len())
            .field("signature (bytes)", &self.signature.len())
            .finish()
    }
}

/// What a message is, never its bytes: suite, sizes, the context's keys and the data keys'
/// providers (the ciphertext, the encrypted data keys and the context's values stay out of
/// logs, though none of them is secret).
impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("suite", &self.suite.name)
            .field("context (keys)", &self.context.keys().collect::<Vec<_>>())
            .field("data_keys", &self.data_keys)
            .field("frame_length", &self.frame_length)
            .field("footer", &self.footer)
            .field("segments", &self.segments)
            .field("plaintext_len", &self.plaintext_len)
            .finish()
    }
}

/// Sizes, never the bytes of a data key (encrypted, but key material).
impl std::fmt::Debug for EncryptedDataKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedDataKey")
            .field("provider_id", &String::from_utf8_lossy(self.provider_id))
            .field(
                "provider_info",
                &String::from_utf8_lossy(self.provider_info),
            )
            .field("ciphertext (bytes)", &self.ciphertext.len())
            .finish()
    }
}

/// Sizes, never the ciphertext.
impl std::fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("sequence", &self.sequence)
            .field("ciphertext (bytes)", &self.ciphertext.len())
            .finish()
    }
}

fn malformed(what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorType::InvalidCiphertext,
        format!("the envelope (an AWS Encryption SDK message) is malformed: {what}"),
    )
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(malformed(format!("truncated {what}")));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, Error> {
        let b = self.take(8, what)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }
    fn sized16(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let n = self.u16(what)? as usize;
        self.take(n, what)
    }
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Whether `blob` is an ESDK message rather than a KMS ciphertext: format 2 starts with `02`,
/// format 1 with `01 80`. KMS's symmetric ciphertexts start `01 02`.
pub fn is_message(blob: &[u8]) -> bool {
    matches!(blob, [0x02, _, ..] | [0x01, 0x80, ..])
}

/// Parses and checks a whole message, the footer of a signed suite included (its signature is
/// checked when the message is opened, before anything is decrypted). Known suites only.
pub fn parse(blob: &[u8]) -> Result<Message<'_>, Error> {
    let mut r = Reader { buf: blob, pos: 0 };
    let version = r.u8("version")?;
    let format = match version {
        0x02 => 2,
        0x01 => {
            if r.u8("message type")? != 0x80 {
                return Err(malformed("message type is not 0x80"));
            }
            1
        }
        other => return Err(malformed(format!("unknown message format version {other}"))),
    };
    let suite_id = r.u16("algorithm suite")?;
    let suite = suite::by_id(suite_id)
        .ok_or_else(|| malformed(format!("unknown algorithm suite 0x{suite_id:04x}")))?;
    if suite.format != format {
        return Err(malformed(format!(
            "suite {} belongs to message format {}, not {format}",
            suite.name, suite.format
        )));
    }
    let message_id = r.take(if format == 2 { MESSAGE_ID_LEN } else { 16 }, "message id")?;
    let context = parse_context(r.sized16("encryption context")?)?;
    // A signed suite's verification key travels in the context; an unsigned suite has none (as
    // the ESDK's decrypt checks).
    match (suite.signed, context.contains_key(PUBLIC_KEY)) {
        (true, false) => {
            return Err(malformed(format!(
                "it uses the signed suite {} (0x{:04x}) but its encryption context has no \
                 {PUBLIC_KEY}, the key to verify its signature with",
                suite.name, suite.id
            )))
        }
        (false, true) => {
            return Err(malformed(format!(
                "its encryption context has {PUBLIC_KEY}, which only a signed suite carries, but \
                 its suite {} (0x{:04x}) is unsigned",
                suite.name, suite.id
            )))
        }
        _ => {}
    }
    let count = r.u16("encrypted data key count")?;
    if count == 0 {
        return Err(malformed("no encrypted data key"));
    }
    // Each data key takes six length bytes at least: no more can fit what is left.
    let mut data_keys = Vec::with_capacity((count as usize).min(r.left() / 6));
    for _ in 0..count {
        data_keys.push(EncryptedDataKey {
            provider_id: r.sized16("key provider id")?,
            provider_info: r.sized16("key provider information")?,
            ciphertext: r.sized16("encrypted data key")?,
        });
    }
    let content_type = r.u8("content type")?;
    if format == 1 {
        if r.take(4, "reserved field")? != [0u8; 4] {
            return Err(malformed("the reserved field is not zero"));
        }
        if r.u8("IV length")? as usize != IV_LEN {
            return Err(malformed("IV length is not 12"));
        }
    }
    let frame_length = r.u32("frame length")?;
    match (content_type, frame_length) {
        (0x01, 0) => {}
        (0x01, _) => return Err(malformed("a non-framed message has a frame length")),
        (0x02, 1..=MAX_FRAME_LENGTH) => {}
        (0x02, _) => return Err(malformed("frame length out of range")),
        (other, _) => return Err(malformed(format!("unknown content type {other}"))),
    }
    let commitment = if suite.commits() {
        Some(r.take(COMMITMENT_LEN, "key commitment")?)
    } else {
        None
    };
    let header = &blob[..r.pos];
    let mut header_iv = [0u8; IV_LEN];
    if format == 1 {
        header_iv.copy_from_slice(r.take(IV_LEN, "header IV")?);
    }
    let header_tag = r.take(TAG_LEN, "header tag")?;

    // The body, walked once to check it: the segments are read again, one by one, to open them.
    let body = &blob[r.pos..];
    let mut b = Reader { buf: body, pos: 0 };
    let (mut segments, mut plaintext_len) = (0usize, 0usize);
    if content_type == 0x01 {
        let single = single_block(&mut b)?;
        (segments, plaintext_len) = (1, single.ciphertext.len());
    } else {
        let mut expected: u32 = 1;
        loop {
            let frame = next_frame(&mut b, frame_length, expected)?;
            segments += 1;
            plaintext_len += frame.ciphertext.len();
            if frame.aad_string == FINAL_FRAME_AAD {
                break;
            }
            expected = expected
                .checked_add(1)
                .filter(|&n| n != FINAL_FRAME_MARKER)
                .ok_or_else(|| malformed("too many frames"))?;
        }
    }
    let body_end = r.pos + b.pos;
    let body = &body[..b.pos];
    let footer = if suite.signed {
        let mut f = Reader {
            buf: blob,
            pos: body_end,
        };
        let signature = f.sized16("signature (the footer)")?;
        if signature.is_empty() {
            return Err(malformed("its signature is empty"));
        }
        b.pos = f.pos - r.pos; // where the message must end
        Some(Footer {
            signed: &blob[..body_end],
            signature,
        })
    } else {
        None
    };
    if r.pos + b.pos != blob.len() {
        return Err(malformed(format!(
            "{} bytes after the end of the message",
            blob.len() - (r.pos + b.pos)
        )));
    }
    Ok(Message {
        suite,
        message_id,
        context,
        data_keys,
        frame_length,
        commitment,
        header,
        header_iv,
        header_tag,
        footer,
        body,
        segments,
        plaintext_len,
    })
}

/// The whole body of a non-framed message.
fn single_block<'a>(r: &mut Reader<'a>) -> Result<Segment<'a>, Error> {
    let iv = r.take(IV_LEN, "body IV")?;
    let len = r.u64("body length")?;
    let len = usize::try_from(len).map_err(|_| malformed("body length out of range"))?;
    Ok(Segment {
        sequence: 1,
        aad_string: SINGLE_BLOCK_AAD,
        iv,
        ciphertext: r.take(len, "body")?,
        tag: r.take(TAG_LEN, "body tag")?,
    })
}

/// The next frame, which must be frame `expected` (the final frame ends the body).
fn next_frame<'a>(
    r: &mut Reader<'a>,
    frame_length: u32,
    expected: u32,
) -> Result<Segment<'a>, Error> {
    let marker = r.u32("frame sequence number")?;
    let is_final = marker == FINAL_FRAME_MARKER;
    let sequence = if is_final {
        r.u32("final frame sequence number")?
    } else {
        marker
    };
    if sequence != expected {
        return Err(malformed(format!(
            "frame {sequence} where frame {expected} was expected"
        )));
    }
    let iv = r.take(IV_LEN, "frame IV")?;
    let len = if is_final {
        let len = r.u32("final frame length")?;
        if len > frame_length {
            return Err(malformed("the final frame is longer than the frame length"));
        }
        len
    } else {
        frame_length
    };
    Ok(Segment {
        sequence,
        aad_string: if is_final { FINAL_FRAME_AAD } else { FRAME_AAD },
        iv,
        ciphertext: r.take(len as usize, "frame")?,
        tag: r.take(TAG_LEN, "frame tag")?,
    })
}

/// The encryption context as the header stores it: sorted by key bytes; empty for no context.
pub fn serialize_context(context: &BTreeMap<&str, &str>) -> Vec<u8> {
    if context.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(context.len() as u16).to_be_bytes());
    for (k, v) in context {
        for part in [k, v] {
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

fn parse_context(bytes: &[u8]) -> Result<BTreeMap<String, String>, Error> {
    let mut context = BTreeMap::new();
    if bytes.is_empty() {
        return Ok(context);
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let count = r.u16("encryption context pair count")?;
    if count == 0 {
        return Err(malformed("an empty encryption context must have length 0"));
    }
    let mut size = 0;
    for _ in 0..count {
        let key = r.sized16("encryption context key")?;
        let value = r.sized16("encryption context value")?;
        // Its keys and values went to KMS with the data key: a genuine message's context is
        // within what encrypt accepts. Refused before any of it is copied or sent to KMS.
        size += key.len() + value.len();
        if size > MAX_CONTEXT_BYTES {
            return Err(malformed(format!(
                "its encryption context has more than {MAX_CONTEXT_BYTES} bytes of keys and \
                 values, which no genuine message carries"
            )));
        }
        if context.insert(utf8(key)?, utf8(value)?).is_some() {
            return Err(malformed("a key appears twice in the encryption context"));
        }
    }
    if r.pos != bytes.len() {
        return Err(malformed("the encryption context is longer than its pairs"));
    }
    Ok(context)
}

fn utf8(b: &[u8]) -> Result<String, Error> {
    String::from_utf8(b.to_vec()).map_err(|_| malformed("the encryption context is not UTF-8"))
}

/// The body AAD of a segment: message id ‖ AAD string ‖ sequence number ‖ plaintext length.
/// (The whole message id, 32 bytes in format 2, as the Python ESDK does.)
pub fn body_aad(message_id: &[u8], aad_string: &[u8], sequence: u32, len: usize) -> Vec<u8> {
    let mut aad = Vec::with_capacity(message_id.len() + aad_string.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(aad_string);
    aad.extend_from_slice(&sequence.to_be_bytes());
    aad.extend_from_slice(&(len as u64).to_be_bytes());
    aad
}

/// The deterministic IV of frame `sequence` (0 for the header): eight zero bytes, then the
/// sequence number.
pub fn frame_iv(sequence: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[8..].copy_from_slice(&sequence.to_be_bytes());
    iv
}

/// Writes a format 2 header for `suite`, up to and including the key commitment (the bytes the
/// header tag authenticates).
pub fn write_header_v2(
    out: &mut Vec<u8>,
    suite: &Suite,
    message_id: &[u8],
    context: &[u8],
    data_keys: &[EncryptedDataKey<'_>],
    frame_length: u32,
    commitment: &[u8],
) {
    out.push(0x02);
    out.extend_from_slice(&suite.id.to_be_bytes());
    out.extend_from_slice(message_id);
    out.extend_from_slice(&(context.len() as u16).to_be_bytes());
    out.extend_from_slice(context);
    out.extend_from_slice(&(data_keys.len() as u16).to_be_bytes());
    for k in data_keys {
        for part in [k.provider_id, k.provider_info, k.ciphertext] {
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out.push(0x02); // framed
    out.extend_from_slice(&frame_length.to_be_bytes());
    out.extend_from_slice(commitment);
}

/// Size of a format 2 framed message with these parts.
pub fn message_len(
    context_len: usize,
    data_keys: &[(usize, usize, usize)],
    frame_length: usize,
    plaintext_len: usize,
) -> usize {
    let keys: usize = data_keys.iter().map(|(a, b, c)| 6 + a + b + c).sum();
    let header =
        1 + 2 + MESSAGE_ID_LEN + 2 + context_len + 2 + keys + 1 + 4 + COMMITMENT_LEN + TAG_LEN;
    let full_frames = plaintext_len / frame_length;
    let last = plaintext_len % frame_length;
    header
        + full_frames * (4 + IV_LEN + frame_length + TAG_LEN)
        + (4 + 4 + IV_LEN + 4 + last + TAG_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_is_sorted_by_key_bytes_and_round_trips() {
        let ctx = BTreeMap::from([("b", "2"), ("a", "1"), ("é", "x")]);
        let bytes = serialize_context(&ctx);
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(&bytes[2..7], &[0, 1, b'a', 0, 1]);
        let back = parse_context(&bytes).unwrap();
        let back: Vec<(&str, &str)> = back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(back, [("a", "1"), ("b", "2"), ("é", "x")]);
        assert!(serialize_context(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_context_over_the_limit_is_refused_as_no_genuine_message_carries_it() {
        let value = "v".repeat(4200);
        let at_limit = BTreeMap::from([("a", &value[..4000]), ("b", &value[..4190])]);
        let bytes = serialize_context(&at_limit);
        assert_eq!(
            parse_context(&bytes).unwrap().len(),
            2,
            "8,192 bytes are fine"
        );
        let over = BTreeMap::from([("a", &value[..4000]), ("b", &value[..4191])]);
        let e = parse_context(&serialize_context(&over)).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
        assert!(e.message().contains("more than 8192 bytes"), "{e}");
        let many: Vec<String> = (0..3000).map(|i| format!("k{i:04}")).collect();
        let many: BTreeMap<&str, &str> = many.iter().map(|k| (k.as_str(), "")).collect();
        assert!(
            parse_context(&serialize_context(&many)).is_err(),
            "tens of KB in small pairs"
        );
    }

    #[test]
    fn a_context_with_a_repeated_key_or_a_zero_count_is_malformed() {
        let twice = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(parse_context(&twice)
            .unwrap_err()
            .message()
            .contains("twice"));
        assert!(parse_context(&[0, 0]).is_err());
        assert!(parse_context(&[0, 1, 0, 5, b'a']).is_err());
    }

    #[test]
    fn only_esdk_messages_are_recognised_as_envelopes() {
        assert!(is_message(&[0x02, 0x04, 0x78]));
        assert!(is_message(&[0x01, 0x80, 0x01, 0x78]));
        assert!(
            !is_message(&[0x01, 0x02, 0x02, 0x00, 0x78]),
            "a KMS ciphertext"
        );
        assert!(!is_message(b"1234abcd-12ab"), "moto's ciphertext");
        assert!(!is_message(&[0x02]));
    }

    #[test]
    fn the_frame_iv_is_the_sequence_number_after_eight_zero_bytes() {
        assert_eq!(frame_iv(1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(frame_iv(0x0102_0304)[8..], [1, 2, 3, 4]);
    }
}
