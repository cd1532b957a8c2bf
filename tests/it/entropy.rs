//! The function binary this build produced has aws-lc without its CPU-jitter entropy source
//! (`.cargo/config.toml` sets `AWS_LC_SYS_NO_JITTER_ENTROPY=1`; `build.rs` refuses to build
//! without it). The release artefact is stripped, so this reads the test build's symbols; the
//! arm64 artefact's build is checked by `make deploy-check`.

/// A function of the jitterentropy library, linked only when aws-lc is built with it (aws-lc
/// keeps small `tree_jitter_*` stubs either way, so those names prove nothing).
const JITTER_SYMBOL: &[u8] = b"jent_entropy_collector_alloc";
const ANY_AWS_LC_SYMBOL: &[u8] = b"aws_lc_0_";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_function_is_built_without_aws_lc_jitter_entropy() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_kms-lambda")).expect("the function binary");
    assert!(
        contains(&binary, ANY_AWS_LC_SYMBOL),
        "the binary carries no aws-lc symbol names (stripped?), so this check would prove nothing"
    );
    assert!(
        !contains(&binary, JITTER_SYMBOL),
        "aws-lc was built with its CPU-jitter entropy source: the first TLS handshake costs \
         tens of ms of CPU again. Is .cargo/config.toml's AWS_LC_SYS_NO_JITTER_ENTROPY=1 applied?"
    );
}
