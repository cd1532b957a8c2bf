//! The lazily built client: built by the first invocation that needs it, never during INIT.
//!
//! Why not build in INIT like most examples? Anything started in INIT can be frozen half-way:
//! Lambda may snapshot (SnapStart) or pre-initialise (proactive init) the sandbox and deliver
//! the first event minutes later. A client built then carries stale connections and, in the
//! JS SDK reports this template answers, requests signed before the freeze. Building on the
//! first invoke costs a few milliseconds once, and `InitToSendMs` shows exactly how many.
//!
//! The cell is single-flight: N concurrent first invocations (Lambda Managed Instances run
//! several at once) build the client exactly once, the others wait for it. A failed build is
//! not cached, so the next invocation tries again. [`LazyClient::reset`] drops the client (for
//! SnapStart restore, or any hook that must forget connections and learned skew).

use crate::config::ConfigError;
use crate::error::Error;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Something that can build the client. The seam that lets tests count builds (and a
/// benchmark's own probe price a client built in INIT against the lazy one, from the test side).
pub trait BuildClient: Send + Sync + 'static {
    /// What gets built.
    type Client: Send + Sync + 'static;

    /// Prepares, in INIT, what signs nothing and costs CPU (configuration, connector). Nothing
    /// by default.
    fn prepare(&self) -> impl Future<Output = Result<(), ConfigError>> + Send {
        async { Ok(()) }
    }

    /// Builds it; may do I/O (loading SDK config), which is why it is async.
    fn build(&self) -> impl Future<Output = Result<Self::Client, Error>> + Send;

    /// Prepares again whatever the builder prepared ahead of the first build (SnapStart: before
    /// the snapshot and after restore). Nothing by default.
    fn refresh(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A client built on first use. See the module documentation.
pub struct LazyClient<B: BuildClient> {
    builder: B,
    // The `RwLock` is held only to clone or swap the `Arc`, never across an await.
    cell: RwLock<Arc<OnceCell<Arc<B::Client>>>>,
    builds: AtomicU64,
}

/// A client handed out by [`LazyClient::get`].
pub struct Acquired<C> {
    /// The shared client.
    pub client: Arc<C>,
    /// How long the build took, when *this* call built it.
    pub built_in: Option<Duration>,
}

impl<B: BuildClient> LazyClient<B> {
    /// An empty cell; nothing is built until [`get`](Self::get).
    pub fn new(builder: B) -> Self {
        LazyClient {
            builder,
            cell: RwLock::new(Arc::new(OnceCell::new())),
            builds: AtomicU64::new(0),
        }
    }

    /// The client, building it if this is the first call (or the last build failed).
    pub async fn get(&self) -> Result<Acquired<B::Client>, Error> {
        let cell = self.current();
        let mut built_in = None;
        let client = cell
            .get_or_try_init(|| async {
                let started = Instant::now();
                let client = self.builder.build().await?;
                self.builds.fetch_add(1, Ordering::Relaxed);
                built_in = Some(started.elapsed());
                Ok::<_, Error>(Arc::new(client))
            })
            .await?
            .clone();
        Ok(Acquired { client, built_in })
    }

    /// The builder, for lifecycle hooks (SnapStart) that refresh what it prepared.
    pub fn builder(&self) -> &B {
        &self.builder
    }

    /// Forgets the client; the next [`get`](Self::get) builds a new one. Calls already holding
    /// the old client finish with it.
    pub fn reset(&self) {
        *self.cell.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(OnceCell::new());
    }

    /// Whether a client is built right now (used by tests and INIT assertions).
    pub fn is_built(&self) -> bool {
        self.current().initialized()
    }

    /// How many successful builds have happened in this process (the test support counts them).
    #[allow(dead_code)]
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    fn current(&self) -> Arc<OnceCell<Arc<B::Client>>> {
        self.cell.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use std::sync::atomic::AtomicU32;

    /// Builds a `u32`, slowly, failing while `failures_left` > 0.
    struct SlowBuilder {
        attempts: AtomicU32,
        failures_left: AtomicU32,
    }

    impl BuildClient for SlowBuilder {
        type Client = u32;
        async fn build(&self) -> Result<u32, Error> {
            let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
                .is_ok()
            {
                return Err(Error::new(ErrorType::Configuration, "no region"));
            }
            Ok(n)
        }
    }

    fn lazy(failures: u32) -> Arc<LazyClient<SlowBuilder>> {
        Arc::new(LazyClient::new(SlowBuilder {
            attempts: AtomicU32::new(0),
            failures_left: AtomicU32::new(failures),
        }))
    }

    #[tokio::test]
    async fn nothing_is_built_until_first_use() {
        let l = lazy(0);
        assert!(!l.is_built());
        assert_eq!(l.builder.attempts.load(Ordering::SeqCst), 0);
        let a = l.get().await.unwrap();
        assert!(a.built_in.is_some());
        assert!(l.is_built());
        let b = l.get().await.unwrap();
        assert!(b.built_in.is_none(), "the second call must not rebuild");
        assert!(Arc::ptr_eq(&a.client, &b.client));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn eight_concurrent_first_calls_build_exactly_once() {
        let l = lazy(0);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                tokio::spawn({
                    let l = l.clone();
                    async move { l.get().await.unwrap() }
                })
            })
            .collect();
        let mut built_here = 0;
        for t in tasks {
            let a = t.await.unwrap();
            assert_eq!(*a.client, 1);
            built_here += usize::from(a.built_in.is_some());
        }
        assert_eq!(built_here, 1, "exactly one caller reports the build");
        assert_eq!(l.builds(), 1);
        assert_eq!(l.builder.attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_build_is_not_cached_and_the_next_call_retries() {
        let l = lazy(1);
        let err = l.get().await.err().expect("first build fails");
        assert_eq!(err.kind(), ErrorType::Configuration);
        assert!(!l.is_built());
        let a = l.get().await.unwrap();
        assert_eq!(*a.client, 2, "second attempt built it");
        assert_eq!(l.builds(), 1);
    }

    #[tokio::test]
    async fn reset_forgets_the_client_and_the_next_call_builds_a_new_one() {
        let l = lazy(0);
        let first = l.get().await.unwrap();
        l.reset();
        assert!(!l.is_built());
        let second = l.get().await.unwrap();
        assert!(second.built_in.is_some());
        assert_ne!(*first.client, *second.client);
        assert_eq!(l.builds(), 2);
    }
}
