//! Envelope throughput at 1 MiB, base64 in and out included (what the function does per
//! event, minus the one KMS call), beside raw AES-256-GCM in place on the same machine; and
//! the frame-length measurement behind `envelope::FRAME_LENGTH`: seal + open of 1 MiB and of the
//! largest payload at several frame lengths, with the message's size.
//! Reported as min / median / max over repeated runs, and as a ratio of medians measured in
//! the same run. Writes bench/results/envelope.{md,json}. Run with `make bench`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use function::ops::encrypt::MAX_ENVELOPE_PLAINTEXT;
use kms_lambda_kit::envelope::{self, DataKey};
use kms_lambda_kit::event::base64::{decode_base64, Base64};
use kms_lambda_kit::event::Event;
use kms_lambda_kit::{respond_carrying, Fields, Limit, Payload};
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

fn main() {
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
        let message = envelope::parse(&blob).unwrap();
        let plaintext = envelope::open(&message, &key).unwrap();
        black_box(base64_out(&plaintext));
    });

    // The function's whole in-process path: the event parsed into an `Event` (its payload
    // decoded while parsing) and the response serialized as the runtime does (`to_vec`). The
    // JSON scanning and the response buffer's growth are most of it; the rows above leave them
    // out, as they always have, to stay comparable.
    let any = Limit {
        max: usize::MAX / 2,
        kind: kms_lambda_kit::error::ErrorType::PayloadTooLarge,
        why: "bench",
    };
    let encrypt_event =
        serde_json::to_vec(&serde_json::json!({"operation": "encrypt", "plaintext": payload_b64}))
            .unwrap();
    let decrypt_event = serde_json::to_vec(
        &serde_json::json!({"operation": "decrypt", "ciphertext": envelope_b64}),
    )
    .unwrap();
    const FIELDS: &[&str] = &["plaintext", "ciphertext"];
    let json_encrypt = measure(runs, || {
        let event: Event = serde_json::from_slice(black_box(&encrypt_event)).unwrap();
        let f = Fields::new(&event, "encrypt", FIELDS).unwrap();
        let plaintext = f.required_base64("plaintext", any).unwrap();
        let sealed = envelope::seal(&key, ARN, &edk, &context, &plaintext).unwrap();
        let body = serde_json::json!({"keyId": ARN, "mode": "envelope"});
        let reply = respond_carrying(body, ("ciphertext", Payload::Public(sealed))).unwrap();
        black_box(serde_json::to_vec(&reply).unwrap());
    });
    let json_decrypt = measure(runs, || {
        let event: Event = serde_json::from_slice(black_box(&decrypt_event)).unwrap();
        let f = Fields::new(&event, "decrypt", FIELDS).unwrap();
        let blob = f.required_base64("ciphertext", any).unwrap();
        let message = envelope::parse(&blob).unwrap();
        let plaintext = envelope::open(&message, &key).unwrap();
        let body = serde_json::json!({"keyId": ARN, "mode": "envelope"});
        let reply = respond_carrying(body, ("plaintext", Payload::Secret(plaintext))).unwrap();
        black_box(serde_json::to_vec(&reply).unwrap());
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
        let message = envelope::parse(&blob).unwrap();
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
    let message = envelope::parse(&blob).unwrap();
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
            let message = envelope::parse(&sealed).unwrap();
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
