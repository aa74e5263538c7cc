//! The parent's side of a process pool: the queue of tasks, the worker slots, shutdown.

use super::slot;
use crate::error::TaskError;
use crate::future::Promise;
use crate::intake::{Intake, Refuse};
use crossbeam_channel::Receiver;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A task's future, with the decoding of its result, its type erased.
pub(crate) trait Remote: Send {
    /// Marks the task running (it is being sent); false if it was cancelled.
    fn set_running(&self) -> bool;
    /// Completes the future with the encoded result, or the error.
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>);
    /// Completes the future with `error` (cancels it for `Cancelled`).
    fn reject(self: Box<Self>, error: TaskError);
}

pub(crate) struct Typed<R>(pub(crate) Promise<R>);

impl<R: DeserializeOwned + Send> Remote for Typed<R> {
    fn set_running(&self) -> bool {
        self.0.set_running()
    }

    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>) {
        let outcome = outcome.and_then(|bytes| {
            postcard::from_bytes(&bytes)
                .map_err(|e| TaskError::Serialization(format!("could not decode the task's result: {e}")))
        });
        self.0.complete(outcome);
    }

    fn reject(self: Box<Self>, error: TaskError) {
        self.0.reject(error);
    }
}

/// A task waiting for (or sent to) a worker.
pub(crate) struct Pending {
    pub(crate) id: u64,
    /// The trampoline's offset.
    pub(crate) call: isize,
    /// The encoded argument.
    pub(crate) arg: Vec<u8>,
    pub(crate) task: Box<dyn Remote>,
}

impl Refuse for Pending {
    fn refuse(self, error: TaskError) {
        self.task.reject(error);
    }
}

/// Shared by the executor handle and the slot threads.
pub(crate) struct Pool {
    intake: Intake<Pending>,
    pub(crate) initializer: Option<isize>,
    pub(crate) max_tasks: Option<u64>,
    /// See `spawn::worker_args`.
    pub(crate) worker_args: Vec<std::ffi::OsString>,
    next_id: AtomicU64,
    /// Slots with nothing to do: starting their worker, or waiting for a task. While there are
    /// any, a busy slot leaves queued tasks to them instead of lining them up behind its own.
    idle_slots: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(max_workers: usize, initializer: Option<isize>, max_tasks: Option<u64>) -> Arc<Pool> {
        Arc::new(Pool {
            intake: Intake::new(max_workers),
            initializer,
            max_tasks,
            worker_args: super::spawn::worker_args(),
            next_id: AtomicU64::new(0),
            idle_slots: AtomicUsize::new(0),
        })
    }

    /// True while some slot is idle (see [`Idle`]).
    pub(crate) fn has_idle_slot(&self) -> bool {
        self.idle_slots.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The queue, for the slots.
    pub(crate) fn queue(&self) -> &Receiver<Pending> {
        self.intake.receiver()
    }

    /// Queues a task (starting a worker slot if fewer than `max_workers` run), or fails it
    /// when the pool is shut down or broken.
    pub(crate) fn submit(self: &Arc<Self>, pending: Pending) {
        self.intake.submit(pending, || self.start_slot_if_needed());
    }

    /// Starts one more slot while fewer than `max_workers` run. Returns why the pool is broken
    /// when not even a first slot could start.
    fn start_slot_if_needed(self: &Arc<Self>) -> Option<String> {
        if !self.intake.can_start_thread() {
            return None;
        }
        let pool = Arc::clone(self);
        self.intake.start_thread(|index| format!("concurrent-futures-slot-{index}"), move || slot::run(&pool))
    }

    pub(crate) fn is_broken(&self) -> Option<&String> {
        self.intake.broken()
    }

    /// Marks the pool broken and fails `held` and everything queued with `BrokenPool`.
    pub(crate) fn break_pool(&self, why: String, held: Vec<Pending>) {
        self.intake.break_with(why, held);
    }

    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.intake.shutdown(wait, cancel_futures);
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.intake.is_shutdown()
    }

    pub(crate) fn workers_started(&self) -> usize {
        self.intake.threads_started()
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.intake.max_threads()
    }
}

/// One slot's entry in the pool's count of idle slots; it leaves the count when dropped.
pub(crate) struct Idle<'a> {
    pool: &'a Pool,
    idle: bool,
}

impl<'a> Idle<'a> {
    /// A slot that has just started: idle until it takes a task.
    pub(crate) fn starting(pool: &'a Pool) -> Self {
        pool.idle_slots.fetch_add(1, Ordering::Relaxed);
        Idle { pool, idle: true }
    }

    pub(crate) fn set(&mut self, idle: bool) {
        if idle != self.idle {
            self.idle = idle;
            if idle {
                self.pool.idle_slots.fetch_add(1, Ordering::Relaxed);
            } else {
                self.pool.idle_slots.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}
