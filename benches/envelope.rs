//! Envelope throughput at 1 MiB, base64 in and out included (what the function does per
//! event, minus the one KMS call), beside raw AES-256-GCM in place on the same machine; the
//! frame-length measurement behind `envelope::FRAME_LENGTH`: seal + open of 1 MiB and of the
//! largest payload at several frame lengths, with the message's size; and what a signature
//! costs: signed against unsigned open at 1 MiB and the largest payload, beside what the
//! unsigned open and one SHA-384 pass allow together, and a fresh process's first signed open
//! (the verification key's set-up) in CPU time.
//! Reported as min / median / max over repeated runs, and as a ratio of medians measured in
//! the same run. Writes bench/results/envelope.{md,json}. Run with `make bench`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use function::ops::encrypt::MAX_ENVELOPE_PLAINTEXT;
use kms_lambda_kit::__private::DataKey;
use kms_lambda_kit::__private::{self as envelope, decode_base64, json_len, read, Base64, Event};
use kms_lambda_kit::{Bytes, SecretBytes};
use std::collections::HashMap;
use std::fmt::Write;
use std::hint::black_box;
use std::time::Instant;

const SIZE: usize = 1024 * 1024;
const RUNS: usize = 40;
const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

struct Stats {
    min: f64,
    median: f64,
    max: f64,
}

/// Takes base64 pieces and keeps only their length (each piece is made, and then dropped).
struct Sink(usize);

impl Write for Sink {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += black_box(s).len();
        Ok(())
    }
}

/// Throughput in MiB/s of `f` over `runs` runs (after a warm-up), `mib` MiB per run.
fn measure_mib(runs: usize, mib: f64, mut f: impl FnMut()) -> Stats {
    f();
    let mut mibs: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            mib / t.elapsed().as_secs_f64()
        })
        .collect();
    mibs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Stats {
        min: mibs[0],
        median: mibs[runs / 2],
        max: mibs[runs - 1],
    }
}

/// Runs this benchmark again with template.yaml's `GLIBC_TUNABLES`, unless it already has them
/// (glibc reads them when the process starts, so they cannot be set from inside it).
fn run_with_deployed_tunables() {
    let template = include_str!("../template.yaml");
    let tunables = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("GLIBC_TUNABLES: "))
        .expect("template.yaml sets GLIBC_TUNABLES");
    if std::env::var("GLIBC_TUNABLES").as_deref() == Ok(tunables) {
        return;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .status()
        .expect("run the benchmark again");
    std::process::exit(status.code().unwrap_or(1));
}

fn measure(runs: usize, f: impl FnMut()) -> Stats {
    measure_mib(runs, 1.0, f)
}

/// This thread's CPU time.
fn thread_cpu() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) },
        0
    );
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A signed message (suite 0x0578) of `data` under `key`, by a signing key made for it.
fn seal_signed(
    key: &DataKey,
    edk: &[u8],
    context: &HashMap<String, String>,
    data: &[u8],
) -> Vec<u8> {
    let signer = envelope::sign::Signer::generate().unwrap();
    let mut context = context.clone();
    context.insert(
        envelope::sign::PUBLIC_KEY.to_string(),
        signer.public_key().to_string(),
    );
    let keys = [envelope::EncryptedDataKey {
        provider_id: envelope::KMS_PROVIDER_ID,
        provider_info: ARN.as_bytes(),
        ciphertext: edk,
    }];
    envelope::seal_with_keys(
        key,
        &keys,
        &context,
        data,
        envelope::FRAME_LENGTH,
        Some(&signer),
    )
    .unwrap()
}

/// The child of [`first_signed_open`]: the message in the file `path`, opened twice; prints the
/// CPU microseconds of each.
fn first_signed_open_child(path: &str) {
    let blob = std::fs::read(path).unwrap();
    let key = DataKey::new((0..32u8).collect());
    let mut us = Vec::new();
    for _ in 0..2 {
        let t = thread_cpu();
        let message = envelope::parse_envelope(&blob).unwrap();
        black_box(envelope::open(&message, &key).unwrap());
        us.push((thread_cpu() - t).as_secs_f64() * 1e6);
    }
    println!("{} {}", us[0], us[1]);
}

/// CPU microseconds of the first and the second open of a signed message of `len` bytes in a
/// fresh process (medians of `runs` processes): their difference is the set-up the first
/// signature costs (the curve's tables, the public key decompressed).
fn first_signed_open(key: &DataKey, len: usize, runs: usize) -> (f64, f64) {
    let message = seal_signed(key, &[1u8; 184], &HashMap::new(), &vec![7u8; len]);
    let path = std::env::temp_dir().join(format!("kms-lambda-signed-{}.bin", std::process::id()));
    std::fs::write(&path, &message).unwrap();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env("KMS_LAMBDA_BENCH_FIRST_SIGNED_OPEN", &path)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut it = text.split_whitespace().map(|v| v.parse::<f64>().unwrap());
        first.push(it.next().unwrap());
        second.push(it.next().unwrap());
    }
    std::fs::remove_file(&path).unwrap();
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    (median(first), median(second))
}

