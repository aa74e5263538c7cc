//! [`PoolStats`], a snapshot of a pool, and [`Counters`], the atomics every pool keeps it in.
//!
//! Every submit and spawn counts one task, and so does each item of a map: a map's chunk moves
//! its items through the counts together (`submitted(n)`, `started(n)`, then its items' outcomes).
//! A task goes `queued` → `busy` (its worker) → `completed` or `failed`, or `queued` →
//! `cancelled` (or `failed`, when a pool that shut down or broke refuses it). Each step is one or
//! two atomic adds, with no lock, so that the submit path stays as cheap as it was; a snapshot
//! reads the counters one by one, so a snapshot taken while tasks move may be off by the tasks in
//! motion, and adds up once they have settled. Depends on nothing of the crate.

mod shard;

pub(crate) use self::shard::Shard;
use crate::room::Room;
use crate::sync::plain::Mutex;
use std::marker::PhantomData;
use std::sync::Arc;
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
    /// Process pools: workers that died or were killed (a crash, an exit, `Future::kill`, the
    /// task timeout, the memory limit) and were replaced; not those that retired after
    /// `max_tasks_per_child`, nor those ended by `kill_workers` or `terminate_workers`.
    pub workers_replaced: u64,
}

/// Keeps counters on a cache line of their own (two lines: x86 prefetches pairs), so that the
/// submitting threads and the workers do not slow each other down through false sharing.
#[repr(align(128))]
#[derive(Default)]
struct Line<T>(T);

/// What only submitting threads write.
#[derive(Default)]
struct SubmitSide {
    submitted: AtomicU64,
}

/// What the workers (and the threads that refuse or cancel tasks) write.
#[derive(Default)]
struct WorkerSide {
    /// Tasks that left the queue: started, ran along a started one, or dropped.
    left_queue: AtomicU64,
    /// Runs started and finished on a worker (a run is a task, or a map's chunk).
    runs_started: AtomicU64,
    runs_finished: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    workers_replaced: AtomicU64,
    /// Workers alive, for pools that count them here.
    alive: AtomicUsize,
}

/// How a thread-pool worker moves tasks through its pool's [`Counters`]: through its own
/// [`Shard`], or (`own` is `None`: a task run outside the worker loop) the shared counts. Used
/// only on the thread that owns the shard, for the task it runs now (never sent elsewhere).
#[derive(Clone, Copy)]
pub(crate) struct Recorder<'a> {
    counters: &'a Counters,
    own: Option<&'a Shard>,
    /// Not `Send`: a shard has one writer, the thread it was made for.
    _one_thread: PhantomData<*const ()>,
}

impl Recorder<'_> {
    /// `n` queued tasks started, together. With `max_queued`, what left the queue is counted
    /// in the shared count that submits compare against (and waiting submits are woken);
    /// without, nobody waits for it, and it stays in the shard too.
    #[inline]
    pub(crate) fn started(&self, n: usize) {
        let Some(shard) = self.own else { return self.counters.started(n) };
        if self.counters.bounded {
            self.counters.left_queue(n);
            shard.started(0);
        } else {
            shard.started(wide(n));
        }
    }

    /// What started is done: `completed` tasks returned a value, `failed` did not.
    #[inline]
    pub(crate) fn finished(&self, completed: usize, failed: usize) {
        let Some(shard) = self.own else { return self.counters.finished(completed, failed) };
        shard.finished(wide(completed), wide(failed));
    }

    /// `n` queued tasks will never start (see [`Counters::dropped`]).
    pub(crate) fn dropped(&self, n: usize, cancelled: bool) {
        self.counters.dropped(n, cancelled);
    }
}

/// A worker's [`Shard`], registered in its pool's [`Counters`] while the worker runs; dropped
/// when it ends, its counts fold into the shared ones.
pub(crate) struct OwnShard<'a> {
    counters: &'a Counters,
    shard: Arc<Shard>,
}

