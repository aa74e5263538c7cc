//! [`ProcessPoolExecutor`]: worker processes, Python's `ProcessPoolExecutor` for Rust (feature
//! `process`, Unix). Every OS call is in `os/`. Depends on `executor`, `future`, `error` and
//! `sync`; never on `shared_map` (which plugs in through `service`) or `thread_pool`.

mod builder;
mod handle;
pub(crate) mod launch;
mod link;
mod pool;
pub(crate) mod protocol;
mod serve;
pub(crate) mod service;
mod slot;
mod spawn;
mod watchdog;
pub(crate) mod worker;

pub use self::builder::ProcessPoolBuilder;

use self::pool::Pool;
use crate::executor::map::ChunkOutput;
use crate::executor::{Executor, Payload};
use crate::future::Future;
use crate::remote::prepare;
use crate::sys::Signal;
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
/// [`task_timeout`](ProcessPoolBuilder::task_timeout); stop it first with
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
/// - **Running.** A [`task_timeout`](ProcessPoolBuilder::task_timeout) asks the worker to stop
///   the item that overran and kills it 500 ms later if it has not; so does
///   [`Future::kill`](crate::Future::kill) once its task is the one running.
/// - **Exit.** A worker told to exit (shutdown, `max_tasks_per_child`) that has not within 5 s
///   is killed.
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
/// In code generic over [`Executor`], the build fails (at `cargo build`) with a message that
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
    processes: Processes,
}

/// A [`ProcessPoolExecutor`]'s workers, as its own [`map`](ProcessPoolExecutor::map) sees them:
/// the [`MapSource`](crate::MapSource) of a `Map` whose function is a `fn(A) -> R` pointer.
/// Nothing to use directly.
pub struct Processes {
    pool: Arc<Pool>,
}

impl Processes {
    /// Queues a prepared task (a future already done needs nothing more).
    fn queue(&self, prepared: Option<prepare::Prepared>) {
        if let Some(prepared) = prepared {
            self.pool.submit(prepared.into_pending(self.pool.next_id()));
        }
    }
}

impl fmt::Debug for Processes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Processes").field("max_workers", &self.pool.max_workers()).finish()
    }
}

impl<A: Payload, R: Payload> crate::executor::map::sealed_source::MapSource<fn(A) -> R, A, R> for Processes {
    #[allow(private_interfaces)]
    fn submit_chunk(&self, f: &fn(A) -> R, items: Vec<A>) -> Future<ChunkOutput<R>> {
        let (future, prepared) = prepare::chunk(prepare::Function::pointer(*f), items);
        self.queue(prepared);
        future
    }

    fn max_workers(&self) -> usize {
        self.pool.max_workers()
    }
}

impl ProcessPoolExecutor {
    /// A pool of at most `max_workers` worker processes.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0 (use [`builder`](Self::builder) for an error value instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    ///
    /// let pool = ProcessPoolExecutor::new(2);
    /// # drop(pool);
    /// ```
    pub fn new(max_workers: usize) -> Self {
        assert!(
            max_workers > 0,
            "ProcessPoolExecutor::new(0): a pool needs at least 1 worker \
             (use ProcessPoolExecutor::default() for one per CPU)"
        );
        match Self::builder().max_workers(max_workers).build() {
            Ok(pool) => pool,
            Err(error) => panic!("ProcessPoolExecutor::new({max_workers}): {error}"),
        }
    }

    /// A builder for the other settings: `max_tasks_per_child` and an initializer.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    ///
    /// let pool = ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

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

    /// Schedules `f(arg)` on a worker process: the pool's own `submit`, whose `f` is a
    /// `fn(A) -> R`, a function of this program (a fn item, a closure that captures nothing,
    /// or a function chosen at run time). A closure that captures is refused by `cargo check`,
    /// at its line: send the data it needs through `arg`.
    ///
    /// Code generic over `E: Executor` calls [`Executor::submit`] instead. Submitted after
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
        let (future, prepared) = prepare::single(prepare::Function::pointer(f), arg);
        self.processes.queue(prepared);
        future
    }

    /// Runs `f` over `items` on the worker processes and yields the results in input order:
    /// the pool's own `map`, whose `f` is a `fn(A) -> R` (see [`submit`](Self::submit)), with
    /// [`Map`](crate::Map)'s builder methods. Code generic over `E: Executor` calls
    /// [`Executor::map`] instead.
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

/// Decodes `data` as each kind of frame (for the fuzz target), and as a worker's frame followed
/// by detached bytes, the way the parent's reader pairs them: the first byte says where the
/// frame ends and the bytes begin.
#[cfg(fuzzing)]
pub(crate) fn fuzz_decode(data: &[u8]) {
    let _ = protocol::decode::<protocol::ToWorker>(data);
    let _ = protocol::decode::<protocol::Control>(data);
    let read = |frame: protocol::FromWorker| {
        if let protocol::FromWorker::Items { values, failures, .. } = frame {
            if crate::remote::outcomes::answered(&values, &failures).is_some() {
                values.items().for_each(drop);
            }
        }
    };
    if let Ok(frame) = protocol::decode(data) {
        read(frame);
    }
    if let Some((&split, rest)) = data.split_first() {
        let (frame, bytes) = rest.split_at(usize::from(split).min(rest.len()));
        if let Ok(frame) = protocol::decode::<protocol::FromWorker>(frame) {
            if frame.has_detached() {
                if let link::Event::Frame(frame) = link::attach(frame, bytes.to_vec()) {
                    read(frame);
                }
            }
        }
    }
}

impl Default for ProcessPoolExecutor {
    /// One worker per CPU.
    fn default() -> Self {
        Self::new(crate::executor::cpus())
    }
}

impl Executor for ProcessPoolExecutor {
    fn submit<F, A, R>(&self, f: F, arg: A) -> Future<R>
    where
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Payload,
        R: Payload,
    {
        let (future, prepared) = prepare::single(prepare::Function::of(&f), arg);
        self.processes.queue(prepared);
        future
    }

    /// Runs a map's chunk: each item is its own unit (its own encoding, outcome, and with a
    /// task timeout its own deadline), the chunk one task.
    #[allow(private_interfaces)]
    fn __submit_chunk<F, A, R>(&self, f: F, items: Vec<A>) -> Future<ChunkOutput<R>>
    where
        F: Fn(A) -> R + Clone + Send + Sync + 'static,
        A: Payload,
        R: Payload,
    {
        let (future, prepared) = prepare::chunk(prepare::Function::of(&f), items);
        self.processes.queue(prepared);
        future
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.processes.pool.shutdown(wait, cancel_futures);
    }

    fn max_workers(&self) -> usize {
        self.processes.pool.max_workers()
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.processes.pool.shutdown(true, false);
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
