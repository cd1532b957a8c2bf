//! The function's operations and the keys they use (`src/ops/`): the part of this project that
//! is yours. Everything else — the lazily built KMS client, the deadline-bounded, re-signing,
//! measured calls, the event contract, envelopes, errors — is the kit (`kit/`, the crate
//! `kms-lambda-kit`), which `main.rs` wires to Lambda's runtime.
//!
//! # Layout
//!
//! - [`ops`]: one file per operation, and in `ops/mod.rs` the two tables — the kinds of key
//!   (`keys!`) and the operations (`operations!`). From them the kit dispatches events, checks
//!   every default key at start-up, and `make template` writes `template.yaml`'s keys and role.
//! - `main.rs`: the INIT story — configuration read, nothing signed, the client built by the
//!   first invocation.
//! - Beside them: the sample events (`events/`), the bad-input cases (`tests/bad-input/`), the
//!   tests that hold the function to what the kit promises (`tests/`), and `template.yaml`.

pub mod ops;
