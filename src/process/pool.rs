//! The parent's side of a process pool: the queue of tasks, the worker slots, the live
//! workers, shutdown and termination.

use super::handle::WorkerHandle;
use super::spawn::Launch;
use crate::executor::intake::Intake;
use crate::remote::task::Pending;
use crate::stats::Counters;
use crate::sync::plain::Mutex;
use crate::sys::Signal;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a worker told to exit (shutdown, `max_tasks_per_child`, a signal) has before it is
/// killed.
pub(crate) const EXIT_PATIENCE: Duration = Duration::from_secs(5);

/// Shared by the executor handle and the slot threads.
pub(crate) struct Pool {
    intake: Intake<Pending>,
    /// What a slot thread runs (`slot::run`, given by the builder: the pool starts slots but
    /// does not depend on what they do).
    run_slot: fn(&Pool),
    pub(crate) launch: Launch,
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) memory_limit: Option<u64>,
    next_id: AtomicU64,
    /// Slots with nothing to do: starting their worker, or waiting for a task. While there are
    /// any, a busy slot leaves queued tasks to them instead of lining them up behind its own.
    idle_slots: AtomicUsize,
    /// Started workers waiting for a task, for starting workers on demand.
    idle_workers: IdleWorkers,
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
        max_queued: Option<usize>,
        run_slot: fn(&Pool),
        launch: Launch,
        task_timeout: Option<Duration>,
        memory_limit: Option<u64>,
    ) -> Arc<Pool> {
        let (closing, closed) = crossbeam_channel::bounded(0);
        Arc::new(Pool {
            closing: Mutex::new(Some(closing)),
            closed,
            intake: Intake::new(max_workers, max_queued),
            run_slot,
            launch,
            task_timeout,
            memory_limit,
            next_id: AtomicU64::new(0),
            idle_slots: AtomicUsize::new(0),
            idle_workers: IdleWorkers::default(),
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
    ///
    /// A waiting worker is claimed before the task is queued: queued first, the task could be
    /// taken (and the worker's wait withdrawn) before the claim, which would then find nobody
    /// waiting and start a worker for nothing.
    pub(crate) fn submit(self: &Arc<Self>, pending: Pending) {
        let claimed = self.intake.can_start_thread() && self.idle_workers.claim();
        self.intake.submit(pending, || if claimed { None } else { self.start_slot_if_needed() });
    }

    /// Starts one more slot while fewer than `max_workers` run. Returns why the pool is broken
    /// when not even a first slot could start.
    fn start_slot_if_needed(self: &Arc<Self>) -> Option<String> {
        if !self.intake.can_start_thread() {
            return None;
        }
        let pool = Arc::clone(self);
        let run_slot = self.run_slot;
        self.intake.start_thread(|index| format!("concurrent-futures-slot-{index}"), move || run_slot(&pool))
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
        self.intake.threads_live()
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.intake.max_threads()
    }

    /// `set_max_workers(n)`: grows at once (a slot for each queued task, up to the new limit),
    /// or shrinks as slots look for their next task (see [`Self::try_retire`]).
    pub(crate) fn set_max_workers(self: &Arc<Self>, n: usize) {
        self.intake.set_max_threads(n, || self.start_slot_if_needed().is_none());
    }

    /// Whether the calling slot should end its worker and itself, because the pool has more
    /// slots than its limit; asked before a slot takes each task from the queue.
    pub(crate) fn try_retire(&self) -> bool {
        self.intake.try_retire()
    }

    /// True while the pool has more slots than its limit: a slot then lines up no more tasks.
    pub(crate) fn over_limit(&self) -> bool {
        self.intake.threads_live() > self.intake.max_threads()
    }

    /// Rings when the pool shrank, for slots waiting for a task.
    pub(crate) fn resize_bell(&self) -> &Receiver<()> {
        self.intake.resize_bell()
    }

    /// The pool's counts of its tasks, which its slots move them through (see `remote::tally`).
    pub(crate) fn counters(&self) -> &Counters {
        self.intake.counters()
    }

    /// The pool's counts, with its limit and its worker processes alive now (registered: from
    /// the moment a process exists until its slot has reaped it). Reads atomics only.
    pub(crate) fn stats(&self) -> crate::PoolStats {
        let counters = self.counters();
        counters.snapshot(self.max_workers(), counters.alive())
    }

    /// Records a worker as alive, from the moment its process exists; false (and not
    /// recorded) once the pool is terminated.
    pub(crate) fn register(&self, worker: &Arc<WorkerHandle>) -> bool {
        let mut workers = self.workers.lock();
        if self.terminated.get().is_some() {
            return false;
        }
        workers.push(Arc::clone(worker));
        self.counters().worker_up();
        true
    }

    /// Records a worker as gone (reaped, or never started); once, however often it is called.
    pub(crate) fn unregister(&self, worker: &Arc<WorkerHandle>) {
        let mut workers = self.workers.lock();
        let before = workers.len();
        workers.retain(|w| !Arc::ptr_eq(w, worker));
        if workers.len() < before {
            self.counters().worker_down();
        }
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
    /// A slot's worker is about to wait for a task (see [`IdleWorkers`]).
    pub(crate) fn announce_idle(&self) {
        self.idle_workers.announce();
    }

    /// The slot's worker stopped waiting (it took a task, or it is gone).
    pub(crate) fn withdraw_idle(&self) {
        self.idle_workers.withdraw();
    }
}

/// Started workers waiting for a task: while one is there and no submit has counted on it yet,
/// a submit starts no new worker (workers start on demand, as CPython's do since 3.9).
///
/// One word, two halves: the idle workers no submit has claimed (high), and the claims no
/// worker has taken up yet (low). A submit claims an unclaimed worker; a worker that stops
/// waiting takes up a claim if there is one (the task it took is most likely that submit's),
/// and otherwise withdraws itself. So `unclaimed = waiting − outstanding claims` at all times:
/// a worker counted idle is one, and a submit never counts on a worker another took.
#[derive(Default)]
struct IdleWorkers(AtomicU64);

impl IdleWorkers {
    const HALF: u32 = 32;

    fn update(&self, change: impl Fn(u64, u64) -> Option<(u64, u64)>) -> bool {
        let low = (1u64 << Self::HALF) - 1;
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                change(word >> Self::HALF, word & low)
                    .map(|(unclaimed, claims)| (unclaimed << Self::HALF) | claims)
            })
            .is_ok()
    }

    /// A worker waits for a task.
    fn announce(&self) {
        self.update(|unclaimed, claims| Some((unclaimed + 1, claims)));
    }

    /// A worker stopped waiting.
    fn withdraw(&self) {
        self.update(|unclaimed, claims| {
            if claims > 0 { Some((unclaimed, claims - 1)) } else { Some((unclaimed.saturating_sub(1), 0)) }
        });
    }

    /// A submit counts on a waiting worker; false if none is unclaimed (start one).
    fn claim(&self) -> bool {
        self.update(|unclaimed, claims| (unclaimed > 0).then(|| (unclaimed - 1, claims + 1)))
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::IdleWorkers;

    #[test]
    fn a_claim_is_taken_up_by_the_next_worker_that_stops_waiting() {
        let idle = IdleWorkers::default();
        assert!(!idle.claim(), "nobody waits: start a worker");
        idle.announce();
        idle.announce();
        assert!(idle.claim());
        // The first worker to wake takes the submit's task: the other still counts.
        idle.withdraw();
        assert!(idle.claim(), "the second worker still waits");
        idle.withdraw();
        assert!(!idle.claim(), "both took their tasks");
        // A worker that stops waiting unclaimed withdraws itself, never below zero.
        idle.announce();
        idle.withdraw();
        idle.withdraw();
        assert!(!idle.claim());
    }
}
