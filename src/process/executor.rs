//! [`ProcessPoolExecutor`]: the pool's handle, what it does itself (`terminate_workers`,
//! `kill_workers`, its own `submit` and `map` of a `fn(A) -> R`), and its
//! [`Executor`](crate::Executor) impl, the remote-task layer's (`remote::workers`).

use super::pool::Pool;
use crate::executor::Payload;
use crate::future::Future;
use crate::remote::prepare::{Function, Prepared};
use crate::remote::workers::{Workers, remote_executor};
use crate::sys::Signal;
use crate::trace::PoolTrace;
use std::fmt;
use std::sync::Arc;

/// A pool of worker processes: this program, re-executed, talking to the parent over
/// `ipc-channel`.
///
/// Use it for isolation: a task that crashes, aborts or leaks takes down only its own worker
/// process; its future fails with [`TaskError::WorkerDied`](crate::TaskError::WorkerDied) and the pool starts a replacement.
/// Arguments and results travel encoded with postcard, so they must be [`Payload`]s, and a
/// task's function must capture nothing (a fn item or a closure without captures).
///
/// Call [`init`](crate::init) as the first line of `main` in any program that uses one.
///
/// Unix only, with the cargo feature `process` (on by default).
///
/// Dropping the pool is `shutdown(true, false)`: it waits until every task submitted has run,
/// queued ones included. A task that never ends keeps `drop` waiting, unless the pool has a
/// [`task_timeout`](crate::ProcessPoolBuilder::task_timeout); stop it first with
/// [`Future::kill`](crate::Future::kill) or [`kill_workers`](Self::kill_workers).
///
/// # What the pool waits for, and for how long
///
/// Nothing the pool does waits for ever on a worker that never answers:
///
/// - **Sizes.** Arguments and results of any size travel both ways at once without deadlock:
///   the parent reads every worker on a thread that does nothing else, and writes to it on
///   another, so a worker's write always completes and it always comes back for its next task.
/// - **Start.** A new worker must connect within 20 s (its handshake). Its initializer may take
///   as long as it needs, but a worker still starting is stopped at once by
///   [`kill_workers`](Self::kill_workers) and [`terminate_workers`](Self::terminate_workers),
///   and by a shutdown that leaves it nothing to do (`shutdown(_, true)`, or an empty queue).
/// - **Running.** A [`task_timeout`](crate::ProcessPoolBuilder::task_timeout) asks the worker to stop
///   the item that overran and kills it 500 ms later if it has not; so does
///   [`Future::kill`](crate::Future::kill) once its task is the one running.
/// - **Exit.** A worker told to exit (shutdown, `max_tasks_per_child`) that has not within 5 s
///   is killed.
///
/// # What `stats()` counts
///
/// [`Executor::stats`](crate::Executor::stats) counts each item of a `map` as one task, like a
/// plain `submit`. `busy` is the workers running an item now: a worker runs what it was sent
/// one item after another, and the items lined up inside it behind the running one count as
/// `queued` (they have not started). `workers` is the worker processes alive now, from the
/// moment one exists until it is reaped (0 once `shutdown(true, _)` returns).
/// `workers_replaced` counts the workers that died or were killed (a crash, an exit,
/// [`Future::kill`](crate::Future::kill), the task timeout, the memory limit, a worker killed
/// for breaking the protocol) once their replacement has started: not a worker that retired
/// after `max_tasks_per_child`, one that was still starting, nor those that
/// `kill_workers`/`terminate_workers` end. A task cancelled or killed from outside is counted
/// when the pool comes to it; every other outcome is counted before its future completes.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     concurrent_futures::init();
///     let pool = ProcessPoolExecutor::new(2);
///     let squares: Vec<u64> = pool.map(square, 1..=4).map(Result::unwrap).collect();
///     assert_eq!(squares, [1, 4, 9, 16]);
/// }
/// ```
///
/// A function chosen at run time works, as a `fn` pointer of this program:
///
/// ```
/// use concurrent_futures::ProcessPoolExecutor;
///
/// fn square(x: u64) -> u64 { x * x }
/// fn cube(x: u64) -> u64 { x * x * x }
///
/// fn main() {
///     concurrent_futures::init();
///     let pool = ProcessPoolExecutor::new(2);
///     let verbose = std::env::args().count() > 99;
///     let op = if verbose { cube } else { square };
///     assert_eq!(pool.map(op, 1..=3).map(Result::unwrap).collect::<Vec<_>>(), [1, 4, 9]);
/// }
/// ```
///
/// A capturing closure is refused by `cargo check`, at the caller's line: the pool's own
/// `submit` and `map` take a `fn(A) -> R`, which a closure that captures cannot become
/// (rustc: "closures can only be coerced to `fn` types if they do not capture any variables").
/// Pass the data through the argument instead:
///
/// ```compile_fail,E0308
/// use concurrent_futures::ProcessPoolExecutor;
///
/// let pool = ProcessPoolExecutor::new(1);
/// let offset = 10;
/// pool.submit(move |x: u64| x + offset, 1); // error: expected fn pointer, found closure
/// ```
///
/// ```compile_fail,E0308
/// use concurrent_futures::ProcessPoolExecutor;
///
/// let pool = ProcessPoolExecutor::new(1);
/// let offset = 10;
/// let _ = pool.map(move |x: u64| x + offset, 0..4).count(); // error: expected fn pointer
/// ```
///
/// In code generic over [`Executor`](crate::Executor), the build fails (at `cargo build`) with a message that
/// says to pass the data through the argument, and names the closure's file and line:
///
/// ```compile_fail,E0080
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// fn add_to_all<E: Executor>(pool: &E, offset: u64) -> Vec<u64> {
///     pool.map(move |x: u64| x + offset, 0..4).map(Result::unwrap).collect()
/// }
///
/// add_to_all(&ProcessPoolExecutor::new(1), 10); // error: must not capture anything
/// ```
pub struct ProcessPoolExecutor {
    pub(super) processes: Processes,
}

