//! The parent's side of a process pool: the queue of tasks, the worker slots, the live
//! workers, shutdown and termination.

use super::handle::WorkerHandle;
use super::os::Signal;
use super::slot::{self, EXIT_PATIENCE};
use super::spawn::Launch;
use super::task::Pending;
use crate::executor::intake::Intake;
use crate::sync::plain::Mutex;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Shared by the executor handle and the slot threads.
pub(crate) struct Pool {
    intake: Intake<Pending>,
    pub(crate) launch: Launch,
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) memory_limit: Option<u64>,
    next_id: AtomicU64,
    /// Slots with nothing to do: starting their worker, or waiting for a task. While there are
    /// any, a busy slot leaves queued tasks to them instead of lining them up behind its own.
    idle_slots: AtomicUsize,
    /// Slots waiting for a task with a started worker, less the submits that counted on one of
    /// them: while it is above zero, a submit starts no new worker (workers start on demand,
    /// as CPython's do since 3.9). It may count too few (then a worker starts that was not
    /// needed, within `max_workers`), never too many.
    unclaimed_idle: AtomicUsize,
    /// The workers alive now, for `terminate_workers`/`kill_workers`.
    workers: Mutex<Vec<Arc<WorkerHandle>>>,
    /// Why every worker was stopped, once `terminate_workers`/`kill_workers` ran.
    terminated: OnceLock<String>,
    /// Dropped at shutdown, so that `closed` disconnects: what a starting worker watches.
    closing: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
}

impl Pool {
    pub(crate) fn new(
        max_workers: usize,
        launch: Launch,
        task_timeout: Option<Duration>,
        memory_limit: Option<u64>,
    ) -> Arc<Pool> {
        let (closing, closed) = crossbeam_channel::bounded(0);
        Arc::new(Pool {
            closing: Mutex::new(Some(closing)),
            closed,
            intake: Intake::new(max_workers),
            launch,
            task_timeout,
            memory_limit,
            next_id: AtomicU64::new(0),
            idle_slots: AtomicUsize::new(0),
            unclaimed_idle: AtomicUsize::new(0),
            workers: Mutex::new(Vec::new()),
            terminated: OnceLock::new(),
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

    /// Starts one more slot while fewer than `max_workers` run and no started worker waits for
    /// a task. Returns why the pool is broken when not even a first slot could start.
    fn start_slot_if_needed(self: &Arc<Self>) -> Option<String> {
        if !self.intake.can_start_thread() || take_one(&self.unclaimed_idle) {
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

    /// Python's `shutdown(wait, cancel_futures)`. A worker still starting when nothing is left
    /// for it to do (`cancel_futures`, or an empty queue) is stopped rather than waited for.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.intake.shutdown(false, cancel_futures);
        drop(self.closing.lock().take());
        if wait {
            self.intake.shutdown(true, false);
        }
    }

    /// Disconnects once the pool is shut down.
    pub(crate) fn closed(&self) -> &Receiver<()> {
        &self.closed
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

    /// Records a worker as alive, from the moment its process exists; false (and not
    /// recorded) once the pool is terminated.
    pub(crate) fn register(&self, worker: &Arc<WorkerHandle>) -> bool {
        let mut workers = self.workers.lock();
        if self.terminated.get().is_some() {
            return false;
        }
        workers.push(Arc::clone(worker));
        true
    }

    pub(crate) fn unregister(&self, worker: &Arc<WorkerHandle>) {
        self.workers.lock().retain(|w| !Arc::ptr_eq(w, worker));
    }

    /// Why the pool's workers were stopped, once they were.
    pub(crate) fn terminated(&self) -> Option<&String> {
        self.terminated.get()
    }

    /// Python 3.14's `terminate_workers`/`kill_workers`: shuts the pool down, cancels what
    /// waits, signals every worker, started or starting (killing any that outlives
    /// [`EXIT_PATIENCE`]), and returns once every worker is reaped. Running tasks fail with
    /// `Killed(reason)`.
    pub(crate) fn terminate(&self, signal: Signal, reason: String) {
        {
            let _workers = self.workers.lock();
            let _ = self.terminated.set(reason);
        }
        self.shutdown(false, true);
        let workers: Vec<Arc<WorkerHandle>> = self.workers.lock().clone();
        for worker in &workers {
            worker.signal(signal);
        }
        for worker in &workers {
            if !worker.wait_reaped(EXIT_PATIENCE) {
                worker.signal(Signal::Kill);
            }
        }
        self.intake.shutdown(true, false);
    }
}

impl Pool {
    /// A slot's worker is about to wait for a task (see `unclaimed_idle`).
    pub(crate) fn announce_idle(&self) {
        self.unclaimed_idle.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes back an [`announce_idle`](Pool::announce_idle), unless a submit counted on it.
    pub(crate) fn withdraw_idle(&self) {
        take_one(&self.unclaimed_idle);
    }
}

/// Takes one from `count` unless it is zero; whether it did.
fn take_one(count: &AtomicUsize) -> bool {
    count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
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
