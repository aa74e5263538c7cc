//! Waiting on many futures: [`as_completed`] and [`wait`]. Depends on `future` and `error` only.
//!
//! Both register one [`Waiter`] on every pending future, as CPython does, and unregister it when
//! they are done with the futures: n futures cost O(n) in all, with no polling and no scans.

mod set;
mod waitable;

pub(crate) use self::set::WaitSet;
pub use self::waitable::{Keyed, Keys, Unkeyed, Waitable};

use self::waitable::sealed;

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
/// It also takes `(key, future)` pairs and gives the pairs back, so that each result stays tied
/// to its input, as Python's `{executor.submit(load_url, url): url for url in urls}` does (the
/// key needs no `Hash` or `Eq`: it travels with its future).
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
///
/// With keys: each future comes back with the input it was made from, also when it failed.
///
/// ```
/// use concurrent_futures::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(4);
/// let urls = ["http://a.example/", "http://b.example/", "bad url"];
/// let futures: Vec<_> = urls
///     .iter()
///     .map(|&url| (url, pool.spawn(move || if url.contains(' ') { Err("bad") } else { Ok(url.len()) })))
///     .collect();
/// for (url, future) in as_completed(futures) {
///     match future.result().unwrap() {
///         Ok(len) => assert_eq!(len, url.len()),
///         Err(why) => assert_eq!((url, why), ("bad url", "bad")),
///     }
/// }
/// ```
pub fn as_completed<W: Waitable>(
    futures: impl IntoIterator<Item = W>,
) -> AsCompleted<<W as sealed::Waitable>::Output, <W as sealed::Waitable>::Keys> {
    let mut set = WaitSet::new();
    for future in futures {
        set.push(future);
    }
    AsCompleted { set }
}

/// The iterator of [`as_completed`]: `Future<T>`, or `(key, Future<T>)` pairs when it was given
/// pairs (`K` is then [`Keyed<Key>`](Keyed)).
pub struct AsCompleted<T, K: Keys = Unkeyed> {
    set: WaitSet<T, K>,
}

impl<T, K: Keys> AsCompleted<T, K> {
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
    pub fn timeout(self, timeout: Duration) -> AsCompletedTimeout<T, K> {
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
    pub fn into_pending(self) -> Vec<K::Item<T>> {
        self.set.into_pending()
    }
}

impl<T, K: Keys> Iterator for AsCompleted<T, K> {
    type Item = K::Item<T>;

    fn next(&mut self) -> Option<Self::Item> {
        self.set.next(None).ok().flatten()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.set.len(), Some(self.set.len()))
    }
}

impl<T, K: Keys> ExactSizeIterator for AsCompleted<T, K> {}

/// The iterator of [`AsCompleted::timeout`]: `Ok(future)` (or `Ok((key, future))`) as each
/// completes, then one `Err(TaskError::Timeout)` if the deadline passes first.
pub struct AsCompletedTimeout<T, K: Keys = Unkeyed> {
    set: WaitSet<T, K>,
    deadline: Instant,
    timed_out: bool,
}

impl<T, K: Keys> AsCompletedTimeout<T, K> {
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
    pub fn into_pending(self) -> Vec<K::Item<T>> {
        self.set.into_pending()
    }
}

impl<T, K: Keys> Iterator for AsCompletedTimeout<T, K> {
    type Item = Result<K::Item<T>, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.timed_out {
            return None;
        }
        match self.set.next(Some(self.deadline)) {
            Ok(future) => future.map(Ok),
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
/// they were given (as `(key, future)` pairs when [`wait`] was given pairs: `K` is then
/// [`Keyed<Key>`](Keyed)).
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
pub struct WaitResult<T, K: Keys = Unkeyed> {
    /// Futures that finished, failed or were cancelled.
    pub done: Vec<K::Item<T>>,
    /// Futures still pending or running.
    pub not_done: Vec<K::Item<T>>,
}

impl<T, K: Keys> std::fmt::Debug for WaitResult<T, K>
where
    K::Item<T>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitResult").field("done", &self.done).field("not_done", &self.not_done).finish()
    }
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
pub fn wait<W: Waitable>(
    futures: impl IntoIterator<Item = W>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> WaitResult<<W as sealed::Waitable>::Output, <W as sealed::Waitable>::Keys> {
    let futures: Vec<W> = futures.into_iter().collect();
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
        if future.future().handle().register(&waiter, key) {
            registered.push(key);
        } else {
            done += 1;
            failed |= has_failed(future.future());
        }
    }
    let mut scratch = Vec::new();
    while !satisfied(done, failed) && waiter.wait(deadline, &mut scratch) {
        for key in scratch.drain(..) {
            done += 1;
            failed |= has_failed(futures[key].future());
        }
    }
    for key in registered {
        futures[key].future().handle().unregister(&waiter, key);
    }
    let (done, not_done): (Vec<W>, Vec<W>) = futures.into_iter().partition(|w| w.future().is_done());
    WaitResult {
        done: done.into_iter().map(W::into_item).collect(),
        not_done: not_done.into_iter().map(W::into_item).collect(),
    }
}

/// True if the future is done with an error other than `Cancelled` (Python's "raised").
fn has_failed<T>(future: &Future<T>) -> bool {
    future
        .handle()
        .with_outcome(|outcome| matches!(outcome, Err(e) if *e != TaskError::Cancelled))
        .unwrap_or(false)
}
