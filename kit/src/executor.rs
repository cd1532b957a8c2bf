//! The Tokio runtime the function runs on, chosen by how its invocations arrive.
//!
//! - One invocation at a time (classic Lambda: `AWS_LAMBDA_MAX_CONCURRENCY` unset or 1), or
//!   one CPU to run on: a **current-thread** runtime. The Runtime API poll, the handler and the
//!   KMS connection's I/O all run on the main thread, so no invocation pays for handing work to
//!   a worker thread and waking it. On a multi-thread runtime that hand-off (futex wake-ups,
//!   context switches, work stealing) was the largest single cost of a warm invocation that
//!   this code could remove (kms-lambda's docs/benchmarks.md, "Managed Instances").
//! - Several invocations at once on several CPUs (Lambda Managed Instances): a
//!   **multi-thread** runtime, one worker per CPU the process may use.
//!
//! Nothing in the function blocks a runtime thread (no `block_in_place`; the SDK's DNS lookups
//! go to Tokio's blocking pool), so both flavours serve every operation the same way.

use std::num::NonZeroUsize;

/// The flavour for `concurrency` simultaneous invocations on `cpus` CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Everything on the main thread.
    CurrentThread,
    /// This many worker threads.
    MultiThread(usize),
}

/// The flavour for `concurrency` invocations at once with `cpus` CPUs available.
pub fn flavor(concurrency: u32, cpus: NonZeroUsize) -> Flavor {
    if concurrency <= 1 || cpus.get() == 1 {
        Flavor::CurrentThread
    } else {
        Flavor::MultiThread(cpus.get())
    }
}

/// The CPUs this process may use (its affinity and cgroup quota included), at least one.
pub fn cpus() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Builds the runtime of `flavor`, with timers and I/O.
pub fn build(flavor: Flavor) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread(workers) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers);
            b
        }
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: usize) -> NonZeroUsize {
        NonZeroUsize::new(v).unwrap()
    }

    #[test]
    fn one_invocation_at_a_time_or_one_cpu_runs_on_the_main_thread() {
        assert_eq!(flavor(1, n(1)), Flavor::CurrentThread);
        assert_eq!(flavor(1, n(6)), Flavor::CurrentThread);
        assert_eq!(flavor(64, n(1)), Flavor::CurrentThread);
    }

    #[test]
    fn concurrent_invocations_on_several_cpus_get_a_worker_per_cpu() {
        assert_eq!(flavor(8, n(2)), Flavor::MultiThread(2));
        assert_eq!(flavor(1600, n(16)), Flavor::MultiThread(16));
    }
}
