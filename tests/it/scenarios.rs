//! The real `kms-lambda` binary under a Runtime API emulator, against a real local KMS.
//! Each test is a scenario; names say what is shown.

use crate::support;

use base64::Engine;

use serde_json::{json, Value};
use std::time::Duration;
use support::PROJECT;
use support::{b64, decrypt, encrypt, Canned, Harness};

#[tokio::test]
async fn encrypt_then_decrypt_round_trips_with_the_encryption_context() {
    let h = Harness::start(&PROJECT, &[]).await;
    let ctx = json!({"tenant": "acme", "purpose": "test"});
    let enc = h
        .emulator
        .invoke(&encrypt(b"attack at dawn", ctx.clone()))
        .await
        .ok();
    assert_eq!(
        enc["keyId"], h.key.arn,
        "encrypt reports the key ARN behind the alias"
    );
    assert_ne!(enc["ciphertext"], b64(b"attack at dawn"));

    let dec = h
        .emulator
        .invoke(&decrypt(&enc["ciphertext"], ctx))
        .await
        .ok();
    assert_eq!(dec["plaintext"], b64(b"attack at dawn"));
    assert_eq!(dec["keyId"], h.key.arn);
    assert_eq!(
        h.gate.targets(),
        ["TrentService.Encrypt", "TrentService.Decrypt"]
    );
}

#[tokio::test]
async fn decrypt_with_a_different_encryption_context_is_rejected() {
    let h = Harness::start(&PROJECT, &[]).await;
    let enc = h
        .emulator
        .invoke(&encrypt(b"payload", json!({"tenant": "acme"})))
        .await
        .ok();
    for wrong in [
        json!({"tenant": "evil"}),
        json!({}),
        json!({"tenant": "acme", "extra": "x"}),
    ] {
        let out = h
            .emulator
            .invoke(&decrypt(&enc["ciphertext"], wrong.clone()))
            .await;
        assert_eq!(out.error_type(), "InvalidCiphertext", "context {wrong}");
    }
    let ok = h
        .emulator
        .invoke(&decrypt(&enc["ciphertext"], json!({"tenant": "acme"})))
        .await
        .ok();
    assert_eq!(ok["plaintext"], b64(b"payload"));
}

#[tokio::test]
async fn sixty_four_concurrent_first_events_build_the_client_exactly_once() {
    const N: usize = 64;
    // As Lambda Managed Instances run it: 64 at once in one process, with the memory for them.
    let h = Harness::start(
        &PROJECT,
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", "64"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"),
        ],
    )
    .await;
    // All workers are polling before any event arrives, so the events really overlap.
    h.emulator.wait_for_polls(N, Duration::from_secs(30)).await;
    let pending: Vec<_> = (0..N as u8)
        .map(|i| {
            h.emulator.submit(
                serde_json::to_vec(&encrypt(&[i; 32], json!({"n": i.to_string()}))).unwrap(),
                Duration::from_secs(30),
            )
        })
        .collect();
    for rx in pending {
        let out = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .unwrap()
            .unwrap();
        out.ok();
    }
    let emf = h.function.emf_wait(N).await;
    let builds = emf
        .iter()
        .filter(|l| l.get("ClientInitMs").is_some())
        .count();
    let cold = emf.iter().filter(|l| l["ColdStart"] == 1).count();
    assert_eq!(
        builds, 1,
        "exactly one invocation built the client: {emf:#?}"
    );
    assert_eq!(cold, 1, "exactly one invocation is the cold start");
    let logged = h
        .function
        .output()
        .iter()
        .filter(|l| l.contains("built the KMS client"))
        .count();
    assert_eq!(logged, 1);
    assert_eq!(h.gate.requests(), N);
}

#[tokio::test]
async fn an_event_above_max_event_bytes_is_refused_unread_with_its_size() {
    let h = Harness::start(&PROJECT, &[("MAX_EVENT_BYTES", "4096")]).await;
    let big = h.emulator.invoke(&encrypt(&[7u8; 4000], json!({}))).await;
    assert_eq!(big.error_type(), "PayloadTooLarge");
    assert!(
        big.error_message().contains("MAX_EVENT_BYTES"),
        "{}",
        big.error_message()
    );
    // The function goes on serving events that fit, and KMS never saw the refused one.
    h.emulator
        .invoke(&encrypt(&[7u8; 100], json!({})))
        .await
        .ok();
    assert_eq!(h.gate.requests(), 1);
}

