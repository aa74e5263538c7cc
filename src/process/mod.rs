//! [`ProcessPoolExecutor`]: worker processes, Python's `ProcessPoolExecutor` for Rust.

mod builder;
mod entry;
mod os;
mod pool;
mod protocol;
mod slot;
mod spawn;
mod trampoline;

pub use self::builder::ProcessPoolBuilder;
pub use self::entry::init;

pub(crate) use self::entry::parent_pid;
pub(crate) use self::trampoline::{MapHandler, conjure, handler_at, offset_of_handler};

use self::pool::{Pending, Pool, Typed};
use crate::error::TaskError;
use crate::executor::{Executor, Payload};
use crate::future::Future;
use std::fmt;
use std::sync::Arc;

/// A pool of worker processes: this program, re-executed, talking to the parent over
/// `ipc-channel`.
///
/// Use it for isolation: a task that crashes, aborts or leaks takes down only its own worker
/// process; its future fails with [`TaskError::WorkerDied`] and the pool starts a replacement.
/// Arguments and results travel encoded with postcard, so they must be [`Payload`]s, and a
/// task's function must capture nothing (a fn item or a closure without captures).
///
/// Call [`init`](crate::init) as the first line of `main` in any program that uses one.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     concurrent_futures::init();
///     let pool = ProcessPoolExecutor::new(2);
///     let squares: Vec<u64> = pool.map(square, 1..=4).map(Result::unwrap).collect();
///     assert_eq!(squares, [1, 4, 9, 16]);
/// }
/// ```
///
/// A capturing closure is refused at compile time:
///
/// ```compile_fail
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// let pool = ProcessPoolExecutor::new(1);
/// let offset = 10;
/// pool.submit(move |x: u64| x + offset, 1); // error: must not capture anything
/// ```
pub struct ProcessPoolExecutor {
    pool: Arc<Pool>,
}

impl ProcessPoolExecutor {
    /// A pool of at most `max_workers` worker processes.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0 (use [`builder`](Self::builder) for an error value instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    ///
    /// let pool = ProcessPoolExecutor::new(2);
    /// # drop(pool);
    /// ```
    pub fn new(max_workers: usize) -> Self {
        assert!(
            max_workers > 0,
            "ProcessPoolExecutor::new(0): a pool needs at least 1 worker \
             (use ProcessPoolExecutor::default() for one per CPU)"
        );
        match Self::builder().max_workers(max_workers).build() {
            Ok(pool) => pool,
            Err(error) => panic!("ProcessPoolExecutor::new({max_workers}): {error}"),
        }
    }

    /// A builder for the other settings: `max_tasks_per_child` and an initializer.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    ///
    /// let pool = ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }
}

/// Decodes `data` as each kind of frame (for the fuzz target).
#[cfg(fuzzing)]
pub(crate) fn fuzz_decode(data: &[u8]) {
    let _ = protocol::decode::<protocol::ToWorker>(data);
    let _ = protocol::decode::<protocol::FromWorker>(data);
}

impl Default for ProcessPoolExecutor {
    /// One worker per CPU.
    fn default() -> Self {
        Self::new(num_cpus::get())
    }
}

impl Executor for ProcessPoolExecutor {
    fn submit<F, A, R>(&self, f: F, arg: A) -> Future<R>
    where
        F: Fn(A) -> R + Copy + Send + Sync + 'static,
        A: Payload,
        R: Payload,
    {
        const {
            assert!(
                size_of::<F>() == 0,
                "ProcessPoolExecutor: the task's function must not capture anything; pass a fn \
                 item or a closure without captures, and send data through the argument"
            )
        };
        let (future, promise) = Future::pending();
        let arg = match postcard::to_allocvec(&arg) {
            Ok(arg) => arg,
            Err(e) => {
                promise.complete(Err(TaskError::Serialization(format!(
                    "could not encode the task's argument: {e}"
                ))));
                return future;
            }
        };
        let call = trampoline::offset_of(trampoline::call_for::<F, A, R>(f));
        self.pool.submit(Pending { id: self.pool.next_id(), call, arg, task: Box::new(Typed(promise)) });
        future
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.pool.shutdown(wait, cancel_futures);
    }

    fn max_workers(&self) -> usize {
        self.pool.max_workers()
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.pool.shutdown(true, false);
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.pool.max_workers())
            .field("workers", &self.pool.workers_started())
            .field("shutdown", &self.pool.is_shutdown())
            .finish()
    }
}
