//! The memory bound: concurrent invocations never add up to more memory than the function has.
//!
//! On Lambda Managed Instances one process serves `AWS_LAMBDA_MAX_CONCURRENCY` invocations at
//! once, and each holds its event (up to
//! [`LAMBDA_PAYLOAD_LIMIT`](crate::event::LAMBDA_PAYLOAD_LIMIT), 6 MiB) and, while it works,
//! about [`WORKING_FACTOR`] times that again: the decoded payload, the envelope, the base64
//! answer. Unbounded, 64 large envelopes at once would ask for well over a gigabyte, and the
//! sandbox would be killed for it. So:
//!
//! 1. **At start-up** ([`MemoryPlan::new`]): the function's memory
//!    (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`) must hold a fixed reserve, every slot's share
//!    ([`PER_SLOT`] plus its largest event) and the working set of one largest event. If it
//!    cannot, the function does not start, and the error names `AWS_LAMBDA_MAX_CONCURRENCY`, the
//!    largest concurrency that fits, and `MAX_EVENT_BYTES` — which a function whose events are
//!    small sets to its largest event to fit more at once.
//! 2. **Per invocation** ([`MemoryBudget`]): what is left is a budget in KiB (a Tokio
//!    semaphore). An event above [`SMALL_EVENT`] reserves `WORKING_FACTOR ×` its size before it
//!    is parsed and gives it back when its answer is sent; when the budget is spent, it waits
//!    for others to finish (back-pressure), until its deadline draws near
//!    (`KMS_DEADLINE_MARGIN_MS`), and then answers `DeadlineExceeded` saying why. An event
//!    larger than `MAX_EVENT_BYTES` answers `PayloadTooLarge` unread. Small events, the common
//!    case, never touch the semaphore: their slot's share covers them.
//!
//! The constants round up the envelope's measured peak memory (kms-lambda's docs/benchmarks.md,
//! "Memory under concurrency", has the figures and their conditions).

use crate::deadline::{invocation_deadline, operation_timeout};
use crate::error::{Error, ErrorType};
use crate::event::parse::Inbox;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;

/// Memory kept out of the budget for the process itself: runtime, KMS client, TLS, allocator
/// slack: several times what an idle process holds.
pub const RESERVE: u64 = 32 << 20;
/// Memory each concurrent slot keeps besides its event: its connections' buffers, its small
/// allocations. Small events are served out of it.
pub const PER_SLOT: u64 = 512 << 10;
/// Events up to this size reserve nothing: [`PER_SLOT`] covers them.
pub const SMALL_EVENT: usize = 64 << 10;
/// Memory an invocation works with, as a multiple of its event's size, besides the event.
pub const WORKING_FACTOR: u64 = 3;

/// What the function's memory allows, worked out at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The largest event accepted (`MAX_EVENT_BYTES`).
    pub max_event_bytes: usize,
    /// KiB that invocations may reserve at once; `None` when the memory size is unknown (not on
    /// Lambda), and nothing is reserved.
    pub budget_kib: Option<u32>,
}

impl MemoryPlan {
    /// The plan for `concurrency` slots in `memory_mb` of memory, events of at most
    /// `max_event_bytes`; when they cannot fit, why, and what does (the configuration reports
    /// it against `AWS_LAMBDA_MAX_CONCURRENCY`).
    pub fn new(
        memory_mb: Option<u64>,
        concurrency: u32,
        max_event_bytes: usize,
    ) -> Result<Self, String> {
        let Some(memory_mb) = memory_mb else {
            return Ok(MemoryPlan {
                max_event_bytes,
                budget_kib: None,
            });
        };
        let memory = memory_mb << 20;
        let slot = PER_SLOT + max_event_bytes as u64;
        let working = WORKING_FACTOR * max_event_bytes as u64;
        let held = RESERVE + u64::from(concurrency) * slot;
        if held + working > memory {
            let fits = memory.saturating_sub(RESERVE + working) / slot;
            return Err(format!(
                "{concurrency} concurrent invocations with events of up to {} do not fit in \
                     {memory_mb} MB (each slot holds its event and {} KiB, one invocation works \
                     with {WORKING_FACTOR}× its event, {} MiB are kept for the process): at most \
                     {fits} fit. Lower PerExecutionEnvironmentMaxConcurrency, give the function \
                     more memory, or set MAX_EVENT_BYTES to the largest event it receives",
                bytes(max_event_bytes as u64),
                PER_SLOT >> 10,
                RESERVE >> 20,
            ));
        }
        let budget = ((memory - held) >> 10).min(u64::from(u32::MAX >> 3));
        Ok(MemoryPlan {
            max_event_bytes,
            budget_kib: Some(budget as u32),
        })
    }
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", n.div_ceil(1024))
    }
}

/// The layer that holds every invocation to the plan; outermost, so it sees the raw event
/// before anything parses it. Made by [`App::memory_budget`](crate::App::memory_budget).
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    max_event_bytes: usize,
    /// The plan's budget, in KiB permits.
    budget: Option<Arc<Semaphore>>,
    margin: Duration,
    refusals: Inbox,
}

