//! KMS, as the function talks to it: built lazily, called within the invocation's deadline,
//! re-signed when a signature expired, measured on the wire.
//!
//! - [`lazy`]: the single-flight cell that builds the client on the first invocation, never in
//!   INIT;
//! - [`client`]: building that client — SDK configuration and HTTPS connector prepared in INIT,
//!   the client itself on first use — with the retry and skew policy and the metrics;
//! - [`call`]: [`Kms`](call::Kms), one invocation's handle through which every call is sent;
//! - [`skew`]: the clock-skew-aware retry policy (offset clock, expired-signature retries,
//!   deadline arithmetic);
//! - `metrics`: init-to-send latency and signature age from SDK interceptors, as one EMF line;
//! - [`amz_date`]: the SigV4 timestamp format, read back from signed requests.

pub mod amz_date;
pub mod call;
pub mod client;
pub mod lazy;
pub(crate) mod metrics;
pub mod skew;
