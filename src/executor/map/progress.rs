//! Progress reports of a map (cargo feature `progress`): a callback told how many items each
//! chunk held, as soon as that chunk has finished on its worker.
//!
//! Reporting at completion, not at consumption, keeps a progress bar honest for an ordered map:
//! while the consumer waits for one slow early item, the bar still moves with everything else
//! that finishes.

use crate::future::Future;

#[cfg(feature = "progress")]
use {super::Map, crate::error::TaskError, std::sync::Arc};

/// The map's progress callback, if any. Without the `progress` feature it is empty and
/// [`watch`](Self::watch) does nothing.
#[derive(Default)]
pub(super) struct Progress {
    #[cfg(feature = "progress")]
    report: Option<Arc<dyn Fn(usize) + Send + Sync>>,
}

impl Progress {
    /// Reports the `len` items of `chunk` when it finishes, unless it is cancelled.
    #[inline]
    pub(super) fn watch<R>(&self, chunk: &Future<R>, len: usize) {
        #[cfg(feature = "progress")]
        if let Some(report) = &self.report {
            let report = Arc::clone(report);
            chunk.add_done_callback(move |outcome| {
                if !matches!(outcome, Err(TaskError::Cancelled)) {
                    report(len);
                }
            });
        }
        #[cfg(not(feature = "progress"))]
        let _ = (chunk, len);
    }
}

#[cfg(feature = "progress")]
impl<E: ?Sized, F, A, R, I> Map<'_, E, F, A, R, I> {
    /// Calls `report(n)` each time a chunk of `n` items finishes (its items succeeded or
    /// failed), to drive a progress bar. Requires the cargo feature `progress` (on by default).
    ///
    /// `report` runs on the thread that finished the chunk (a pool worker, or the thread that
    /// reads a process pool's results) as soon as the chunk is done, before its results reach
    /// the iterator: in an ordered map the count moves on while the consumer still waits for
    /// a slow earlier item. Keep it quick. Cancelled chunks (the map was dropped or timed out)
    /// are not reported, so the counts add up to the items the map yields a result for.
    ///
    /// With [indicatif](https://docs.rs/indicatif): `.on_progress(move |n| bar.inc(n as u64))`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&done);
    /// let squares: Vec<u64> = pool
    ///     .map(|x: u64| x * x, 0..1000)
    ///     .chunksize(64)
    ///     .on_progress(move |n| {
    ///         counter.fetch_add(n, Ordering::Relaxed);
    ///     })
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(squares.len(), 1000);
    /// assert_eq!(done.load(Ordering::Relaxed), 1000);
    /// ```
    pub fn on_progress(mut self, report: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.progress = Progress { report: Some(Arc::new(report)) };
        self
    }
}
