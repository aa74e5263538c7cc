//! [`Room`]: where a submit waits while a pool's queue is full (`max_queued`), and how the
//! pool's workers wake it as tasks leave the queue. Depends on `sync` only.

use crate::sync::plain::{Condvar, Mutex};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest a waiting submit sleeps before it looks again: a bound on any wake-up that
/// could be missed (the counts it reads are relaxed atomics).
const LOOK_AGAIN: Duration = Duration::from_millis(10);

/// Submits waiting for room in a queue.
#[derive(Default)]
pub(crate) struct Room {
    /// How many submits wait: workers take the lock to wake them only when some do.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Room {
    /// Waits until `done()` (which reserves room, or finds the pool shut down) is true, looking
    /// again each time tasks leave the queue, and at least every [`LOOK_AGAIN`].
    pub(crate) fn wait(&self, mut done: impl FnMut() -> bool) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        while !done() {
            self.freed.wait_until(&mut guard, Instant::now() + LOOK_AGAIN);
        }
        drop(guard);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Tasks left the queue (or the pool shut down): wakes the submits that wait, if any.
    #[inline]
    pub(crate) fn freed(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.freed.notify_all();
        }
    }
}
