//! The front of every pool: where submitted work waits for a worker, how the pool refuses work
//! after `shutdown` or once broken, and how `shutdown(wait, cancel_futures)` ends it.
//!
//! The thread pool queues closures and the process pool queues encoded tasks; both go through
//! one [`Intake`], so the two pools shut down, break and refuse work the same way.

use crate::error::TaskError;
use crate::stats::Counters;
use crate::sync::plain::{Mutex, RwLock};
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, ThreadId};

/// Work that can be refused: its future is then completed with the error.
pub(crate) trait Refuse: Send + 'static {
    /// Completes the work's future with `error` (cancels it for `Cancelled`).
    fn refuse(self, error: TaskError);

    /// How many tasks it counts as in the pool's [`Counters`] (a map's chunk: its items).
    fn weight(&self) -> usize {
        1
    }
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
    /// The ids of every worker thread started (a thread of the pool that shuts it down must not
    /// wait for itself; a scope inside a task runs queued jobs while it waits). Each thread adds
    /// its own, first thing, so that it is one of the pool's from its first instruction.
    thread_ids: Arc<Mutex<Vec<ThreadId>>>,
    /// Held while the threads are joined, so that a second `shutdown(true, _)` waits for the
    /// first one's joins instead of returning early.
    joining: Mutex<()>,
    /// The most worker threads (`max_workers`), which `set_max_workers` changes while the
    /// pool runs, and how many are alive and not retiring.
    max_threads: AtomicUsize,
    live: AtomicUsize,
    /// The index the next worker thread's name gets (names are never reused).
    next_index: AtomicUsize,
    /// A word for each worker that should retire after a shrink, so that one waiting for work
    /// wakes to look (see [`Self::try_retire`]).
    resize_bell: (Sender<()>, Receiver<()>),
    /// `max_queued`: the most tasks waiting to start before a submit waits for room.
    max_queued: Option<usize>,
    /// What became of the pool's tasks (see [`crate::stats`]).
    counters: Counters,
}

