//! A closure and its future's core in one allocation: the unit a thread pool queues.
//!
//! One allocation per task instead of two (a boxed closure and a separately allocated future)
//! halves the allocator's work on the submitting thread, and since the submitting thread is also
//! the one that drops the future, the allocation is freed where it was made.

use crate::error::{TaskError, panic_message};
use crate::future::Future;
use crate::future::core::{Cell, DynCell, Handle};
use crate::stats::Recorder;
use crate::sync::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// How a finished task of `weight` items counts in the pool's [`Counters`](crate::stats::Counters): how many of its
/// items returned a value, and how many failed.
pub(crate) type Tally<T> = fn(&Result<T, TaskError>, usize) -> (usize, usize);

/// The [`Tally`] of a task that is one item.
pub(crate) fn tally_one<T>(outcome: &Result<T, TaskError>, _weight: usize) -> (usize, usize) {
    if outcome.is_ok() { (1, 0) } else { (0, 1) }
}

/// The closure of a task, taken out once, by whoever holds the task's [`QueuedJob`], and how
/// its outcome counts.
pub(crate) struct TaskSlot<F, T> {
    closure: UnsafeCell<Option<F>>,
    tally: Tally<T>,
}

// SAFETY: the closure is reached only through `Job::take_closure`, which only `QueuedJob` calls,
// and a task has exactly one `QueuedJob` (made once in `task`, not `Clone`, consumed by
// `run`/`reject`). So the closure is never accessed from two threads at once; it only moves
// between them, which `F: Send` allows. `tally` is a plain function pointer.
unsafe impl<F: Send, T> Sync for TaskSlot<F, T> {}

/// A queued task with its type erased.
trait Job: Send + Sync {
    /// Runs the closure unless the future was cancelled, counting it (as `weight` tasks) in
    /// `counters`; calls `finished` (exactly once), then completes the future.
    fn run(&self, counters: Recorder<'_>, weight: usize, finished: &dyn Fn());
    /// Completes the future with `error` without running the closure.
    fn reject(&self, error: TaskError);
}

impl<T, F> Cell<T, TaskSlot<F, T>>
where
    F: FnOnce() -> T + Send,
{
    fn take_closure(&self) -> Option<F> {
        // SAFETY: only the task's one `QueuedJob` gets here (see `TaskSlot`), so no other access
        // to the slot can happen at the same time.
        self.slot.closure.with_mut(|slot| unsafe { (*slot).take() })
    }
}

impl<T, F> Job for Cell<T, TaskSlot<F, T>>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    fn run(&self, counters: Recorder<'_>, weight: usize, finished: &dyn Fn()) {
        let closure = self.take_closure();
        let Some(closure) = closure.filter(|_| self.core.set_running()) else {
            counters.dropped(weight, true);
            return finished();
        };
        counters.started(weight);
        let outcome = crate::stop::running(self.core.stop_flag(), || catch_unwind(AssertUnwindSafe(closure)))
            .map_err(|payload| TaskError::Panicked(panic_message(payload.as_ref())));
        let (completed, failed) = (self.slot.tally)(&outcome, weight);
        counters.finished(completed, failed);
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
pub(crate) struct QueuedJob {
    job: Option<Arc<dyn Job>>,
    /// How many tasks it counts as (a map's chunk: its items).
    weight: usize,
}

impl QueuedJob {
    /// Runs the task on this thread (a panic becomes the future's `TaskError::Panicked`),
    /// counting it in `counters`. `finished` is called once the task's own code is over, before
    /// its future completes, so that whoever waits on the future sees the worker's bookkeeping
    /// (and the counts) done.
    pub(crate) fn run(mut self, counters: Recorder<'_>, finished: &dyn Fn()) {
        if let Some(job) = self.job.take() {
            job.run(counters, self.weight, finished);
        }
    }

    /// Completes the future with `error` without running the task.
    pub(crate) fn reject(mut self, error: TaskError) {
        if let Some(job) = self.job.take() {
            job.reject(error);
        }
    }

    /// How many tasks it counts as.
    pub(crate) fn weight(&self) -> usize {
        self.weight
    }
}

impl Drop for QueuedJob {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            job.reject(TaskError::BrokenPool("the executor dropped the task before it ran".into()));
        }
    }
}

/// A pending future for `f`, one task, and the job that runs it.
pub(crate) fn task<T, F>(f: F) -> (Future<T>, QueuedJob)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    weighted(f, 1, tally_one)
}

/// A pending future for `f`, counted as `weight` tasks whose outcomes `tally` counts (a map's
/// chunk), and the job that runs it.
pub(crate) fn weighted<T, F>(f: F, weight: usize, tally: Tally<T>) -> (Future<T>, QueuedJob)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let cell = Arc::new(Cell::new(TaskSlot { closure: UnsafeCell::new(Some(f)), tally }));
    let view: Arc<DynCell<T>> = cell.clone();
    (Future::from_handle(Handle::new(view)), QueuedJob { job: Some(cell), weight })
}

/// What a [`Deciding`] task is told: it may run (counting itself in the pool's counters as
/// `weight` tasks), or why it was refused (a pool shut down or broken; the pool counted it).
pub(crate) enum Decision<'a> {
    Run { counters: Recorder<'a>, weight: usize },
    Refused(TaskError),
}

/// The job of a task that completes its own future, told what it may do: a scoped task's.
pub(crate) type Deciding = Box<dyn for<'a> FnOnce(Decision<'a>) + Send>;

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
    fn decide(&self, decision: Decision<'_>) {
        let taken = self.0.lock().take();
        if let Some((task, guard)) = taken {
            task(decision);
            drop(guard);
        }
    }
}

impl Job for DecidingJob {
    fn run(&self, counters: Recorder<'_>, weight: usize, finished: &dyn Fn()) {
        self.decide(Decision::Run { counters, weight });
        finished();
    }

    fn reject(&self, error: TaskError) {
        self.decide(Decision::Refused(error));
    }
}

/// The job that runs (or refuses) `task`, counted as `weight` tasks, and drops `guard` after it
/// (also when the job is dropped unrun: the task is dropped first).
pub(crate) fn deciding(task: Deciding, weight: usize, guard: Guard) -> QueuedJob {
    let job = DecidingJob(crate::sync::plain::Mutex::new(Some((task, guard))));
    QueuedJob { job: Some(Arc::new(job)), weight }
}
