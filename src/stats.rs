//! [`PoolStats`], a snapshot of a pool, and [`Counters`], the atomics every pool keeps it in.
//!
//! Every submit and spawn counts one task, and so does each item of a map: a map's chunk moves
//! its items through the counts together (`submitted(n)`, `started(n)`, then its items' outcomes).
//! A task goes `queued` → `busy` (its worker) → `completed` or `failed`, or `queued` →
//! `cancelled` (or `failed`, when a pool that shut down or broke refuses it). Each step is one or
//! two atomic adds, with no lock, so that the submit path stays as cheap as it was; a snapshot
//! reads the counters one by one, so a snapshot taken while tasks move may be off by the tasks in
//! motion, and adds up once they have settled. Depends on nothing of the crate.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of a pool: how many workers it has and runs, and what became of its tasks.
///
/// Cheap enough to poll from a progress bar or a metrics exporter: the pool keeps it in atomics
/// and [`Executor::stats`](crate::Executor::stats) only reads them. Every `submit` and `spawn`
/// counts one task, and so does each item of a `map`.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let results: Vec<_> = pool.map(|x: u32| x * 2, 0..100).collect();
/// assert_eq!(results.len(), 100);
/// let stats = pool.stats();
/// assert_eq!(stats.max_workers, 2);
/// assert_eq!(stats.completed, 100);
/// assert_eq!((stats.queued, stats.busy, stats.failed, stats.cancelled), (0, 0, 0, 0));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// The most workers that run tasks at once, now.
    pub max_workers: usize,
    /// Workers alive now: threads, processes or ranks.
    pub workers: usize,
    /// Workers running a task now.
    pub busy: usize,
    /// Tasks submitted and not started yet.
    pub queued: usize,
    /// Tasks that returned a value.
    pub completed: u64,
    /// Tasks that ended in an error other than `Cancelled`: a panic, a dead or killed worker, a
    /// pool that shut down or broke before they ran.
    pub failed: u64,
    /// Tasks cancelled before they ran.
    pub cancelled: u64,
    /// Process pools: workers that died or were killed and were replaced.
    pub workers_replaced: u64,
}

/// Keeps a counter on a cache line of its own (two lines: x86 prefetches pairs), so that the
/// submitting thread and the workers do not slow each other down through false sharing.
#[repr(align(128))]
#[derive(Default)]
struct Line<T>(T);

/// A pool's live counts. See the module docs for how a task moves through them.
#[derive(Default)]
pub(crate) struct Counters {
    /// Written by every submit.
    queued: Line<AtomicUsize>,
    /// Written by the workers.
    busy: Line<AtomicUsize>,
    completed: Line<AtomicU64>,
    failed: AtomicU64,
    cancelled: AtomicU64,
    workers_replaced: AtomicU64,
    /// Workers alive, for pools that count them here (the thread pool).
    alive: AtomicUsize,
}

/// As a `u64`, for the counts that only grow (a `usize` never exceeds 64 bits here).
fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Counters {
    /// `n` tasks were submitted (queued).
    #[inline]
    pub(crate) fn submitted(&self, n: usize) {
        self.queued.0.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` queued tasks started, together, on one worker.
    #[inline]
    pub(crate) fn started(&self, n: usize) {
        self.queued.0.fetch_sub(n, Ordering::Relaxed);
        self.busy.0.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker is done with what it started: `completed` tasks returned a value, `failed` did
    /// not.
    #[inline]
    pub(crate) fn finished(&self, completed: usize, failed: usize) {
        self.busy.0.fetch_sub(1, Ordering::Relaxed);
        if completed > 0 {
            self.completed.0.fetch_add(wide(completed), Ordering::Relaxed);
        }
        if failed > 0 {
            self.failed.fetch_add(wide(failed), Ordering::Relaxed);
        }
    }

    /// `n` queued tasks ran on a worker along with the one it `started`, without counting as
    /// started on their own (a process worker's items lined up behind that one, whose outcomes
    /// came together): they leave the queue, and that worker's `finished` counts their outcomes.
    #[inline]
    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // process and MPI pools
    pub(crate) fn ran_along(&self, n: usize) {
        if n > 0 {
            self.queued.0.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// `n` queued tasks will never start: cancelled, or (when `cancelled` is false) refused with
    /// an error, by a pool that shut down or broke.
    pub(crate) fn dropped(&self, n: usize, cancelled: bool) {
        self.queued.0.fetch_sub(n, Ordering::Relaxed);
        let count = if cancelled { &self.cancelled } else { &self.failed };
        count.fetch_add(wide(n), Ordering::Relaxed);
    }

    /// A worker started.
    pub(crate) fn worker_up(&self) {
        self.alive.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker ended.
    pub(crate) fn worker_down(&self) {
        self.alive.fetch_sub(1, Ordering::Relaxed);
    }

    /// Workers alive, as counted by `worker_up` and `worker_down`.
    pub(crate) fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    /// A worker that died or was killed was replaced.
    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // the process pool's slots
    pub(crate) fn replaced(&self) {
        self.workers_replaced.fetch_add(1, Ordering::Relaxed);
    }

    /// How many tasks wait to start.
    pub(crate) fn queued(&self) -> usize {
        // A snapshot taken while a submit and a start race may see the start first.
        let queued = self.queued.0.load(Ordering::Relaxed);
        if queued > isize::MAX as usize { 0 } else { queued }
    }

    /// The counts now, with the pool's limit and live workers.
    pub(crate) fn snapshot(&self, max_workers: usize, workers: usize) -> PoolStats {
        let busy = self.busy.0.load(Ordering::Relaxed);
        PoolStats {
            max_workers,
            workers,
            busy: if busy > isize::MAX as usize { 0 } else { busy },
            queued: self.queued(),
            completed: self.completed.0.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            workers_replaced: self.workers_replaced.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_moves_from_queued_to_busy_to_an_outcome() {
        let counters = Counters::default();
        counters.submitted(1);
        counters.submitted(5);
        assert_eq!(counters.snapshot(2, 1).queued, 6);
        counters.started(5);
        let busy = counters.snapshot(2, 1);
        assert_eq!((busy.queued, busy.busy), (1, 1));
        counters.finished(4, 1);
        counters.dropped(1, true);
        let done = counters.snapshot(2, 1);
        assert_eq!((done.queued, done.busy, done.completed, done.failed, done.cancelled), (0, 0, 4, 1, 1));
    }

    #[test]
    fn a_start_seen_before_its_submit_reads_as_nothing_queued() {
        let counters = Counters::default();
        counters.started(1);
        assert_eq!(counters.snapshot(1, 1).queued, 0);
        counters.submitted(1);
        assert_eq!(counters.snapshot(1, 1).queued, 0);
    }

    #[test]
    fn refused_tasks_count_as_failed_and_replacements_are_counted() {
        let counters = Counters::default();
        counters.submitted(3);
        counters.dropped(3, false);
        counters.replaced();
        let stats = counters.snapshot(4, 0);
        assert_eq!((stats.queued, stats.failed, stats.workers_replaced, stats.max_workers), (0, 3, 1, 4));
    }
}
