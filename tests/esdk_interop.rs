//! Envelopes any AWS Encryption SDK can open, proven against the official Python ESDK
//! (`aws-encryption-sdk`, pinned in tools/requirements.txt) and the official Node.js ESDK
//! (`@aws-crypto/client-node`, pinned in tests/esdk-node) over the same local KMS, each used with
//! its defaults — which write the signed suite 0x0578: each ESDK decrypts what the function
//! encrypted, signed and unsigned; the function decrypts what each encrypted — sizes from empty
//! to the largest payload, with and without an encryption context, several frame lengths on the
//! Python side — and every tampered part of a message is `InvalidCiphertext` with no plaintext.
//!
//! Each ESDK is one process for the whole test (`scripts/esdk_peer.py`,
//! `tests/esdk-node/peer.mjs`), reaching KMS through `AWS_ENDPOINT_URL_KMS` like any AWS SDK.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kms_lambda_kit::__private::sign::PUBLIC_KEY;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;
use support::{Harness, Outcome, PROJECT};

/// The function's frame length, and the sizes around it.
const FRAME: usize = kms_lambda_kit::__private::FRAME_LENGTH as usize;
const LARGEST: usize = function::ops::encrypt::MAX_ENVELOPE_PLAINTEXT;

/// An official ESDK answering JSON lines (see its script for the requests).
struct Esdk {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The Python ESDK.
fn python(key_arn: &str) -> Esdk {
    let root = env!("CARGO_MANIFEST_DIR");
    Esdk::start(
        Command::new(format!("{root}/.venv/bin/python"))
            .arg(format!("{root}/scripts/esdk_peer.py"))
            .arg(key_arn),
        "the Python ESDK peer (run `make venv`)",
    )
}

/// The Node.js ESDK.
fn node(key_arn: &str) -> Esdk {
    let root = env!("CARGO_MANIFEST_DIR");
    Esdk::start(
        Command::new("node")
            .arg(format!("{root}/tests/esdk-node/peer.mjs"))
            .arg(key_arn),
        "the Node.js ESDK peer (Node.js, and `npm ci` in tests/esdk-node, as make test runs it)",
    )
}

impl Esdk {
    fn start(command: &mut Command, what: &str) -> Self {
        let mut child = command
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
            .expect(what);
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Esdk {
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

    /// With the ESDK's default suite (signed), unless `suite` names one.
    fn encrypt(
        &mut self,
        plaintext: &[u8],
        context: &Value,
        frame_length: usize,
        suite: Option<&str>,
    ) -> Vec<u8> {
        let out = self.call(json!({"op": "encrypt", "plaintext": STANDARD.encode(plaintext), "context": context, "frame_length": frame_length, "suite": suite}));
        STANDARD
            .decode(out["message"].as_str().unwrap_or_else(|| panic!("{out}")))
            .unwrap()
    }

    fn decrypt(&mut self, message: &str) -> Value {
        self.call(json!({"op": "decrypt", "message": message}))
    }
}

impl Drop for Esdk {
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

/// The context a signed message returns: the stated one, plus its verification key.
fn check_context(got: &Value, stated: &Value, signed: bool, what: &str) {
    let mut got = got
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {got}"))
        .clone();
    let key = got.remove(PUBLIC_KEY);
    assert_eq!(
        key.is_some(),
        signed,
        "{what}: {PUBLIC_KEY} exactly when signed"
    );
    assert_eq!(Value::Object(got), *stated, "{what}");
}

/// The function seals, signed and unsigned; `esdk` opens.
async fn esdk_opens_what_the_function_sealed(h: &Harness, esdk: &mut Esdk, sizes: &[usize]) {
    for &size in sizes {
        for context in contexts() {
            for signed in [false, true] {
                let what = format!("{size} bytes, {context}, signed: {signed}");
                let plaintext = payload(size);
                let event = json!({"operation": "encrypt", "plaintext": STANDARD.encode(&plaintext), "encryptionContext": context, "mode": "envelope", "signed": signed});
                let enc = call(h, &event).await.ok();
                let out = esdk.decrypt(enc["ciphertext"].as_str().unwrap());
                assert!(out.get("error").is_none(), "{what}: {out}");
                assert_eq!(out["suite"], if signed { "0x0578" } else { "0x0478" });
                check_context(&out["context"], &context, signed, &what);
                assert!(
                    out["plaintext"] == STANDARD.encode(&plaintext),
                    "{what}: plaintext differs"
                );
            }
        }
    }
}

/// `esdk` seals with its defaults (the signed suite) at `frame` bytes a frame, or (`unsigned`)
/// with the unsigned committing suite; the function opens.
async fn function_opens_what_esdk_sealed(
    h: &Harness,
    esdk: &mut Esdk,
    frame: usize,
    sizes: &[usize],
    contexts: &[Value],
    unsigned: bool,
) {
    for &size in sizes {
        for context in contexts {
            let what = format!("frame {frame}, {size} bytes, {context}, unsigned: {unsigned}");
            let plaintext = payload(size);
            let suite = unsigned.then_some("0x0478");
            let message = esdk.encrypt(&plaintext, context, frame, suite);
            assert_eq!(message[1..3], if unsigned { [4, 0x78] } else { [5, 0x78] });
            let event = json!({"operation": "decrypt", "ciphertext": STANDARD.encode(&message), "encryptionContext": context});
            let out = call(h, &event).await;
            if message.len() > kms_lambda_kit::LAMBDA_PAYLOAD_LIMIT / 4 * 3 {
                // 4 KiB frames add 36 KB of framing: that message no longer fits Lambda's
                // 6 MB request as base64, whatever the function does. An event above the
                // request limit is refused unread (Lambda itself would not deliver it).
                let event_len = serde_json::to_vec(&event).unwrap().len();
                let expected = if event_len > kms_lambda_kit::LAMBDA_PAYLOAD_LIMIT {
                    "PayloadTooLarge"
                } else {
                    "InvalidCiphertext"
                };
                assert_eq!(out.error_type(), expected, "{what}");
                continue;
            }
            let dec = out.ok();
            assert_eq!(dec["mode"], "envelope");
            assert_eq!(dec["keyId"], h.key.arn);
            check_context(&dec["encryptionContext"], context, !unsigned, &what);
            assert!(
                dec["plaintext"] == STANDARD.encode(&plaintext),
                "{what}: plaintext differs"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_esdk_decrypts_what_the_function_encrypted_signed_or_not() {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut python = python(&h.key.arn);
    let sizes = [0, 1, FRAME, FRAME + 1, 1 << 20, LARGEST];
    esdk_opens_what_the_function_sealed(&h, &mut python, &sizes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_decrypts_what_the_python_esdk_encrypted_with_its_defaults_at_several_frame_lengths(
) {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut python = python(&h.key.arn);
    for frame in [4096, FRAME, 1 << 20] {
        let sizes = [0, 1, frame, frame + 1, 1 << 20, LARGEST];
        // Both contexts at the ESDK's default frame length; the others with a context.
        let all = contexts();
        let cases = if frame == 4096 { &all[..] } else { &all[1..] };
        function_opens_what_esdk_sealed(&h, &mut python, frame, &sizes, cases, false).await;
    }
    // The unsigned committing suite, as a sender who chose it writes it.
    let sizes = [0, 1, 1 << 20, LARGEST];
    function_opens_what_esdk_sealed(&h, &mut python, 4096, &sizes, &contexts(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodejs_esdk_with_its_defaults_and_the_function_open_each_others_messages() {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut node = node(&h.key.arn);
    let sizes = [0, 1, FRAME + 1, 1 << 20, LARGEST];
    function_opens_what_esdk_sealed(&h, &mut node, 4096, &sizes, &contexts(), false).await;
    function_opens_what_esdk_sealed(&h, &mut node, 4096, &sizes[..4], &contexts(), true).await;
    esdk_opens_what_the_function_sealed(&h, &mut node, &sizes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_context_is_returned_and_a_stated_one_must_match_it() {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut python = python(&h.key.arn);
    let stored = json!({"tenant": "acme", "doc": "42"});
    let message =
        STANDARD.encode(python.encrypt(b"context semantics", &stored, 4096, Some("0x0478")));
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
    let mut python = python(&strict.key.arn);
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
    let m = kms_lambda_kit::__private::parse_envelope(blob).expect("a valid message");
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

/// Decrypts `bytes` stating `context`: it must fail; its `errorType` and message.
async fn refused(h: &Harness, bytes: &[u8], context: &Value, what: &str) -> (String, String) {
    let event = json!({"operation": "decrypt", "ciphertext": STANDARD.encode(bytes), "encryptionContext": context});
    match call(h, &event).await {
        Outcome::Err {
            error_type,
            message,
        } => (error_type, message),
        Outcome::Ok(_) => panic!("{what}: decrypted anyway"),
    }
}

/// Where a signed message's footer begins (the length of what its signature covers).
fn footer_at(blob: &[u8]) -> usize {
    kms_lambda_kit::__private::parse_envelope(blob)
        .expect("a valid message")
        .footer
        .expect("a signed message")
        .signed
        .len()
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
    let header_end = kms_lambda_kit::__private::parse_envelope(&blob)
        .unwrap()
        .header
        .len();
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
        let (error_type, message) = &refused(&h, &bytes, &context, &what).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_message_altered_cut_or_signed_by_another_key_is_invalid_ciphertext_naming_it() {
    let h = Harness::start(&PROJECT, &[]).await;
    let mut python = python(&h.key.arn);
    let secret = b"signed by the sender ".repeat(500);
    let context = json!({"doc": "8"});
    // The Python ESDK's default message, and one of the function's own.
    let from_python = python.encrypt(&secret, &context, 4096, None);
    let event = json!({"operation": "encrypt", "plaintext": STANDARD.encode(&secret), "encryptionContext": context, "signed": true});
    let enc = call(&h, &event).await.ok();
    let from_function = STANDARD
        .decode(enc["ciphertext"].as_str().unwrap())
        .unwrap();
    for blob in [from_python, from_function] {
        let signed_len = footer_at(&blob);
        let mut flipped = blob.clone();
        *flipped.last_mut().unwrap() ^= 0x01;
        let mut altered = blob.clone();
        altered[signed_len - 20] ^= 0x01; // the final frame's tag, under the signature
        let mut other_key = blob[..signed_len].to_vec();
        // Another sender's footer: a valid signature, by a key the header does not name.
        let mut forged = python.encrypt(&secret, &context, 4096, None);
        let forged = forged.split_off(footer_at(&forged));
        other_key.extend_from_slice(&forged);
        for (what, bytes, says) in [
            ("a flipped signature byte", flipped, "does not verify"),
            (
                "a byte altered under the signature",
                altered,
                "does not verify",
            ),
            (
                "the footer cut",
                blob[..signed_len].to_vec(),
                "truncated signature",
            ),
            (
                "half the signature cut",
                blob[..blob.len() - 50].to_vec(),
                "truncated signature",
            ),
            ("another key's signature", other_key, "does not verify"),
        ] {
            let (error_type, message) = &refused(&h, &bytes, &context, what).await;
            assert_eq!(error_type, "InvalidCiphertext", "{what}: {message}");
            assert!(message.contains(says), "{what}: {message}");
            assert!(!message.contains("signed by the sender"), "{what}");
        }
        let dec = call(&h, &json!({"operation": "decrypt", "ciphertext": STANDARD.encode(&blob), "encryptionContext": context})).await.ok();
        assert!(
            dec["plaintext"] == STANDARD.encode(&secret),
            "untouched, it opens"
        );
    }
}
