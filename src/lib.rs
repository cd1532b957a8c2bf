//! kms-lambda: a Rust AWS Lambda function that encrypts and decrypts with KMS and never fails
//! with `InvalidSignatureException: Signature expired`.
//!
//! # Layout
//!
//! The function is a small pipeline; each stage is one module:
//!
//! * [`config`]: settings from the environment, validated during INIT with no I/O.
//! * [`logging`]: Lambda-compatible log set-up that cannot leak payloads, even at TRACE.
//! * [`raw_event`]: a runtime layer that turns a non-JSON event into a typed `InvalidRequest`.
//! * [`handler`]: one invocation's lifecycle: parse, get the client, run, write its metrics line.
//! * [`ops`]: the operations, one module each (`encrypt`, `decrypt`), and the one table that
//!   names them, dispatches events and lists the IAM actions they need.
//! * [`event`]: what every operation's event shares, and the field helpers operations use.
//! * [`lazy`]: the single-flight cell that builds the KMS client on the first invocation.
//! * [`kms`]: one invocation's deadline-bounded, measured handle on KMS, and the client builder
//!   (SDK configuration and HTTPS connector prepared in INIT, the client built on first use).
//! * [`skew`]: the clock-skew-aware retry policy: clock offset, expired-signature retries for
//!   every operation, deadline-bounded timeouts.
//! * [`metrics`]: SDK interceptors measuring init-to-send latency and signature age, and the
//!   CloudWatch EMF line they feed.
//! * [`envelope`]: envelope encryption for large payloads: AES-256-GCM under a KMS data key,
//!   in the AWS Encryption SDK message format (any ESDK opens it; it opens theirs).
//! * [`datakey`]: where an envelope's data key comes from: KMS, or the optional cache.
//! * [`error`]: the stable `errorType` taxonomy and the one mapping from SDK errors.
//! * [`memory`]: how megabyte-sized payload buffers are allocated and handed back (the global
//!   allocator and the C allocator's settings).
//! * [`secret`]: plaintext buffers wiped when dropped.
//! * [`amz_date`]: the SigV4 timestamp format, read back from signed requests.
//!
//! `main.rs` wires them together: configuration, logging, what INIT prepares, the runtime loop.
//! Nothing in INIT talks to the network. `test_hooks` exists only with the `test-hooks` feature, for this
//! project's own tests and benchmarks; `testing` (the in-memory KMS) only in unit tests.

#![warn(missing_docs)]

pub mod amz_date;
pub mod config;
pub mod datakey;
pub mod envelope;
pub mod error;
pub mod event;
pub mod handler;
pub mod kms;
pub mod lazy;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod ops;
pub mod raw_event;
pub mod secret;
pub mod skew;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
#[cfg(test)]
mod testing;
