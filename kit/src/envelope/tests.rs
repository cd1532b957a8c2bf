use super::*;
use crate::error::ErrorType;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use sign::Signer;

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

/// Parses and opens; either step's error.
fn open_bytes(blob: &[u8], key: &DataKey) -> Result<Vec<u8>, Error> {
    let message = parse(blob)?;
    open(&message, key).map(|p| p.to_vec())
}

/// A message made by the official Python ESDK (the template's `scripts/esdk_vectors.py`).
struct Vector {
    name: String,
    message: Vec<u8>,
    plaintext: Vec<u8>,
    context: BTreeMap<String, String>,
    data_key: Option<DataKey>,
    suite: u16,
}

fn vectors() -> Vec<Vector> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/esdk-vectors");
    let mut out: Vec<Vector> = std::fs::read_dir(dir)
        .expect("tests/esdk-vectors")
        .map(|e| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            let hex = |s: &str| {
                (0..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                    .collect::<Vec<u8>>()
            };
            Vector {
                name: v["name"].as_str().unwrap().to_string(),
                message: STANDARD.decode(v["message"].as_str().unwrap()).unwrap(),
                plaintext: STANDARD.decode(v["plaintext"].as_str().unwrap()).unwrap(),
                context: serde_json::from_value(v["context"].clone()).unwrap(),
                data_key: v["data_key"].as_str().map(|k| DataKey::new(hex(k))),
                suite: u16::from_str_radix(
                    v["suite"].as_str().unwrap().trim_start_matches("0x"),
                    16,
                )
                .unwrap(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 8, "the vectors are in tests/esdk-vectors");
    out
}

#[test]
fn every_message_the_python_esdk_made_opens_with_its_data_key_signed_or_not() {
    let all = vectors();
    assert!(
        all.iter()
            .filter(|v| parse(&v.message).is_ok_and(|m| m.suite.signed))
            .count()
            >= 5
    );
    for v in &all {
        assert!(is_envelope(&v.message), "{}", v.name);
        let message = parse(&v.message).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(message.suite.id, v.suite, "{}", v.name);
        assert_eq!(message.context, v.context, "{}", v.name);
        assert_eq!(message.data_keys.len(), 1);
        assert_eq!(
            message.footer.is_some(),
            message.context.contains_key(sign::PUBLIC_KEY),
            "{}: a signature exactly when a verification key",
            v.name
        );
        let plaintext = open(&message, v.data_key.as_ref().unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(*plaintext, v.plaintext, "{}", v.name);
    }
}

/// A signed message of this function's (suite 0x0578), sealed under [`key`].
fn signed_message(plaintext: &[u8], frame: u32) -> (Vec<u8>, Signer) {
    let signer = Signer::generate().unwrap();
    let c = ctx(&[("tenant", "acme"), (sign::PUBLIC_KEY, signer.public_key())]);
    let keys = [EncryptedDataKey {
        provider_id: KMS_PROVIDER_ID,
        provider_info: ARN.as_bytes(),
        ciphertext: b"edk",
    }];
    let sealed = seal_with_keys(&key(), &keys, &c, plaintext, frame, Some(&signer)).unwrap();
    (sealed, signer)
}

#[test]
fn a_signed_message_carries_its_public_key_and_a_signature_of_the_esdks_length_and_opens() {
    let (sealed, signer) = signed_message(b"signed payload", FRAME_LENGTH);
    assert_eq!(&sealed[1..3], &[0x05, 0x78], "suite 0x0578");
    let m = parse(&sealed).unwrap();
    assert_eq!(m.context[sign::PUBLIC_KEY], signer.public_key());
    let footer = m.footer.unwrap();
    assert_eq!(footer.signature.len(), 103);
    assert_eq!(footer.signed.len() + 2 + 103, sealed.len());
    assert_eq!(
        sealed.len(),
        sealed_len(
            &canonical_context(&m.context.clone().into_iter().collect()),
            ARN,
            b"edk",
            14,
            true
        )
    );
    assert_eq!(&*open(&m, &key()).unwrap(), b"signed payload");
    assert!(
        !format!("{signer:?}").contains("private"),
        "the signing key is never shown"
    );
}

#[test]
fn a_signed_message_with_a_flipped_signature_byte_is_refused_before_any_decryption() {
    let (sealed, _) = signed_message(&[3u8; 300], 64);
    let signature_at = sealed.len() - 103;
    for at in signature_at..sealed.len() {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        let e = open_bytes(&bad, &key()).expect_err("a flipped signature byte must not open");
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "byte {at}: {e}");
        assert!(e.message().contains("signature"), "byte {at}: {e}");
    }
    // Every byte it covers, once: the signature fails first, whatever else also would.
    for at in 3..signature_at - 2 {
        let mut bad = sealed.clone();
        bad[at] ^= 0x80;
        let e = open_bytes(&bad, &key()).expect_err("an altered byte must not open");
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "byte {at}: {e}");
    }
}

#[test]
fn a_signed_message_with_its_footer_cut_is_malformed_naming_the_signature() {
    let (sealed, _) = signed_message(b"payload", 64);
    for cut in [1, 50, 103, 104, 105] {
        let e = open_bytes(&sealed[..sealed.len() - cut], &key()).unwrap_err();
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "cut {cut}: {e}");
        assert!(e.message().contains("signature"), "cut {cut}: {e}");
    }
}

