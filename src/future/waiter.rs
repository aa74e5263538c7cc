//! A waiter that futures notify when they complete.
//!
//! One `Waiter` serves every way of waiting: `Future::wait` registers one on one future,
//! `as_completed`, `wait` and an unordered `map` register one on many futures, each under its own
//! key. A completing future pushes its key and wakes the waiting thread, so waiting on n futures
//! costs O(n) in all, never a scan or a poll (the same scheme as CPython's `_Waiter`).

use crate::sync::{Condvar, Mutex};
use std::time::Instant;

/// Keys of the futures that completed since the waiting side last looked.
#[derive(Default)]
pub(crate) struct Waiter {
    ready: Mutex<Vec<usize>>,
    wake: Condvar,
}

impl Waiter {
    /// Records that the future registered under `key` is done and wakes the waiting thread.
    pub(crate) fn notify(&self, key: usize) {
        self.ready.lock().push(key);
        self.wake.notify_one();
    }

    /// Blocks until at least one key is ready or `deadline` passes, then moves the ready keys
    /// into `out`. Returns false when the deadline passed with no key ready.
    pub(crate) fn wait(&self, deadline: Option<Instant>, out: &mut Vec<usize>) -> bool {
        let mut ready = self.ready.lock();
        while ready.is_empty() {
            match deadline {
                None => self.wake.wait(&mut ready),
                Some(deadline) => {
                    if self.wake.wait_until(&mut ready, deadline) && ready.is_empty() {
                        return false;
                    }
                }
            }
        }
        out.append(&mut ready);
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn wait_returns_keys_in_notification_order() {
        let w = Waiter::default();
        w.notify(3);
        w.notify(1);
        let mut out = Vec::new();
        assert!(w.wait(None, &mut out));
        assert_eq!(out, [3, 1]);
    }

    #[test]
    fn wait_times_out_when_nothing_is_ready() {
        let w = Waiter::default();
        let mut out = Vec::new();
        assert!(!w.wait(Some(Instant::now() + Duration::from_millis(5)), &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn notify_from_another_thread_wakes_the_waiter() {
        let w = Arc::new(Waiter::default());
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || w2.notify(7));
        let mut out = Vec::new();
        assert!(w.wait(None, &mut out));
        assert_eq!(out, [7]);
        t.join().unwrap();
    }
}
