//! Base64 both ways: strict decoding of what events carry, and payloads written piece by piece
//! into the response.
//!
//! Base64 is most of an envelope's cost — AES-GCM runs several times faster — so both
//! directions use `base64-simd` (the SDK's own base64, already in the tree), which picks AVX2,
//! SSE4.1 or NEON at run time; the `base64` crate stays the reference for strictness, and says
//! where invalid input went wrong (kms-lambda's docs/envelope.md).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

/// Base64 (RFC 4648, standard alphabet, with padding) of `bytes`, as responses carry it.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// Length of the padded base64 text of `bytes` bytes.
pub const fn base64_len(bytes: usize) -> usize {
    4 * bytes.div_ceil(3)
}

/// `bytes` as a base64 JSON string, the way replies carry payloads.
///
/// Serialized, it is produced piece by piece through the serializer's `collect_str`:
/// `serde_json` writes each piece straight into the response buffer, so a payload of several MB
/// never exists as a base64 `String` of its own (kms-lambda's docs/envelope.md, "Memory"). At
/// 1 MiB, through the event and response JSON, it is also twice as fast as encoding in one go and
/// copying: the response buffer then grows in steps instead of being resized from exactly full
/// (kms-lambda's docs/envelope.md, "Throughput").
pub struct Base64<'a>(pub &'a [u8]);

impl fmt::Display for Base64<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whole 3-byte groups per piece, so only the last piece can carry padding.
        const PIECE: usize = 12 * 1024;
        let mut text = [0u8; PIECE / 3 * 4];
        for piece in self.0.chunks(PIECE) {
            let out = base64_simd::Out::from_slice(&mut text[..]);
            f.write_str(base64_simd::STANDARD.encode_as_str(piece, out))?;
        }
        Ok(())
    }
}

impl serde::Serialize for Base64<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(counted) = SIZING.get() {
            // Sizing an answer ([`json_len`]): its length, not its text.
            SIZING.set(Some(counted + base64_len(self.0.len())));
            return serializer.serialize_str("");
        }
        serializer.collect_str(self)
    }
}

thread_local! {
    /// While [`json_len`] runs on this thread: the base64 bytes its payloads will take.
    static SIZING: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The length of `value` written as JSON, its payloads ([`Base64`]) counted, not encoded: an
/// answer's size is known before it is written, without a pass over megabytes of base64. (The
/// count runs on this thread alone, synchronously, so concurrent invocations never mix.)
pub fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let outer = SIZING.replace(Some(0));
    let mut count = Count(0);
    let written = serde_json::to_writer(&mut count, value);
    let payloads = SIZING.replace(outer).unwrap_or(0);
    written.map(|()| count.0 + payloads)
}

/// Decodes strict standard base64: padding required, non-canonical final characters refused
/// (as the `base64` crate's `STANDARD` does; a test keeps the two in agreement). On failure it
/// says where, never echoing the input.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    base64_simd::STANDARD
        .decode_to_vec(text)
        .map_err(|_| match STANDARD.decode(text) {
            // The fast decoder gives no position; the slow one, on this error path only, does.
            Err(e) => describe_base64_error(&e),
            Ok(_) => "rejected by the strict decoder".into(),
        })
}

/// The base64 crate's messages quote the offending byte; say where instead.
fn describe_base64_error(e: &base64::DecodeError) -> String {
    use base64::DecodeError::*;
    match e {
        InvalidByte(offset, _) => format!("invalid character at offset {offset}"),
        InvalidLength(len) => format!("length {len} is not a whole number of base64 blocks"),
        InvalidLastSymbol(offset, _) => format!("non-canonical final character at offset {offset}"),
        InvalidPadding => "missing or misplaced '=' padding".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answers_length_is_counted_exactly_without_encoding_its_payloads() {
        #[derive(serde::Serialize)]
        struct Answer<'a> {
            key_id: &'a str,
            ciphertext: Base64<'a>,
            nested: Vec<Base64<'a>>,
        }
        for n in [0usize, 1, 2, 3, 4, 100, 65_537] {
            let bytes = vec![7u8; n];
            let answer = Answer {
                key_id: "k\"ey",
                ciphertext: Base64(&bytes),
                nested: vec![Base64(&bytes[..n / 2]), Base64(b"xy")],
            };
            let written = serde_json::to_vec(&answer).unwrap();
            assert_eq!(json_len(&answer).unwrap(), written.len(), "{n}");
        }
        assert!(SIZING.get().is_none(), "the count ends with the call");
    }

    #[test]
    fn base64_written_in_pieces_is_the_same_text() {
        const PIECE: usize = 12 * 1024;
        for len in [0, 1, 2, 3, 4, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 2] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
            let expected = STANDARD.encode(&bytes);
            assert_eq!(Base64(&bytes).to_string(), expected, "{len}");
            assert_eq!(base64_len(bytes.len()), expected.len());
            let written = serde_json::to_string(&Base64(&bytes)).unwrap();
            assert_eq!(written, format!("\"{expected}\""), "{len}");
        }
    }

    // The fast decoder must accept exactly what the strict reference (`base64`'s STANDARD)
    // accepts, and decode it to the same bytes: a looser decoder would let two different
    // events mean the same ciphertext.
    proptest::proptest! {
        #[test]
        fn the_fast_base64_agrees_with_the_strict_reference(
            text in "[AQgwBR+/=a9_ -]{0,14}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            proptest::prop_assert_eq!(decode_base64(&text).ok(), STANDARD.decode(&text).ok());
            let encoded = encode_base64(&bytes);
            proptest::prop_assert_eq!(&encoded, &STANDARD.encode(&bytes));
            proptest::prop_assert_eq!(decode_base64(&encoded).unwrap(), bytes);
        }
    }

    #[test]
    fn non_canonical_and_unpadded_base64_is_refused_by_the_fast_decoder_too() {
        for bad in ["aGl=", "aGk", "aR==", "aGk==", "=aGk", "aGk=aGk=", "aG\nk="] {
            assert!(decode_base64(bad).is_err(), "{bad}");
            assert!(STANDARD.decode(bad).is_err(), "{bad}");
        }
        // Large enough for the vector paths (AVX2 / NEON) to run, with one bad byte deep inside.
        let mut long = STANDARD.encode(vec![0x5au8; 3000]).into_bytes();
        long[2999] = b'*';
        let e = decode_base64(std::str::from_utf8(&long).unwrap()).unwrap_err();
        assert_eq!(e, "invalid character at offset 2999");
    }
}