#[test]
fn a_signed_message_signed_by_another_key_does_not_verify() {
    let (sealed, _) = signed_message(b"payload", 64);
    let m = parse(&sealed).unwrap();
    let forged = Signer::generate()
        .unwrap()
        .sign(m.footer.unwrap().signed)
        .unwrap();
    let mut bad = m.footer.unwrap().signed.to_vec();
    bad.extend_from_slice(&(forged.len() as u16).to_be_bytes());
    bad.extend_from_slice(&forged);
    let e = open_bytes(&bad, &key()).unwrap_err();
    assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
    assert!(
        e.message()
            .contains("does not verify with the key its header names"),
        "{e}"
    );
}

#[test]
fn a_signed_suite_without_its_public_key_or_an_unsigned_one_with_a_public_key_is_malformed() {
    // An unsigned message relabelled signed, a footer added.
    let mut relabelled = seal(&key(), ARN, b"edk", &ctx(&[("k", "v")]), b"payload").unwrap();
    relabelled[1..3].copy_from_slice(&[0x05, 0x78]);
    relabelled.extend_from_slice(&[0, 3, 1, 2, 3]);
    let e = open_bytes(&relabelled, &key()).unwrap_err();
    assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
    assert!(
        e.message().contains("signed suite")
            && e.message().contains("has no aws-crypto-public-key"),
        "{e}"
    );
    // A signed message relabelled unsigned, its footer removed.
    let (sealed, _) = signed_message(b"payload", 64);
    let mut relabelled = sealed[..sealed.len() - 105].to_vec();
    relabelled[1..3].copy_from_slice(&[0x04, 0x78]);
    let e = open_bytes(&relabelled, &key()).unwrap_err();
    assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
    assert!(
        e.message().contains("aws-crypto-public-key") && e.message().contains("is unsigned"),
        "{e}"
    );
}

#[test]
fn sealing_checks_the_context_carries_exactly_the_signers_public_key() {
    let signer = Signer::generate().unwrap();
    let keys = [EncryptedDataKey {
        provider_id: KMS_PROVIDER_ID,
        provider_info: ARN.as_bytes(),
        ciphertext: b"edk",
    }];
    let other = Signer::generate().unwrap();
    for (context, signer) in [
        (ctx(&[]), Some(&signer)),
        (
            ctx(&[(sign::PUBLIC_KEY, other.public_key())]),
            Some(&signer),
        ),
        (ctx(&[(sign::PUBLIC_KEY, signer.public_key())]), None),
    ] {
        let e = seal_with_keys(&key(), &keys, &context, b"x", 64, signer).unwrap_err();
        assert_eq!(e.kind(), ErrorType::Internal, "{e}");
    }
}

