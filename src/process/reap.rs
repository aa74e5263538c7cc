//! [`Worker`]: what the parent keeps of a running worker process, and reaping it: every wait
//! for its exit is bounded (a worker that does not exit is killed).

use super::handle::WorkerHandle;
use crate::sys::{Exit, Signal};
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the parent keeps of a running worker, besides its [`Link`](super::link::Link).
pub(crate) struct Worker {
    pub(crate) handle: Arc<WorkerHandle>,
    /// The worker's exit, once it has exited and been reaped.
    exited: Receiver<Exit>,
    /// The exit, once taken from `exited`.
    exit: Option<Exit>,
    /// The thread that answers the worker's service calls, and what disconnects when it ends
    /// (with the worker, unless something else holds the worker's end of its channels).
    services: Option<(JoinHandle<()>, Receiver<()>)>,
}

impl Worker {
    /// Where the worker's exit is reported, once it has exited and been reaped.
    pub(crate) fn exited(&self) -> &Receiver<Exit> {
        &self.exited
    }

    /// Keeps the exit that was taken from [`Worker::exited`].
    pub(crate) fn saw_exit(&mut self, exit: Exit) {
        self.exit = Some(exit);
    }

    /// Waits for the worker's exit (killing it if it does not exit within `patience`) and
    /// describes it. After it, nothing of the worker is left in the parent but this value and
    /// its link: its service thread has ended, or (if a process the task forked still holds
    /// the worker's end of the channels) it is left to end by itself after `patience`.
    pub(crate) fn reap(&mut self, patience: Duration) -> Exit {
        let exit = match self.exit.take() {
            Some(exit) => exit,
            None => wait_for_exit(&self.handle, &self.exited, patience),
        };
        self.exit = Some(exit.clone());
        if let Some((services, ended)) = self.services.take()
            && matches!(ended.recv_timeout(patience), Err(crossbeam_channel::RecvTimeoutError::Disconnected))
        {
            let _ = services.join();
        }
        exit
    }

    /// A started worker: its handle, where its exit is reported, and its service thread with
    /// what disconnects when that thread ends.
    pub(crate) fn new(
        handle: Arc<WorkerHandle>,
        exited: Receiver<Exit>,
        services: (JoinHandle<()>, Receiver<()>),
    ) -> Worker {
        Worker { handle, exited, exit: None, services: Some(services) }
    }

    /// A worker with no process behind it (for the slot's tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn fake(handle: Arc<WorkerHandle>, exited: Receiver<Exit>) -> Worker {
        Worker { handle, exited, exit: None, services: None }
    }
}

/// Waits for a worker's exit as its monitor thread reports it, killing it after `patience`
/// (and giving up on it as lost after as long again: a killed process is reaped at once).
fn wait_for_exit(handle: &WorkerHandle, exited: &Receiver<Exit>, patience: Duration) -> Exit {
    match exited.recv_timeout(patience) {
        Ok(exit) => exit,
        Err(_) => {
            handle.signal(Signal::Kill);
            exited
                .recv_timeout(patience)
                .unwrap_or_else(|_| Exit { code: None, text: "was lost (it could not be reaped)".to_owned() })
        }
    }
}
