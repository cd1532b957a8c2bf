//! Envelope encryption through the real binary and the local KMS: sizes from 0 bytes to the
//! limit, every way an envelope can be damaged, and the data-key cache.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;
use support::{b64, Harness, Outcome};

fn encrypt(plaintext: &[u8], mode: Option<&str>) -> Value {
    let mut e = support::encrypt(plaintext, json!({"doc": "42"}));
    if let Some(m) = mode {
        e["mode"] = json!(m);
    }
    e
}

fn decrypt(ciphertext: &str, context: Value) -> Value {
    support::decrypt(&json!(ciphertext), context)
}

/// Large events go through `invoke_raw` with a generous timeout (debug build, 2 cores).
async fn call(h: &Harness, event: &Value) -> Outcome {
    h.emulator
        .invoke_raw(serde_json::to_vec(event).unwrap(), Duration::from_secs(60))
        .await
}

#[tokio::test]
async fn every_size_round_trips_and_the_mode_follows_the_size() {
    let h = Harness::start(&[]).await;
    let cases: [(usize, Option<&str>, &str); 6] = [
        (0, Some("envelope"), "envelope"),
        (4096, None, "direct"),
        (4097, None, "envelope"),
        (64 * 1024, None, "envelope"),
        (1024 * 1024, None, "envelope"),
        (4_700_000, None, "envelope"),
    ];
    for (size, mode, expected) in cases {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let enc = call(&h, &encrypt(&payload, mode)).await.ok();
        assert_eq!(enc["mode"], expected, "{size} bytes");
        assert_eq!(enc["keyId"], h.key.arn);
        let dec = call(
            &h,
            &decrypt(enc["ciphertext"].as_str().unwrap(), json!({"doc": "42"})),
        )
        .await
        .ok();
        assert_eq!(dec["mode"], expected);
        assert!(
            dec["plaintext"] == b64(&payload),
            "{size} bytes did not round trip"
        );
    }
    let over = call(&h, &encrypt(&vec![0u8; 4_700_001], None)).await;
    assert_eq!(over.error_type(), "PayloadTooLarge");
}

#[tokio::test]
async fn a_damaged_envelope_is_a_typed_error_and_never_plaintext() {
    let h = Harness::start(&[]).await;
    let secret = b"top secret envelope payload ".repeat(200);
    let enc = call(&h, &encrypt(&secret, None)).await.ok();
    let blob = STANDARD
        .decode(enc["ciphertext"].as_str().unwrap())
        .unwrap();
    let key_len = u16::from_be_bytes([blob[5], blob[6]]) as usize;
    let edk_at = 7 + key_len + 2;
    let edk_len = u16::from_be_bytes([blob[edk_at - 2], blob[edk_at - 1]]) as usize;
    let nonce_at = edk_at + edk_len;
    let fields = [
        ("magic", 1),
        ("version", 4),
        ("key id length", 6),
        ("key id", 7 + key_len / 2),
        ("data key length", edk_at - 1),
        ("encrypted data key", edk_at + edk_len / 2),
        ("nonce", nonce_at + 3),
        ("ciphertext", nonce_at + 12 + 100),
        ("tag", blob.len() - 1),
    ];
    let ok_context = json!({"doc": "42"});
    let mut damaged: Vec<(String, Vec<u8>, Value)> = fields
        .iter()
        .map(|(name, at)| {
            let mut b = blob.clone();
            b[*at] ^= 0x01;
            (format!("bit flipped in {name}"), b, ok_context.clone())
        })
        .collect();
    damaged.push((
        "truncated in the header".into(),
        blob[..edk_at].to_vec(),
        ok_context.clone(),
    ));
    damaged.push((
        "truncated in the body".into(),
        blob[..blob.len() - 40].to_vec(),
        ok_context.clone(),
    ));
    let mut v2 = blob.clone();
    v2[4] = 2;
    damaged.push(("version 2".into(), v2, ok_context.clone()));
    damaged.push(("wrong context".into(), blob.clone(), json!({"doc": "43"})));
    damaged.push(("no context".into(), blob.clone(), json!({})));

    for (what, bytes, context) in damaged {
        let out = call(&h, &decrypt(&STANDARD.encode(&bytes), context)).await;
        let Outcome::Err {
            error_type,
            message,
        } = &out
        else {
            panic!("{what}: decrypted anyway")
        };
        if what.contains("magic") {
            // No longer an envelope, so it goes to KMS as a direct ciphertext: AWS answers
            // InvalidCiphertextException; moto reads a key id out of it and answers AccessDenied.
            assert!(
                ["InvalidCiphertext", "KmsAccessDenied"].contains(&error_type.as_str()),
                "{what}: {message}"
            );
            continue;
        }
        assert_eq!(error_type, "InvalidCiphertext", "{what}: {message}");
        assert!(!message.contains("top secret"), "{what}");
    }
    let v2 = {
        let mut b = blob.clone();
        b[4] = 2;
        b
    };
    let out = call(&h, &decrypt(&STANDARD.encode(&v2), json!({"doc": "42"}))).await;
    let Outcome::Err { message, .. } = out else {
        unreachable!()
    };
    assert!(message.contains("version 2"), "{message}");
}

