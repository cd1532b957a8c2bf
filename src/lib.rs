//! kms-lambda: a Rust AWS Lambda function that calls KMS and never fails with
//! `InvalidSignatureException: Signature expired`.
//!
//! # Layout
//!
//! Two rooms:
//!
//! * [`ops`] is yours: one file per operation (`encrypt`, `decrypt`), and in `ops/mod.rs` the two
//!   tables a copy of this template edits — the kinds of key (`keys!`) and the operations
//!   (`operations!`). Beside it: the sample events (`events/`) and `template.yaml`, whose keys
//!   and role `make template` writes from the tables.
//! * [`kit`] is the KMS kit you keep: the invocation's lifecycle ([`kit::handler`]), the lazily
//!   built client, the per-call handle, the clock-skew-aware retry policy and the init-to-send
//!   metrics ([`kit::kms`]), the event contract ([`kit::event`]), envelope encryption
//!   ([`kit::envelope`]), configuration, errors, logging and wiped plaintext buffers, and what
//!   Lambda Managed Instances need: the runtime's flavour by concurrency ([`kit::executor`]) and
//!   concurrent invocations held to the function's memory ([`kit::memory`]).
//!
//! `main.rs` wires them together: configuration, logging, what INIT prepares, the runtime loop.
//! Nothing in INIT talks to the network. `kit::test_hooks` exists only with the `test-hooks`
//! feature, for this project's own tests and benchmarks; `kit::testing` (an in-memory KMS) only
//! in unit tests.

#![warn(missing_docs)]

pub mod kit;
pub mod ops;