#[tokio::test]
async fn every_invocation_writes_one_consistent_emf_line() {
    let h = Harness::start(&PROJECT, &[("METRICS_NAMESPACE", "KmsLambdaTest")]).await;
    h.emulator.invoke(&encrypt(b"one", json!({}))).await.ok();
    h.emulator.invoke(&encrypt(b"two", json!({}))).await.ok();
    let bad = h.emulator.invoke(&json!({"operation": "encrypt"})).await;
    assert_eq!(bad.error_type(), "InvalidRequest");
    let emf = h.function.emf_wait(3).await;
    assert_eq!(emf.len(), 3);

    for (i, line) in emf.iter().enumerate() {
        assert_eq!(line["requestId"], format!("req-{i:04}"));
        assert_eq!(line["FunctionName"], "kms-lambda-test");
        let cw = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "KmsLambdaTest");
        assert_eq!(cw["Dimensions"], json!([["FunctionName"]]));
        for def in cw["Metrics"].as_array().unwrap() {
            let name = def["Name"].as_str().unwrap();
            assert!(
                line[name].is_number(),
                "declared metric {name} missing in {line}"
            );
        }
    }
    let (cold, warm, failed) = (&emf[0], &emf[1], &emf[2]);
    assert_eq!(cold["ColdStart"], 1);
    assert_eq!(warm["ColdStart"], 0);
    assert_eq!(failed["ColdStart"], 0);
    // The cold invoke's InitToSend includes the client build; the warm one has no build.
    let f = |v: &Value, k: &str| {
        v[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing in {v}"))
    };
    assert!(f(cold, "InitToSendMs") >= f(cold, "ClientInitMs"), "{cold}");
    assert!(warm.get("ClientInitMs").is_none());
    for line in [cold, warm] {
        assert_eq!(line["KmsAttempts"], 1);
        assert_eq!(line["ErrorType"], "None");
        assert_eq!(line["Operation"], "encrypt");
        assert!(f(line, "SignatureAgeMs") >= 0.0);
        assert!(f(line, "KmsRoundTripMs") > 0.0);
        assert!(
            f(line, "ClockSkewMs").abs() <= 2000.0,
            "local clocks agree: {line}"
        );
    }
    // A rejected event never reached KMS, so it reports no KMS metrics.
    assert_eq!(failed["ErrorType"], "InvalidRequest");
    assert!(failed.get("KmsAttempts").is_none() && failed.get("InitToSendMs").is_none());
}

#[tokio::test]
async fn invalid_configuration_fails_start_up_with_one_line_naming_the_variable() {
    let first = PROJECT.keys()[0].variable;
    for (env, variable) in [
        (vec![(first, "")], first),
        (vec![("KMS_MAX_ATTEMPTS", "lots")], "KMS_MAX_ATTEMPTS"),
        (
            vec![("KMS_CLOCK_OFFSET_SECONDS", "15m")],
            "KMS_CLOCK_OFFSET_SECONDS",
        ),
        // The Region is read while INIT prepares the SDK configuration, never from the network.
        (vec![("AWS_REGION", "")], "AWS_REGION"),
        // 64 slots of 6 MiB events cannot fit in 128 MB (the emulator's memory size): refused
        // at start-up rather than killed for memory under load.
        (
            vec![("AWS_LAMBDA_MAX_CONCURRENCY", "64")],
            "AWS_LAMBDA_MAX_CONCURRENCY",
        ),
        // A secret missing, or not a KMS ciphertext.
        (vec![("WEBHOOK_SIGNING_KEY", "")], "WEBHOOK_SIGNING_KEY"),
        (
            vec![("WEBHOOK_SIGNING_KEY", "hunter2-not-base64")],
            "WEBHOOK_SIGNING_KEY",
        ),
    ] {
        let emulator = support::Emulator::start().await;
        // Every key variable well-formed, every secret a plausible ciphertext, then the case's
        // values on top.
        let mut vars: Vec<(&str, String)> = PROJECT
            .keys()
            .iter()
            .map(|k| (k.variable, "alias/ok".to_string()))
            .collect();
        let plausible = b64(&[1u8; 64]);
        vars.extend(
            PROJECT
                .function
                .secrets_table()
                .iter()
                .map(|s| (s.variable, plausible.clone())),
        );
        vars.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let mut f = support::Process::spawn(PROJECT.binary, &emulator, &vars);
        let status = f.wait_exit(Duration::from_secs(20)).await;
        assert!(!status.success());
        let out = f.output();
        assert_eq!(out.len(), 1, "{out:#?}");
        assert!(
            out[0].contains(&format!("invalid configuration: {variable}:")),
            "{out:?}"
        );
        assert!(
            !out[0].contains("hunter2"),
            "a value is never echoed: {out:?}"
        );
        assert_eq!(
            emulator.polls(),
            0,
            "a misconfigured function never polls for events"
        );
    }
}