impl<J: Refuse> Intake<J> {
    pub(crate) fn new(max_threads: usize, max_queued: Option<usize>) -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded();
        Intake {
            sender: CacheLine(RwLock::new(Some(sender))),
            receiver,
            broken: OnceLock::new(),
            threads: Mutex::new(Vec::new()),
            thread_ids: Arc::new(Mutex::new(Vec::new())),
            joining: Mutex::new(()),
            max_threads: AtomicUsize::new(max_threads),
            live: AtomicUsize::new(0),
            next_index: AtomicUsize::new(0),
            resize_bell: crossbeam_channel::unbounded(),
            max_queued,
            counters: Counters::new(max_queued.is_some()),
        }
    }

    /// The pool's counts of its tasks; the pool's workers move tasks through them.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts `weight` submitted tasks. With `max_queued`, first waits until the queue has room
    /// for them (or is empty), so that a fast producer waits for the workers instead of
    /// queueing without bound. The wait ends when tasks leave the queue, and also when the pool
    /// shuts down or breaks (the submit is then refused). A thread of the pool itself never
    /// waits (it would wait for itself): its submit goes over the limit instead.
    fn count_in(&self, weight: usize) {
        let Some(cap) = self.max_queued else {
            return self.counters.submitted(weight);
        };
        if self.counters.try_submit(weight, cap) {
            return;
        }
        if self.is_own_thread() {
            return self.counters.submitted(weight);
        }
        self.counters.room().wait(|| {
            if self.counters.try_submit(weight, cap) {
                return true;
            }
            let over = self.is_shutdown() || self.broken().is_some();
            if over {
                self.counters.submitted(weight);
            }
            over
        });
    }

    /// Refuses `job` with `error`, counting its tasks as never started.
    fn refuse(&self, job: J, error: TaskError) {
        self.counters.dropped(job.weight(), matches!(error, TaskError::Cancelled));
        job.refuse(error);
    }

    /// The queue, for the workers.
    pub(crate) fn receiver(&self) -> &Receiver<J> {
        &self.receiver
    }

    /// Queues `job`, then runs `after_queued` while shutdown is still held off, so that every
    /// worker thread it starts is one `shutdown` will join. `after_queued` returns why the pool
    /// is broken if it could not start a first worker. A job refused (shutdown, broken) is
    /// refused after the lock is released, so its callbacks may call `shutdown`.
    ///
    /// With `max_queued`, it first waits while the queue is full (see [`Self::count_in`]).
    pub(crate) fn submit(&self, job: J, after_queued: impl FnOnce() -> Option<String>) {
        self.count_in(job.weight());
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
            self.refuse(job, error);
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
    ///
    /// Marking and draining happen under the lock a submit holds while it checks the pool and
    /// queues its job, so every job is either queued before the pool broke (and drained here)
    /// or refused by its own submit: none is left in a queue that no worker reads.
    pub(crate) fn break_with(&self, why: String, held: Vec<J>) {
        let queued: Vec<J> = {
            let _no_submits = self.sender.0.write();
            let _ = self.broken.set(why);
            self.receiver.try_iter().collect()
        };
        let why = self.broken.get().cloned().unwrap_or_default();
        for job in held.into_iter().chain(queued) {
            self.refuse(job, TaskError::BrokenPool(why.clone()));
        }
    }

    /// The most worker threads this pool runs now.
    pub(crate) fn max_threads(&self) -> usize {
        self.max_threads.load(Ordering::Acquire)
    }

    /// How many worker threads are alive and not retiring.
    pub(crate) fn threads_live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// True while fewer than `max_threads` are alive.
    pub(crate) fn can_start_thread(&self) -> bool {
        self.threads_live() < self.max_threads()
    }

    /// Starts one more worker thread, named `name(index)`, running `body`, unless
    /// `max_threads` are alive. Returns why the pool is broken when not even the first one
    /// could start (with other workers alive the work still gets done; with none, nothing would).
    ///
    /// `live` changes only under the `threads` lock (here, and when a worker retires), so it
    /// never passes `max_threads` here.
    pub(crate) fn start_thread(
        &self,
        name: impl FnOnce(usize) -> String,
        body: impl FnOnce() + Send + 'static,
    ) -> Option<String> {
        let mut threads = self.threads.lock();
        let live = self.live.load(Ordering::Acquire);
        if live >= self.max_threads() {
            return None;
        }
        self.live.store(live + 1, Ordering::Release);
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let ids = Arc::clone(&self.thread_ids);
        // Registered by the thread itself before its body runs: registered after `spawn`
        // returned, a thread could take a task and wait in a scope before it counted as the
        // pool's, and a one-thread pool then waited for itself.
        let body = move || {
            ids.lock().push(std::thread::current().id());
            body()
        };
        match std::thread::Builder::new().name(name(index)).spawn(body) {
            Ok(handle) => {
                // Threads that retired after a shrink are over: only their handles would pile up.
                threads.retain(|thread| !thread.is_finished());
                threads.push(handle);
                None
            }
            Err(error) => {
                self.live.store(live, Ordering::Release);
                (index == 0).then(|| format!("could not start a worker thread: {error}"))
            }
        }
    }

    /// `set_max_workers(n)`: the limit is `n` from now on. A grow calls `start_one` (which
    /// starts a worker through [`Self::start_thread`] and says whether to go on) for each task
    /// waiting in the queue, up to the room the new limit leaves, while `shutdown` is held off,
    /// so every worker it starts is one `shutdown(true, _)` joins. A shrink rings the resize
    /// bell so that there is a word for each worker too many (those waiting for work retire at
    /// once; the busy ones when their task ends), never more.
    pub(crate) fn set_max_threads(&self, n: usize, mut start_one: impl FnMut() -> bool) {
        let sender = self.sender.0.read();
        let room = {
            let _threads = self.threads.lock();
            self.max_threads.store(n, Ordering::Release);
            let live = self.live.load(Ordering::Acquire);
            let unheard = self.resize_bell.1.len();
            for _ in 0..live.saturating_sub(n).saturating_sub(unheard) {
                let _ = self.resize_bell.0.send(());
            }
            n.saturating_sub(live)
        };
        if sender.is_some() {
            for _ in 0..room.min(self.receiver.len()) {
                if !start_one() {
                    break;
                }
            }
        }
    }

    /// Whether the calling worker should end now because the pool has more workers alive than
    /// its limit; if so it no longer counts as alive (nor as one of the pool's threads). A
    /// worker asks right before it takes each task: after a shrink to `n` returned, only a
    /// worker already reaching for a task may start it over the limit, and then retires.
    ///
    /// `live` and the limit change only under the `threads` lock, so this decision and a
    /// concurrent `set_max_threads` are ordered: a grow is never undone by a retirement
    /// decided on the limit before it.
    pub(crate) fn try_retire(&self) -> bool {
        if self.live.load(Ordering::Acquire) <= self.max_threads.load(Ordering::Acquire) {
            return false;
        }
        let _threads = self.threads.lock();
        let live = self.live.load(Ordering::Acquire);
        if live <= self.max_threads.load(Ordering::Acquire) {
            return false;
        }
        self.live.store(live - 1, Ordering::Release);
        let me = std::thread::current().id();
        self.thread_ids.lock().retain(|id| *id != me);
        true
    }

    /// Rings when the pool shrank (see [`Self::set_max_threads`]): a worker waiting for work
    /// waits on this too, takes one word and asks [`Self::try_retire`].
    pub(crate) fn resize_bell(&self) -> &Receiver<()> {
        &self.resize_bell.1
    }

    /// True on one of this pool's worker threads.
    pub(crate) fn is_own_thread(&self) -> bool {
        self.thread_ids.lock().contains(&std::thread::current().id())
    }

    /// Python's `shutdown(wait, cancel_futures)`; idempotent. With `wait`, returns once every
    /// worker thread has ended, also when another thread is shutting the pool down at the same
    /// time; except on a thread of the pool itself, which cannot wait for itself (the others end
    /// by themselves once the queue is empty).
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        drop(self.sender.0.write().take());
        // Submits waiting for room are refused now.
        self.counters.room().freed();
        if cancel_futures {
            for job in self.receiver.try_iter() {
                self.refuse(job, TaskError::Cancelled);
            }
        }
        if wait {
            if self.is_own_thread() {
                return;
            }
            let _joining = self.joining.lock();
            let threads = std::mem::take(&mut *self.threads.lock());
            for handle in threads {
                let _ = handle.join();
            }
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.sender.0.read().is_none()
    }
}
