//! `.await` on a [`Future`]: [`Awaiting`], and [`KillOnDrop`], which stops the task when the
//! awaiting code gives up on it. No runtime is involved: the task's completion wakes the waker
//! of the last poll, registered in the future's core like a done callback.

use super::Future;
use crate::error::TaskError;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What `.await` on a [`Future`] drives (its [`IntoFuture`](std::future::IntoFuture) type).
///
/// Polling registers the task's waker in the future, replacing the waker of an earlier poll,
/// and never blocks: the thread that completes the task wakes it. Works on any runtime (tokio,
/// async-std, smol, `futures::executor::block_on`).
///
/// # Panics
///
/// If polled again after it returned `Ready`, like most futures.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let future = pool.submit(|x: u64| x * 2, 21);
/// let doubled = futures::executor::block_on(async move { future.await });
/// assert_eq!(doubled, Ok(42));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Awaiting<T> {
    future: Option<Future<T>>,
}

// Nothing is pinned: the task's value lives behind the future's `Arc`, never inline.
impl<T> Unpin for Awaiting<T> {}

impl<T> Awaiting<T> {
    /// The future, until its outcome has been returned.
    fn future(&self) -> Option<&Future<T>> {
        self.future.as_ref()
    }
}

impl<T: Send + 'static> std::future::IntoFuture for Future<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = Awaiting<T>;

    fn into_future(self) -> Awaiting<T> {
        Awaiting { future: Some(self) }
    }
}

impl<T: Send + 'static> std::future::Future for Awaiting<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(future) = self.future.as_ref() else {
            panic!("a concurrent_futures::Future was awaited again after it returned its result")
        };
        if future.handle().core().register_waker(cx.waker()) {
            return Poll::Pending;
        }
        match self.future.take() {
            Some(future) => Poll::Ready(future.take_done()),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for Awaiting<T> {
    fn drop(&mut self) {
        if let Some(future) = &self.future {
            future.handle().core().unregister_waker();
        }
    }
}

/// A [`Future`] to await that stops its task if it is dropped first, from
/// [`Future::kill_on_drop`].
///
/// Async code drops what it was awaiting when a timeout fires or a request is cancelled; with
/// `KillOnDrop` the task goes with it: a pending task is cancelled, and a running one on a
/// process pool is killed (its worker replaced), as [`Future::kill`] does. Awaited to the end,
/// it gives the task's result like the plain future.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let result = futures::executor::block_on(pool.submit(|x: u32| x + 1, 1).kill_on_drop());
/// assert_eq!(result, Ok(2));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct KillOnDrop<T> {
    inner: Awaiting<T>,
}

impl<T: Send + 'static> std::future::Future for KillOnDrop<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<T> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        if let Some(future) = self.inner.future()
            && !future.is_done()
        {
            future.kill();
        }
    }
}

impl<T> Future<T> {
    /// The same future, to await, but dropping it before it is done calls
    /// [`kill`](Self::kill): for async code, where a timeout or a cancelled request drops what
    /// it was awaiting. See [`KillOnDrop`].
    ///
    /// # Examples
    ///
    /// A per-request deadline with tokio: the task is stopped when the deadline passes.
    ///
    #[cfg_attr(all(feature = "process", unix), doc = "```")]
    #[cfg_attr(not(all(feature = "process", unix)), doc = "```ignore")]
    /// use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError};
    /// use std::time::Duration;
    ///
    /// fn spin(_: ()) -> u32 {
    ///     loop {
    ///         std::hint::spin_loop();
    ///     }
    /// }
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::new(1);
    ///     let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    ///     let deadline = Duration::from_millis(100);
    ///     let request = pool.submit(spin, ()).kill_on_drop();
    ///     let outcome = runtime.block_on(async { tokio::time::timeout(deadline, request).await });
    ///     assert!(outcome.is_err(), "the deadline passed");
    ///     // The runaway task was killed with it: the pool's only worker is free again.
    ///     assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// }
    /// ```
    pub fn kill_on_drop(self) -> KillOnDrop<T> {
        KillOnDrop { inner: Awaiting { future: Some(self) } }
    }
}
