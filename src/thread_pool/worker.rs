//! The inside of a thread pool: its workers and their life cycle.

use super::job::QueuedJob;
use crate::error::{TaskError, panic_message};
use crate::executor::intake::{Intake, Refuse};
use crate::stats::Counters;
use crate::sync::spin_then_park;
use crossbeam_channel::{Select, TryRecvError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long an idle worker keeps looking for work before it blocks: longer than a wake-up of
/// the submitting thread (about 20 µs), so that a submit right after a result never finds it
/// asleep.
const IDLE_SPIN: Duration = Duration::from_micros(100);

/// An initializer, shared by every worker of a pool.
pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

impl Refuse for QueuedJob {
    fn refuse(self, error: TaskError) {
        self.reject(error);
    }

    fn weight(&self) -> usize {
        QueuedJob::weight(self)
    }
}

/// The state every worker and the executor handle share.
pub(crate) struct Shared {
    intake: Intake<QueuedJob>,
    name_prefix: String,
    initializer: Option<Initializer>,
    /// Python's idle semaphore: workers that finished a task and may take the next one.
    idle: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(
        max_workers: usize,
        max_queued: Option<usize>,
        name_prefix: String,
        initializer: Option<Initializer>,
    ) -> Arc<Self> {
        Arc::new(Shared {
            intake: Intake::new(max_workers, max_queued),
            name_prefix,
            initializer,
            idle: AtomicUsize::new(0),
        })
    }

    /// Queues a job (starting a thread unless one is idle), or refuses it when the pool is shut
    /// down or broken.
    pub(crate) fn submit(self: &Arc<Self>, job: QueuedJob) {
        self.intake.submit(job, || self.adjust_thread_count());
    }

    /// Starts a worker unless one is idle or all are started (CPython's `_adjust_thread_count`).
    /// Returns why the pool is broken when not even a first thread could start.
    fn adjust_thread_count(self: &Arc<Self>) -> Option<String> {
        if !self.intake.can_start_thread() {
            return None;
        }
        if self.take_idle() {
            return None;
        }
        self.start_worker()
    }

    /// Starts one more worker thread unless `max_workers` are alive (see
    /// [`Intake::start_thread`]).
    fn start_worker(self: &Arc<Self>) -> Option<String> {
        let shared = Arc::clone(self);
        self.intake.start_thread(|index| format!("{}_{index}", self.name_prefix), move || shared.work())
    }

    /// Takes one idle worker off Python's idle count; false if none was counted.
    fn take_idle(&self) -> bool {
        self.idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
    }

    /// The worker loop: run the initializer, then jobs until the pool shuts down.
    fn work(&self) {
        if let Some(initializer) = &self.initializer {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| initializer())) {
                let message = panic_message(payload.as_ref());
                // CPython's `_initializer_failed`: the pool is broken for everything queued.
                self.intake.break_with(format!("a worker's initializer panicked: {message}"), Vec::new());
                return;
            }
        }
        let _alive = Alive::new(self.intake.counters());
        let shard = self.intake.counters().shard();
        let recorder = shard.recorder();
        while let Some(job) = self.next_job() {
            if let Some(why) = self.intake.broken() {
                self.intake.counters().dropped(job.weight(), false);
                job.reject(TaskError::BrokenPool(why.clone()));
                continue;
            }
            // Idle again before the future completes, so that a submit made as soon as the
            // result is seen reuses this thread instead of starting another.
            job.run(recorder, &|| {
                if self.intake.can_start_thread() {
                    self.idle.fetch_add(1, Ordering::AcqRel);
                }
            });
        }
    }

    /// The next job, or `None` once the pool is shut down and the queue is empty, or once this
    /// worker retires because the pool shrank (`set_max_workers`).
    ///
    /// A worker that runs out of work looks for more (spinning, then yielding) for
    /// [`IDLE_SPIN`] before it blocks: a task submitted meanwhile starts without a wake-up,
    /// which costs about 20 µs across cores (rayon's workers do the same). Each look first asks
    /// whether to retire, and a blocked worker waits for the queue to have a job (or the pool to
    /// shrink) without taking one: so a job is only ever taken right after that question (a
    /// shrink that lands between the two leaves that one job to this worker, which retires
    /// at its next look).
    fn next_job(&self) -> Option<QueuedJob> {
        let receiver = self.intake.receiver();
        let bell = self.intake.resize_bell();
        let look = || {
            if self.retire() {
                return Some(None);
            }
            match receiver.try_recv() {
                Ok(job) => Some(Some(job)),
                Err(TryRecvError::Disconnected) => Some(None),
                Err(TryRecvError::Empty) => None,
            }
        };
        spin_then_park(IDLE_SPIN, look, || {
            loop {
                if let Some(found) = look() {
                    return found;
                }
                let mut select = Select::new();
                select.recv(receiver);
                let rang = select.recv(bell);
                if select.ready() == rang {
                    let _ = bell.try_recv();
                }
            }
        })
    }

    /// True if this worker should end because the pool has more than its limit; it then no
    /// longer counts as idle either.
    fn retire(&self) -> bool {
        let retiring = self.intake.try_retire();
        if retiring {
            self.take_idle();
        }
        retiring
    }

    /// `set_max_workers(n)`: grows at once (a worker for each queued job, up to the new limit),
    /// or shrinks as workers look for their next job.
    pub(crate) fn set_max_workers(self: &Arc<Self>, n: usize) {
        self.intake.set_max_threads(n, || self.start_worker().is_none());
    }

    /// The pool's queue (a thread of the pool that waits in a scope takes jobs from it).
    pub(crate) fn queue(&self) -> &crossbeam_channel::Receiver<QueuedJob> {
        self.intake.receiver()
    }

    /// True on one of this pool's own threads.
    pub(crate) fn is_own_thread(&self) -> bool {
        self.intake.is_own_thread()
    }

    /// Runs a job taken from the queue on this thread, one of the pool's, as its loop would.
    pub(crate) fn run_here(&self, job: QueuedJob) {
        match self.intake.broken() {
            Some(why) => {
                self.intake.counters().dropped(job.weight(), false);
                job.reject(TaskError::BrokenPool(why.clone()));
            }
            None => job.run(self.intake.counters().shared(), &|| {}),
        }
    }

    /// Python's `shutdown(wait, cancel_futures)`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.intake.shutdown(wait, cancel_futures);
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.intake.is_shutdown()
    }

    pub(crate) fn threads_live(&self) -> usize {
        self.intake.threads_live()
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.intake.max_threads()
    }

    /// The pool's counts, with its limit and its threads alive now.
    pub(crate) fn stats(&self) -> crate::PoolStats {
        let counters = self.intake.counters();
        counters.snapshot(self.max_workers(), counters.alive())
    }
}

/// Counts a worker thread alive from its first look for work until it ends (a panic
/// included).
struct Alive<'a>(&'a Counters);

impl<'a> Alive<'a> {
    fn new(counters: &'a Counters) -> Self {
        counters.worker_up();
        Alive(counters)
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.worker_down();
    }
}
