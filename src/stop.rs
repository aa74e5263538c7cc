//! [`stop_requested`]: a cooperative stop for the tasks a thread cannot be stopped in by force.
//!
//! A thread pool's worker notes, for the time a task runs on it, where that task's stop flag is
//! (in the future's core, which the worker holds while the task runs); [`Future::kill`]
//! (crate::Future::kill) on a running thread task sets the flag. Depends on nothing of the
//! crate.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// The stop flag of the task running on this thread, or null outside tasks.
    static CURRENT: Cell<*const AtomicBool> = const { Cell::new(ptr::null()) };
}

/// Inside a task: true once its future was killed ([`Future::kill`](crate::Future::kill), a
/// dropped [`kill_on_drop`](crate::Future::kill_on_drop), or the timeout of the `map` it is an
/// item of), so that a thread-pool task, which nothing can stop by force, can return early.
/// False outside tasks and in tasks nobody killed.
///
/// Killing a running thread task still returns `false` (it goes on) and its future completes
/// with whatever the task returns; checking this flag is how the task learns it should stop.
/// A task in a process pool is stopped by force, so this stays false there.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{ThreadPoolExecutor, stop_requested};
/// use std::time::{Duration, Instant};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let (started_tx, started) = std::sync::mpsc::channel();
/// let task = pool.spawn(move || {
///     started_tx.send(()).unwrap();
///     let give_up = Instant::now() + Duration::from_secs(30);
///     let mut rounds = 0u64;
///     while !stop_requested() && Instant::now() < give_up {
///         rounds += 1; // a long computation, checking now and then
///     }
///     stop_requested()
/// });
/// started.recv().unwrap();
/// assert!(!task.kill(), "a running thread task is not stopped by force");
/// assert_eq!(task.result(), Ok(true), "but it saw the request and returned early");
/// assert!(!stop_requested(), "outside a task there is nothing to stop");
/// ```
pub fn stop_requested() -> bool {
    CURRENT.with(|current| {
        let flag = current.get();
        // SAFETY: `CURRENT` is non-null only inside `running`, which sets it to a flag that
        // outlives the call (the caller's borrow) and restores the previous value before it
        // returns or unwinds; it is a thread-local, so no other thread sees the pointer.
        !flag.is_null() && unsafe { (*flag).load(Ordering::Acquire) }
    })
}

/// Runs `task` with `flag` as the stop flag [`stop_requested`] reads on this thread (restoring
/// the previous one after, also if `task` panics: a scope's waiting thread may run a task
/// inside another).
pub(crate) fn running<R>(flag: &AtomicBool, task: impl FnOnce() -> R) -> R {
    struct Restore(*const AtomicBool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|current| current.replace(flag)));
    task()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_seen_only_while_its_task_runs_and_nesting_restores_it() {
        let outer = AtomicBool::new(true);
        let inner = AtomicBool::new(false);
        assert!(!stop_requested());
        running(&outer, || {
            assert!(stop_requested());
            running(&inner, || assert!(!stop_requested()));
            assert!(stop_requested());
            // (`resume_unwind` unwinds without printing, unlike `panic!`.)
            let unwound =
                std::panic::catch_unwind(|| running(&inner, || std::panic::resume_unwind(Box::new(()))));
            assert!(unwound.is_err());
            assert!(stop_requested(), "a panic restores the outer flag");
        });
        assert!(!stop_requested());
    }
}
