//! [`ThreadPoolBuilder`]: the settings of a thread pool.

use super::executor::{ThreadPoolExecutor, Threads};
use super::worker::{Initializer, Shared};
use crate::error::BuildError;
use crate::trace::PoolTrace;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Numbers the pools of this process for their default thread names, like CPython.
static POOL_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Settings for a [`ThreadPoolExecutor`], from [`ThreadPoolExecutor::builder`].
///
/// # Examples
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("downloader")
///     .initializer(|| println!("worker starting"))
///     .build()
///     .unwrap();
/// let name = pool.spawn(|| std::thread::current().name().map(str::to_owned)).result().unwrap();
/// assert_eq!(name.as_deref(), Some("downloader_0"));
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    max_queued: Option<usize>,
    thread_name_prefix: Option<String>,
    initializer: Option<Initializer>,
}

impl ThreadPoolBuilder {
    /// The most threads the pool starts (default: `min(32, cpus + 4)`, like Python). Threads are
    /// started lazily, one per submit while none is idle, and reused.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(8).build().unwrap();
    /// assert_eq!(pool.max_workers(), 8);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names the threads `{prefix}_0`, `{prefix}_1`, ... (default prefix:
    /// `ThreadPoolExecutor-{n}` with `n` counting the pools of this process).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().thread_name_prefix("io").build().unwrap();
    /// let name = pool.spawn(|| std::thread::current().name().unwrap().to_owned()).result().unwrap();
    /// assert_eq!(name, "io_0");
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Runs `f` in each worker thread before its first task. If it panics, the pool is broken:
    /// queued and later tasks fail with [`TaskError::BrokenPool`](crate::TaskError::BrokenPool).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder()
    ///     .initializer(|| panic!("no database"))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.spawn(|| 1).result().unwrap_err();
    /// assert!(matches!(err, TaskError::BrokenPool(m) if m.contains("no database")));
    /// ```
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// At most `n` tasks wait to start: `submit`, `spawn` and a map's next chunk then wait
    /// until a task starts (backpressure for a producer faster than the workers). Each item of
    /// a map counts one task; a chunk larger than `n` goes when the queue is empty. A submit
    /// made on one of the pool's own threads never waits (it would wait for itself), and a
    /// waiting submit returns when the pool shuts down (its future fails with `Shutdown`).
    /// Unset, the queue is unbounded, as in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{BuildError, Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(2).max_queued(4).build().unwrap();
    /// let futures: Vec<_> = (0..100u32).map(|i| pool.submit(|x: u32| x * 2, i)).collect();
    /// assert!(pool.stats().queued <= 4);
    /// assert_eq!(futures.into_iter().map(|f| f.result().unwrap()).sum::<u32>(), 9900);
    /// assert_eq!(ThreadPoolExecutor::builder().max_queued(0).build().unwrap_err(), BuildError::ZeroMaxQueued);
    /// ```
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// Makes the pool. No thread starts before the first task.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`, [`BuildError::ZeroMaxQueued`] for
    /// `max_queued(0)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{BuildError, ThreadPoolExecutor};
    ///
    /// assert!(ThreadPoolExecutor::builder().build().is_ok());
    /// assert_eq!(ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err(), BuildError::ZeroWorkers);
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(BuildError::ZeroWorkers);
        }
        if self.max_queued == Some(0) {
            return Err(BuildError::ZeroMaxQueued);
        }
        let prefix = self.thread_name_prefix.unwrap_or_else(|| {
            format!("ThreadPoolExecutor-{}", POOL_COUNTER.fetch_add(1, Ordering::Relaxed))
        });
        // Its tasks' spans name the pool by its threads' prefix.
        let trace = PoolTrace::new(&prefix);
        let shared = Shared::new(max_workers, self.max_queued, prefix, self.initializer);
        Ok(ThreadPoolExecutor { threads: Threads { shared, trace } })
    }
}

/// The pool's constructors live beside its builder (so `executor.rs` needs nothing of this file).
impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0 (use [`builder`](Self::builder) to get an error value instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(8);
    /// assert_eq!(pool.spawn(|| 2 + 2).result(), Ok(4));
    /// ```
    pub fn new(max_workers: usize) -> Self {
        assert!(
            max_workers > 0,
            "ThreadPoolExecutor::new(0): a pool needs at least 1 worker \
             (use ThreadPoolExecutor::default() for min(32, cpus + 4))"
        );
        match Self::builder().max_workers(max_workers).build() {
            Ok(pool) => pool,
            Err(error) => panic!("ThreadPoolExecutor::new({max_workers}): {error}"),
        }
    }

    /// A builder for the other settings: thread names and an initializer.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }
}

impl Default for ThreadPoolExecutor {
    /// `min(32, cpus + 4)` workers, like Python.
    fn default() -> Self {
        Self::new(default_max_workers())
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_queued", &self.max_queued)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
pub(crate) fn default_max_workers() -> usize {
    (crate::executor::cpus() + 4).min(32)
}
