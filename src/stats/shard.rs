//! [`Shard`]: a thread-pool worker's own counts, which only it writes. Depends on nothing of
//! the crate.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counts one thread-pool worker writes, on a cache line of its own. It is their only
/// writer, so each count moves with a plain load and store instead of an atomic add on a line
/// that every worker writes: a task's start and end cost no contended instruction.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Shard {
    /// Tasks this worker took from the queue (only in a pool without `max_queued`, whose
    /// submits never compare against it).
    pub(super) left_queue: AtomicU64,
    pub(super) runs_started: AtomicU64,
    pub(super) runs_finished: AtomicU64,
    pub(super) completed: AtomicU64,
    pub(super) failed: AtomicU64,
}

impl Shard {
    /// Adds `n` to `count`, which only this shard's owner writes (so no update is lost).
    #[inline]
    fn add(count: &AtomicU64, n: u64) {
        count.store(count.load(Ordering::Relaxed).wrapping_add(n), Ordering::Release);
    }

    /// A run started, with the `left_queue` tasks it took from the queue.
    #[inline]
    pub(super) fn started(&self, left_queue: u64) {
        Shard::add(&self.left_queue, left_queue);
        Shard::add(&self.runs_started, 1);
    }

    /// The run ended: `completed` of its tasks returned a value, `failed` did not.
    #[inline]
    pub(super) fn finished(&self, completed: u64, failed: u64) {
        Shard::add(&self.runs_finished, 1);
        Shard::add(&self.completed, completed);
        Shard::add(&self.failed, failed);
    }
}
