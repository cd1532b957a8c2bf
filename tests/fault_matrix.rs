//! The fault matrix: every way a real Lambda breaks a KMS signature, run through the real
//! binary, behind the strict SigV4 time gate (`examples/kms-gate`), against moto. Each scenario
//! asserts the outcome, the attempts used, and reads the EMF line. The table of
//! docs/signature-expired.md names these tests.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{attempts, Canned, Harness, Outcome, PROJECT};

fn encrypt(plaintext: &[u8]) -> Value {
    support::encrypt(plaintext, json!({"scenario": "matrix"}))
}

/// Sends an encrypt and returns its outcome and EMF line (the `n`th of the run, counting from 1).
async fn encrypt_nth(h: &Harness, n: usize) -> (Outcome, Value) {
    let out = h
        .emulator
        .invoke(&encrypt(format!("call {n}").as_bytes()))
        .await;
    let emf = h.function.emf_wait(n).await;
    (out, emf[n - 1].clone())
}

// ---- 1. Client clock offset --------------------------------------------------------------

#[tokio::test]
async fn a_wrong_client_clock_costs_at_most_one_retry_and_none_on_the_next_call() {
    let offsets_min: [i64; 9] = [-60, -15, -6, -4, 0, 4, 6, 15, 60];
    let runs = offsets_min.iter().map(|&m| async move {
        let offset = (m * 60).to_string();
        let h = Harness::start(&PROJECT, &[("KMS_CLOCK_OFFSET_SECONDS", offset.as_str())]).await;
        let (first, line1) = encrypt_nth(&h, 1).await;
        let (second, line2) = encrypt_nth(&h, 2).await;
        (m, first, line1, second, line2, h.gate.rejected())
    });
    for (m, first, line1, second, line2, rejected) in one_after_another(runs).await {
        assert!(matches!(first, Outcome::Ok(_)), "{m} min: {first:?}");
        assert!(matches!(second, Outcome::Ok(_)), "{m} min: {second:?}");
        // Inside KMS's 5-minute window no retry is needed; outside it, exactly one.
        let expected_first = if m.abs() <= 4 { 1 } else { 2 };
        assert_eq!(
            attempts(&line1),
            expected_first,
            "{m} min, first call: {line1}"
        );
        assert_eq!(
            attempts(&line2),
            1,
            "{m} min: the learned skew persists on the client: {line2}"
        );
        assert_eq!(rejected, (expected_first - 1) as usize, "{m} min");
        let skew = line2["ClockSkewMs"].as_i64().unwrap();
        assert!(
            (skew + m * 60_000).abs() <= 2_000,
            "{m} min: applied skew {skew} ms"
        );
    }
}

#[tokio::test]
async fn without_skew_correction_and_the_extra_retry_six_minutes_of_skew_fail_with_the_bug() {
    // The bug this template prevents: a client that neither corrects skew nor re-signs.
    let runs = [-60i64, -15, -6, 6, 15, 60]
        .into_iter()
        .map(|m| async move {
            let offset = (m * 60).to_string();
            let h = Harness::start(
                &PROJECT,
                &[
                    ("KMS_CLOCK_OFFSET_SECONDS", offset.as_str()),
                    ("AWS_DISABLE_CLOCK_SKEW_CORRECTION", "true"),
                    ("KMS_RETRY_EXPIRED_SIGNATURES", "false"),
                ],
            )
            .await;
            (m, encrypt_nth(&h, 1).await)
        });
    for (m, (out, _)) in one_after_another(runs).await {
        let Outcome::Err {
            error_type,
            message,
        } = &out
        else {
            panic!("{m} min: succeeded without the defences")
        };
        assert_eq!(error_type, "KmsAuthFailed", "{m} min");
        let expected = if m < 0 {
            "Signature expired"
        } else {
            "Signature not yet current"
        };
        assert!(message.contains(expected), "{m} min: {message}");
    }
}

// ---- 2. Freeze/thaw in flight --------------------------------------------------------------

