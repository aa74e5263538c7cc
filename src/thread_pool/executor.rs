//! [`ThreadPoolExecutor`] itself: its handle, its own `spawn`, `submit`, `map` and `scope`,
//! and its `Executor` impl.

use super::job;
use super::scope::{self, Scope};
use super::worker::Shared;
use crate::executor::map::{ChunkOutput, Map, run_chunk, sealed_source, tally_chunk};
use crate::executor::{Executor, Payload};
use crate::future::Future;
use crate::trace::PoolTrace;
use std::fmt;
use std::sync::Arc;

/// A pool of worker threads that runs closures and returns [`Future`]s.
///
/// Threads start lazily, up to `max_workers`, and are reused. Because Rust has no GIL, a thread
/// pool speeds up CPU-bound work as well as I/O-bound work. A task that panics fails only its own
/// future, with [`TaskError::Panicked`](crate::TaskError::Panicked); the pool goes on.
///
/// Dropping the pool is `shutdown(true, false)`: it waits for queued work to finish.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{as_completed, Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(4);
/// // `spawn` takes any closure; `submit` and `map` are the `Executor` calls.
/// let futures: Vec<_> = (0..8u64).map(|i| pool.submit(|x: u64| x * x, i)).collect();
/// let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
/// assert_eq!(total, 140);
/// ```
pub struct ThreadPoolExecutor {
    pub(super) threads: Threads,
}

/// A [`ThreadPoolExecutor`]'s threads, as its own [`map`](ThreadPoolExecutor::map) sees them:
/// the [`MapSource`](crate::MapSource) of a `Map` whose items and results need only be `Send`.
/// Nothing to use directly.
pub struct Threads {
    pub(super) shared: Arc<Shared>,
    /// The `task` spans of its tasks (feature `tracing`; nothing without it).
    pub(super) trace: PoolTrace,
}

impl fmt::Debug for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Threads").field("max_workers", &self.shared.max_workers()).finish()
    }
}

impl<F, A, R> sealed_source::MapSource<F, A, R> for Threads
where
    F: Fn(A) -> R + Clone + Send + Sync + 'static,
    A: Send + 'static,
    R: Send + 'static,
{
    #[allow(private_interfaces)]
    fn submit_chunk(&self, f: &F, items: Vec<A>) -> Future<ChunkOutput<R>> {
        let f = f.clone();
        let weight = items.len();
        let chunk = self.trace.wrap(move || run_chunk(&f, items));
        let (future, job) = job::weighted(chunk, weight, tally_chunk);
        self.shared.submit(job);
        future
    }

    fn max_workers(&self) -> usize {
        self.shared.max_workers()
    }
}

impl ThreadPoolExecutor {
    /// Runs any closure on the pool: no serde bounds, any result type, captures allowed.
    ///
    /// Submitted after shutdown, the future fails with
    /// [`TaskError::Shutdown`](crate::TaskError::Shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::sync::Arc;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let data = Arc::new(vec![1, 2, 3]);
    /// let sum = pool.spawn({ let data = Arc::clone(&data); move || data.iter().sum::<i32>() });
    /// assert_eq!(sum.result(), Ok(6));
    /// ```
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Future<T> {
        let (future, job) = job::task(self.threads.trace.wrap(f));
        self.threads.shared.submit(job);
        future
    }

