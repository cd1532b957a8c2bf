//! Deadline arithmetic: when an invocation must end, and how much of it an operation may use.
//!
//! The lowest layer of the kit, with no dependency of its own: the handler bounds every
//! operation and KMS call by it, and the memory budget bounds how long a large event waits for
//! memory by the same reading, so the two never disagree about a deadline.

use std::time::{Duration, SystemTime};

/// The operation timeout for a KMS call: the time left until `deadline`, minus `margin` so the
/// function still has time to report the error. `None` when no time is left at all.
pub fn operation_timeout(
    deadline: SystemTime,
    now: SystemTime,
    margin: Duration,
) -> Option<Duration> {
    let left = deadline.duration_since(now).ok()?;
    left.checked_sub(margin).filter(|d| !d.is_zero())
}

/// The invocation deadline from the Runtime API's `Lambda-Runtime-Deadline-Ms` header.
///
/// Lambda sends Unix epoch milliseconds. `cargo lambda watch` (1.9) sends the *timeout* instead
/// (`600000`), which read as a date is 1970 and would leave no time at all; a value before
/// 2001 cannot be a real deadline, so it is read as a duration from `now`.
pub fn invocation_deadline(header_ms: u64, now: SystemTime) -> SystemTime {
    const EARLIEST_REAL_DEADLINE_MS: u64 = 978_307_200_000; // 2001-01-01
    if header_ms < EARLIEST_REAL_DEADLINE_MS {
        now + Duration::from_millis(header_ms)
    } else {
        SystemTime::UNIX_EPOCH + Duration::from_millis(header_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_leaves_the_margin_to_report_an_error() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let margin = Duration::from_millis(500);
        assert_eq!(
            operation_timeout(now + Duration::from_secs(3), now, margin),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(
            operation_timeout(now + Duration::from_millis(400), now, margin),
            None
        );
        assert_eq!(
            operation_timeout(now - Duration::from_secs(1), now, margin),
            None
        );
    }

    #[test]
    fn an_epoch_deadline_is_used_as_is_and_a_bare_timeout_is_read_as_relative() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let epoch_ms = 1_795_000_003_000;
        assert_eq!(
            invocation_deadline(epoch_ms, now),
            now + Duration::from_secs(3)
        );
        assert_eq!(
            invocation_deadline(600_000, now),
            now + Duration::from_secs(600)
        );
    }
}