impl OwnShard<'_> {
    /// How the worker (the shard's only writer) counts the tasks it runs.
    pub(crate) fn recorder(&self) -> Recorder<'_> {
        Recorder { counters: self.counters, own: Some(&self.shard), _one_thread: PhantomData }
    }
}

impl Drop for OwnShard<'_> {
    fn drop(&mut self) {
        self.counters.fold(&self.shard);
    }
}

/// A pool's live counts. See the module docs for how a task moves through them. Submitters and
/// workers write different cache lines: `queued` and `busy` are differences of counts that
/// only grow, taken when a snapshot is. A thread-pool worker counts its runs in a [`Shard`] of
/// its own, which a snapshot adds up.
#[derive(Default)]
pub(crate) struct Counters {
    /// The pool has a `max_queued`: submits compare against what left the queue.
    bounded: bool,
    submit: Line<SubmitSide>,
    workers: Line<WorkerSide>,
    /// Every shard a worker was given, kept when it ends (its counts stay in the totals).
    shards: Mutex<Vec<Arc<Shard>>>,
    /// Where submits wait while the queue is full (`max_queued`); woken as tasks leave it.
    room: Room,
}

/// As a `u64`, for the counts that only grow (a `usize` never exceeds 64 bits here).
fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// `a - b` as a `usize`, 0 when a snapshot saw `b`'s increase before `a`'s.
fn gap(a: u64, b: u64) -> usize {
    usize::try_from(a.saturating_sub(b)).unwrap_or(usize::MAX)
}

impl Counters {
    /// The counts of a pool with a `max_queued` (`bounded`) or without.
    pub(crate) fn new(bounded: bool) -> Self {
        Counters { bounded, ..Counters::default() }
    }

    /// `n` tasks were submitted (queued).
    #[inline]
    pub(crate) fn submitted(&self, n: usize) {
        self.submit.0.submitted.fetch_add(wide(n), Ordering::Relaxed);
    }

