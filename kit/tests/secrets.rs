//! Secrets in encrypted environment variables, through the kit's probe (`probe/`) run as Lambda
//! runs a function — its real binary under the Runtime API emulator, against a local KMS behind
//! the SigV4 gate — with the secret `KIT_PROBE_SECRET` encrypted for it:
//!
//! - start-up refuses a missing or malformed variable with one line naming it, and sends nothing;
//! - 64 concurrent first asks make one `Decrypt`, and the asks after it none;
//! - a ciphertext encrypted for another function is `Configuration` naming the variable, and the
//!   next ask tries again;
//! - nothing of the secret reaches the function's output, at any log level.

mod common;

use common::{at_once, ops, probe};
use kms_lambda_kit::testing::{admin_client, kms_url, Harness};
use serde_json::json;
use std::time::Duration;

fn decrypts(h: &Harness) -> usize {
    h.gate
        .targets()
        .iter()
        .filter(|t| *t == "TrentService.Decrypt")
        .count()
}

#[tokio::test]
async fn sixty_four_concurrent_first_asks_make_one_decrypt_and_the_asks_after_it_none() {
    let h = Harness::start(
        &probe(),
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", "64"),
            ("MAX_EVENT_BYTES", "65536"),
        ],
    )
    .await;
    h.emulator.wait_for_polls(64, Duration::from_secs(30)).await;
    assert_eq!(h.gate.requests(), 0, "nothing sent in INIT");
    let value = h.secret_value(&ops::PROBE_SECRET).len();
    let ask = json!({"operation": "secretLength"});
    for out in at_once(&h, &ask, 64).await {
        assert_eq!(out.ok()["bytes"], value);
    }
    assert_eq!(decrypts(&h), 1, "{:?}", h.gate.targets());
    for out in at_once(&h, &ask, 16).await {
        assert_eq!(out.ok()["bytes"], value);
    }
    assert_eq!(h.gate.requests(), 1, "later asks cost no KMS call");
    // The EMF line of the one that decrypted says so, and how long it took.
    let lines = h.function.emf_wait(80).await;
    let reported: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.get("SecretInitMs").is_some())
        .collect();
    assert_eq!(reported.len(), 1, "{lines:#?}");
    assert!(reported[0]["SecretInitMs"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn a_secret_encrypted_for_another_function_is_configuration_naming_its_variable() {
    let url = kms_url();
    let key = kms_lambda_kit::testing::create_key_of(&url, &ops::VAULT).await;
    let other = kms_lambda_kit::tools::local_keys::encrypt_secret(
        &admin_client(&url),
        &ops::PROBE_SECRET,
        &key.alias,
        "another-function",
        "meant-for-someone-else-7c2",
    )
    .await;
    let h = Harness::start(
        &probe(),
        &[
            ("KIT_PROBE_SECRET", &other),
            ("KMS_VAULT_KEY_ID", &key.alias),
        ],
    )
    .await;
    for _ in 0..2 {
        let out = h
            .emulator
            .invoke(&json!({"operation": "secretLength"}))
            .await;
        assert_eq!(out.error_type(), "Configuration", "{out:?}");
        assert!(
            out.error_message().starts_with("KIT_PROBE_SECRET: "),
            "{out:?}"
        );
        assert!(!out.error_message().contains("someone-else"), "{out:?}");
    }
    assert_eq!(
        decrypts(&h),
        2,
        "a failed decrypt is not kept: the next ask tries again"
    );
}

#[tokio::test]
async fn start_up_refuses_a_missing_or_malformed_secret_naming_its_variable_and_sends_nothing() {
    for (value, said) in [
        ("", "is required"),
        ("not base64!", "is not standard base64"),
        ("aGk=", "decodes to 2 bytes"),
    ] {
        let mut h = Harness::start(&probe(), &[("KIT_PROBE_SECRET", value)]).await;
        let status = h.function.wait_exit(Duration::from_secs(20)).await;
        assert!(!status.success(), "{value:?}");
        let out = h.function.output();
        let refusal: Vec<&String> = out.iter().filter(|l| l.contains("invalid")).collect();
        assert_eq!(refusal.len(), 1, "{value:?}: {out:#?}");
        assert!(
            refusal[0].starts_with("kit-probe: invalid configuration: KIT_PROBE_SECRET: ")
                && refusal[0].contains(said),
            "{value:?}: {}",
            refusal[0]
        );
        assert_eq!(h.gate.requests(), 0, "{value:?}: nothing sent");
    }
}

#[tokio::test]
async fn nothing_of_the_secret_reaches_the_output_at_any_log_level() {
    let h = Harness::start(
        &probe(),
        &[
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
            ("RUST_LOG", "trace"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ],
    )
    .await;
    let value = h.secret_value(&ops::PROBE_SECRET).to_string();
    for _ in 0..3 {
        h.emulator
            .invoke(&json!({"operation": "secretLength"}))
            .await
            .ok();
    }
    h.function.emf_wait(3).await;
    let output = h.function.output().join("\n");
    assert!(
        output.contains("decrypted a secret on first use"),
        "the logs ran"
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    for form in [&value[..], &b64[..], &hex[..]] {
        for window in form.as_bytes().windows(12).step_by(5) {
            let window = std::str::from_utf8(window).unwrap();
            assert!(
                !output.contains(window),
                "{window:?} of the secret is in the output"
            );
        }
    }
}