    /// Schedules `f(arg)` on a pool thread: the thread pool's own `submit`, with no serde. Any
    /// `Send` argument and result will do: an `io::Result<String>`, a client's own error type,
    /// a file handle. `f` may capture anything `Clone + Send + Sync`.
    ///
    /// On a `ThreadPoolExecutor` value this is the `submit` called; code generic over
    /// `E: Executor` calls [`Executor::submit`] instead, whose `Payload` bounds let it run on a
    /// process pool too. Submitted after shutdown, the future fails with
    /// [`TaskError::Shutdown`](crate::TaskError::Shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let missing = pool.submit(std::fs::read_to_string, "/no/such/file".to_string());
    /// let error: std::io::Error = missing.result().unwrap().unwrap_err();
    /// assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> Future<R>
    where
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.spawn(move || f(arg))
    }

    /// Changes the most threads this pool runs at once, while it runs. Growing starts a thread
    /// at once for each task waiting in the queue (up to `n`); shrinking ends threads as they
    /// finish their current task (nothing running is interrupted; idle threads end at once).
    /// Each thread asks whether it is one too many right before it takes a task, so once this
    /// returns, only a thread already taking a task at that instant may still start it, and
    /// then ends. [`max_workers`](Executor::max_workers) and [`stats`](Executor::stats) follow.
    ///
    /// # Panics
    ///
    /// If `n` is 0: a pool with no thread would never run anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// pool.set_max_workers(8);
    /// assert_eq!(pool.max_workers(), 8);
    /// pool.set_max_workers(1);
    /// assert_eq!(pool.stats().max_workers, 1);
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// ```
    pub fn set_max_workers(&self, n: usize) {
        assert!(
            n > 0,
            "ThreadPoolExecutor::set_max_workers(0): a pool needs at least one worker; pass n >= 1"
        );
        self.threads.shared.set_max_workers(n);
    }

    /// Runs `f` over `items` on the pool's threads and yields the results in input order: the
    /// thread pool's own `map`, with no serde (any `Send` items and results).
    ///
    /// Lazy, with [`Map`]'s builder methods (`chunksize`, `buffered`, `timeout`, `unordered`,
    /// `on_progress`). Every item runs on a pool thread, at most `max_workers` at once, under
    /// the pool's thread names and after its initializer; the consuming thread only reads
    /// results. Code generic over `E: Executor` calls [`Executor::map`] instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let paths = vec!["Cargo.toml".to_string(), "/no/such/file".to_string()];
    /// let texts: Vec<std::io::Result<String>> =
    ///     pool.map(std::fs::read_to_string, paths).map(Result::unwrap).collect();
    /// assert!(texts[0].as_ref().is_ok_and(|text| text.contains("[package]")));
    /// assert!(texts[1].is_err());
    /// ```
    pub fn map<F, A, R, I>(&self, f: F, items: I) -> Map<'_, Threads, F, A, R, I::IntoIter>
    where
        I: IntoIterator<Item = A>,
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        Map::new(&self.threads, f, items.into_iter())
    }

    /// Runs `f` with a [`Scope`] whose tasks may borrow from the caller, like
    /// `std::thread::scope` and `rayon::scope`: anything that outlives this call (a `&[T]`, a
    /// `&mut` counter behind a `Mutex`, a `&Client`) can be used by the tasks without an `Arc`.
    /// Python's `with ThreadPoolExecutor() as ex:` block, for borrowed data.
    ///
    /// Every task started in the scope has ended when `scope` returns. The tasks run on this
    /// pool's threads, within `max_workers`. A task's panic fails its own handle
    /// (`Err(TaskError::Panicked)`).
    ///
    /// # Panics
    ///
    /// A panic of `f` itself propagates from `scope`, after every task has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let numbers: Vec<u64> = (1..=1000).collect();
    /// let halves: Vec<&[u64]> = numbers.chunks(500).collect();
    /// let sum: u64 = pool.scope(|s| {
    ///     let parts: Vec<_> = halves.iter().map(|half| s.spawn(move || half.iter().sum::<u64>())).collect();
    ///     parts.into_iter().map(|part| part.result().unwrap()).sum()
    /// });
    /// assert_eq!(sum, 500_500);
    /// ```
    pub fn scope<'env, T>(&self, f: impl for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T) -> T {
        scope::scope(&self.threads.shared, &self.threads.trace, f)
    }
}

/// A thread pool runs a map's chunk as one task, counted as its items, as its own `map` does.
impl crate::executor::sealed::SubmitChunk for ThreadPoolExecutor {
    #[allow(private_interfaces)]
    fn submit_chunk<F, A, R>(&self, f: F, items: Vec<A>) -> Future<ChunkOutput<R>>
    where
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Payload,
        R: Payload,
    {
        sealed_source::MapSource::submit_chunk(&self.threads, &f, items)
    }
}

impl Executor for ThreadPoolExecutor {
    fn stats(&self) -> crate::PoolStats {
        self.threads.shared.stats()
    }

    fn submit<F, A, R>(&self, f: F, arg: A) -> Future<R>
    where
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Payload,
        R: Payload,
    {
        self.spawn(move || f(arg))
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.threads.shared.shutdown(wait, cancel_futures);
    }

    fn max_workers(&self) -> usize {
        self.threads.shared.max_workers()
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.threads.shared.shutdown(true, false);
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.threads.shared.max_workers())
            .field("threads", &self.threads.shared.threads_live())
            .field("shutdown", &self.threads.shared.is_shutdown())
            .finish()
    }
}