#[test]
fn reserved_context_keys_are_refused_for_encryption() {
    assert!(refuse_reserved_keys(&ctx(&[("tenant", "acme"), ("aws-crypt", "x")])).is_ok());
    let e = refuse_reserved_keys(&ctx(&[("aws-crypto-public-key", "forged")])).unwrap_err();
    assert_eq!(e.kind(), ErrorType::InvalidRequest);
    assert!(e.message().contains("\"aws-crypto-public-key\""), "{e}");
}

#[test]
fn a_python_message_opened_with_another_data_key_fails_the_key_commitment() {
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "v2-0478-framed-4096")
        .unwrap();
    let e = open_bytes(&v.message, &DataKey::new(vec![9u8; 32])).unwrap_err();
    assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
    assert!(e.message().contains("key commitment"), "{e}");
}

#[test]
fn a_sealed_message_has_the_documented_layout_and_round_trips() {
    let c = ctx(&[("tenant", "acme"), ("doc", "42")]);
    let sealed = seal(&key(), ARN, b"edk-bytes", &c, b"hello envelope").unwrap();
    assert_eq!(sealed[0], 0x02, "message format 2");
    assert_eq!(&sealed[1..3], &[0x04, 0x78], "suite 0x0478");
    let m = parse(&sealed).unwrap();
    assert_eq!(m.message_id.len(), 32);
    assert_eq!(
        m.context,
        BTreeMap::from([
            ("doc".into(), "42".into()),
            ("tenant".into(), "acme".into())
        ])
    );
    assert_eq!(
        m.data_keys,
        [EncryptedDataKey {
            provider_id: b"aws-kms",
            provider_info: ARN.as_bytes(),
            ciphertext: b"edk-bytes",
        }]
    );
    assert_eq!(m.frame_length, FRAME_LENGTH);
    assert_eq!(m.segment_count(), 1, "one final frame");
    assert_eq!(
        sealed.len(),
        sealed_len(&canonical_context(&c), ARN, b"edk-bytes", 14, false)
    );
    assert_eq!(&*open(&m, &key()).unwrap(), b"hello envelope");
}

#[test]
fn a_payload_of_whole_frames_ends_with_an_empty_final_frame_as_the_esdk_writes_it() {
    for (len, frames) in [
        (0usize, 1usize),
        (1, 1),
        (63, 1),
        (64, 2),
        (65, 2),
        (128, 3),
    ] {
        let plaintext = vec![5u8; len];
        let sealed = seal_framed(&key(), ARN, b"k", &HashMap::new(), &plaintext, 64).unwrap();
        let m = parse(&sealed).unwrap();
        assert_eq!(m.segment_count(), frames, "{len} bytes");
        assert_eq!(m.segments().count(), frames, "{len} bytes");
        let last = m.segments().last().unwrap();
        assert_eq!(last.aad_string, format::FINAL_FRAME_AAD);
        assert_eq!(last.ciphertext.len(), len % 64, "{len} bytes");
        assert_eq!(open(&m, &key()).unwrap().to_vec(), plaintext, "{len} bytes");
    }
}

#[test]
fn two_messages_of_the_same_payload_differ_by_their_random_message_id() {
    let a = seal(&key(), ARN, b"k", &HashMap::new(), b"same").unwrap();
    let b = seal(&key(), ARN, b"k", &HashMap::new(), b"same").unwrap();
    assert_ne!(a, b);
    assert_ne!(parse(&a).unwrap().message_id, parse(&b).unwrap().message_id);
}

