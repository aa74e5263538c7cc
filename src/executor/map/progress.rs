//! Progress reports of a map (cargo feature `progress`): a callback told how many items each
//! chunk held, as soon as that chunk has finished on its worker.
//!
//! Reporting at completion, not at consumption, keeps a progress bar honest for an ordered map:
//! while the consumer waits for one slow early item, the bar still moves with everything else
//! that finishes.

use crate::future::Future;

#[cfg(feature = "progress")]
use {crate::error::TaskError, std::sync::Arc};

/// The map's progress callback, if any. Without the `progress` feature it is empty and
/// [`watch`](Self::watch) does nothing.
#[derive(Default)]
pub(super) struct Progress {
    #[cfg(feature = "progress")]
    report: Option<Arc<dyn Fn(usize) + Send + Sync>>,
}

impl Progress {
    /// Reports to `report`.
    #[cfg(feature = "progress")]
    pub(super) fn reporting(report: Arc<dyn Fn(usize) + Send + Sync>) -> Self {
        Progress { report: Some(report) }
    }

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
