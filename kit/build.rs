//! Refuses to build without `AWS_LC_SYS_NO_JITTER_ENTROPY`, which the function project's
//! `.cargo/config.toml` sets for aws-lc's build: losing it silently would put tens of
//! milliseconds of CPU jitter sampling back into the first TLS handshake — many times that at a
//! 128 MB function's CPU share. It is lost when cargo runs outside the project directory (cargo
//! reads `.cargo/config.toml` from the directory it is run in, not from the manifest's). To keep
//! aws-lc's jitter entropy on purpose, set it to 0.

fn main() {
    println!("cargo:rerun-if-env-changed=AWS_LC_SYS_NO_JITTER_ENTROPY");
    match std::env::var("AWS_LC_SYS_NO_JITTER_ENTROPY").as_deref() {
        Ok("1") => {}
        Ok(other) => println!(
            "cargo:warning=AWS_LC_SYS_NO_JITTER_ENTROPY={other}: aws-lc keeps its CPU-jitter \
             seeding, tens of ms of CPU on the first TLS handshake"
        ),
        Err(_) => panic!(
            "AWS_LC_SYS_NO_JITTER_ENTROPY is not set, so aws-lc would seed its random generator \
             from CPU jitter (tens of ms of CPU on the first TLS handshake, many times that at a \
             128 MB Lambda's CPU share). Run cargo from the project directory, where \
             .cargo/config.toml sets it, or set it yourself (1; or 0 to keep jitter seeding on \
             purpose)."
        ),
    }
}
