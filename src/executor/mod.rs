//! The [`Executor`] trait shared by the thread and process pools, the [`Payload`] bound, the
//! lazy `map` every executor returns, and the `intake` every pool takes its work from.
//! Depends on `future`, `wait`, `error` and `sync`; no pool, so every pool can depend on it.

pub(crate) mod intake;
pub(crate) mod map;

/// The crate's side of [`Executor`], public in a private module so that nothing outside the
/// crate implements `Executor` (nor can name `ChunkOutput`).
pub(crate) mod sealed {
    use super::Payload;
    use super::map::{ChunkOutput, run_chunk};
    use crate::future::Future;

    /// How a map runs one chunk on an executor. By default one task runs the chunk's items in
    /// turn; a process or MPI pool sends the items separately encoded, so that each has its own
    /// outcome and, with a task timeout, its own deadline. (A trait method rather than a
    /// run-time check, so that only a process pool's `map` requires a function that captures
    /// nothing.)
    #[allow(unreachable_pub)]
    pub trait SubmitChunk {
        /// Runs `f` over `items` as one task; its future gives every item's outcome.
        #[allow(private_interfaces)]
        fn submit_chunk<F, A, R>(&self, f: F, items: Vec<A>) -> Future<ChunkOutput<R>>
        where
            Self: super::Executor,
            F: Fn(A) -> R + Clone + Send + Sync + 'static,
            A: Payload,
            R: Payload,
        {
            self.submit(move |items: Vec<A>| run_chunk(&f, items), items)
        }
    }
}

use self::map::Map;
use crate::future::Future;
use crate::stats::PoolStats;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What can travel to a task and back: serde-serialisable, `Send` and `'static`.
///
/// Blanket-implemented for every type that qualifies, so there is nothing to implement: derive
/// `Serialize` and `Deserialize` on your own types. Thread pools never serialise anything; the
/// bound is there so that the same code also runs on a process pool.
///
/// # Examples
///
/// ```
/// use concurrent_futures::Payload;
///
/// fn assert_payload<P: Payload>() {}
/// assert_payload::<(String, Vec<u64>)>();
/// ```
pub trait Payload: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Payload for T {}

/// A pool that runs functions on workers: [`ThreadPoolExecutor`](crate::ThreadPoolExecutor),
/// `ProcessPoolExecutor` or `MpiPoolExecutor`.
///
/// Code generic over `E: Executor` runs unchanged on threads or on processes, so switching
/// between them is one line. Implemented by this crate's executors, and by `&E` and `Arc<E>`
/// for any of them (sealed: nothing outside the crate implements it).
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// fn total_len<E: Executor>(executor: &E, words: Vec<String>) -> usize {
///     executor.map(|w: String| w.len(), words).map(Result::unwrap).sum()
/// }
///
/// let pool = ThreadPoolExecutor::new(2);
/// assert_eq!(total_len(&pool, vec!["ab".into(), "cde".into()]), 5);
/// ```
pub trait Executor: sealed::SubmitChunk {
    /// Schedules `f(arg)` and returns a [`Future`] for its result.
    ///
    /// `f` is `Clone` and `'static`: a function item or a closure. A thread pool lets it capture
    /// anything `Clone + Send + Sync` (an `Arc<Client>`, a `String`); a process pool needs it to
    /// capture nothing (checked at compile time), since a worker rebuilds it from its type
    /// alone. A task submitted after
    /// [`shutdown`](Self::shutdown) gets a future that fails with
    /// [`TaskError::Shutdown`](crate::TaskError::Shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let future = pool.submit(|x: u64| x.pow(2), 12);
    /// assert_eq!(future.result(), Ok(144));
    ///
    /// // On a thread pool the function may capture what it needs.
    /// let greeting = String::from("hello, ");
    /// let future = pool.submit(move |name: String| format!("{greeting}{name}"), "world".to_string());
    /// assert_eq!(future.result().unwrap(), "hello, world");
    /// ```
    fn submit<F, A, R>(&self, f: F, arg: A) -> Future<R>
    where
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Payload,
        R: Payload;

    /// Runs `f` over `items` in parallel and yields the results in input order.
    ///
    /// Lazy, like every Rust iterator: nothing runs before the first `next()`. The builder
    /// methods of [`Map`] set the chunk size, the number of chunks in flight, a timeout and
    /// completion order. A failed item yields its `Err` at its position and the map goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let squares: Vec<u64> =
    ///     pool.map(|x: u64| x * x, 1..=4).chunksize(2).collect::<Result<_, _>>().unwrap();
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// ```
    fn map<F, A, R, I>(&self, f: F, items: I) -> Map<'_, Self, F, A, R, I::IntoIter>
    where
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Payload,
        R: Payload,
        I: IntoIterator<Item = A>,
    {
        Map::new(self, f, items.into_iter())
    }

