//! Waiting on many futures: [`as_completed`] and [`wait`]. Depends on `future` and `error` only.
//!
//! Both register one [`Waiter`] on every pending future, as CPython does, and unregister it when
//! they are done with the futures: n futures cost O(n) in all, with no polling and no scans.

mod set;

pub(crate) use self::set::WaitSet;

use crate::error::TaskError;
use crate::future::waiter::Waiter;
use crate::future::{Future, deadline_after};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Yields futures as they complete: those already done first (in the order given), then each
/// one as it completes.
///
/// Like Python's `concurrent.futures.as_completed`. The futures may come from any mix of
/// executors. Waiting costs O(n) in all for n futures: one waiter is registered on each, and each
/// completion hands over its future directly.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(4);
/// let futures: Vec<_> = (1..=5u64).map(|n| pool.spawn(move || n * n)).collect();
/// let mut total = 0;
/// for future in as_completed(futures) {
///     total += future.result().unwrap();
/// }
/// assert_eq!(total, 55);
/// ```
pub fn as_completed<T>(futures: impl IntoIterator<Item = Future<T>>) -> AsCompleted<T> {
    let mut set = WaitSet::new();
    for future in futures {
        set.push(future, 0);
    }
    AsCompleted { set }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<T> {
    set: WaitSet<T>,
}

impl<T> AsCompleted<T> {
    /// Gives up waiting after `timeout`, counted from this call (like Python's
    /// `as_completed(fs, timeout=...)`).
    ///
    /// The iterator then yields `Ok(future)` for each future done in time, then one
    /// `Err(TaskError::Timeout)`, then `None`. The futures still outstanding are not lost:
    /// [`AsCompletedTimeout::into_pending`] hands them back.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{as_completed, TaskError, ThreadPoolExecutor};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let quick = pool.spawn(|| 1);
    /// quick.wait();
    /// let slow = pool.spawn(|| { std::thread::sleep(Duration::from_millis(300)); 2 });
    /// let mut it = as_completed([quick, slow]).timeout(Duration::from_millis(20));
    /// assert_eq!(it.next().unwrap().unwrap().result(), Ok(1));
    /// assert_eq!(it.next().unwrap().unwrap_err(), TaskError::Timeout);
    /// assert!(it.next().is_none());
    /// let rest = it.into_pending();
    /// assert_eq!(rest.len(), 1);
    /// ```
    pub fn timeout(self, timeout: Duration) -> AsCompletedTimeout<T> {
        AsCompletedTimeout { set: self.set, deadline: deadline_after(timeout), timed_out: false }
    }

    /// The futures not yielded yet, in the order they were given.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{as_completed, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let futures = vec![pool.spawn(|| 1), pool.spawn(|| 2)];
    /// let mut it = as_completed(futures);
    /// let first = it.next().unwrap();
    /// assert_eq!(it.into_pending().len(), 1);
    /// # first.result().unwrap();
    /// ```
    pub fn into_pending(self) -> Vec<Future<T>> {
        self.set.into_pending()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    fn next(&mut self) -> Option<Future<T>> {
        self.set.next(None).ok().flatten().map(|(future, _)| future)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.set.len(), Some(self.set.len()))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}

/// The iterator of [`AsCompleted::timeout`]: `Ok(future)` as each completes, then one
/// `Err(TaskError::Timeout)` if the deadline passes first.
pub struct AsCompletedTimeout<T> {
    set: WaitSet<T>,
    deadline: Instant,
    timed_out: bool,
}

impl<T> AsCompletedTimeout<T> {
    /// The futures not yielded yet (after a timeout: the unfinished ones), in the order given.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{as_completed, ThreadPoolExecutor};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let blocked = pool.spawn(move || rx.recv().is_ok());
    /// let mut it = as_completed([blocked]).timeout(Duration::from_millis(10));
    /// assert!(it.next().unwrap().is_err()); // the timeout
    /// let mut pending = it.into_pending();
    /// tx.send(()).unwrap();
    /// assert_eq!(pending.remove(0).result(), Ok(true));
    /// ```
    pub fn into_pending(self) -> Vec<Future<T>> {
        self.set.into_pending()
    }
}

impl<T> Iterator for AsCompletedTimeout<T> {
    type Item = Result<Future<T>, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.timed_out {
            return None;
        }
        match self.set.next(Some(self.deadline)) {
            Ok(future) => future.map(|(future, _)| Ok(future)),
            Err(error) => {
                self.timed_out = true;
                Some(Err(error))
            }
        }
    }
}

/// When [`wait`] returns.
///
/// # Examples
///
/// ```
/// use concurrent_futures::ReturnWhen;
///
/// assert_ne!(ReturnWhen::FirstCompleted, ReturnWhen::AllCompleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any future is done (or cancelled).
    FirstCompleted,
    /// As soon as any future fails with an error other than `Cancelled`; if none does, when all
    /// are done.
    FirstError,
    /// When every future is done.
    AllCompleted,
}

