//! [`Future<T>`]: the handle to one task's eventual result, with its state machine (`core`), the
//! completing side of remote tasks (`promise`), `.await` (`awaiting`) and the `waiter` it wakes.
//! Depends only on `error` and `sync`: no executor, no map, no process.

mod awaiting;
pub(crate) mod core;
mod listeners;
mod promise;
pub(crate) mod waiter;

pub use self::awaiting::{Awaiting, KillOnDrop};

use self::core::{CANCELLED, CANCELLING, COMPLETING, FINISHED, Handle, PENDING, RUNNING};
use self::waiter::Waiter;
use crate::error::TaskError;
use crate::sync::spin_until;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(all(feature = "process", unix))]
pub(crate) use self::listeners::Killer;
pub(crate) use self::promise::Promise;

/// The eventual result of a task, like Python's `concurrent.futures.Future`.
///
/// Every `submit`, `spawn` (and every chunk of a `map`) returns one. A future is either pending,
/// running, cancelled or finished; [`result`](Self::result) blocks until it is done and gives the
/// task's value or the [`TaskError`] that says why there is none.
///
/// A `Future` is not `Clone`: it owns the result, so `result` takes it by value. It is `Send` when
/// `T: Send`, so it can be handed to another thread to wait on.
///
/// # Examples
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let future = pool.spawn(|| 6 * 7);
/// future.add_done_callback(|result| println!("done: {result:?}"));
/// assert_eq!(future.result(), Ok(42));
/// ```
pub struct Future<T> {
    handle: Handle<T>,
}

impl<T> Future<T> {
    pub(crate) fn from_handle(handle: Handle<T>) -> Self {
        Future { handle }
    }

    /// A pending future completed from outside through its promise (a process task's, a
    /// scoped task's).
    pub(crate) fn pending() -> (Future<T>, Promise<T>)
    where
        T: Send,
    {
        let (handle, promise) = self::promise::pending();
        (Future { handle }, promise)
    }

    pub(crate) fn handle(&self) -> &Handle<T> {
        &self.handle
    }

    /// Blocks until the task is done and returns its value.
    ///
    /// # Errors
    ///
    /// The [`TaskError`] that kept the task from producing a value: [`TaskError::Panicked`] with
    /// the panic message, [`TaskError::Cancelled`] if it was cancelled before it ran, and, for
    /// process pools, [`TaskError::WorkerDied`], [`TaskError::Serialization`] and friends.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// assert_eq!(pool.spawn(|| "hello".len()).result(), Ok(5));
    /// ```
    pub fn result(self) -> Result<T, TaskError> {
        self.wait();
        self.take_done()
    }

    /// Like [`result`](Self::result), but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`TaskError::Timeout`] if the task is not done in time (the task itself goes on, and
    /// its result is dropped when it arrives), otherwise as [`result`](Self::result).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{TaskError, ThreadPoolExecutor};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let slow = pool.spawn(|| std::thread::sleep(Duration::from_millis(200)));
    /// assert_eq!(slow.result_timeout(Duration::from_millis(1)), Err(TaskError::Timeout));
    /// ```
    pub fn result_timeout(self, timeout: Duration) -> Result<T, TaskError> {
        if self.wait_timeout(timeout) { self.take_done() } else { Err(TaskError::Timeout) }
    }

    pub(crate) fn take_done(self) -> Result<T, TaskError> {
        // Only called once the future is done, when `take` always has an outcome.
        self.handle.take().unwrap_or(Err(TaskError::Timeout))
    }