/// A [`ProcessPoolExecutor`]'s workers, as its own [`map`](ProcessPoolExecutor::map) sees them:
/// the [`MapSource`](crate::MapSource) of a `Map` whose function is a `fn(A) -> R` pointer.
/// Nothing to use directly.
pub struct Processes {
    pub(super) pool: Arc<Pool>,
    /// The `task` spans of its tasks (feature `tracing`; nothing without it).
    pub(super) trace: PoolTrace,
}

impl Workers for Processes {
    fn queue(&self, task: Prepared) {
        let id = self.pool.next_id();
        let mut pending = task.into_pending(id);
        pending.trace = self.trace.submitted(Some(id));
        self.pool.submit(pending);
    }

    fn max_workers(&self) -> usize {
        self.pool.max_workers()
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.pool.shutdown(wait, cancel_futures);
    }

    fn stats(&self) -> crate::PoolStats {
        self.pool.stats()
    }

    fn counters(&self) -> &crate::stats::Counters {
        self.pool.counters()
    }
}

impl fmt::Debug for Processes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Processes").field("max_workers", &self.pool.max_workers()).finish()
    }
}

impl ProcessPoolExecutor {
    /// Python 3.14's `terminate_workers`: sends SIGTERM to every worker now and shuts the pool
    /// down. Tasks still waiting in the pool are cancelled; tasks already handed to a worker
    /// (`is_running()`) fail with [`TaskError::Killed`](crate::TaskError::Killed); later submits get
    /// [`TaskError::Shutdown`](crate::TaskError::Shutdown). Workers still starting (in their
    /// handshake or their initializer) are signalled too. Returns once every worker has exited
    /// and been reaped: at once for workers that end on SIGTERM; a worker that ignores it for
    /// 5 s is killed with SIGKILL.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError};
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::new(1);
    ///     let nap = pool.submit(|ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms)), 60_000);
    ///     while !nap.is_running() {
    ///         std::thread::yield_now();
    ///     }
    ///     pool.terminate_workers();
    ///     assert!(matches!(nap.result(), Err(TaskError::Killed(_))));
    ///     assert_eq!(pool.submit(|x: u8| x, 1).result(), Err(TaskError::Shutdown));
    /// }
    /// ```
    pub fn terminate_workers(&self) {
        self.processes
            .pool
            .terminate(Signal::Term, "stopped by ProcessPoolExecutor::terminate_workers".into());
    }