    /// Counts `n` tasks as submitted if the queue then holds at most `cap` of them, or if it
    /// is empty (a map's chunk larger than `cap` still goes, alone); false, counting nothing,
    /// when there is no room. Exact under concurrent submits: only submits write the count it
    /// compares and swaps, and tasks only ever leave the queue meanwhile.
    pub(crate) fn try_submit(&self, n: usize, cap: usize) -> bool {
        let submitted = &self.submit.0.submitted;
        let mut current = submitted.load(Ordering::Acquire);
        loop {
            let queued = gap(current, self.workers.0.left_queue.load(Ordering::Acquire));
            if queued > 0 && queued.saturating_add(n) > cap {
                return false;
            }
            match submitted.compare_exchange_weak(
                current,
                current + wide(n),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Where submits wait for room in the queue.
    pub(crate) fn room(&self) -> &Room {
        &self.room
    }

    /// `n` queued tasks started, together, on one worker.
    #[inline]
    pub(crate) fn started(&self, n: usize) {
        self.left_queue(n);
        self.workers.0.runs_started.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` tasks left the queue to start: a submit waiting for room may go.
    #[inline]
    fn left_queue(&self, n: usize) {
        self.workers.0.left_queue.fetch_add(wide(n), Ordering::Relaxed);
        self.room.freed();
    }

    /// A worker's own counts, for a thread that runs tasks until it ends (taken once: it locks).
    pub(crate) fn shard(&self) -> OwnShard<'_> {
        let shard = Arc::new(Shard::default());
        self.shards.lock().push(Arc::clone(&shard));
        OwnShard { counters: self, shard }
    }

    /// A worker with `shard` ended: its counts move into the shared ones and it leaves the
    /// list, both under the lock a snapshot reads them under (so no snapshot sees them twice
    /// or not at all), and the list holds only the workers alive.
    fn fold(&self, shard: &Arc<Shard>) {
        let mut shards = self.shards.lock();
        let side = &self.workers.0;
        for (from, to) in [
            (&shard.left_queue, &side.left_queue),
            (&shard.runs_started, &side.runs_started),
            (&shard.runs_finished, &side.runs_finished),
            (&shard.completed, &side.completed),
            (&shard.failed, &side.failed),
        ] {
            to.fetch_add(from.load(Ordering::Acquire), Ordering::Relaxed);
        }
        shards.retain(|kept| !Arc::ptr_eq(kept, shard));
    }

    /// How a thread without a shard counts the tasks it runs: in the shared counts.
    pub(crate) fn shared(&self) -> Recorder<'_> {
        Recorder { counters: self, own: None, _one_thread: PhantomData }
    }

    /// A worker is done with what it started: `completed` tasks returned a value, `failed` did
    /// not.
    #[inline]
    pub(crate) fn finished(&self, completed: usize, failed: usize) {
        let side = &self.workers.0;
        side.runs_finished.fetch_add(1, Ordering::Relaxed);
        if completed > 0 {
            side.completed.fetch_add(wide(completed), Ordering::Relaxed);
        }
        if failed > 0 {
            side.failed.fetch_add(wide(failed), Ordering::Relaxed);
        }
    }

    /// `n` queued tasks ran on a worker along with the one it `started`, without counting as
    /// started on their own (a process worker's items lined up behind that one, whose outcomes
    /// came together): they leave the queue, and that worker's `finished` counts their outcomes.
    #[inline]
    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // process and MPI pools
    pub(crate) fn ran_along(&self, n: usize) {
        if n > 0 {
            self.workers.0.left_queue.fetch_add(wide(n), Ordering::Relaxed);
            self.room.freed();
        }
    }

    /// `n` queued tasks will never start: cancelled, or (when `cancelled` is false) refused with
    /// an error, by a pool that shut down or broke.
    pub(crate) fn dropped(&self, n: usize, cancelled: bool) {
        let side = &self.workers.0;
        side.left_queue.fetch_add(wide(n), Ordering::Relaxed);
        let count = if cancelled { &side.cancelled } else { &side.failed };
        count.fetch_add(wide(n), Ordering::Relaxed);
        self.room.freed();
    }

    /// A worker started.
    pub(crate) fn worker_up(&self) {
        self.workers.0.alive.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker ended.
    pub(crate) fn worker_down(&self) {
        self.workers.0.alive.fetch_sub(1, Ordering::Relaxed);
    }

    /// Workers alive, as counted by `worker_up` and `worker_down`.
    pub(crate) fn alive(&self) -> usize {
        self.workers.0.alive.load(Ordering::Relaxed)
    }

    /// A worker that died or was killed was replaced.
    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // the process pool's slots
    pub(crate) fn replaced(&self) {
        self.workers.0.workers_replaced.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now, with the pool's limit and live workers. Ends are read before starts
    /// (a run seen ending is seen started: busy is never negative), and what left the queue
    /// before what was submitted (a gap that would be negative reads as 0). It all happens
    /// under the shards' lock, which only a worker's start and end and a snapshot take.
    pub(crate) fn snapshot(&self, max_workers: usize, workers: usize) -> PoolStats {
        let shards = self.shards.lock();
        let side = &self.workers.0;
        let load = |count: &AtomicU64| count.load(Ordering::Acquire);
        let (mut finished, mut completed, mut failed, mut left) =
            (load(&side.runs_finished), load(&side.completed), load(&side.failed), load(&side.left_queue));
        let mut started = 0u64;
        for shard in shards.iter() {
            finished = finished.wrapping_add(load(&shard.runs_finished));
            completed = completed.wrapping_add(load(&shard.completed));
            failed = failed.wrapping_add(load(&shard.failed));
            left = left.wrapping_add(load(&shard.left_queue));
            started = started.wrapping_add(load(&shard.runs_started));
        }
        started = started.wrapping_add(load(&side.runs_started));
        PoolStats {
            max_workers,
            workers,
            busy: gap(started, finished),
            queued: gap(load(&self.submit.0.submitted), left),
            completed,
            failed,
            cancelled: side.cancelled.load(Ordering::Relaxed),
            workers_replaced: side.workers_replaced.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;
