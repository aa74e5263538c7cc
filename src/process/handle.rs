//! The parent's handle on one live worker process: signals that can never reach another
//! process, and the record of why the parent killed it.

use super::service::Grants;
use crate::sync::plain::{Condvar, Mutex};
use crate::sys::{self, Signal};
use std::sync::Arc;
use std::time::Duration;

/// Shared by the worker's slot, its monitor thread, its service thread and the pool (for
/// `kill_workers`).
pub(crate) struct WorkerHandle {
    pub(crate) pid: u32,
    /// False once the monitor thread has reaped the process: from then on its pid may belong
    /// to another process, so no signal may be sent. Held while signalling.
    alive: Mutex<bool>,
    /// Notified when `alive` turns false.
    reaped: Condvar,
    /// Why the parent killed the worker, if it did (it broke the protocol).
    condemned: Mutex<Option<String>>,
    /// The parent services the worker may call.
    pub(crate) grants: Grants,
}

impl WorkerHandle {
    pub(crate) fn new(pid: u32) -> Arc<Self> {
        Arc::new(WorkerHandle {
            pid,
            alive: Mutex::new(true),
            reaped: Condvar::new(),
            condemned: Mutex::new(None),
            grants: Grants::default(),
        })
    }

    /// Sends `signal`, unless the worker has been reaped.
    pub(crate) fn signal(&self, signal: Signal) {
        let alive = self.alive.lock();
        if *alive {
            sys::signal(self.pid, signal);
        }
    }

    /// Runs `reap` (which reaps the process) with signals shut out, once the process has exited.
    pub(crate) fn reaped<T>(&self, reap: impl FnOnce() -> T) -> T {
        let mut alive = self.alive.lock();
        *alive = false;
        let reaped = reap();
        self.reaped.notify_all();
        reaped
    }

    /// Waits up to `patience` for the worker to be reaped; true if it was.
    pub(crate) fn wait_reaped(&self, patience: Duration) -> bool {
        let mut alive = self.alive.lock();
        let deadline = std::time::Instant::now() + patience;
        while *alive {
            if self.reaped.wait_until(&mut alive, deadline) {
                return !*alive;
            }
        }
        true
    }

    /// Kills the worker because it broke the rules; `why` goes into its task's error.
    pub(crate) fn condemn(&self, why: String) {
        self.condemned.lock().get_or_insert(why);
        self.signal(Signal::Kill);
    }

    /// Why the worker was condemned, if it was.
    pub(crate) fn condemned(&self) -> Option<String> {
        self.condemned.lock().clone()
    }
}
