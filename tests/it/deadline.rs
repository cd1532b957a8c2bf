//! The invocation's deadline, less its margin, bounds an operation however many KMS calls it
//! makes one after another: each call, each retry and the operation as a whole end by the same
//! instant, with a typed `DeadlineExceeded` and its EMF line — before Lambda would end the
//! invocation with `Task timed out` and no answer at all. (The kit's own tests show it for an
//! operation of three calls; here, for this function's envelope decrypt over several data keys.)

use crate::support;

use kms_lambda_kit::__private::{seal_with_keys, DataKey, EncryptedDataKey, KMS_PROVIDER_ID};
use serde_json::json;
use std::time::Duration;
use support::{Harness, PROJECT};

/// The function's timeout in these scenarios; its margin is the default 500 ms.
const TIMEOUT: Duration = Duration::from_secs(3);
/// How late KMS answers each request.
const LATE: Duration = Duration::from_millis(900);

#[tokio::test]
async fn an_envelope_decrypt_over_several_data_keys_ends_with_the_invocations_deadline() {
    let h = Harness::start(&PROJECT, &[]).await;
    // An envelope carrying three data keys for the function's key: two KMS refuses, then the
    // real one — each a Decrypt call.
    let generated = support::admin_client(&support::kms_url())
        .generate_data_key()
        .key_id(&h.key.key_id)
        .key_spec(kms_lambda_kit::aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let data_key = DataKey::new(generated.plaintext.unwrap().into_inner());
    let real = generated.ciphertext_blob.unwrap().into_inner();
    let arn = h.key.arn.as_bytes();
    let (bad1, bad2) = (vec![1u8; 60], vec![2u8; 60]);
    let keys: Vec<EncryptedDataKey<'_>> = [&bad1, &bad2, &real]
        .into_iter()
        .map(|ciphertext| EncryptedDataKey {
            provider_id: KMS_PROVIDER_ID,
            provider_info: arn,
            ciphertext,
        })
        .collect();
    let sealed = seal_with_keys(
        &data_key,
        &keys,
        &Default::default(),
        b"three data keys",
        4096,
        None,
    )
    .unwrap();
    let event = json!({"operation": "decrypt", "ciphertext": support::b64(&sealed)});
    // Without delay the third data key opens it.
    let opened = h.emulator.invoke(&event).await.ok();
    assert_eq!(opened["plaintext"], support::b64(b"three data keys"));
    assert_eq!(
        h.gate
            .targets()
            .iter()
            .filter(|t| t.ends_with("Decrypt"))
            .count(),
        3
    );
    // KMS answering each request late: `DeadlineExceeded` before the invocation's deadline, and
    // its EMF line (the invocation's second) says so.
    let (out, took) = h.invoke_with_kms_late(&event, LATE, TIMEOUT).await;
    assert_eq!(out.error_type(), "DeadlineExceeded", "{out:?}");
    assert!(
        took < TIMEOUT,
        "answered after {took:?}, past the invocation's deadline"
    );
    let line = h.function.emf_wait(2).await[1].clone();
    assert_eq!(line["ErrorType"], "DeadlineExceeded", "{line}");
}
