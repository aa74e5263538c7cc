//! [`ScopedFuture`]: the handle of a task started in a [`Scope`](super::Scope).

use super::worker::Shared;
use crate::error::TaskError;
use crate::future::{Future, deadline_after};
use crossbeam_channel::select;
use std::time::{Duration, Instant};

/// The handle of a task started in a [`Scope`](crate::Scope): it cannot leave the scope.
///
/// # Examples
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(1);
/// let text = String::from("borrowed");
/// pool.scope(|s| {
///     let task = s.spawn(|| text.len());
///     assert_eq!(task.result(), Ok(8));
/// });
/// ```
pub struct ScopedFuture<'scope, T> {
    pub(super) future: Future<T>,
    /// The pool: a thread of it that waits for this task runs queued jobs meanwhile.
    pub(super) shared: &'scope Shared,
}

impl<T> ScopedFuture<'_, T> {
    /// Blocks until the task is done and returns its value, or
    /// [`TaskError::Panicked`](crate::TaskError::Panicked) if it panicked.
    ///
    /// # Errors
    ///
    /// `Panicked` if the task panicked; `Shutdown` if the pool was shut down before it started.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.scope(|s| {
    ///     let task = s.spawn(|| -> u8 { panic!("no") });
    ///     assert!(matches!(task.result(), Err(TaskError::Panicked(_))));
    /// });
    /// ```
    pub fn result(self) -> Result<T, TaskError> {
        self.wait();
        self.future.result()
    }

    /// As [`result`](Self::result), giving up after `timeout` (the task goes on).
    ///
    /// # Errors
    ///
    /// `Timeout` if the task is not done in time; otherwise as [`result`](Self::result).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.scope(|s| assert_eq!(s.spawn(|| 1).result_timeout(Duration::from_secs(5)), Ok(1)));
    /// ```
    pub fn result_timeout(self, timeout: Duration) -> Result<T, TaskError> {
        if self.wait_timeout(timeout) { self.future.result() } else { Err(TaskError::Timeout) }
    }

    /// Blocks until the task is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.scope(|s| {
    ///     let task = s.spawn(|| 1);
    ///     task.wait();
    ///     assert!(task.is_done());
    /// });
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits up to `timeout`; true if the task is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::time::{Duration, Instant};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.scope(|s| assert!(s.spawn(|| 1).wait_timeout(Duration::from_secs(5))));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(deadline_after(timeout)))
    }

    /// True once the task is done (finished, failed or cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.scope(|s| {
    ///     let task = s.spawn(|| 1);
    ///     task.wait();
    ///     assert!(task.is_done());
    /// });
    /// ```
    pub fn is_done(&self) -> bool {
        self.future.is_done()
    }

    /// Waits until the task is done or `deadline` passes; true if it is done. On a thread of
    /// the pool (a scope inside a task), it runs the pool's queued jobs meanwhile, as any of
    /// the pool's threads would: otherwise a task could wait for the very thread that waits for
    /// it (a one-thread pool, say).
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if !self.shared.is_own_thread() {
            return self.future.wait_until(deadline);
        }
        let (done_tx, done) = crossbeam_channel::bounded(1);
        self.future.add_done_callback(move |_| {
            let _ = done_tx.try_send(());
        });
        loop {
            let wait = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
            select! {
                recv(done) -> _ => return true,
                recv(self.shared.queue()) -> job => match job {
                    Ok(job) => self.shared.run_here(job),
                    // Shut down and drained: nothing to run here; wait as anyone would.
                    Err(_) => return self.future.wait_until(deadline),
                },
                default(wait) => return self.future.is_done(),
            }
        }
    }
}