fn main() {
    if let Ok(path) = std::env::var("KMS_LAMBDA_BENCH_FIRST_SIGNED_OPEN") {
        return first_signed_open_child(&path);
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this too, without it:
    // then only check that the code paths work, quickly, and write nothing.
    let full = std::env::args().any(|a| a == "--bench");
    // glibc's settings as deployed (template.yaml's GLIBC_TUNABLES, read at start-up): without
    // them every 1 MiB buffer is a fresh mmap, and page faults, not the envelope, set the pace.
    if full {
        run_with_deployed_tunables();
    }
    let runs = if full { RUNS } else { 1 };
    let key_bytes: Vec<u8> = (0..32u8).collect();
    let key = DataKey::new(key_bytes.clone());
    let edk = vec![1u8; 184];
    let context = HashMap::from([("tenant".to_string(), "acme".to_string())]);
    let payload: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let payload_b64 = STANDARD.encode(&payload);
    let envelope_b64 =
        STANDARD.encode(envelope::seal(&key, ARN, &edk, &context, &payload).unwrap());

    // Base64 out as the function produces it (`event::Base64`, piece by piece). Where the
    // pieces go — copied into the response buffer by `serde_json` — is JSON work, in the rows
    // below; before, the same copy of a whole base64 `String` was the runtime's and left out too.
    let base64_out = |bytes: &[u8]| {
        let mut sink = Sink(0);
        write!(sink, "{}", Base64(bytes)).unwrap();
        sink.0
    };
    let env_encrypt = measure(runs, || {
        let plaintext = decode_base64(black_box(&payload_b64)).unwrap();
        let sealed = envelope::seal(&key, ARN, &edk, &context, &plaintext).unwrap();
        black_box(base64_out(&sealed));
    });
    let env_decrypt = measure(runs, || {
        let blob = decode_base64(black_box(&envelope_b64)).unwrap();
        let message = envelope::parse_envelope(&blob).unwrap();
        let plaintext = envelope::open(&message, &key).unwrap();
        black_box(base64_out(&plaintext));
    });

    // The function's whole in-process path: the event parsed into an `Event` (its payload
    // decoded while parsing) and the response serialized as the runtime does (`to_vec`). The
    // JSON scanning and the response buffer's growth are most of it; the rows above leave them
    // out, as they always have, to stay comparable.
    #[derive(serde::Deserialize)]
    struct Encrypt {
        plaintext: SecretBytes,
    }
    #[derive(serde::Deserialize)]
    struct Decrypt {
        ciphertext: Bytes,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Sealed {
        ciphertext: Bytes,
        key_id: &'static str,
        mode: &'static str,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Opened {
        plaintext: SecretBytes,
        key_id: &'static str,
        mode: &'static str,
    }
    /// The answer as the runtime gets it: sized first (`PayloadTooLarge`), then written.
    fn written<T: serde::Serialize>(answer: &T) -> Vec<u8> {
        assert!(json_len(answer).unwrap() <= kms_lambda_kit::LAMBDA_PAYLOAD_LIMIT);
        serde_json::to_vec(answer).unwrap()
    }
    let encrypt_event =
        serde_json::to_vec(&serde_json::json!({"operation": "encrypt", "plaintext": payload_b64}))
            .unwrap();
    let decrypt_event = serde_json::to_vec(
        &serde_json::json!({"operation": "decrypt", "ciphertext": envelope_b64}),
    )
    .unwrap();
    let json_encrypt = measure(runs, || {
        let event: Event = serde_json::from_slice(black_box(&encrypt_event)).unwrap();
        let e: Encrypt = read(&event).unwrap();
        drop(event);
        let sealed = envelope::seal(&key, ARN, &edk, &context, &e.plaintext).unwrap();
        let answer = Sealed {
            ciphertext: Bytes(sealed),
            key_id: ARN,
            mode: "envelope",
        };
        black_box(written(&answer));
    });
    let json_decrypt = measure(runs, || {
        let event: Event = serde_json::from_slice(black_box(&decrypt_event)).unwrap();
        let d: Decrypt = read(&event).unwrap();
        drop(event);
        let message = envelope::parse_envelope(&d.ciphertext).unwrap();
        let plaintext = envelope::open(&message, &key).unwrap();
        let answer = Opened {
            plaintext,
            key_id: ARN,
            mode: "envelope",
        };
        black_box(written(&answer));
    });

    // The same with the `base64` crate (scalar), as before base64-simd: the comparison behind
    // the choice, in the same run.
    let scalar_encrypt = measure(runs, || {
        let plaintext = STANDARD.decode(black_box(&payload_b64)).unwrap();
        let sealed = envelope::seal(&key, ARN, &edk, &context, &plaintext).unwrap();
        black_box(STANDARD.encode(&sealed));
    });
    let scalar_decrypt = measure(runs, || {
        let blob = STANDARD.decode(black_box(&envelope_b64)).unwrap();
        let message = envelope::parse_envelope(&blob).unwrap();
        let plaintext = envelope::open(&message, &key).unwrap();
        black_box(STANDARD.encode(&*plaintext));
    });

    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key_bytes).unwrap());
    let mut buf = payload.clone();
    let raw_seal = measure(runs, || {
        let tag = raw
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(b"aad"),
                black_box(&mut buf),
            )
            .unwrap();
        let _ = black_box(tag);
    });
    let mut sealed = payload.clone();
    let tag = raw
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(b"aad"),
            &mut sealed,
        )
        .unwrap();
    sealed.extend_from_slice(tag.as_ref());
    let raw_open = measure(runs, || {
        let mut b = sealed.clone();
        black_box(
            raw.open_in_place(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(b"aad"),
                &mut b,
            )
            .unwrap(),
        );
    });

    // Envelope decrypt's stages one by one, each on its own: what sets its pace on a machine.
    let blob = decode_base64(&envelope_b64).unwrap();
    let message = envelope::parse_envelope(&blob).unwrap();
    let stage_decode = measure(runs, || {
        black_box(decode_base64(black_box(&envelope_b64)).unwrap());
    });
    let stage_open = measure(runs, || {
        black_box(envelope::open(black_box(&message), &key).unwrap());
    });
    let stage_encode = measure(runs, || {
        black_box(base64_out(black_box(&payload)));
    });

    let rows = [
        ("envelope encrypt (base64 in+out)", &env_encrypt, &raw_seal),
        ("envelope decrypt (base64 in+out)", &env_decrypt, &raw_open),
        (
            "decrypt's stage: base64 decode of the envelope",
            &stage_decode,
            &raw_open,
        ),
        (
            "decrypt's stage: open (frames' AES-GCM, wipe)",
            &stage_open,
            &raw_open,
        ),
        (
            "decrypt's stage: base64 encode of the plaintext",
            &stage_encode,
            &raw_open,
        ),
        (
            "envelope encrypt, event and response JSON included",
            &json_encrypt,
            &raw_seal,
        ),
        (
            "envelope decrypt, event and response JSON included",
            &json_decrypt,
            &raw_open,
        ),
        (
            "envelope encrypt, scalar base64 crate (rejected)",
            &scalar_encrypt,
            &raw_seal,
        ),
        (
            "envelope decrypt, scalar base64 crate (rejected)",
            &scalar_decrypt,
            &raw_open,
        ),
    ];
    let mut md = String::from(
        "| 1 MiB, MiB/s | min | median | max | raw AES-256-GCM median | envelope : raw |\n|---|---|---|---|---|---|\n",
    );
    let mut json = Vec::new();
    for (name, s, raw) in rows {
        let ratio = s.median / raw.median;
        md.push_str(&format!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |\n",
            s.min, s.median, s.max, raw.median, ratio
        ));
        json.push(serde_json::json!({
            "name": name, "min_mib_s": s.min, "median_mib_s": s.median, "max_mib_s": s.max,
            "raw_aes_gcm_median_mib_s": raw.median, "ratio": ratio,
        }));
    }
    // What the stages allow together: no decrypt of this build beats it on this machine.
    let stages = 1.0
        / [&stage_decode, &stage_open, &stage_encode]
            .iter()
            .map(|s| 1.0 / s.median)
            .sum::<f64>();
    md.push_str(&format!(
        "\nDecrypt's three stages, each at its own median speed, allow at most {stages:.0} MiB/s together.\n"
    ));
    json.push(serde_json::json!({"name": "decrypt's stages together (1 / sum of 1 / median)", "median_mib_s": stages}));
    // The frame length: seal + open (no base64) at each length, 1 MiB and the largest payload.
    md.push_str(
        "\n| frame length | seal+open 1 MiB, MiB/s (median) | seal+open 4,700,000 B, MiB/s (median) | framing bytes at 4,700,000 B |\n|---|---|---|---|\n",
    );
    let largest: Vec<u8> = (0..MAX_ENVELOPE_PLAINTEXT)
        .map(|i| (i % 251) as u8)
        .collect();
    for frame in [4_096u32, 16_384, 65_536, 262_144, 1_048_576] {
        let round_trip = |data: &[u8]| {
            let sealed = envelope::seal_framed(&key, ARN, &edk, &context, data, frame).unwrap();
            let message = envelope::parse_envelope(&sealed).unwrap();
            black_box(envelope::open(&message, &key).unwrap());
        };
        let small = measure(runs, || round_trip(&payload));
        let big = measure_mib(runs.div_ceil(4), largest.len() as f64 / SIZE as f64, || {
            round_trip(&largest)
        });
        let overhead = envelope::seal_framed(&key, ARN, &edk, &context, &largest, frame)
            .unwrap()
            .len()
            - envelope::seal_framed(&key, ARN, &edk, &context, &[], frame)
                .unwrap()
                .len()
            - largest.len();
        md.push_str(&format!(
            "| {frame} | {:.0} | {:.0} | {overhead} |\n",
            small.median, big.median
        ));
        json.push(serde_json::json!({"frame_length": frame, "seal_open_1mib_median_mib_s": small.median, "seal_open_largest_median_mib_s": big.median, "framing_bytes_largest": overhead}));
    }
    // What a signature costs. Opening a signed message is the unsigned open plus verifying one
    // ECDSA P-384 signature over the whole message, which is one SHA-384 pass over it: the
    // bound is those two at their own median speeds, timed alone in this run.
    md.push_str(
        "\n| open (no base64), MiB/s median | unsigned (0x0478) | signed (0x0578) | SHA-384 of the message alone | unsigned + SHA-384 allow | signed : allowed |\n|---|---|---|---|---|---|\n",
    );
    for (label, data) in [("1 MiB", &payload), ("4,700,000 B", &largest)] {
        let mib = data.len() as f64 / SIZE as f64;
        let n = if data.len() > SIZE {
            runs.div_ceil(4)
        } else {
            runs
        };
        let unsigned = envelope::seal(&key, ARN, &edk, &context, data).unwrap();
        let signed = seal_signed(&key, &edk, &context, data);
        let unsigned_m = envelope::parse_envelope(&unsigned).unwrap();
        let signed_m = envelope::parse_envelope(&signed).unwrap();
        let open_unsigned = measure_mib(n, mib, || {
            black_box(envelope::open(black_box(&unsigned_m), &key).unwrap());
        });
        let open_signed = measure_mib(n, mib, || {
            black_box(envelope::open(black_box(&signed_m), &key).unwrap());
        });
        let sha = measure_mib(n, mib, || {
            black_box(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA384,
                black_box(&signed),
            ));
        });
        let allowed = 1.0 / (1.0 / open_unsigned.median + 1.0 / sha.median);
        let ratio = open_signed.median / allowed;
        md.push_str(&format!(
            "| {label} | {:.0} | {:.0} | {:.0} | {allowed:.0} | {ratio:.2} (target ≥ 0.90) |\n",
            open_unsigned.median, open_signed.median, sha.median
        ));
        json.push(serde_json::json!({"name": format!("signed open, {label}"), "unsigned_median_mib_s": open_unsigned.median, "signed_median_mib_s": open_signed.median, "sha384_median_mib_s": sha.median, "allowed_mib_s": allowed, "ratio": ratio}));
    }
    let seal_unsigned = measure(runs, || {
        black_box(envelope::seal(&key, ARN, &edk, &context, &payload).unwrap());
    });
    let sealing_signed = measure(runs, || {
        black_box(seal_signed(&key, &edk, &context, &payload));
    });
    md.push_str(&format!(
        "\nSeal 1 MiB (no base64), MiB/s median: unsigned {:.0}, signed {:.0} (a key pair made, the message hashed, signed).\n",
        seal_unsigned.median, sealing_signed.median
    ));
    let processes = if full { 9 } else { 1 };
    for len in [100, SIZE] {
        let (first, second) = first_signed_open(&key, len, processes);
        // Lambda's CPU share at 128 MB: 128 / 1,769 of a vCPU.
        let share = 128.0 / 1769.0;
        md.push_str(&format!(
            "\nA fresh process's first signed open of a {len}-byte payload: {first:.0} µs CPU \
             (the next: {second:.0} µs; set-up {:.0} µs), {:.1} ms at the 128 MB CPU share \
             (median of {processes} processes).\n",
            first - second,
            first / 1000.0 / share
        ));
        json.push(serde_json::json!({"name": format!("first signed open, {len} B, CPU µs"), "first_us": first, "second_us": second}));
    }
    if !full {
        println!("envelope bench: smoke run only (use `make bench` for numbers)");
        return;
    }
    print!("{md}");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/results");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(format!("{dir}/envelope.md"), &md).unwrap();
    std::fs::write(
        format!("{dir}/envelope.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
}
