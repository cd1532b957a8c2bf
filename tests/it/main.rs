//! The lab's scenarios: the kit's promises through this template's function binary, beyond the
//! checks every function runs (`tests/function.rs`). One test binary, so the support is
//! compiled and linked once:
//!
//! - [`scenarios`]: round trips, concurrency, EMF lines, configuration, logs, TLS;
//! - [`envelope`]: large payloads through the binary, and the data-key cache.
//!
//! Run one with `cargo test --test it envelope::`.

#[path = "../support/mod.rs"]
mod support;

mod envelope;
mod scenarios;