    /// Python 3.14's `kill_workers`: as [`terminate_workers`](Self::terminate_workers), with
    /// SIGKILL, which no worker can ignore, so it returns as soon as the workers are reaped
    /// (milliseconds), whatever they were doing, a hung initializer included.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError};
    ///
    /// fn spin(_: ()) -> u32 {
    ///     loop {
    ///         std::hint::spin_loop();
    ///     }
    /// }
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::new(1);
    ///     let spin = pool.submit(spin, ());
    ///     while !spin.is_running() {
    ///         std::thread::yield_now();
    ///     }
    ///     pool.kill_workers();
    ///     assert!(matches!(spin.result(), Err(TaskError::Killed(why)) if why.contains("kill_workers")));
    /// }
    /// ```
    pub fn kill_workers(&self) {
        self.processes.pool.terminate(Signal::Kill, "stopped by ProcessPoolExecutor::kill_workers".into());
    }

    /// Changes the most worker processes this pool runs at once, while it runs. Growing starts
    /// a worker at once for each task waiting in the queue (up to `n`); shrinking ends workers
    /// as they finish the tasks already handed to them (nothing running is interrupted; idle
    /// workers end at once). Each worker's slot asks whether it is one too many right before
    /// it takes a task, so once this returns, only one already taking a task at that instant
    /// may still run it, and then ends.
    /// [`max_workers`](crate::Executor::max_workers) and [`stats`](crate::Executor::stats)
    /// follow.
    ///
    /// # Panics
    ///
    /// If `n` is 0: a pool with no worker would never run anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ProcessPoolExecutor};
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::new(1);
    ///     pool.set_max_workers(3);
    ///     assert_eq!(pool.max_workers(), 3);
    ///     let squares: Vec<u64> = pool.map(|x: u64| x * x, 1..=4).map(Result::unwrap).collect();
    ///     assert_eq!(squares, [1, 4, 9, 16]);
    ///     pool.set_max_workers(1);
    ///     assert_eq!(pool.stats().max_workers, 1);
    /// }
    /// ```
    pub fn set_max_workers(&self, n: usize) {
        assert!(
            n > 0,
            "ProcessPoolExecutor::set_max_workers(0): a pool needs at least one worker; pass n >= 1"
        );
        self.processes.pool.set_max_workers(n);
    }

    /// Schedules `f(arg)` on a worker process: the pool's own `submit`, whose `f` is a
    /// `fn(A) -> R`, a function of this program (a fn item, a closure that captures nothing,
    /// or a function chosen at run time). A closure that captures is refused by `cargo check`,
    /// at its line: send the data it needs through `arg`.
    ///
    /// Code generic over `E: Executor` calls [`Executor::submit`](crate::Executor::submit) instead. Submitted after
    /// shutdown, the future fails with [`TaskError::Shutdown`](crate::TaskError::Shutdown);
    /// an argument that cannot be encoded fails it with
    /// [`TaskError::Serialization`](crate::TaskError::Serialization).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    ///
    /// fn shout(text: String) -> String {
    ///     text.to_uppercase()
    /// }
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::new(1);
    ///     assert_eq!(pool.submit(shout, "hi".to_string()).result().unwrap(), "HI");
    ///     assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
    /// }
    /// ```
    pub fn submit<A: Payload, R: Payload>(&self, f: fn(A) -> R, arg: A) -> Future<R> {
        self.processes.submit(Function::pointer(f), arg)
    }

    /// Runs `f` over `items` on the worker processes and yields the results in input order:
    /// the pool's own `map`, whose `f` is a `fn(A) -> R` (see [`submit`](Self::submit)), with
    /// [`Map`](crate::Map)'s builder methods. Code generic over `E: Executor` calls
    /// [`Executor::map`](crate::Executor::map) instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::new(2);
    ///     let squares: Vec<u64> = pool.map(|x: u64| x * x, 1..=4).chunksize(2).map(Result::unwrap).collect();
    ///     assert_eq!(squares, [1, 4, 9, 16]);
    /// }
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn map<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> crate::Map<'_, Processes, fn(A) -> R, A, R, I::IntoIter>
    where
        A: Payload,
        R: Payload,
        I: IntoIterator<Item = A>,
    {
        crate::Map::new(&self.processes, f, items.into_iter())
    }
}

impl Default for ProcessPoolExecutor {
    /// One worker per CPU.
    fn default() -> Self {
        Self::new(crate::executor::cpus())
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.processes.pool.max_workers())
            .field("workers", &self.processes.pool.workers_started())
            .field("shutdown", &self.processes.pool.is_shutdown())
            .finish()
    }
}

remote_executor!(ProcessPoolExecutor, processes, Processes);
