//! [`ThreadPoolExecutor::scope`](super::ThreadPoolExecutor::scope): tasks that borrow from the
//! caller, like `std::thread::scope` and `rayon::scope`, run on the pool's own threads.
//!
//! A scoped task is a closure that may borrow anything living longer than the scope. It is
//! queued like any other job of the pool, which only runs `'static` jobs: its lifetime is erased
//! in one place ([`erase`]), and that is sound because `scope` does not return (nor unwind)
//! before every task it started has ended or been dropped unrun, so nothing it borrows can be
//! gone while it runs. The scope counts its tasks: a task's count is taken back by a guard that
//! the pool drops right after the job, whether the job runs, panics or is dropped unrun (a pool
//! that shut down), and outside the job's own call, so that not even an argument of a call
//! still on a pool thread's stack refers to the scope's data when the count reaches zero (Miri
//! checks that under Stacked Borrows).

use super::job::{self, Decision};
use super::scoped_future::ScopedFuture;
use super::worker::Shared;
use crate::error::{TaskError, panic_message};
use crate::executor::map::{ChunkOutput, Map, run_chunk, sealed_source, tally_chunk};
use crate::future::{Future, Promise};
use crate::trace::PoolTrace;
use crossbeam_channel::{Receiver, Sender, select};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The tasks of one scope that have not ended, and the wake-up of the thread that waits for
/// them.
struct Tasks {
    left: AtomicUsize,
    ended_tx: Sender<()>,
    ended: Receiver<()>,
}

impl Tasks {
    fn new() -> Arc<Tasks> {
        let (ended_tx, ended) = crossbeam_channel::bounded(1);
        Arc::new(Tasks { left: AtomicUsize::new(0), ended_tx, ended })
    }

    /// How many tasks have not ended. A read-modify-write, not a load, because it must read
    /// the count's latest value: the wake-up channel holds one message, so the last task's
    /// wake-up is dropped when an earlier end's is still there, and a waiter that took that
    /// earlier one and then read a stale count with a plain load would wait for ever (Miri's
    /// weak-memory emulation found that lost wake-up).
    fn not_ended(&self) -> usize {
        self.left.fetch_add(0, Ordering::AcqRel)
    }
}

/// Owned by a scoped job: ends its task's count however the job ends (run, panicked, dropped).
struct Ended(Arc<Tasks>);

impl Drop for Ended {
    fn drop(&mut self) {
        if self.0.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: wake the waiting thread (a wake-up already waiting is as good).
            let _ = self.0.ended_tx.try_send(());
        }
    }
}

/// A scope of a [`ThreadPoolExecutor`](super::ThreadPoolExecutor), given to the closure of
/// [`scope`](super::ThreadPoolExecutor::scope): starts tasks that may borrow what outlives the
/// scope (`'env`), on the pool's threads.
///
/// # Examples
///
/// ```
/// use concurrent_futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let words = vec!["a".to_string(), "bb".to_string()];
/// let total = pool.scope(|s| {
///     let first = s.spawn(|| words[0].len());
///     let second = s.spawn(|| words[1].len());
///     first.result().unwrap() + second.result().unwrap()
/// });
/// assert_eq!(total, 3);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    shared: Arc<Shared>,
    /// The pool's `task` spans (feature `tracing`).
    trace: PoolTrace,
    tasks: Arc<Tasks>,
    /// Invariant in `'scope` and `'env`, as `std::thread::Scope` is.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Runs `f` on a pool thread; `f` may borrow anything that outlives the scope. Its panic
    /// fails its own handle, with [`TaskError::Panicked`](crate::TaskError::Panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    /// use std::sync::Mutex;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let counter = Mutex::new(0);
    /// pool.scope(|s| {
    ///     for _ in 0..10 {
    ///         s.spawn(|| *counter.lock().unwrap() += 1);
    ///     }
    /// });
    /// assert_eq!(counter.into_inner().unwrap(), 10);
    /// ```
    ///
    /// Nothing started in a scope can leave it, neither a handle nor a borrow:
    ///
    /// ```compile_fail
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let escaped = pool.scope(|s| s.spawn(|| 1)); // error: the handle would outlive the scope
    /// ```
    ///
    /// ```compile_fail
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.scope(|s| {
    ///     let local = vec![1, 2, 3];
    ///     s.spawn(|| local.len()); // error: `local` does not live as long as the scope
    /// });
    /// ```
    pub fn spawn<T: Send + 'scope>(
        &'scope self,
        f: impl FnOnce() -> T + Send + 'scope,
    ) -> ScopedFuture<'scope, T> {
        ScopedFuture { future: self.run(f), shared: &self.shared }
    }

    /// Runs `f` over `items` on the pool's threads and yields the results in input order; `f`
    /// and the items may borrow anything that outlives the scope (a `&[T]`, a `&Client`).
    ///
    /// The same lazy [`Map`] as [`ThreadPoolExecutor::map`](super::ThreadPoolExecutor::map),
    /// with its builder methods.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let words = vec!["alpha".to_string(), "be".to_string(), "gamma".to_string()];
    /// let lengths: Vec<usize> = pool.scope(|s| s.map(|w: &String| w.len(), &words).map(Result::unwrap).collect());
    /// assert_eq!(lengths, [5, 2, 5]);
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn map<F, A, R, I>(&'scope self, f: F, items: I) -> Map<'scope, Self, Arc<F>, A, R, I::IntoIter>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'scope,
        F: Fn(A) -> R + Send + Sync + 'scope,
        A: Send + 'scope,
        R: Send + 'scope,
    {
        Map::new(self, Arc::new(f), items.into_iter())
    }

    /// Queues `f` as a task of this scope and returns its future.
    fn run<T: Send + 'scope>(&self, f: impl FnOnce() -> T + Send + 'scope) -> Future<T> {
        self.run_weighted(f, 1, job::tally_one)
    }

    /// Queues `f` as a task of this scope counted as `weight` tasks (a map's chunk), and
    /// returns its future.
    fn run_weighted<T: Send + 'scope>(
        &self,
        f: impl FnOnce() -> T + Send + 'scope,
        weight: usize,
        tally: job::Tally<T>,
    ) -> Future<T> {
        let (future, promise) = Future::pending();
        self.tasks.left.fetch_add(1, Ordering::AcqRel);
        let ended: job::Guard = Box::new(Ended(Arc::clone(&self.tasks)));
        let f = self.trace.wrap(f);
        let task = move |decision: Decision<'_>| settle(f, promise, decision, tally);
        // SAFETY: see `erase`: this job belongs to this scope, whose `scope()` call waits until
        // its `Ended` guard has been dropped, and `job::deciding` drops the guard only once the
        // task has returned or been dropped, with everything it owns.
        let task = unsafe { erase(Box::new(task)) };
        self.shared.submit(job::deciding(task, weight, ended));
        future
    }
}

