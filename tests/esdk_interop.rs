//! Envelopes any AWS Encryption SDK can open, proven against the official Python ESDK
//! (`aws-encryption-sdk`, pinned in tools/requirements.txt) over the same local KMS: the Python
//! ESDK decrypts what the function encrypted, the function decrypts what the Python ESDK
//! encrypted — sizes from empty to the largest payload, with and without an encryption context,
//! several frame lengths on the Python side — and every tampered part of a message is
//! `InvalidCiphertext` with no plaintext.
//!
//! The Python side is `scripts/esdk_peer.py`, one process for the whole test, reaching KMS
//! through `AWS_ENDPOINT_URL_KMS` like any AWS SDK.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;
use support::{Harness, Outcome, PROJECT};

/// The function's frame length, and the sizes around it.
const FRAME: usize = kms_lambda_kit::envelope::FRAME_LENGTH as usize;
const LARGEST: usize = function::ops::encrypt::MAX_ENVELOPE_PLAINTEXT;

struct PythonEsdk {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PythonEsdk {
    fn start(key_arn: &str) -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut child = Command::new(format!("{root}/.venv/bin/python"))
            .arg(format!("{root}/scripts/esdk_peer.py"))
            .arg(key_arn)
            .env("AWS_ENDPOINT_URL_KMS", support::kms_url())
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the Python ESDK peer (run `make venv`)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        PythonEsdk {
            child,
            stdin,
            stdout,
        }
    }

    fn call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer answered {line:?}: {e}"))
    }

    fn encrypt(&mut self, plaintext: &[u8], context: &Value, frame_length: usize) -> Vec<u8> {
        let out = self.call(json!({"op": "encrypt", "plaintext": STANDARD.encode(plaintext), "context": context, "frame_length": frame_length}));
        STANDARD
            .decode(out["message"].as_str().unwrap_or_else(|| panic!("{out}")))
            .unwrap()
    }

    fn decrypt(&mut self, message: &str) -> Value {
        self.call(json!({"op": "decrypt", "message": message}))
    }
}

impl Drop for PythonEsdk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

async fn call(h: &Harness, event: &Value) -> Outcome {
    h.emulator
        .invoke_raw(serde_json::to_vec(event).unwrap(), Duration::from_secs(120))
        .await
}