#[tokio::test]
async fn a_request_signed_then_delivered_six_minutes_late_is_re_signed_once() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    // The next request arrives 6 minutes after it was signed; the clocks agree again, so the
    // SDK's measured skew is ~0 and its own classifier would not retry.
    h.gate.arrive_late(1, Duration::from_secs(6 * 60));
    let (out, line) = encrypt_nth(&h, 1).await;
    assert_eq!(out.ok()["keyId"], h.key.arn);
    assert_eq!(attempts(&line), 2, "{line}");
    assert_eq!(h.gate.rejected(), 1);
    assert!(
        line["ClockSkewMs"].as_i64().unwrap().abs() <= 2_000,
        "{line}"
    );

    // Without the template's classifier the same delivery is the reported bug.
    let bare = Harness::start(&PROJECT, &[("KMS_RETRY_EXPIRED_SIGNATURES", "false")]).await;
    bare.ready().await;
    bare.gate.arrive_late(1, Duration::from_secs(6 * 60));
    let (out, line) = encrypt_nth(&bare, 1).await;
    let Outcome::Err {
        error_type,
        message,
    } = out
    else {
        panic!("succeeded without the classifier")
    };
    assert_eq!(error_type, "KmsAuthFailed");
    assert!(message.contains("Signature expired"), "{message}");
    assert_eq!(attempts(&line), 1);
}

/// The classifier reads the error from the HTTP response, so it covers every KMS operation —
/// here two the template never calls — with no list of operations to keep.
#[tokio::test]
async fn in_process_a_signature_made_six_minutes_in_the_past_is_retried_with_a_fresh_one() {
    use aws_sdk_kms::primitives::Blob;
    use kms_lambda_kit::__private::Config;
    use kms_lambda_kit::__private::SdkClientBuilder;
    let url = support::kms_url();
    let key = support::create_key(&url).await;
    let gate = support::Gate::start(&url, Some("testing")).await;
    let ciphertext = support::admin_client(&url)
        .encrypt()
        .key_id(&key.alias)
        .plaintext(Blob::new(b"to re-encrypt".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();

    for operation in ["Encrypt", "DescribeKey", "ReEncrypt"] {
        for (with_classifier, expect_ok) in [(true, true), (false, false)] {
            let config = Config::from_lookup(&function::ops::KEYS[..1], &[], |k| match k {
                "KMS_KEY_ID" => Some(key.alias.clone()),
                "KMS_RETRY_EXPIRED_SIGNATURES" => Some(with_classifier.to_string()),
                _ => None,
            })
            .unwrap();
            let past = past_signer::PastSigner::new(Duration::from_secs(6 * 60));
            let sdk = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_sdk_kms::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                    aws_sdk_kms::config::Credentials::new("testing", "testing", None, None, "test"),
                ))
                .endpoint_url(gate.url())
                .retry_config(kms_lambda_kit::__private::retry_config(3))
                .build();
            let conf = SdkClientBuilder::new(&config)
                .client_config(&sdk)
                .time_source(past.clone())
                .interceptor(past.clone())
                .build();
            let client = aws_sdk_kms::Client::from_conf(conf);
            let before = gate.requests();
            let ok = match operation {
                "Encrypt" => client
                    .encrypt()
                    .key_id(&key.alias)
                    .plaintext(Blob::new(b"x".to_vec()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}")),
                "DescribeKey" => client
                    .describe_key()
                    .key_id(&key.alias)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}")),
                _ => client
                    .re_encrypt()
                    .ciphertext_blob(ciphertext.clone())
                    .destination_key_id(&key.alias)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}")),
            };
            assert_eq!(
                ok.is_ok(),
                expect_ok,
                "{operation}, classifier {with_classifier}: {ok:?}"
            );
            if let Err(e) = &ok {
                assert!(e.contains("Signature expired"), "{operation}: {e}");
            }
            let sent = gate.requests() - before;
            assert_eq!(
                sent,
                if with_classifier { 2 } else { 1 },
                "{operation}, classifier {with_classifier}: one fresh signature after the expired one"
            );
        }
    }
}

mod past_signer {
    //! A time source that makes the signer — and only the signer, on the first attempt —
    //! read a clock `lag` in the past: a request signed before a freeze.
    use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextMut;
    use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_smithy_async::time::TimeSource;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    #[derive(Debug, Clone)]
    pub struct PastSigner {
        lag: Duration,
        // 0: before signing, 1: signing the first attempt (lagging), 2: later.
        phase: Arc<AtomicU8>,
    }

    impl PastSigner {
        pub fn new(lag: Duration) -> Self {
            PastSigner {
                lag,
                phase: Arc::new(AtomicU8::new(0)),
            }
        }
    }

