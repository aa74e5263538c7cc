//! A closure and its future's core in one allocation: the unit a thread pool queues.
//!
//! One allocation per task instead of two (a boxed closure and a separately allocated future)
//! halves the allocator's work on the submitting thread, and since the submitting thread is also
//! the one that drops the future, the allocation is freed where it was made.

use crate::error::{TaskError, panic_message};
use crate::future::Future;
use crate::future::core::{Cell, DynCell, Handle};
use crate::sync::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// The closure of a task, taken out once, by whoever holds the task's [`QueuedJob`].
pub(crate) struct TaskSlot<F>(UnsafeCell<Option<F>>);

// SAFETY: the closure is reached only through `Job::take_closure`, which only `QueuedJob` calls,
// and a task has exactly one `QueuedJob` (made once in `task`, not `Clone`, consumed by
// `run`/`reject`). So the closure is never accessed from two threads at once; it only moves
// between them, which `F: Send` allows.
unsafe impl<F: Send> Sync for TaskSlot<F> {}

/// A queued task with its type erased.
trait Job: Send + Sync {
    /// Runs the closure unless the future was cancelled, calls `finished` (exactly once), then
    /// completes the future.
    fn run(&self, finished: &dyn Fn());
    /// Completes the future with `error` without running the closure.
    fn reject(&self, error: TaskError);
}

impl<T, F> Cell<T, TaskSlot<F>>
where
    F: FnOnce() -> T + Send,
{
    fn take_closure(&self) -> Option<F> {
        // SAFETY: only the task's one `QueuedJob` gets here (see `TaskSlot`), so no other access
        // to the slot can happen at the same time.
        self.slot.0.with_mut(|slot| unsafe { (*slot).take() })
    }
}

impl<T, F> Job for Cell<T, TaskSlot<F>>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    fn run(&self, finished: &dyn Fn()) {
        let closure = self.take_closure();
        let Some(closure) = closure.filter(|_| self.core.set_running()) else {
            return finished();
        };
        let outcome = catch_unwind(AssertUnwindSafe(closure))
            .map_err(|payload| TaskError::Panicked(panic_message(payload.as_ref())));
        finished();
        self.core.complete(outcome);
    }

    fn reject(&self, error: TaskError) {
        drop(self.take_closure());
        self.core.reject(error);
    }
}

/// The executor's side of a task: run it or reject it, exactly once. Dropped without either
/// (an executor that lost it), it fails the future rather than leave its waiters hanging.
pub(crate) struct QueuedJob(Option<Arc<dyn Job>>);

impl QueuedJob {
    /// Runs the task on this thread (a panic becomes the future's `TaskError::Panicked`).
    /// `finished` is called once the task's own code is over, before its future completes, so
    /// that whoever waits on the future sees the worker's bookkeeping done.
    pub(crate) fn run(mut self, finished: &dyn Fn()) {
        if let Some(job) = self.0.take() {
            job.run(finished);
        }
    }

    /// Completes the future with `error` without running the task.
    pub(crate) fn reject(mut self, error: TaskError) {
        if let Some(job) = self.0.take() {
            job.reject(error);
        }
    }
}

impl Drop for QueuedJob {
    fn drop(&mut self) {
        if let Some(job) = self.0.take() {
            job.reject(TaskError::BrokenPool("the executor dropped the task before it ran".into()));
        }
    }
}

/// A pending future for `f`, and the job that runs it.
pub(crate) fn task<T, F>(f: F) -> (Future<T>, QueuedJob)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let cell = Arc::new(Cell::new(TaskSlot(UnsafeCell::new(Some(f)))));
    let view: Arc<DynCell<T>> = cell.clone();
    (Future::from_handle(Handle::new(view)), QueuedJob(Some(cell)))
}

/// The job of a task that completes its own future, told whether it may run (`None`) or why
/// it was refused (a pool shut down or broken): a scoped task's.
pub(crate) type Deciding = Box<dyn FnOnce(Option<TaskError>) + Send>;

/// A [`Deciding`] task as a job, taken out once under a lock, with a guard that is dropped only
/// after the task: once it has returned, or been dropped unrun.
struct DecidingJob(crate::sync::plain::Mutex<Option<(Deciding, Guard)>>);

/// Something to drop once a [`Deciding`] task is over (a scope's count of its tasks).
pub(crate) type Guard = Box<dyn Send>;

impl DecidingJob {
    /// Calls the task, then drops the guard. The guard is dropped here, in a frame whose
    /// arguments hold nothing of the task, not inside the task's own call: so nothing the task
    /// borrowed is still in use (not even as an argument of a call being unwound) when its
    /// owner learns that the task is over.
    fn decide(&self, refused: Option<TaskError>) {
        let taken = self.0.lock().take();
        if let Some((task, guard)) = taken {
            task(refused);
            drop(guard);
        }
    }
}

impl Job for DecidingJob {
    fn run(&self, finished: &dyn Fn()) {
        self.decide(None);
        finished();
    }

    fn reject(&self, error: TaskError) {
        self.decide(Some(error));
    }
}

/// The job that runs (or refuses) `task`, and drops `guard` after it (also when the job is
/// dropped unrun: the task is dropped first).
pub(crate) fn deciding(task: Deciding, guard: Guard) -> QueuedJob {
    QueuedJob(Some(Arc::new(DecidingJob(crate::sync::plain::Mutex::new(Some((task, guard)))))))
}