    /// Stops accepting work, like Python's `shutdown(wait, cancel_futures)`.
    ///
    /// With `cancel_futures`, tasks that have not started are cancelled. With `wait`, the call
    /// returns once the workers have finished what is left and exited. Calling it again is
    /// harmless. Dropping an executor is `shutdown(true, false)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let before = pool.submit(|x: u8| x + 1, 1);
    /// pool.shutdown(true, false);
    /// assert_eq!(before.result(), Ok(2));
    /// assert_eq!(pool.submit(|x: u8| x + 1, 1).result(), Err(TaskError::Shutdown));
    /// ```
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// The most workers this executor runs at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// assert_eq!(ThreadPoolExecutor::new(3).max_workers(), 3);
    /// ```
    fn max_workers(&self) -> usize;

    /// A snapshot of the pool: its limit, its workers alive and busy, and how many tasks wait,
    /// returned a value, failed or were cancelled. Reads atomics only, so it is cheap enough to
    /// poll from a progress bar. Every `submit` and `spawn` counts one task, and so does each
    /// item of a `map`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// let stats = pool.stats();
    /// assert_eq!((stats.max_workers, stats.completed, stats.queued), (2, 1, 0));
    /// ```
    fn stats(&self) -> PoolStats;
}

/// `Executor` for a pointer to an executor (`&E`, `Arc<E>`): every call goes to the executor.
macro_rules! forward_executor {
    ($(#[$doc:meta])* $pointer:ty) => {
        $(#[$doc])*
        impl<E: Executor + ?Sized> Executor for $pointer {
            fn submit<F, A, R>(&self, f: F, arg: A) -> Future<R>
            where
                F: Fn(A) -> R + Clone + Send + Sync + 'static,
                A: Payload,
                R: Payload,
            {
                (**self).submit(f, arg)
            }

            fn shutdown(&self, wait: bool, cancel_futures: bool) {
                (**self).shutdown(wait, cancel_futures);
            }

            fn max_workers(&self) -> usize {
                (**self).max_workers()
            }

            fn stats(&self) -> PoolStats {
                (**self).stats()
            }
        }

        impl<E: Executor + ?Sized> sealed::SubmitChunk for $pointer {
            #[allow(private_interfaces)]
            fn submit_chunk<F, A, R>(&self, f: F, items: Vec<A>) -> Future<map::ChunkOutput<R>>
            where
                F: Fn(A) -> R + Clone + Send + Sync + 'static,
                A: Payload,
                R: Payload,
            {
                (**self).submit_chunk(f, items)
            }
        }
    };
}

forward_executor! {
    /// A shared pool is a pool: generic code over `E: Executor` takes `&pool` as well as `pool`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// fn first_square<E: Executor>(executor: E) -> u64 {
    ///     executor.submit(|x: u64| x * x, 3).result().unwrap()
    /// }
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// assert_eq!(first_square(&pool), 9);
    /// assert_eq!(first_square(&&pool), 9);
    /// ```
    &E
}

forward_executor! {
    /// A pool shared between threads through an `Arc` is a pool.
    ///
    /// On an `Arc<ThreadPoolExecutor>` with `Executor` in scope, `submit` and `map` are this
    /// trait's (with its `Payload` bounds); call the pool's own through `pool.as_ref()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// use std::sync::Arc;
    ///
    /// fn total<E: Executor>(executor: &E) -> u64 {
    ///     executor.map(|x: u64| x, 1..=4).map(Result::unwrap).sum()
    /// }
    ///
    /// let pool = Arc::new(ThreadPoolExecutor::new(2));
    /// let shared = Arc::clone(&pool);
    /// let from_a_thread = std::thread::spawn(move || total(&shared)).join().unwrap();
    /// assert_eq!((total(&pool), from_a_thread), (10, 10));
    /// ```
    std::sync::Arc<E>
}

/// The CPUs this process may use (at least 1): what sizes the default pools.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A map over any executor runs its chunks through the executor's sealed `SubmitChunk` (here,
/// beside `Executor`, so that `map` needs nothing of this file).
/// Every executor: one task per chunk, through its sealed `SubmitChunk` (a process pool
/// encodes the items separately, so that each has its own outcome and deadline).
impl<E, F, A, R> map::sealed_source::MapSource<F, A, R> for E
where
    E: Executor + ?Sized,
    F: Fn(A) -> R + Clone + Send + Sync + 'static,
    A: Payload,
    R: Payload,
{
    #[allow(private_interfaces)]
    fn submit_chunk(&self, f: &F, items: Vec<A>) -> Future<map::ChunkOutput<R>> {
        sealed::SubmitChunk::submit_chunk(self, f.clone(), items)
    }

    fn max_workers(&self) -> usize {
        Executor::max_workers(self)
    }
}