impl MemoryBudget {
    /// The budget of `plan`; an invocation waits for memory until `margin` before its deadline,
    /// and what it refuses goes to `refusals`, which the handler answers.
    pub(crate) fn new(plan: &MemoryPlan, margin: Duration, refusals: Inbox) -> Self {
        let budget = plan
            .budget_kib
            .map(|kib| Arc::new(Semaphore::new(kib as usize)));
        MemoryBudget {
            max_event_bytes: plan.max_event_bytes,
            budget,
            margin,
            refusals,
        }
    }
}

impl<S> Layer<S> for MemoryBudget {
    type Service = Budgeted<S>;
    fn layer(&self, inner: S) -> Budgeted<S> {
        Budgeted {
            inner,
            limits: self.clone(),
        }
    }
}

/// The service [`MemoryBudget`] installs.
#[derive(Debug, Clone)]
pub struct Budgeted<S> {
    inner: S,
    limits: MemoryBudget,
}

impl<S> Service<LambdaInvocation> for Budgeted<S>
where
    S: Service<LambdaInvocation> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: LambdaInvocation) -> Self::Future {
        let len = req.body.len();
        if len > self.limits.max_event_bytes {
            let error = Error::new(
                ErrorType::PayloadTooLarge,
                format!(
                    "the event is {} bytes; this function accepts events of at most {} bytes \
                     (MAX_EVENT_BYTES)",
                    len, self.limits.max_event_bytes
                ),
            );
            self.limits.refusals.refuse(&mut req, error);
            return Box::pin(self.inner.call(req));
        }
        let Some(budget) = self
            .limits
            .budget
            .as_ref()
            .filter(|_| len > SMALL_EVENT)
            .cloned()
        else {
            return Box::pin(self.inner.call(req));
        };
        // The service polled ready is the one that serves this event; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let need = (len as u64 * WORKING_FACTOR).div_ceil(1024) as u32;
        let margin = self.limits.margin;
        let refusals = self.limits.refusals.clone();
        Box::pin(async move {
            // The deadline as the handler reads it, and the margin it keeps for its answer.
            let now = SystemTime::now();
            let deadline = invocation_deadline(req.context.deadline, now);
            let patience = operation_timeout(deadline, now, margin).unwrap_or_default();
            let started = tokio::time::Instant::now();
            match tokio::time::timeout(patience, budget.acquire_many_owned(need)).await {
                Ok(Ok(_permit)) => inner.call(req).await,
                _ => {
                    let error = Error::new(
                        ErrorType::DeadlineExceeded,
                        format!(
                            "waited {} ms for {} of memory, held by the invocations running at \
                             the same time, until the deadline drew near; give the function more \
                             memory or lower its concurrency",
                            started.elapsed().as_millis(),
                            bytes(u64::from(need) << 10),
                        ),
                    );
                    refusals.refuse(&mut req, error);
                    inner.call(req).await
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LAMBDA_PAYLOAD_LIMIT;

    const MIB: usize = 1 << 20;

    #[test]
    fn classic_lambda_at_128_mb_takes_the_largest_event() {
        let plan = MemoryPlan::new(Some(128), 1, LAMBDA_PAYLOAD_LIMIT).unwrap();
        // 128 − 32 − (0.5 + 6) MiB are left to work with: more than 3 × 6 MiB.
        assert_eq!(plan.budget_kib, Some((128 - 32) * 1024 - 512 - 6 * 1024));
        assert!(u64::from(plan.budget_kib.unwrap()) >= 3 * 6 * 1024);
    }

    #[test]
    fn too_many_slots_for_the_memory_says_what_fits() {
        let e = MemoryPlan::new(Some(2048), 400, LAMBDA_PAYLOAD_LIMIT).unwrap_err();
        // (2048 − 32 − 18) MiB / 6.5 MiB per slot.
        assert!(e.contains("at most 307 fit"), "{e}");
        assert!(e.contains("MAX_EVENT_BYTES"), "{e}");
        // Declaring small events makes room for them.
        assert!(MemoryPlan::new(Some(2048), 400, 256 * 1024).is_ok());
    }

    #[test]
    fn off_lambda_nothing_is_reserved() {
        let plan = MemoryPlan::new(None, 64, MIB).unwrap();
        assert_eq!(plan.budget_kib, None);
        assert_eq!(plan.max_event_bytes, MIB);
    }

    /// The bodies the inner service was given, in order.
    type Seen = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    /// An inner service that records each body it is given, and holds the first one until
    /// `release` is notified.
    fn recorder(
        release: Arc<tokio::sync::Notify>,
    ) -> (
        impl Service<LambdaInvocation, Response = (), Error = (), Future = impl Send> + Clone + Send,
        Seen,
    ) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let svc = lambda_runtime::tower::service_fn(move |req: LambdaInvocation| {
            let (log, release) = (log.clone(), release.clone());
            async move {
                let first = {
                    let mut log = log.lock().unwrap();
                    log.push(req.body.to_vec());
                    log.len() == 1
                };
                if first {
                    release.notified().await;
                }
                Ok::<(), ()>(())
            }
        });
        (svc, seen)
    }

    fn invocation(id: &str, len: usize, deadline_in: Duration) -> LambdaInvocation {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        let mut context = lambda_runtime::Context::default();
        context.request_id = id.to_string();
        context.deadline = (now + deadline_in).as_millis() as u64;
        LambdaInvocation {
            parts: hyper::Response::new(()).into_parts().0,
            body: vec![b' '; len].into(),
            context,
        }
    }

    /// The refusal of invocation `id`, as `errorType: message` (empty if none), and whether its
    /// body was replaced (nothing of a refused event is kept).
    fn refused(refusals: &Inbox, id: &str, seen: &[u8]) -> String {
        let text = match refusals.take(id) {
            Some(Err(e)) => e.to_string(),
            _ => String::new(),
        };
        if !text.is_empty() {
            assert_eq!(seen, b"{}", "a refused event's body is replaced");
        }
        text
    }

    #[tokio::test]
    async fn an_event_over_max_event_bytes_is_refused_unread() {
        let release = Arc::new(tokio::sync::Notify::new());
        release.notify_one();
        let (svc, seen) = recorder(release);
        let plan = MemoryPlan::new(Some(2048), 8, 256 * 1024).unwrap();
        let refusals = Inbox::default();
        let mut budgeted = MemoryBudget::new(&plan, Duration::ZERO, refusals.clone()).layer(svc);
        budgeted
            .call(invocation("big", 256 * 1024 + 1, Duration::from_secs(5)))
            .await
            .unwrap();
        let text = refused(&refusals, "big", &seen.lock().unwrap()[0]);
        assert!(
            text.contains("PayloadTooLarge: the event is 262145 bytes"),
            "{text}"
        );
        assert!(text.contains("MAX_EVENT_BYTES"), "{text}");
    }

    /// A budget with room for one 100 KiB event at a time (3 × 100 KiB), held by a first such
    /// event until `release` is notified: the service, what it saw, the refusals, the first's
    /// task and `release`.
    async fn held_by_a_first_event() -> (
        impl Service<
                LambdaInvocation,
                Response = (),
                Error = (),
                Future = impl std::future::Future<Output = Result<(), ()>> + Send,
            > + Clone,
        Seen,
        Inbox,
        tokio::task::JoinHandle<Result<(), ()>>,
        Arc<tokio::sync::Notify>,
    ) {
        let release = Arc::new(tokio::sync::Notify::new());
        let (svc, seen) = recorder(release.clone());
        let plan = MemoryPlan {
            max_event_bytes: 100 * 1024,
            budget_kib: Some(300),
        };
        let refusals = Inbox::default();
        let budgeted =
            MemoryBudget::new(&plan, Duration::from_millis(10), refusals.clone()).layer(svc);
        let first = tokio::spawn(budgeted.clone().call(invocation(
            "first",
            100 * 1024,
            Duration::from_secs(60),
        )));
        while seen.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        (budgeted, seen, refusals, first, release)
    }

    #[tokio::test]
    async fn large_events_wait_for_memory_and_give_up_before_the_deadline() {
        // The first holds the budget until released.
        let (mut budgeted, seen, refusals, first, release) = held_by_a_first_event().await;
        // The second cannot get its memory before its deadline (minus the margin).
        budgeted
            .call(invocation("second", 100 * 1024, Duration::from_millis(60)))
            .await
            .unwrap();
        let text = refused(&refusals, "second", &seen.lock().unwrap()[1]);
        assert!(text.contains("DeadlineExceeded: waited"), "{text}");
        assert!(text.contains("300 KiB of memory"), "{text}");
        // Small events never wait, even now.
        budgeted
            .call(invocation("small", 1024, Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(seen.lock().unwrap()[2].len(), 1024);
        assert!(refusals.take("small").is_none());
        // Once the first answers, the memory is back and a large event is served as sent.
        release.notify_one();
        first.await.unwrap().unwrap();
        budgeted
            .call(invocation("third", 100 * 1024, Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(seen.lock().unwrap()[3].len(), 100 * 1024);
        assert!(refusals.take("third").is_none());
    }

    #[tokio::test]
    async fn a_deadline_sent_as_a_timeout_waits_for_memory_as_the_handler_reads_it() {
        let (mut budgeted, seen, refusals, first, release) = held_by_a_first_event().await;
        // `cargo lambda watch` sends the timeout (600,000 ms), not a date: ten minutes left, not
        // a deadline in 1970 that leaves none.
        let mut watched = invocation("watched", 100 * 1024, Duration::ZERO);
        watched.context.deadline = 600_000;
        let second = tokio::spawn(budgeted.call(watched));
        // Read as a date, the deadline has passed: the second would be refused as soon as the
        // timer runs, which this sleep lets it do.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(seen.lock().unwrap().len(), 1, "the second waits for memory");
        release.notify_one();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(seen.lock().unwrap()[1].len(), 100 * 1024, "served as sent");
        assert!(refusals.take("watched").is_none());
    }
}