    impl TimeSource for PastSigner {
        fn now(&self) -> SystemTime {
            let now = SystemTime::now();
            if self.phase.load(Ordering::SeqCst) == 1 {
                now - self.lag
            } else {
                now
            }
        }
    }

    impl Intercept for PastSigner {
        fn name(&self) -> &'static str {
            "PastSigner"
        }
        fn modify_before_signing(
            &self,
            _: &mut BeforeTransmitInterceptorContextMut<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            let _ = self
                .phase
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
            Ok(())
        }
        fn modify_before_transmit(
            &self,
            _: &mut BeforeTransmitInterceptorContextMut<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.phase.store(2, Ordering::SeqCst);
            Ok(())
        }
    }
}

// ---- 3. A real freeze of the process --------------------------------------------------------

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test]
async fn sigstop_while_the_gate_drops_idle_connections_and_jumps_its_clock_then_sigcont_succeeds() {
    let h = Harness::start(&PROJECT, &[]).await;
    let (out, _) = encrypt_nth(&h, 1).await;
    out.ok();
    let connections_before = h.gate.connections();

    // Freeze the sandbox between invocations, as Lambda does.
    signal(h.function.pid(), "-STOP");
    h.gate.close_idle_connections(); // the pooled keep-alive connection dies while frozen
    h.gate.set_clock_offset(10 * 60); // and "KMS time" moves on by 10 minutes
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(h.function.pid(), "-CONT");

    let (out, line) = encrypt_nth(&h, 2).await;
    assert_eq!(
        out.ok()["keyId"],
        h.key.arn,
        "a stale pooled connection must never surface as an error"
    );
    assert!(
        h.gate.connections() > connections_before,
        "a new connection was opened"
    );
    // Signed by a clock 10 minutes behind KMS: one rejection, corrected by the SDK's skew
    // measurement (the response Date is 10 minutes ahead).
    assert!(attempts(&line) <= 2, "{line}");
    let (out, line) = encrypt_nth(&h, 3).await;
    out.ok();
    assert_eq!(attempts(&line), 1, "{line}");
}

#[tokio::test]
async fn a_connection_reset_mid_request_is_retried() {
    let h = Harness::start(&PROJECT, &[]).await;
    encrypt_nth(&h, 1).await.0.ok();
    h.gate.reset_next(1);
    let (out, line) = encrypt_nth(&h, 2).await;
    out.ok();
    assert_eq!(attempts(&line), 2, "{line}");
}

// ---- 4. Throttling, 5xx, outage, hang, refused connections -----------------------------------

#[tokio::test]
async fn throttling_and_5xx_bursts_within_the_retry_budget_succeed() {
    let h = Harness::start(&PROJECT, &[("KMS_MAX_ATTEMPTS", "3")]).await;
    h.gate
        .fail_next([Canned::throttling(), Canned::throttling()]);
    let (out, line) = encrypt_nth(&h, 1).await;
    out.ok();
    assert_eq!(attempts(&line), 3);
    h.gate.fail_next([Canned::status(500), Canned::status(503)]);
    let (out, line) = encrypt_nth(&h, 2).await;
    out.ok();
    assert_eq!(attempts(&line), 3);
    h.gate.fail_next([
        Canned::throttling(),
        Canned::throttling(),
        Canned::throttling(),
    ]);
    let (out, _) = encrypt_nth(&h, 3).await;
    assert_eq!(out.error_type(), "KmsThrottled");
}

/// Invokes with a 4-second function timeout and checks the typed error came before it.
async fn invoke_against_deadline(h: &Harness, expected: &[&str]) -> Value {
    let started = Instant::now();
    let body = serde_json::to_vec(&encrypt(b"outage")).unwrap();
    let out = h.emulator.invoke_raw(body, Duration::from_secs(4)).await;
    let took = started.elapsed();
    assert!(expected.contains(&out.error_type()), "{out:?}");
    assert!(
        took < Duration::from_secs(4),
        "answered after the deadline: {took:?}"
    );
    let n = h.function.emf().len().max(1);
    h.function.emf_wait(n).await.pop().unwrap()
}

#[tokio::test]
async fn a_total_outage_is_kms_unavailable_before_the_deadline() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    h.gate
        .fail_next(std::iter::repeat_n(Canned::status(503), 10));
    let line = invoke_against_deadline(&h, &["KmsUnavailable"]).await;
    assert_eq!(attempts(&line), 3, "{line}");
}

