//! [`Promise`]: the completing side of a future whose task runs elsewhere (a worker process).
//! Built on the future's [`core`](super::core) only; knows nothing of executors.

use super::core::{Cell, DynCell, Handle, PENDING, RUNNING};
use super::listeners::Killer;
use crate::error::TaskError;
use std::sync::Arc;

/// The completing side of a future whose task runs elsewhere (a worker process): the executor
/// marks it running when it sends the task, and completes it when the result arrives. Dropped
/// before it completes, it fails the future instead of leaving its waiters hanging.
pub(crate) struct Promise<T> {
    cell: Arc<DynCell<T>>,
}

/// A new pending future's handle, and its promise.
pub(crate) fn pending<T: Send>() -> (Handle<T>, Promise<T>) {
    let cell: Arc<DynCell<T>> = Arc::new(Cell::new(()));
    (Handle::new(Arc::clone(&cell)), Promise { cell })
}

impl<T> Promise<T> {
    /// Moves the future from pending to running; false if it was cancelled meanwhile.
    pub(crate) fn set_running(&self) -> bool {
        self.cell.core.set_running()
    }

    /// The flag a `kill` of the running future sets (see `crate::stop_requested`).
    pub(crate) fn stop_flag(&self) -> &std::sync::atomic::AtomicBool {
        self.cell.core.stop_flag()
    }
}

#[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // used by the process pool
impl<T> Promise<T> {
    /// See [`Core::set_running_killable`].
    pub(crate) fn set_running_killable(&self, killer: Killer) -> bool {
        self.cell.core.set_running_killable(killer)
    }

    /// See [`Core::set_killer`].
    pub(crate) fn set_killer(&self, killer: Killer) {
        self.cell.core.set_killer(killer);
    }

    /// True once the future is done (completed, failed, killed or cancelled).
    pub(crate) fn is_done(&self) -> bool {
        self.cell.core.is_done()
    }

    /// Stores the task's outcome and wakes everything waiting on it.
    pub(crate) fn complete(self, outcome: Result<T, TaskError>) {
        self.cell.core.complete(outcome);
    }

    /// See [`Core::reject`].
    pub(crate) fn reject(self, error: TaskError) {
        self.cell.core.reject(error);
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        let core = &self.cell.core;
        if matches!(core.state(), PENDING | RUNNING) {
            core.complete(Err(TaskError::BrokenPool(
                "the executor dropped the task before it completed".into(),
            )));
        }
    }
}