#[test]
fn every_flipped_bit_and_every_truncation_is_an_invalid_ciphertext_without_plaintext() {
    let c = ctx(&[("k", "v")]);
    // Small frames, so the flips cover regular frames, the final frame and their fields.
    let sealed = seal_framed(&key(), ARN, b"encrypted-data-key", &c, &[42u8; 150], 64).unwrap();
    for bit in 0..sealed.len() * 8 {
        let mut bad = sealed.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let e = open_bytes(&bad, &key()).expect_err("a flipped bit must not open");
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "bit {bit}: {e}");
    }
    for len in 0..sealed.len() {
        let e = open_bytes(&sealed[..len], &key()).expect_err("a truncation must not open");
        assert_eq!(e.kind(), ErrorType::InvalidCiphertext, "len {len}: {e}");
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(open_bytes(&longer, &key())
        .unwrap_err()
        .message()
        .contains("after the end"));
}

#[test]
fn frames_out_of_order_are_refused_before_decryption() {
    let sealed = seal_framed(&key(), ARN, b"k", &HashMap::new(), &[1u8; 200], 64).unwrap();
    let m = parse(&sealed).unwrap();
    // Swap the first two frames' bytes (both 4 + 12 + 64 + 16 = 96 bytes long).
    let first = sealed.len() - m.segments().map(|s| 32 + s.ciphertext.len()).sum::<usize>() - 8;
    let mut swapped = sealed.clone();
    let (a, b) = swapped[first..first + 192].split_at_mut(96);
    a.swap_with_slice(b);
    let e = parse(&swapped).unwrap_err();
    assert!(e.message().contains("where frame 1 was expected"), "{e}");
}

#[test]
fn a_data_key_never_shows_in_debug_output() {
    assert_eq!(format!("{:?}", key()), "DataKey(<redacted>)");
}

proptest! {
    #[test]
    fn seal_then_open_returns_every_field(
        key_id in "[a-zA-Z0-9:/_-]{1,300}",
        edk in proptest::collection::vec(any::<u8>(), 1..600),
        plaintext in proptest::collection::vec(any::<u8>(), 0..3000),
        pairs in proptest::collection::hash_map("[a-z]{1,8}", ".{0,16}", 0..4),
        frame in 1u32..1500,
    ) {
        let sealed = seal_framed(&key(), &key_id, &edk, &pairs, &plaintext, frame).unwrap();
        let m = parse(&sealed).unwrap();
        prop_assert_eq!(m.data_keys[0].provider_info, key_id.as_bytes());
        prop_assert_eq!(m.data_keys[0].ciphertext, edk.as_slice());
        let stored: HashMap<String, String> = m.context.clone().into_iter().collect();
        prop_assert_eq!(&stored, &pairs);
        prop_assert_eq!(open(&m, &key()).unwrap().to_vec(), plaintext);
    }

    #[test]
    fn parsing_and_opening_arbitrary_bytes_never_panics(mut blob in proptest::collection::vec(any::<u8>(), 0..600), v2 in any::<bool>()) {
        if v2 && blob.len() >= 3 {
            blob[..3].copy_from_slice(&[0x02, 0x04, 0x78]);
        }
        let _ = open_bytes(&blob, &key());
    }
}

#[test]
fn a_stated_context_must_be_a_part_of_the_stored_one() {
    let stored = BTreeMap::from([
        ("a".to_string(), "1".to_string()),
        ("b".to_string(), "2".to_string()),
    ]);
    let stated = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert!(check_stated_context(&stated(&[]), &stored).is_ok());
    assert!(check_stated_context(&stated(&[("a", "1")]), &stored).is_ok());
    assert!(check_stated_context(&stated(&[("a", "1"), ("b", "2")]), &stored).is_ok());
    let e = check_stated_context(&stated(&[("a", "secret-guess")]), &stored).unwrap_err();
    assert_eq!(e.kind(), ErrorType::InvalidCiphertext);
    assert!(e.message().contains("key \"a\""), "{e}");
    assert!(
        !e.message().contains("secret"),
        "values are never echoed: {e}"
    );
    assert!(check_stated_context(&stated(&[("c", "3")]), &stored).is_err());
}