#[tokio::test]
async fn a_hung_kms_is_deadline_exceeded_before_the_deadline() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    h.gate.hang(Some(Duration::from_secs(60)));
    invoke_against_deadline(&h, &["DeadlineExceeded"]).await;
}

#[tokio::test]
async fn refused_connections_are_kms_unavailable_before_the_deadline() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    h.gate.refuse_connections(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    invoke_against_deadline(&h, &["KmsUnavailable", "DeadlineExceeded"]).await;
    h.gate.refuse_connections(false);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = h.function.emf().len();
    encrypt_nth(&h, n + 1).await.0.ok();
}

// ---- 5. Proactive initialisation -----------------------------------------------------------

#[tokio::test]
async fn proactive_init_then_the_first_event_30_seconds_later_succeeds_with_no_traffic_in_the_gap()
{
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.gate.requests(), 0, "KMS traffic during the gap");
    assert!(
        !h.function
            .output()
            .iter()
            .any(|l| l.contains("built the KMS client")),
        "the client was built before the first event"
    );
    let (out, line) = encrypt_nth(&h, 1).await;
    out.ok();
    assert_eq!(attempts(&line), 1);
    assert_eq!(line["ColdStart"], 1);
    assert!(line["ClientInitMs"].is_number());
}

// ---- 6. SnapStart ---------------------------------------------------------------------------

#[tokio::test]
async fn snapstart_restore_after_a_clock_jump_succeeds_on_the_first_invoke() {
    let h = Harness::start(
        &PROJECT,
        &[("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")],
    )
    .await;
    h.emulator
        .wait_for_snapshot_point(Duration::from_secs(30))
        .await;
    assert_eq!(
        h.gate.requests(),
        0,
        "nothing built or sent before the snapshot"
    );
    // The snapshot is restored later, on another host whose idea of time differs by 20 min.
    h.gate.set_clock_offset(20 * 60);
    h.emulator.restore();
    h.ready().await;
    let (out, line) = encrypt_nth(&h, 1).await;
    assert_eq!(out.ok()["keyId"], h.key.arn);
    assert!(attempts(&line) <= 2, "{line}");
    let output = h.function.output();
    assert_eq!(
        output
            .iter()
            .filter(|l| l.contains("SnapStart: dropped"))
            .count(),
        2,
        "{output:#?}"
    );
    let (out, line) = encrypt_nth(&h, 2).await;
    out.ok();
    assert_eq!(attempts(&line), 1);
}

// ---- 7. Load ---------------------------------------------------------------------------------

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_invocations_at_concurrency_8_no_errors_one_client_build_flat_rss() {
    let h = Harness::start(
        &PROJECT,
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "8"), ("RUST_LOG", "warn")],
    )
    .await;
    h.emulator.wait_for_polls(8, Duration::from_secs(30)).await;
    let run = |from: usize, to: usize| {
        let pending: Vec<_> = (from..to)
            .map(|i| {
                h.emulator.submit(
                    serde_json::to_vec(&encrypt(format!("load {i}").as_bytes())).unwrap(),
                    Duration::from_secs(30),
                )
            })
            .collect();
        async move {
            let mut errors = 0;
            for rx in pending {
                if !matches!(rx.await.unwrap(), Outcome::Ok(_)) {
                    errors += 1;
                }
            }
            errors
        }
    };
    let mut errors = run(0, 200).await;
    let rss_warm = rss_kib(h.function.pid());
    errors += run(200, 1000).await;
    let rss_end = rss_kib(h.function.pid());
    assert_eq!(errors, 0);
    let emf = h.function.emf_wait(1000).await;
    assert_eq!(emf.len(), 1000);
    assert_eq!(
        emf.iter()
            .filter(|l| l.get("ClientInitMs").is_some())
            .count(),
        1,
        "exactly one client build"
    );
    // Flat: 800 more invocations may not grow the resident set by more than 4 MiB.
    assert!(
        rss_end <= rss_warm + 4096,
        "RSS grew from {rss_warm} KiB to {rss_end} KiB"
    );
    eprintln!("load: RSS {rss_warm} KiB after 200 invocations, {rss_end} KiB after 1000");
}

/// Runs the scenarios one after another (each starts its own function) and collects results.
async fn one_after_another<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

// ---- The gate itself -------------------------------------------------------------------------