fn contexts() -> [Value; 2] {
    [json!({}), json!({"tenant": "acme", "purpose": "interop"})]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_esdk_decrypts_what_the_function_encrypted() {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut python = PythonEsdk::start(&h.key.arn);
    for size in [0, 1, FRAME, FRAME + 1, 1 << 20, LARGEST] {
        for context in contexts() {
            let plaintext = payload(size);
            let event = json!({"operation": "encrypt", "plaintext": STANDARD.encode(&plaintext), "encryptionContext": context, "mode": "envelope"});
            let enc = call(&h, &event).await.ok();
            let out = python.decrypt(enc["ciphertext"].as_str().unwrap());
            assert!(out.get("error").is_none(), "{size} bytes, {context}: {out}");
            assert_eq!(out["suite"], "0x0478");
            assert_eq!(out["context"], context, "{size} bytes");
            assert!(
                out["plaintext"] == STANDARD.encode(&plaintext),
                "{size} bytes, {context}: plaintext differs"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_decrypts_what_the_python_esdk_encrypted_at_several_frame_lengths() {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut python = PythonEsdk::start(&h.key.arn);
    for frame in [4096, FRAME, 1 << 20] {
        for size in [0, 1, frame, frame + 1, 1 << 20, LARGEST] {
            // Both contexts at the ESDK's default frame length; the others with a context.
            let all = contexts();
            let cases = if frame == 4096 { &all[..] } else { &all[1..] };
            for context in cases {
                let plaintext = payload(size);
                let message = python.encrypt(&plaintext, context, frame);
                let event = json!({"operation": "decrypt", "ciphertext": STANDARD.encode(&message), "encryptionContext": context});
                let out = call(&h, &event).await;
                if message.len() > function::ops::decrypt::MAX_ENVELOPE_CIPHERTEXT {
                    // 4 KiB frames add 36 KB of framing: that message no longer fits Lambda's
                    // 6 MB request as base64, whatever the function does. An event above the
                    // request limit is refused unread (Lambda itself would not deliver it).
                    let event_len = serde_json::to_vec(&event).unwrap().len();
                    let expected = if event_len > kms_lambda_kit::event::LAMBDA_PAYLOAD_LIMIT {
                        "PayloadTooLarge"
                    } else {
                        "InvalidCiphertext"
                    };
                    assert_eq!(out.error_type(), expected, "{frame}/{size}");
                    continue;
                }
                let dec = out.ok();
                assert_eq!(dec["mode"], "envelope");
                assert_eq!(dec["keyId"], h.key.arn);
                assert_eq!(dec["encryptionContext"], *context, "{frame}/{size}");
                assert!(
                    dec["plaintext"] == STANDARD.encode(&plaintext),
                    "frame {frame}, {size} bytes, {context}: plaintext differs"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_context_is_returned_and_a_stated_one_must_match_it() {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut python = PythonEsdk::start(&h.key.arn);
    let stored = json!({"tenant": "acme", "doc": "42"});
    let message = STANDARD.encode(python.encrypt(b"context semantics", &stored, 4096));
    let decrypt = |context: Value| json!({"operation": "decrypt", "ciphertext": message, "encryptionContext": context});
    // Nothing stated: the stored context comes back for the caller to check.
    for stated in [json!({}), json!({"tenant": "acme"}), stored.clone()] {
        let dec = call(&h, &decrypt(stated.clone())).await.ok();
        assert_eq!(dec["encryptionContext"], stored, "stated {stated}");
        assert_eq!(dec["plaintext"], STANDARD.encode(b"context semantics"));
    }
    for stated in [
        json!({"tenant": "other"}),
        json!({"tenant": "acme", "extra": "x"}),
    ] {
        let out = call(&h, &decrypt(stated.clone())).await;
        assert_eq!(out.error_type(), "InvalidCiphertext", "stated {stated}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_message_opens_only_when_the_commitment_policy_allows_it() {
    let strict = Harness::start(&PROJECT, &[]).await;
    let mut python = PythonEsdk::start(&strict.key.arn);
    let out = python.call(json!({"op": "encrypt", "plaintext": STANDARD.encode(b"legacy"), "context": {"t": "1"}, "frame_length": 4096, "suite": "0x0178"}));
    let message = out["message"].as_str().unwrap().to_string();
    assert_eq!(STANDARD.decode(&message).unwrap()[..2], [0x01, 0x80]);
    let event =
        json!({"operation": "decrypt", "ciphertext": message, "encryptionContext": {"t": "1"}});
    let Outcome::Err {
        error_type,
        message: why,
    } = call(&strict, &event).await
    else {
        panic!("a non-committing message opened under the default policy")
    };
    assert_eq!(error_type, "InvalidCiphertext");
    assert!(
        why.contains("0x0178") && why.contains("ENVELOPE_COMMITMENT_POLICY"),
        "{why}"
    );

    // Under the policy that allows it, pinned to the same key.
    let allowing = Harness::start(
        &PROJECT,
        &[(
            "ENVELOPE_COMMITMENT_POLICY",
            "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
        )],
    )
    .await;
    let mut event = event;
    event["keyId"] = json!(strict.key.alias);
    let dec = call(&allowing, &event).await.ok();
    assert_eq!(dec["plaintext"], STANDARD.encode(b"legacy"));
}

/// Offsets of a message's parts, read with the function's own parser (checked against the
/// layout in src/envelope/format.rs by the unit tests and by the Python ESDK above).
fn parts(blob: &[u8]) -> Vec<(&'static str, usize)> {
    let m = kms_lambda_kit::envelope::parse(blob).expect("a valid message");
    let at = |part: &[u8]| part.as_ptr() as usize - blob.as_ptr() as usize;
    let edk = &m.data_keys[0];
    let header_end = m.header.len();
    let context_at = 1 + 2 + 32 + 2;
    let first = m.segments().next().unwrap();
    let last = m.segments().last().unwrap();
    vec![
        ("version", 0),
        ("suite id", 2),
        ("message id", at(m.message_id) + 5),
        ("context length", context_at - 1),
        ("context", context_at + 4),
        ("data key count", at(edk.provider_id) - 3),
        ("key provider id", at(edk.provider_id) + 2),
        (
            "key provider information (the key ARN)",
            at(edk.provider_info) + 20,
        ),
        ("encrypted data key", at(edk.ciphertext) + 10),
        ("content type", header_end - 32 - 4 - 1),
        ("frame length", header_end - 32 - 2),
        ("key commitment", header_end - 5),
        ("header tag", header_end + 3),
        ("first frame's sequence number", at(first.iv) - 1),
        ("first frame's IV", at(first.iv) + 11),
        ("first frame's content", at(first.ciphertext) + 100),
        ("first frame's tag", at(first.tag) + 15),
        ("final frame's marker", at(last.iv) - 8),
        ("final frame's sequence number", at(last.iv) - 1),
        ("final frame's length", at(last.ciphertext) - 1),
        ("final frame's content", at(last.ciphertext) + 1),
        ("final frame's tag", at(last.tag)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tampered_part_of_a_message_is_invalid_ciphertext_and_never_plaintext() {
    let h = Harness::start(&PROJECT, &[]).await;
    let secret = b"tamper-evident ".repeat(10_000); // 150,000 bytes: two full frames and a final one
    let context = json!({"doc": "7"});
    let event = json!({"operation": "encrypt", "plaintext": STANDARD.encode(&secret), "encryptionContext": context});
    let enc = call(&h, &event).await.ok();
    let blob = STANDARD
        .decode(enc["ciphertext"].as_str().unwrap())
        .unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = parts(&blob)
        .into_iter()
        .map(|(name, at)| {
            let mut b = blob.clone();
            b[at] ^= 0x01;
            (format!("a bit flipped in the {name}"), b)
        })
        .collect();
    let header_end = kms_lambda_kit::envelope::parse(&blob).unwrap().header.len();
    for (name, len) in [
        ("truncated in the header", header_end - 10),
        ("truncated after the header", header_end + 16),
        ("truncated in a frame", header_end + 16 + 1000),
        ("truncated in the final frame's tag", blob.len() - 1),
    ] {
        cases.push((name.to_string(), blob[..len].to_vec()));
    }
    let mut trailing = blob.clone();
    trailing.extend_from_slice(b"more");
    cases.push(("bytes after the final frame".into(), trailing));

    for (what, bytes) in cases {
        let out = call(&h, &json!({"operation": "decrypt", "ciphertext": STANDARD.encode(&bytes), "encryptionContext": context})).await;
        let Outcome::Err {
            error_type,
            message,
        } = &out
        else {
            panic!("{what}: decrypted anyway")
        };
        if what.contains("encrypted data key") {
            // A changed KMS ciphertext: AWS answers InvalidCiphertextException; moto may answer
            // AccessDeniedException for a key id it reads out of the damaged blob.
            assert!(
                ["InvalidCiphertext", "KmsAccessDenied"].contains(&error_type.as_str()),
                "{what}: {error_type}: {message}"
            );
            continue;
        }
        assert_eq!(error_type, "InvalidCiphertext", "{what}: {message}");
        assert!(!message.contains("tamper-evident"), "{what}");
    }
    // Untouched, it still opens.
    let dec = call(&h, &json!({"operation": "decrypt", "ciphertext": enc["ciphertext"], "encryptionContext": context})).await.ok();
    assert!(dec["plaintext"] == STANDARD.encode(&secret));
}
