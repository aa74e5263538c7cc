//! The inside of a thread pool: its queue, its workers and their life cycle.

use crate::error::{TaskError, panic_message};
use crate::future::QueuedJob;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Rounds of busy-waiting (doubling spins) an idle worker does before it yields.
const IDLE_SPIN_ROUNDS: u32 = 7;
/// How long an idle worker keeps looking for work before it blocks: longer than a wake-up of
/// the submitting thread (about 20 µs), so that a submit right after a result never finds it
/// asleep.
const IDLE_SPIN: Duration = Duration::from_micros(100);

/// An initializer, shared by every worker of a pool.
pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

/// Keeps a value on a cache line of its own (two lines: x86 prefetches pairs).
#[repr(align(128))]
struct CacheLine<T>(T);

/// The state every worker and the executor handle share.
pub(crate) struct Shared {
    /// `None` once the pool is shut down: dropping the sender lets the workers drain the queue
    /// and then see the channel disconnected. Every submit writes this lock word, so it lives
    /// apart from the fields that every worker reads after every job.
    sender: CacheLine<RwLock<Option<Sender<QueuedJob>>>>,
    receiver: Receiver<QueuedJob>,
    pub(crate) max_workers: usize,
    name_prefix: String,
    initializer: Option<Initializer>,
    /// Threads started so far (never more than `max_workers`).
    spawned: AtomicUsize,
    /// Python's idle semaphore: workers that finished a task and may take the next one.
    idle: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Why the pool is broken, once it is.
    broken: OnceLock<String>,
}

impl Shared {
    pub(crate) fn new(
        max_workers: usize,
        name_prefix: String,
        initializer: Option<Initializer>,
    ) -> Arc<Self> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        Arc::new(Shared {
            sender: CacheLine(RwLock::new(Some(sender))),
            receiver,
            max_workers,
            name_prefix,
            initializer,
            spawned: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
            broken: OnceLock::new(),
        })
    }

    /// Queues a job, or rejects it when the pool is shut down or broken.
    ///
    /// Rejecting completes the job's future and so runs its done callbacks: that happens after
    /// the lock is released, so a callback may call `shutdown`.
    pub(crate) fn submit(self: &Arc<Self>, job: QueuedJob) {
        let mut started_no_thread = false;
        let refused = {
            let sender = self.sender.0.read();
            match (sender.as_ref(), self.broken.get()) {
                (None, _) => Some((job, TaskError::Shutdown)),
                (Some(_), Some(why)) => Some((job, TaskError::BrokenPool(why.clone()))),
                (Some(sender), None) => match sender.send(job) {
                    Ok(()) => {
                        // Still under the read lock, so that `shutdown` joins every thread.
                        started_no_thread = !self.adjust_thread_count();
                        None
                    }
                    Err(crossbeam_channel::SendError(job)) => Some((job, TaskError::Shutdown)),
                },
            }
        };
        if let Some((job, error)) = refused {
            job.reject(error);
        }
        if started_no_thread {
            self.reject_queued();
        }
    }

    /// Starts a worker unless one is idle or all are started (CPython's `_adjust_thread_count`).
    /// False when the first thread could not start: the pool is broken then.
    fn adjust_thread_count(self: &Arc<Self>) -> bool {
        if self.spawned.load(Ordering::Relaxed) >= self.max_workers {
            return true;
        }
        let took_idle =
            self.idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok();
        if took_idle {
            return true;
        }
        let mut threads = self.threads.lock();
        let index = self.spawned.load(Ordering::Relaxed);
        if index >= self.max_workers {
            return true;
        }
        let shared = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name(format!("{}_{index}", self.name_prefix))
            .spawn(move || shared.work());
        match started {
            Ok(handle) => {
                threads.push(handle);
                self.spawned.store(index + 1, Ordering::Relaxed);
            }
            // With other workers alive the work still gets done; with none, nothing would.
            Err(error) if index == 0 => {
                let _ = self.broken.set(format!("could not start a worker thread: {error}"));
                return false;
            }
            Err(_) => {}
        }
        true
    }

    /// The worker loop: run the initializer, then jobs until the pool shuts down.
    fn work(&self) {
        if let Some(initializer) = &self.initializer {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| initializer())) {
                let message = panic_message(payload.as_ref());
                self.break_pool(format!("a worker's initializer panicked: {message}"));
                return;
            }
        }
        while let Some(job) = self.next_job() {
            if let Some(why) = self.broken.get() {
                job.reject(TaskError::BrokenPool(why.clone()));
                continue;
            }
            // Idle again before the future completes, so that a submit made as soon as the
            // result is seen reuses this thread instead of starting another.
            job.run(&|| {
                if self.spawned.load(Ordering::Relaxed) < self.max_workers {
                    self.idle.fetch_add(1, Ordering::AcqRel);
                }
            });
        }
    }

    /// The next job, or `None` once the pool is shut down and the queue is empty.
    ///
    /// A worker that runs out of work first spins, then yields, for [`IDLE_SPIN`] before it
    /// blocks: a task submitted meanwhile starts without a wake-up, which costs about 20 µs
    /// across cores (rayon's workers do the same).
    fn next_job(&self) -> Option<QueuedJob> {
        use crossbeam_channel::TryRecvError;
        let mut round = 0;
        let mut since: Option<Instant> = None;
        loop {
            match self.receiver.try_recv() {
                Ok(job) => return Some(job),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) if round < IDLE_SPIN_ROUNDS => {
                    for _ in 0..(1 << round) {
                        std::hint::spin_loop();
                    }
                    round += 1;
                }
                Err(TryRecvError::Empty) => {
                    if since.get_or_insert_with(Instant::now).elapsed() >= IDLE_SPIN {
                        return self.receiver.recv().ok();
                    }
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Marks the pool broken and fails everything queued (CPython's `_initializer_failed`).
    fn break_pool(&self, why: String) {
        let _ = self.broken.set(why);
        self.reject_queued();
    }

    /// Fails every queued job with the reason the pool is broken.
    fn reject_queued(&self) {
        let why = self.broken.get().cloned().unwrap_or_default();
        while let Ok(job) = self.receiver.try_recv() {
            job.reject(TaskError::BrokenPool(why.clone()));
        }
    }

    /// Python's `shutdown(wait, cancel_futures)`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        drop(self.sender.0.write().take());
        if cancel_futures {
            while let Ok(job) = self.receiver.try_recv() {
                job.reject(TaskError::Cancelled);
            }
        }
        if wait {
            let threads = std::mem::take(&mut *self.threads.lock());
            let me = std::thread::current().id();
            for handle in threads {
                // A pool dropped from one of its own tasks cannot join the thread it runs on;
                // that worker exits by itself once the queue is empty.
                if handle.thread().id() != me {
                    let _ = handle.join();
                }
            }
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.sender.0.read().is_none()
    }

    pub(crate) fn threads_started(&self) -> usize {
        self.spawned.load(Ordering::Relaxed)
    }
}
