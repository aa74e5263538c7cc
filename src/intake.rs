//! The front of every pool: where submitted work waits for a worker, how the pool refuses work
//! after `shutdown` or once broken, and how `shutdown(wait, cancel_futures)` ends it.
//!
//! The thread pool queues closures and the process pool queues encoded tasks; both go through
//! one [`Intake`], so the two pools shut down, break and refuse work the same way.

use crate::error::TaskError;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use std::sync::OnceLock;
use std::thread::JoinHandle;

/// Work that can be refused: its future is then completed with the error.
pub(crate) trait Refuse: Send + 'static {
    /// Completes the work's future with `error` (cancels it for `Cancelled`).
    fn refuse(self, error: TaskError);
}

/// Keeps a value on a cache line of its own (two lines: x86 prefetches pairs).
#[repr(align(128))]
struct CacheLine<T>(T);

/// A pool's queue, its worker threads, and whether it is shut down or broken.
pub(crate) struct Intake<J> {
    /// `None` once shut down: dropping the sender lets the workers drain the queue and then see
    /// the channel disconnected. Every submit writes this lock word, so it lives apart from the
    /// fields that workers read after every job.
    sender: CacheLine<RwLock<Option<Sender<J>>>>,
    receiver: Receiver<J>,
    /// Why the pool is broken, once it is.
    broken: OnceLock<String>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl<J: Refuse> Intake<J> {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded();
        Intake {
            sender: CacheLine(RwLock::new(Some(sender))),
            receiver,
            broken: OnceLock::new(),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// The queue, for the workers.
    pub(crate) fn receiver(&self) -> &Receiver<J> {
        &self.receiver
    }

    /// Queues `job`, then runs `after_queued` while shutdown is still held off, so that every
    /// worker thread it starts is one `shutdown` will join. `after_queued` returns why the pool
    /// is broken if it could not start a first worker. A job refused (shutdown, broken) is
    /// refused after the lock is released, so its callbacks may call `shutdown`.
    pub(crate) fn submit(&self, job: J, after_queued: impl FnOnce() -> Option<String>) {
        let mut broke = None;
        let refused = {
            let sender = self.sender.0.read();
            match (sender.as_ref(), self.broken.get()) {
                (None, _) => Some((job, TaskError::Shutdown)),
                (Some(_), Some(why)) => Some((job, TaskError::BrokenPool(why.clone()))),
                (Some(sender), None) => match sender.send(job) {
                    Ok(()) => {
                        broke = after_queued();
                        None
                    }
                    Err(crossbeam_channel::SendError(job)) => Some((job, TaskError::Shutdown)),
                },
            }
        };
        if let Some((job, error)) = refused {
            job.refuse(error);
        }
        if let Some(why) = broke {
            self.break_with(why, Vec::new());
        }
    }

    /// Why the pool is broken, if it is.
    pub(crate) fn broken(&self) -> Option<&String> {
        self.broken.get()
    }

    /// Marks the pool broken (the first reason stays) and fails `held` and everything queued
    /// with `BrokenPool`.
    pub(crate) fn break_with(&self, why: String, held: Vec<J>) {
        let _ = self.broken.set(why);
        let why = self.broken.get().cloned().unwrap_or_default();
        for job in held.into_iter().chain(self.receiver.try_iter()) {
            job.refuse(TaskError::BrokenPool(why.clone()));
        }
    }

    /// Runs `f` with the pool's worker threads, under their lock: where a pool decides whether
    /// to start one more, and records it.
    pub(crate) fn with_threads<R>(&self, f: impl FnOnce(&mut Vec<JoinHandle<()>>) -> R) -> R {
        f(&mut self.threads.lock())
    }

    /// Python's `shutdown(wait, cancel_futures)`; idempotent.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        drop(self.sender.0.write().take());
        if cancel_futures {
            for job in self.receiver.try_iter() {
                job.refuse(TaskError::Cancelled);
            }
        }
        if wait {
            let threads = std::mem::take(&mut *self.threads.lock());
            let me = std::thread::current().id();
            for handle in threads {
                // A pool dropped from one of its own threads cannot join that thread; it ends by
                // itself once the queue is empty.
                if handle.thread().id() != me {
                    let _ = handle.join();
                }
            }
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.sender.0.read().is_none()
    }
}
