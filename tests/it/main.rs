//! The lab's scenarios: the kit's promises through this template's function binary, beyond the
//! checks every function runs (`tests/function.rs`). One test binary, so the support is
//! compiled and linked once:
//!
//! - [`scenarios`]: round trips, concurrency, EMF lines, configuration, logs, TLS;
//! - [`envelope`]: large payloads through the binary, and the data-key cache;
//! - [`deadline`]: the invocation's deadline bounds an operation however many calls it makes;
//! - [`trace`]: each KMS request carries its own invocation's trace header, at any concurrency.
//!
//! Run one with `cargo test --test it envelope::`.

#[path = "../support/mod.rs"]
mod support;

mod deadline;
mod envelope;
mod scenarios;
mod trace;