/// Runs a scoped task's work, counting it in the pool's counters, or completes its future with
/// why it may not run (everything it owns is dropped when this returns).
fn settle<T>(work: impl FnOnce() -> T, promise: Promise<T>, decision: Decision<'_>, tally: job::Tally<T>) {
    match decision {
        Decision::Refused(error) => promise.reject(error),
        Decision::Run { counters, weight } if promise.set_running() => {
            counters.started(weight);
            let outcome = crate::stop::running(promise.stop_flag(), || catch_unwind(AssertUnwindSafe(work)))
                .map_err(|payload| TaskError::Panicked(panic_message(payload.as_ref())));
            let (completed, failed) = tally(&outcome, weight);
            counters.finished(completed, failed);
            promise.complete(outcome);
        }
        // Cancelled before it started (a map's window, dropped).
        Decision::Run { counters, weight } => counters.dropped(weight, true),
    }
}

/// A scope's job with its borrows' lifetime erased, so that the pool can queue it.
///
/// # Safety
///
/// The job must have ended (returned, or been dropped unrun) before anything it borrows for
/// `'scope` is gone. `scope` guarantees it for every job whose [`Ended`] guard it counts: it
/// returns, or resumes a panic, only once the count is back to zero, and the pool drops a
/// job's guard only after the job (`job::deciding`).
unsafe fn erase<'scope>(
    job: Box<dyn for<'a> FnOnce(Decision<'a>) + Send + 'scope>,
) -> Box<dyn for<'a> FnOnce(Decision<'a>) + Send + 'static> {
    // SAFETY: the two types differ only in the trait object's lifetime bound, so they have the
    // same layout; the caller guarantees the job does not outlive what it borrows.
    unsafe { std::mem::transmute(job) }
}

impl<'scope, G, A, R> sealed_source::MapSource<Arc<G>, A, R> for Scope<'scope, '_>
where
    G: Fn(A) -> R + Send + Sync + 'scope,
    A: Send + 'scope,
    R: Send + 'scope,
{
    #[allow(private_interfaces)]
    fn submit_chunk(&self, f: &Arc<G>, items: Vec<A>) -> Future<ChunkOutput<R>> {
        let f = Arc::clone(f);
        let weight = items.len();
        self.run_weighted(move || run_chunk(&*f, items), weight, tally_chunk)
    }

    fn max_workers(&self) -> usize {
        self.shared.max_workers()
    }
}

/// The body of [`ThreadPoolExecutor::scope`](super::ThreadPoolExecutor::scope).
pub(super) fn scope<'env, T>(
    shared: &Arc<Shared>,
    trace: &PoolTrace,
    f: impl for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
) -> T {
    let scope = Scope {
        shared: Arc::clone(shared),
        trace: trace.clone(),
        tasks: Tasks::new(),
        scope: PhantomData,
        env: PhantomData,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    wait_for_tasks(&scope.shared, &scope.tasks);
    match outcome {
        Ok(value) => value,
        Err(payload) => resume_unwind(payload),
    }
}

/// Returns once every task of the scope has ended. On a thread of the pool itself (a scope
/// inside a task), it runs the pool's queued jobs while it waits, as any of the pool's threads
/// would: otherwise the scope's tasks could wait for a thread that waits for them.
fn wait_for_tasks(shared: &Shared, tasks: &Tasks) {
    let on_pool_thread = shared.is_own_thread();
    while tasks.not_ended() > 0 {
        if !on_pool_thread {
            let _ = tasks.ended.recv();
            continue;
        }
        select! {
            recv(tasks.ended) -> _ => {}
            recv(shared.queue()) -> job => match job {
                Ok(job) => shared.run_here(job),
                // Shut down and drained: nothing more can be queued; wait for the rest.
                Err(_) => {
                    let _ = tasks.ended.recv();
                }
            },
        }
    }
}