/// `YYYYMMDDTHHMMSSZ`
fn is_amz_date(s: &str) -> bool {
    kms_lambda_kit::__private::amz_date::parse(s).is_some()
}

/// Checks KMS's exact message shape: `Signature expired: A is now earlier than B (C - 5 min.)`.
fn kms_time_message_shape(message: &str) -> bool {
    let (prefix, middle, suffix) = if let Some(rest) = message.strip_prefix("Signature expired: ") {
        (rest, " is now earlier than ", " - 5 min.)")
    } else if let Some(rest) = message.strip_prefix("Signature not yet current: ") {
        (rest, " is still later than ", " + 5 min.)")
    } else {
        return false;
    };
    let Some((a, rest)) = prefix.split_once(middle) else {
        return false;
    };
    let Some((b, rest)) = rest.split_once(" (") else {
        return false;
    };
    let Some(c) = rest.strip_suffix(suffix) else {
        return false;
    };
    is_amz_date(a) && is_amz_date(b) && is_amz_date(c)
}

#[tokio::test]
async fn the_gate_answers_with_kms_exact_messages_and_catches_a_re_dated_request() {
    use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextMut;
    use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_sdk_kms::error::ProvideErrorMetadata;

    /// Rewrites `X-Amz-Date` after signing, as a broken client or proxy might.
    #[derive(Debug)]
    struct ReDate;
    impl Intercept for ReDate {
        fn name(&self) -> &'static str {
            "ReDate"
        }
        fn modify_before_transmit(
            &self,
            ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            let later = kms_lambda_kit::__private::amz_date::format(
                std::time::SystemTime::now() + Duration::from_secs(60),
            );
            ctx.request_mut().headers_mut().insert("x-amz-date", later);
            Ok(())
        }
    }

    let url = support::kms_url();
    let key = support::create_key(&url).await;
    let gate = support::Gate::start(&url, Some("testing")).await;
    let client = |redate: bool, offset: i64| {
        let mut b = support::admin_client(&gate.url())
            .config()
            .to_builder()
            .disable_clock_skew_correction(true)
            .retry_config(kms_lambda_kit::__private::retry_config(1))
            .time_source(kms_lambda_kit::__private::OffsetClock::new(offset));
        if redate {
            b = b.interceptor(ReDate);
        }
        aws_sdk_kms::Client::from_conf(b.build())
    };
    let send = |c: aws_sdk_kms::Client| {
        let alias = key.alias.clone();
        async move {
            c.encrypt()
                .key_id(alias)
                .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
                .send()
                .await
        }
    };

    assert!(
        send(client(false, 0)).await.is_ok(),
        "a correct request passes the gate"
    );
    let err = send(client(true, 0)).await.unwrap_err();
    let msg = err.message().unwrap_or_default().to_string();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert!(
        msg.starts_with("The request signature we calculated does not match"),
        "{msg}"
    );
    for offset in [-400, 400] {
        let err = send(client(false, offset)).await.unwrap_err();
        let msg = err.message().unwrap_or_default().to_string();
        assert!(kms_time_message_shape(&msg), "{offset} s: {msg}");
    }
    assert_eq!(gate.rejected(), 3);
}

// ---- The documentation ------------------------------------------------------------------------

// ---- 8. A secret decrypted on first use --------------------------------------------------------
// The function's `WEBHOOK_SIGNING_KEY`, decrypted by the first `webhookSignature` in the sandbox:
// each scenario as for `encrypt`, the first ask's `Decrypt` through the same call.

fn sign() -> Value {
    json!({"operation": "webhookSignature", "payload": "eyJldmVudCI6InB1c2gifQ=="})
}

/// Sends a signature request; its outcome and EMF line (the `n`th of the run, from 1).
async fn sign_nth(h: &Harness, n: usize) -> (Outcome, Value) {
    let out = h.emulator.invoke(&sign()).await;
    (out, h.function.emf_wait(n).await[n - 1].clone())
}

