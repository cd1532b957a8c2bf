//! Envelope encryption through the real binary and the local KMS: sizes from 0 bytes to the
//! limit, an envelope from another key, and the data-key cache with its three limits. (Damaged
//! envelopes, and interoperability with the official ESDK, are in `tests/esdk_interop.rs`.)

use crate::support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{b64, Harness, Outcome, PROJECT};

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
    let h = Harness::start(&PROJECT, &[]).await;
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
        assert_eq!(dec["encryptionContext"], json!({"doc": "42"}));
        assert!(
            dec["plaintext"] == b64(&payload),
            "{size} bytes did not round trip"
        );
    }
    let over = call(&h, &encrypt(&vec![0u8; 4_700_001], None)).await;
    assert_eq!(over.error_type(), "PayloadTooLarge");
}

#[tokio::test]
async fn an_envelope_from_another_key_is_refused() {
    let h = Harness::start(&PROJECT, &[]).await;
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
    let plain = Harness::start(&PROJECT, &[]).await;
    // Cache: a data key seals at most 3 messages.
    let cached = Harness::start(
        &PROJECT,
        &[
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
            ("DATA_KEY_CACHE_MAX_MESSAGES", "3"),
        ],
    )
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

#[tokio::test]
async fn the_data_key_cache_honours_its_byte_limit() {
    // At most 20,000 plaintext bytes per data key: two 6,000-byte messages share one, the third
    // (18,000 in all) still fits, the fourth would pass the limit and gets a new data key.
    let h = Harness::start(
        &PROJECT,
        &[
            ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
            ("DATA_KEY_CACHE_MAX_MESSAGES", "100"),
            ("DATA_KEY_CACHE_MAX_BYTES", "20000"),
        ],
    )
    .await;
    for i in 0..4u8 {
        call(&h, &encrypt(&[i; 6000], None)).await.ok();
    }
    assert_eq!(count(&h.gate.targets(), "GenerateDataKey"), 2);
}

/// The same envelopes through the handler and an in-memory KMS (`testing::memory`): what the
/// kit's envelope does for the sample operations, in milliseconds. Kept here, in the lab, so that
/// a copy's samples carry their own behaviour only.
mod in_memory {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use function::ops::FUNCTION;
    use kms_lambda_kit::testing::memory::{app, MemoryApp};
    use serde_json::{json, Value};
    use std::collections::HashMap;

    async fn roundtrip(app: &MemoryApp, payload: &[u8]) -> Value {
        let enc = app.call(json!({"operation":"encrypt","plaintext":STANDARD.encode(payload),"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        let dec = app.call(json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}))
            .await
            .unwrap();
        assert_eq!(dec["plaintext"], STANDARD.encode(payload));
        assert_eq!(dec["mode"], enc["mode"]);
        enc
    }

    #[tokio::test]
    async fn without_a_cache_every_envelope_costs_kms_calls() {
        let (app, kms) = app(&FUNCTION, &[]);
        for _ in 0..3 {
            roundtrip(&app, &vec![1u8; 5000]).await;
        }
        assert_eq!(kms.calls().len(), 6);
    }

    #[tokio::test]
    async fn the_data_key_cache_cuts_kms_calls_within_its_message_limit() {
        let (app, kms) = app(
            &FUNCTION,
            &[
                ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
                ("DATA_KEY_CACHE_MAX_MESSAGES", "2"),
            ],
        );
        for _ in 0..4 {
            roundtrip(&app, &vec![1u8; 5000]).await;
        }
        let calls = kms.calls();
        let generated = calls
            .iter()
            .filter(|c| c.starts_with("GenerateDataKey"))
            .count();
        let decrypted = calls.len() - generated;
        // Four messages, two per data key: two GenerateDataKey; the second envelope of each key
        // finds its decrypted data key cached.
        assert_eq!(generated, 2, "{calls:?}");
        assert_eq!(decrypted, 2, "{calls:?}");
    }

    #[tokio::test]
    async fn a_signed_envelope_round_trips_returning_its_verification_key_and_never_takes_a_cached_data_key(
    ) {
        let (app, kms) = app(
            &FUNCTION,
            &[
                ("DATA_KEY_CACHE_MAX_AGE_SECONDS", "300"),
                ("DATA_KEY_CACHE_MAX_MESSAGES", "100"),
            ],
        );
        for _ in 0..2 {
            let enc = app.call(json!({"operation":"encrypt","plaintext":"c2lnbmVk","encryptionContext":{"t":"1"},"signed":true}))
                .await
                .unwrap();
            assert_eq!(enc["mode"], "envelope");
            let blob = STANDARD
                .decode(enc["ciphertext"].as_str().unwrap())
                .unwrap();
            assert_eq!(blob[1..3], [0x05, 0x78], "suite 0x0578");
            let dec = app.call(json!({"operation":"decrypt","ciphertext":enc["ciphertext"],"encryptionContext":{"t":"1"}}))
                .await
                .unwrap();
            assert_eq!(dec["plaintext"], "c2lnbmVk");
            let context = dec["encryptionContext"].as_object().unwrap();
            assert_eq!(context["t"], "1");
            assert!(context.contains_key("aws-crypto-public-key"), "{context:?}");
        }
        let generated = kms
            .calls()
            .iter()
            .filter(|c| c.starts_with("GenerateDataKey"))
            .count();
        assert_eq!(
            generated,
            2,
            "one data key per signed message: {:?}",
            kms.calls()
        );
    }

    #[tokio::test]
    async fn the_largest_signed_envelope_with_the_largest_key_and_context_fits_lambdas_answer() {
        use kms_lambda_kit::__private::{base64_len, canonical_context, sealed_len, sign::Signer};
        use kms_lambda_kit::LAMBDA_PAYLOAD_LIMIT;
        // A key ARN of the largest size, a KMS data-key blob with room to spare, and a context of
        // 8 KiB in a few dozen pairs: the envelope of the largest payload still fits.
        let arn = "a".repeat(2048);
        // Signed, the larger: a footer, and the public key in the context.
        let mut context: HashMap<String, String> = (0..32)
            .map(|i| (format!("key-{i:02}"), "v".repeat(250)))
            .collect();
        let signer = Signer::generate().unwrap();
        context.insert(
            kms_lambda_kit::__private::sign::PUBLIC_KEY.into(),
            signer.public_key().into(),
        );
        let envelope = sealed_len(
            &canonical_context(&context),
            &arn,
            &[0u8; 512],
            function::ops::encrypt::MAX_ENVELOPE_PLAINTEXT,
            true,
        );
        let answer = r#"{"ciphertext":"","keyId":"","mode":"envelope"}"#.len() + arn.len();
        assert!(answer + base64_len(envelope) <= LAMBDA_PAYLOAD_LIMIT);
        let request = base64_len(function::ops::encrypt::MAX_ENVELOPE_PLAINTEXT)
            + r#"{"operation":"encrypt","plaintext":""}"#.len();
        assert!(
            LAMBDA_PAYLOAD_LIMIT - request > 16_000,
            "room for a context and a key id"
        );
    }
}
