//! The parent's side of a process pool: the queue of tasks, the worker slots, shutdown.

use super::slot;
use crate::error::TaskError;
use crate::future::Promise;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// A task's future, with the decoding of its result, its type erased.
pub(crate) trait Remote: Send {
    /// Marks the task running (it is being sent); false if it was cancelled.
    fn set_running(&self) -> bool;
    /// Completes the future with the encoded result, or the error.
    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>);
    /// Completes the future with `error` (cancels it for `Cancelled`).
    fn reject(self: Box<Self>, error: TaskError);
}

pub(crate) struct Typed<R>(pub(crate) Promise<R>);

impl<R: DeserializeOwned + Send> Remote for Typed<R> {
    fn set_running(&self) -> bool {
        self.0.set_running()
    }

    fn complete(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>) {
        let outcome = outcome.and_then(|bytes| {
            postcard::from_bytes(&bytes)
                .map_err(|e| TaskError::Serialization(format!("could not decode the task's result: {e}")))
        });
        self.0.complete(outcome);
    }

    fn reject(self: Box<Self>, error: TaskError) {
        self.0.reject(error);
    }
}

/// A task waiting for (or sent to) a worker.
pub(crate) struct Pending {
    pub(crate) id: u64,
    /// The trampoline's offset.
    pub(crate) call: isize,
    /// The encoded argument.
    pub(crate) arg: Vec<u8>,
    pub(crate) task: Box<dyn Remote>,
}

/// Shared by the executor handle and the slot threads.
pub(crate) struct Pool {
    /// `None` once shut down; dropping the sender lets the slots drain the queue and stop.
    sender: RwLock<Option<Sender<Pending>>>,
    pub(crate) receiver: Receiver<Pending>,
    pub(crate) max_workers: usize,
    pub(crate) initializer: Option<isize>,
    pub(crate) max_tasks: Option<u64>,
    /// See `spawn::worker_args`.
    pub(crate) worker_args: Vec<std::ffi::OsString>,
    next_id: AtomicU64,
    started: AtomicUsize,
    slots: Mutex<Vec<JoinHandle<()>>>,
    broken: OnceLock<String>,
}

impl Pool {
    pub(crate) fn new(max_workers: usize, initializer: Option<isize>, max_tasks: Option<u64>) -> Arc<Pool> {
        let worker_args = super::spawn::worker_args();
        let (sender, receiver) = crossbeam_channel::unbounded();
        Arc::new(Pool {
            sender: RwLock::new(Some(sender)),
            receiver,
            max_workers,
            initializer,
            max_tasks,
            worker_args,
            next_id: AtomicU64::new(0),
            started: AtomicUsize::new(0),
            slots: Mutex::new(Vec::new()),
            broken: OnceLock::new(),
        })
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a task (starting a worker slot if fewer than `max_workers` run), or fails it
    /// when the pool is shut down or broken.
    pub(crate) fn submit(self: &Arc<Self>, pending: Pending) {
        let refused = {
            let sender = self.sender.read();
            match (sender.as_ref(), self.broken.get()) {
                (None, _) => Some((pending, TaskError::Shutdown)),
                (Some(_), Some(why)) => Some((pending, TaskError::BrokenPool(why.clone()))),
                (Some(sender), None) => match sender.send(pending) {
                    Ok(()) => {
                        self.start_slot_if_needed();
                        None
                    }
                    Err(crossbeam_channel::SendError(pending)) => Some((pending, TaskError::Shutdown)),
                },
            }
        };
        if let Some((pending, error)) = refused {
            pending.task.reject(error);
        }
    }

    fn start_slot_if_needed(self: &Arc<Self>) {
        if self.started.load(Ordering::Relaxed) >= self.max_workers {
            return;
        }
        let mut slots = self.slots.lock();
        let index = self.started.load(Ordering::Relaxed);
        if index >= self.max_workers {
            return;
        }
        let pool = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name(format!("concurrent-futures-slot-{index}"))
            .spawn(move || slot::run(&pool));
        match started {
            Ok(handle) => {
                slots.push(handle);
                self.started.store(index + 1, Ordering::Relaxed);
            }
            Err(e) if index == 0 => {
                drop(slots);
                self.break_pool(format!("could not start a thread to manage a worker: {e}"), Vec::new());
            }
            Err(_) => {}
        }
    }

    pub(crate) fn is_broken(&self) -> Option<&String> {
        self.broken.get()
    }

    /// Marks the pool broken and fails `held` and everything queued with `BrokenPool`.
    pub(crate) fn break_pool(&self, why: String, held: Vec<Pending>) {
        let _ = self.broken.set(why);
        let why = self.broken.get().cloned().unwrap_or_default();
        for pending in held {
            pending.task.reject(TaskError::BrokenPool(why.clone()));
        }
        while let Ok(pending) = self.receiver.try_recv() {
            pending.task.reject(TaskError::BrokenPool(why.clone()));
        }
    }

    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        drop(self.sender.write().take());
        if cancel_futures {
            while let Ok(pending) = self.receiver.try_recv() {
                pending.task.reject(TaskError::Cancelled);
            }
        }
        if wait {
            let slots = std::mem::take(&mut *self.slots.lock());
            let me = std::thread::current().id();
            for handle in slots {
                if handle.thread().id() != me {
                    let _ = handle.join();
                }
            }
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.sender.read().is_none()
    }

    pub(crate) fn workers_started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }
}