/// What [`wait`] returns: the futures that are done and those that are not, each in the order
/// they were given.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{wait, ReturnWhen, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures = vec![pool.spawn(|| 1), pool.spawn(|| 2)];
/// let result = wait(futures, None, ReturnWhen::AllCompleted);
/// let values: Vec<i32> = result.done.into_iter().map(|f| f.result().unwrap()).collect();
/// assert_eq!(values, [1, 2]);
/// assert!(result.not_done.is_empty());
/// ```
#[derive(Debug)]
pub struct WaitResult<T> {
    /// Futures that finished, failed or were cancelled.
    pub done: Vec<Future<T>>,
    /// Futures still pending or running.
    pub not_done: Vec<Future<T>>,
}

/// Waits until the futures meet `return_when` or `timeout` passes, and splits them into done
/// and not done. A timeout is not an error: it simply returns with some futures not done.
///
/// Like Python's `concurrent.futures.wait`. The futures may come from any mix of executors.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{wait, ReturnWhen, ThreadPoolExecutor};
/// use std::time::Duration;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let fast = pool.spawn(|| 1);
/// let slow = pool.spawn(|| { std::thread::sleep(Duration::from_millis(200)); 2 });
/// let result = wait([fast, slow], None, ReturnWhen::FirstCompleted);
/// assert_eq!(result.done.len(), 1);
/// assert_eq!(result.not_done.len(), 1);
/// ```
pub fn wait<T>(
    futures: impl IntoIterator<Item = Future<T>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> WaitResult<T> {
    let futures: Vec<Future<T>> = futures.into_iter().collect();
    let deadline = timeout.map(deadline_after);
    let satisfied = |done: usize, failed: bool| match return_when {
        ReturnWhen::FirstCompleted => done > 0 || done == futures.len(),
        ReturnWhen::FirstError => failed || done == futures.len(),
        ReturnWhen::AllCompleted => done == futures.len(),
    };

    let waiter = Arc::new(Waiter::default());
    let mut done = 0;
    let mut failed = false;
    let mut registered = Vec::new();
    for (key, future) in futures.iter().enumerate() {
        if future.handle().register(&waiter, key) {
            registered.push(key);
        } else {
            done += 1;
            failed |= has_failed(future);
        }
    }
    let mut scratch = Vec::new();
    while !satisfied(done, failed) && waiter.wait(deadline, &mut scratch) {
        for key in scratch.drain(..) {
            done += 1;
            failed |= has_failed(&futures[key]);
        }
    }
    for key in registered {
        futures[key].handle().unregister(&waiter, key);
    }
    let (done, not_done) = futures.into_iter().partition(Future::is_done);
    WaitResult { done, not_done }
}

/// True if the future is done with an error other than `Cancelled` (Python's "raised").
fn has_failed<T>(future: &Future<T>) -> bool {
    future
        .handle()
        .with_outcome(|outcome| matches!(outcome, Err(e) if *e != TaskError::Cancelled))
        .unwrap_or(false)
}
