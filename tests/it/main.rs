//! The integration tests of this function project, in one test binary so that the test kit
//! (`tests/support`) is compiled and linked once. One module per concern:
//!
//! - [`function`]: the real binary under the Runtime API emulator, scenario by scenario;
//! - [`events`]: what the kit promises every operation, through its sample events;
//! - [`bad_input`]: the bad-input corpus, each case to its documented answer;
//! - [`envelope`]: large payloads through the binary, and the data-key cache;
//! - [`template`]: `template.yaml` against the tables and the metrics the function emits;
//! - [`layout`]: the tree and the tables (every module a row; no import cycle);
//! - [`entropy`]: the build flag that keeps aws-lc's jitter entropy out;
//! - [`deploy`]: the deploy rehearsal's function side, run by `make deploy-check` (ignored
//!   otherwise).
//!
//! Run one concern with `cargo test --features test-hooks --test it events::`.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod deploy;
mod entropy;
mod envelope;
mod events;
mod function;
mod layout;
mod template;