#[tokio::test]
async fn plaintext_never_reaches_the_logs_even_at_trace_level() {
    // A unique marker, encrypted and decrypted at TRACE with JSON logs, plus error paths.
    let marker = format!("CANARY-{}-{}", std::process::id(), line!());
    let h = Harness::start(
        &PROJECT,
        &[("RUST_LOG", "trace"), ("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    )
    .await;
    let payload = format!("the secret is {marker}");
    let enc = h
        .emulator
        .invoke(&encrypt(payload.as_bytes(), json!({})))
        .await
        .ok();
    let dec = h
        .emulator
        .invoke(&decrypt(&enc["ciphertext"], json!({})))
        .await
        .ok();
    assert_eq!(dec["plaintext"], b64(payload.as_bytes()));
    // Error paths: wrong context (KMS error), and the marker as invalid base64 and as a number.
    h.emulator
        .invoke(&decrypt(&enc["ciphertext"], json!({"k": "v"})))
        .await
        .error_type();
    h.emulator
        .invoke(&json!({"operation": "encrypt", "plaintext": marker}))
        .await
        .error_type();
    h.emulator
        .invoke(
            &json!({"operation": "encrypt", "plaintext": b64(payload.as_bytes()), "junk": marker}),
        )
        .await
        .error_type();
    h.gate.fail_next([Canned::status(500)]);
    h.emulator
        .invoke(&encrypt(payload.as_bytes(), json!({})))
        .await
        .ok();
    // Envelope mode: a payload above 4 KiB, so a plaintext data key passes through the function.
    let big = payload.repeat(300);
    let env = h
        .emulator
        .invoke(&encrypt(big.as_bytes(), json!({})))
        .await
        .ok();
    assert_eq!(env["mode"], "envelope");
    let back = h
        .emulator
        .invoke(&decrypt(&env["ciphertext"], json!({})))
        .await
        .ok();
    assert_eq!(back["plaintext"], b64(big.as_bytes()));
    // The secret: decrypted on the first signature, held for the next.
    for _ in 0..2 {
        h.emulator
            .invoke(&json!({"operation": "webhookSignature", "payload": b64(b"push")}))
            .await
            .ok();
    }
    // Envelope error paths: wrong context, and a damaged envelope.
    h.emulator
        .invoke(&decrypt(&env["ciphertext"], json!({"k": "v"})))
        .await
        .error_type();
    let mut damaged = base64::engine::general_purpose::STANDARD
        .decode(env["ciphertext"].as_str().unwrap())
        .unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    h.emulator
        .invoke(&decrypt(&json!(b64(&damaged)), json!({})))
        .await
        .error_type();
    h.function.emf_wait(12).await;

    let output = h.function.output().join("\n");
    assert!(
        output.len() > 10_000,
        "TRACE logging was really on ({} bytes)",
        output.len()
    );
    let secret = h
        .secret_value(&function::ops::WEBHOOK_SIGNING_KEY)
        .to_string();
    let b64_forms = [
        b64(payload.as_bytes()),
        b64(marker.as_bytes()),
        b64(big.as_bytes()),
        b64(secret.as_bytes()),
    ];
    assert!(!output.contains(&marker), "the marker leaked into the logs");
    assert!(
        !output.contains(&secret[4..16]),
        "the secret leaked into the logs"
    );
    for form in &b64_forms {
        // Any 12-character window of the base64 form would be a leak too.
        let window = &form[4..16];
        assert!(
            !output.contains(window),
            "base64 of the payload leaked into the logs"
        );
    }
    let ciphertext = enc["ciphertext"].as_str().unwrap();
    assert!(
        !output.contains(&ciphertext[8..40]),
        "the ciphertext leaked into the logs"
    );
}

#[tokio::test]
async fn a_kms_success_without_a_required_field_is_a_typed_error_never_an_empty_success() {
    let h = Harness::start(&PROJECT, &[]).await;
    let arn = h.key.arn.clone();
    let direct = encrypt(b"direct", json!({}));
    let envelope = encrypt(&[7u8; 5000], json!({}));
    let ciphertext = h.emulator.invoke(&direct).await.ok()["ciphertext"].clone();
    let sealed = h.emulator.invoke(&envelope).await.ok()["ciphertext"].clone();
    let cases = [
        (&direct, json!({"KeyId": arn}), "Encrypt", "CiphertextBlob"),
        (
            &direct,
            json!({"CiphertextBlob": "", "KeyId": arn}),
            "Encrypt",
            "CiphertextBlob",
        ),
        (
            &direct,
            json!({"CiphertextBlob": "AQID"}),
            "Encrypt",
            "KeyId",
        ),
        (&direct, json!({}), "Encrypt", "CiphertextBlob"),
        (
            &decrypt(&ciphertext, json!({})),
            json!({"KeyId": arn}),
            "Decrypt",
            "Plaintext",
        ),
        (
            &decrypt(&ciphertext, json!({})),
            json!({"Plaintext": "", "KeyId": arn}),
            "Decrypt",
            "Plaintext",
        ),
        (
            &decrypt(&ciphertext, json!({})),
            json!({"Plaintext": "aGk="}),
            "Decrypt",
            "KeyId",
        ),
        (
            &envelope,
            json!({"CiphertextBlob": "AQID", "KeyId": arn}),
            "GenerateDataKey",
            "Plaintext",
        ),
        (
            &envelope,
            json!({"Plaintext": b64(&[1u8; 32]), "KeyId": arn}),
            "GenerateDataKey",
            "CiphertextBlob",
        ),
        (
            &envelope,
            json!({"Plaintext": b64(&[1u8; 32]), "CiphertextBlob": "AQID", "KeyId": ""}),
            "GenerateDataKey",
            "KeyId",
        ),
        (
            &decrypt(&sealed, json!({})),
            json!({"KeyId": arn}),
            "Decrypt",
            "Plaintext",
        ),
        (
            &envelope,
            json!({"Plaintext": b64(&[1u8; 16]), "CiphertextBlob": "AQID", "KeyId": arn}),
            "GenerateDataKey",
            "16-byte data key",
        ),
    ];
    for (event, answer, operation, field) in cases {
        let before = h.gate.requests();
        h.gate.fail_next([Canned {
            status: 200,
            body: answer.to_string(),
        }]);
        let out = h.emulator.invoke(event).await;
        let support::Outcome::Err {
            error_type,
            message,
        } = &out
        else {
            panic!("{operation} answered {answer}: succeeded with {out:?}")
        };
        assert_eq!(
            error_type, "KmsInvalidResponse",
            "{operation} {answer}: {message}"
        );
        assert!(
            message.contains(&format!("KMS {operation} answered without {field}"))
                || message.contains(field),
            "{operation} {answer}: {message}"
        );
        assert_eq!(
            h.gate.requests() - before,
            1,
            "{operation} {answer}: not retried"
        );
    }
    // Still serving.
    h.emulator.invoke(&direct).await.ok();
}

#[tokio::test]
async fn over_https_the_function_trusts_the_system_roots_plus_ssl_cert_file_as_it_trusts_aws() {
    let ca = support::tls::test_ca();
    let h = Harness::start_tls(&PROJECT, &[], Some(ca.bundle())).await;
    let enc = h
        .emulator
        .invoke(&encrypt(b"over https", json!({"t": "1"})))
        .await
        .ok();
    let dec = h
        .emulator
        .invoke(&decrypt(&enc["ciphertext"], json!({"t": "1"})))
        .await
        .ok();
    assert_eq!(dec["plaintext"], b64(b"over https"));
    let envelope = h
        .emulator
        .invoke(&encrypt(&[3u8; 5000], json!({})))
        .await
        .ok();
    assert_eq!(envelope["mode"], "envelope");
    assert_eq!(h.gate.requests(), 3);
}

#[tokio::test]
async fn an_endpoint_whose_certificate_chains_to_no_trusted_root_is_refused_before_anything_is_sent(
) {
    // The system roots only: the test root is not among them.
    let h = Harness::start_tls(&PROJECT, &[], None).await;
    let out = h.emulator.invoke(&encrypt(b"secret", json!({}))).await;
    let support::Outcome::Err {
        error_type,
        message,
    } = &out
    else {
        panic!("an untrusted endpoint was accepted: {out:?}")
    };
    assert_eq!(error_type, "KmsUnavailable", "{message}");
    assert_eq!(h.gate.requests(), 0, "nothing reached KMS");
}

#[tokio::test]
async fn the_sdks_next_retry_behaviour_is_honoured_when_set_not_pinned() {
    for (setting, spec) in [(None, false), (Some("true"), true)] {
        let mut env = vec![("RUST_LOG", "kms_lambda_kit=debug")];
        env.extend(setting.map(|v| ("AWS_NEW_RETRIES_2026", v)));
        let h = Harness::start(&PROJECT, &env).await;
        h.emulator
            .invoke(&encrypt(b"retries", json!({})))
            .await
            .ok();
        let output = h.function.output();
        let line = output
            .iter()
            .find(|l| l.contains("KMS client retry configuration"))
            .unwrap_or_else(|| panic!("no retry configuration logged: {output:#?}"));
        assert_eq!(
            line.contains("retry_spec: Some"),
            spec,
            "{setting:?}: {line}"
        );
        assert!(line.contains("max_attempts: 3"), "KMS_MAX_ATTEMPTS: {line}");
    }
}