#[tokio::test]
async fn a_secret_first_asked_with_the_client_clock_60_minutes_off_is_decrypted_with_one_retry() {
    for m in [-60i64, 60] {
        let offset = (m * 60).to_string();
        let h = Harness::start(&PROJECT, &[("KMS_CLOCK_OFFSET_SECONDS", offset.as_str())]).await;
        let (first, line) = sign_nth(&h, 1).await;
        first.ok();
        assert_eq!(attempts(&line), 2, "{m} min: {line}");
        assert!(line["SecretInitMs"].is_number(), "{m} min: {line}");
        let (warm, line) = sign_nth(&h, 2).await;
        warm.ok();
        assert!(
            line.get("KmsAttempts").is_none(),
            "{m} min, warm: no KMS call: {line}"
        );
        assert_eq!(h.gate.requests(), 2, "{m} min");
    }
}

#[tokio::test]
async fn a_secret_first_asked_after_a_freeze_since_init_is_decrypted_then_and_only_then() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    // Frozen between INIT and the first ask; KMS's clock moves on 10 minutes meanwhile.
    signal(h.function.pid(), "-STOP");
    h.gate.set_clock_offset(10 * 60);
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(h.function.pid(), "-CONT");
    assert_eq!(h.gate.requests(), 0, "nothing decrypted in INIT");
    let (out, line) = sign_nth(&h, 1).await;
    out.ok();
    assert!(attempts(&line) <= 2, "{line}");
    assert!(line["SecretInitMs"].is_number(), "{line}");
}

#[tokio::test]
async fn a_secret_decrypt_whose_signature_expires_in_flight_is_re_signed_once() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    h.gate.arrive_late(1, Duration::from_secs(6 * 60));
    let (out, line) = sign_nth(&h, 1).await;
    out.ok();
    assert_eq!(h.gate.rejected(), 1);
    assert_eq!(attempts(&line), 2, "{line}");
}

#[tokio::test]
async fn a_throttled_secret_decrypt_is_retried_and_one_beyond_the_budget_is_asked_again() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    h.gate
        .fail_next([Canned::throttling(), Canned::throttling()]);
    let (out, line) = sign_nth(&h, 1).await;
    out.ok();
    assert_eq!(attempts(&line), 3, "{line}");
    // Afresh, throttled beyond the budget: a typed error naming the variable, then the next ask
    // decrypts (a failed decrypt is not kept).
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    h.gate
        .fail_next(std::iter::repeat_n(Canned::throttling(), 3));
    let (out, _) = sign_nth(&h, 1).await;
    assert_eq!(out.error_type(), "KmsThrottled", "{out:?}");
    assert!(
        out.error_message().starts_with("WEBHOOK_SIGNING_KEY: "),
        "{out:?}"
    );
    sign_nth(&h, 2).await.0.ok();
}

#[tokio::test]
async fn a_hung_kms_ends_the_first_ask_for_a_secret_before_the_deadline() {
    let h = Harness::start(&PROJECT, &[]).await;
    h.ready().await;
    let (out, took) = h
        .invoke_with_kms_late(&sign(), Duration::from_secs(60), Duration::from_secs(4))
        .await;
    assert!(took < Duration::from_secs(4), "answered after the deadline");
    assert_eq!(out.error_type(), "DeadlineExceeded", "{out:?}");
    let n = h.function.emf_wait(1).await.len();
    sign_nth(&h, n + 1).await.0.ok();
}

/// docs/signature-expired.md names these tests in its scenario table; a scenario added, renamed
/// or removed on one side only fails here.
#[test]
fn the_documented_scenarios_are_exactly_the_tests_in_this_file() {
    use std::collections::BTreeSet;
    let doc = include_str!("../docs/signature-expired.md");
    let this = include_str!("fault_matrix.rs");
    let lines: Vec<&str> = this.lines().map(str::trim).collect();
    let tests: BTreeSet<&str> = lines
        .windows(2)
        .filter(|w| w[0].starts_with("#[tokio::test") || w[0] == "#[test]")
        .filter_map(|w| w[1].split("fn ").nth(1)?.split('(').next())
        .filter(|name| *name != "the_documented_scenarios_are_exactly_the_tests_in_this_file")
        .collect();
    let in_table: BTreeSet<&str> = doc
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|row| row.trim_end_matches('|').rsplit('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|name| {
            name.contains('_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    let mentioned: BTreeSet<&str> = tests
        .iter()
        .copied()
        .filter(|t| doc.contains(&format!("`{t}`")))
        .collect();
    assert_eq!(mentioned, tests, "tests the doc never mentions");
    let unknown: Vec<_> = in_table.difference(&tests).collect();
    assert!(
        unknown.is_empty(),
        "the doc's table names tests that do not exist: {unknown:?}"
    );
}