    /// Blocks until the task is done (finished, failed or cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let future = pool.spawn(|| 1);
    /// future.wait();
    /// assert!(future.is_done());
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the task is done or `timeout` passes. Returns true if it is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let future = pool.spawn(|| 1);
    /// assert!(future.wait_timeout(Duration::from_secs(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(deadline_after(timeout)))
    }

    /// Waits for the future up to an optional deadline; true when it is done.
    ///
    /// A task that finishes in microseconds should not cost its waiter a full park and wake-up
    /// (about 20 µs across cores), so the waiter first spins, then yields, and only then parks.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let core = self.handle.core();
        if spin_until(|| core.is_done()) {
            return true;
        }
        let waiter = Arc::new(Waiter::default());
        if !core.register(&waiter, 0) {
            return true;
        }
        if waiter.wait(deadline, &mut Vec::with_capacity(1)) {
            return true;
        }
        core.unregister(&waiter, 0);
        core.is_done()
    }

    /// Cancels the task if it has not started. Returns true if the future is cancelled now
    /// (or already was), false if the task is running or done.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{TaskError, ThreadPoolExecutor};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let busy = pool.spawn(|| std::thread::sleep(Duration::from_millis(100)));
    /// let queued = pool.spawn(|| 1);
    /// assert!(queued.cancel());
    /// assert!(queued.is_cancelled());
    /// assert_eq!(queued.result(), Err(TaskError::Cancelled));
    /// # busy.result().unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        self.handle.cancel()
    }

    /// Stops the task, whatever it is doing, and says whether it did.
    ///
    /// - Pending: cancelled, as [`cancel`](Self::cancel) (true).
    /// - Running on a [`ProcessPoolExecutor`](crate::ProcessPoolExecutor): the future fails at
    ///   once with [`TaskError::Killed`] (true). If the task has started, its worker process
    ///   ends itself; the pool starts a replacement and goes on, and the worker's other tasks
    ///   run there. A task sent to a worker but still queued there behind another is only
    ///   skipped when its turn comes. The kill is exact: a worker that has already moved on to
    ///   another task is left alone (the finished task's result is then dropped). A worker that
    ///   does not stop the task within 500 ms of it being the one running (stopped with
    ///   SIGSTOP, say) is killed with SIGKILL.
    /// - Running on a [`ThreadPoolExecutor`](crate::ThreadPoolExecutor): false. A thread cannot
    ///   be stopped from outside; the task goes on, but it is asked to stop:
    ///   [`stop_requested()`](crate::stop_requested) turns true inside it, so a task that checks
    ///   it can return early, and the future completes with what the task returns. Use a process
    ///   pool for work you may have to stop that cannot check.
    /// - Done: false.
    ///
    /// Never blocks.
    ///
    /// # Examples
    ///
    #[cfg_attr(all(feature = "process", unix), doc = "```")]
    #[cfg_attr(not(all(feature = "process", unix)), doc = "```ignore")]
    /// use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError};
    ///
    /// fn spin(_: ()) {
    ///     loop {
    ///         std::hint::spin_loop();
    ///     }
    /// }
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::new(1);
    ///     let runaway = pool.submit(spin, ());
    ///     while !runaway.is_running() {
    ///         std::thread::yield_now();
    ///     }
    ///     assert!(runaway.kill());
    ///     assert!(matches!(runaway.result(), Err(TaskError::Killed(_))));
    ///     // The pool goes on with a new worker.
    ///     assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// }
    /// ```
    pub fn kill(&self) -> bool {
        self.handle.kill()
    }

    /// True if the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let future = pool.spawn(|| 1);
    /// future.wait();
    /// assert!(!future.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.handle.core().state(), CANCELLING | CANCELLED)
    }

    /// True while the task is running: it has left the pool's queue for a worker and is not
    /// done. On a thread pool that means its code has started. A process task counts as running
    /// once it is sent to a worker process, where it may still wait behind the worker's current
    /// task (as in Python, where a task handed to a worker can no longer be cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let future = pool.spawn(|| 1);
    /// future.wait();
    /// assert!(!future.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        matches!(self.handle.core().state(), RUNNING | COMPLETING)
    }

    /// True if the task is done: finished, failed or cancelled. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let future = pool.spawn(|| 1);
    /// future.wait();
    /// assert!(future.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.handle.core().is_done()
    }

    /// Calls `f` with the outcome when the future is done.
    ///
    /// Runs at once on this thread if the future is done already, otherwise on the thread that
    /// completes it (a worker, or the thread that cancels it). Callbacks run in the order they
    /// were added, and all of them have run before the future reports itself done, so
    /// [`result`](Self::result) never returns while a callback still runs. A panicking callback is
    /// caught and reported on stderr; the callbacks after it still run.
    ///
    /// A callback should be quick: it holds up the worker that runs it.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::sync::mpsc;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = mpsc::channel();
    /// let future = pool.spawn(|| 21 * 2);
    /// future.add_done_callback(move |result| tx.send(result.copied().map_err(Clone::clone)).unwrap());
    /// assert_eq!(rx.recv().unwrap(), Ok(42));
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(Result<&T, &crate::TaskError>) + Send + 'static) {
        self.handle.add_done_callback(Box::new(f));
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.handle.core().state() {
            PENDING => "pending",
            RUNNING | COMPLETING => "running",
            CANCELLING | CANCELLED => "cancelled",
            FINISHED => "finished",
            _ => "unknown",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

/// `now + timeout`, saturating at a deadline far in the future.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365 * 30))
}
