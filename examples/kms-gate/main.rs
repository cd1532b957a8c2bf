//! `cargo run --example kms-gate -- (--upstream http://127.0.0.1:4599 | --local)
//! [--listen 127.0.0.1:4600] [--clock-offset 15m] [--secret testing | --no-verify]`
//!
//! Runs the strict SigV4 time gate (the kit's `testing::gate`) in front of a local KMS, so that a client
//! with a wrong clock, or a request signed long before it was sent, fails the way it does
//! against AWS KMS. With `--local` the gate is the KMS: it answers `Encrypt`, `Decrypt` and
//! `GenerateDataKey` itself under one AES-256 key (`benches/lambda/local_kms.rs`, what
//! `make bench` uses so that the function, not moto, is what is measured).

#[path = "../../benches/lambda/local_kms.rs"]
mod local_kms;

use kms_lambda_kit::testing::gate;
use std::sync::Arc;
use std::time::Duration;

fn parse_offset(s: &str) -> Result<i64, String> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let (num, unit) = rest.split_at(
        rest.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    let n: i64 = num
        .parse()
        .map_err(|_| format!("bad offset {s:?}: use e.g. 90s, -15m, 2h"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("bad offset unit in {s:?}: use s, m or h")),
    };
    Ok(sign * n * mult)
}

#[tokio::main]
async fn main() {
    let mut upstream = None;
    let mut local = false;
    let mut listen = "127.0.0.1:4600".to_string();
    let mut offset = 0;
    let mut secret = Some("testing".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| exit(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--upstream" => upstream = Some(value()),
            "--local" => local = true,
            "--listen" => listen = value(),
            "--clock-offset" => offset = parse_offset(&value()).unwrap_or_else(|e| exit(&e)),
            "--secret" => secret = Some(value()),
            "--no-verify" => secret = None,
            "-h" | "--help" => exit("usage: kms-gate (--upstream URL | --local) [--listen ADDR] [--clock-offset 15m] [--secret S | --no-verify]"),
            other => exit(&format!("unknown argument {other}")),
        }
    }
    let addr = listen
        .parse()
        .unwrap_or_else(|_| exit(&format!("bad --listen address {listen}")));
    let (g, upstream) = match (upstream, local) {
        (Some(upstream), false) => (
            gate::Gate::start_on(addr, &upstream, secret.as_deref()).await,
            upstream,
        ),
        (None, true) => {
            let secret = secret
                .clone()
                .unwrap_or_else(|| exit("--local verifies signatures: drop --no-verify"));
            let kms = Arc::new(local_kms::LocalKms::default());
            let answer: gate::Answer = Arc::new(move |target, body| kms.answer(target, body));
            (
                gate::Gate::start_answering_on(addr, &secret, answer).await,
                format!("its own AES-256 key ({})", local_kms::ARN),
            )
        }
        _ => exit("give either --upstream URL or --local"),
    };
    g.set_clock_offset(offset);
    println!(
        "kms-gate: {} -> {upstream}, clock offset {offset} s, signatures {}",
        g.url(),
        if secret.is_some() {
            "verified"
        } else {
            "not verified (time only)"
        }
    );
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

fn exit(message: &str) -> ! {
    eprintln!("kms-gate: {message}");
    std::process::exit(2)
}