#[tokio::test]
async fn an_envelope_from_another_key_is_refused() {
    let h = Harness::start(&[]).await;
    let other = support::create_key(&support::kms_url()).await;
    let mut event = encrypt(&[9u8; 5000], None);
    event["keyId"] = json!(other.alias);
    let enc = call(&h, &event).await.ok();
    assert_eq!(enc["keyId"], other.arn);
    // Decrypt is pinned to the function's own key. AWS answers IncorrectKeyException
    // (InvalidCiphertext); moto answers AccessDeniedException (KmsAccessDenied).
    let out = call(
        &h,
        &decrypt(enc["ciphertext"].as_str().unwrap(), json!({"doc": "42"})),
    )
    .await;
    assert!(
        ["InvalidCiphertext", "KmsAccessDenied"].contains(&out.error_type()),
        "{out:?}"
    );
    // Naming the key that made it works.
    let mut dec = decrypt(enc["ciphertext"].as_str().unwrap(), json!({"doc": "42"}));
    dec["keyId"] = json!(other.alias);
    assert_eq!(call(&h, &dec).await.ok()["plaintext"], b64(&[9u8; 5000]));
}

fn count(targets: &[String], op: &str) -> usize {
    targets.iter().filter(|t| t.ends_with(op)).count()
}

#[tokio::test]
async fn the_data_key_cache_cuts_kms_calls_and_honours_its_message_limit() {
    // No cache: every envelope costs a GenerateDataKey and a Decrypt.
    let plain = Harness::start(&[]).await;
    // Cache: a data key seals at most 3 messages.
    let cached = Harness::start(&[
        ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
        ("DATA_KEY_CACHE_MAX_MESSAGES", "3"),
    ])
    .await;
    for h in [&plain, &cached] {
        for i in 0..6u8 {
            let enc = call(h, &encrypt(&[i; 6000], None)).await.ok();
            let dec = call(
                h,
                &decrypt(enc["ciphertext"].as_str().unwrap(), json!({"doc": "42"})),
            )
            .await
            .ok();
            assert_eq!(dec["plaintext"], b64(&[i; 6000]));
        }
    }
    let (p, c) = (plain.gate.targets(), cached.gate.targets());
    assert_eq!((count(&p, "GenerateDataKey"), count(&p, "Decrypt")), (6, 6));
    // 6 messages / 3 per key = 2 data keys; each decrypted once, then served from the cache.
    assert_eq!(
        (count(&c, "GenerateDataKey"), count(&c, "Decrypt")),
        (2, 2),
        "{c:?}"
    );

    // The cache is keyed by context: another context needs its own data key.
    let mut other = encrypt(&[1u8; 6000], None);
    other["encryptionContext"] = json!({"doc": "other"});
    call(&cached, &other).await.ok();
    assert_eq!(count(&cached.gate.targets(), "GenerateDataKey"), 3);
}
