//! [`ProcessPoolBuilder`]: the settings of a process pool.

use super::executor::{ProcessPoolExecutor, Processes};
use super::launch::refuse_pool_in_uninitialised_worker;
use super::pool::Pool;
use super::protocol::{ByteBuf, InitWith, Setup};
use super::slot;
use super::spawn::Launch;
use crate::error::BuildError;
use crate::executor::Payload;
use crate::remote::codec;
use crate::remote::trampoline;
use crate::trace::PoolTrace;
use std::time::Duration;

/// `initializer_with`'s function, as the worker calls it, and its encoded argument (or why it
/// could not be encoded, reported by `build`).
#[derive(Debug, Clone)]
struct InitializerWith {
    call: trampoline::InitCall,
    target: usize,
    arg: Result<Vec<u8>, String>,
}

/// Settings for a [`ProcessPoolExecutor`], from [`ProcessPoolExecutor::builder`].
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// fn connect() {}
///
/// fn main() {
///     concurrent_futures::init();
///     let pool = ProcessPoolExecutor::builder()
///         .max_workers(2)
///         .max_tasks_per_child(100)
///         .initializer(connect)
///         .build()
///         .unwrap();
///     assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2));
/// }
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    max_queued: Option<usize>,
    max_tasks_per_child: Option<usize>,
    initializer: Option<fn()>,
    initializer_with: Option<InitializerWith>,
    task_timeout: Option<Duration>,
    max_memory_per_worker: Option<u64>,
}

impl ProcessPoolBuilder {
    /// At most `n` tasks (items of a map, each) wait to start; `submit` and a map's next chunk
    /// then wait until one starts (backpressure for a producer faster than the workers). A task
    /// sent to a worker but lined up there behind the one it runs still counts as waiting. A
    /// chunk larger than `n` goes when nothing waits; a submit made on a thread of the pool
    /// never waits; a waiting submit returns when the pool shuts down (its future fails with
    /// `Shutdown`). Unset, the queue is unbounded, as in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{BuildError, ProcessPoolExecutor};
    ///
    /// let err = ProcessPoolExecutor::builder().max_queued(0).build().unwrap_err();
    /// assert_eq!(err, BuildError::ZeroMaxQueued);
    /// ```
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// The most worker processes (default: one per CPU). Workers start as tasks arrive.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ProcessPoolExecutor};
    ///
    /// let pool = ProcessPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Replaces a worker with a fresh process after it has run `n` tasks (like Python's
    /// `max_tasks_per_child`); no queued task is lost. Default: workers live as long as the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    ///
    /// let pool = ProcessPoolExecutor::builder().max_tasks_per_child(1).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Runs `f` in each worker process before its first task. If it panics, the pool is
    /// broken: its futures fail with [`TaskError::BrokenPool`](crate::TaskError::BrokenPool).
    ///
    /// # Examples
    ///
    /// See [`ProcessPoolBuilder`].
    pub fn initializer(mut self, f: fn()) -> Self {
        self.initializer = Some(f);
        self
    }

    /// Runs `f(arg)` in each worker process before its first task: Python's `initargs`. Worker
    /// processes run `main` afresh, so what `main` set up is not there; this hands each worker
    /// its configuration once instead of in every task's argument. Runs after
    /// [`initializer`](Self::initializer) if both are set. If it panics, the pool is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::ProcessPoolExecutor;
    /// use std::sync::OnceLock;
    ///
    /// static GREETING: OnceLock<String> = OnceLock::new();
    ///
    /// fn configure(greeting: String) {
    ///     let _ = GREETING.set(greeting);
    /// }
    ///
    /// fn greet(name: String) -> String {
    ///     format!("{}, {name}", GREETING.get().map_or("?", String::as_str))
    /// }
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::builder()
    ///         .max_workers(2)
    ///         .initializer_with(configure, "hello".to_string())
    ///         .build()
    ///         .unwrap();
    ///     assert_eq!(pool.submit(greet, "world".into()).result().unwrap(), "hello, world");
    /// }
    /// ```
    pub fn initializer_with<A: Payload>(mut self, f: fn(A), arg: A) -> Self {
        let mut encoded = Vec::new();
        let arg = codec::encode_into(&arg, &mut encoded).map(|()| encoded).map_err(|e| e.to_string());
        self.initializer_with =
            Some(InitializerWith { call: trampoline::init_call::<A>(), target: f as usize, arg });
        self
    }

    /// Kills a task that runs longer than `timeout`: its worker is stopped, the task's future
    /// fails with [`TaskError::Killed`](crate::TaskError::Killed) ("ran past the task timeout"),
    /// the pool starts a replacement and goes on; nothing else is lost. In a `map` the timeout
    /// is per item: the item that overran fails in its own position, the items of its chunk
    /// that finished keep their results, and the rest of the chunk runs on the replacement.
    ///
    /// It also bounds how long dropping the pool can take: without one, dropping a pool whose
    /// task never ends waits for ever (use [`Future::kill`](crate::Future::kill) or
    /// [`kill_workers`](ProcessPoolExecutor::kill_workers) there).
    ///
    /// With a timeout, workers report each item of a chunk as it finishes (one message per
    /// item), so a `map` of tiny items is slower than without one.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError};
    /// use std::time::Duration;
    ///
    /// fn nap(ms: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::builder()
    ///         .max_workers(1)
    ///         .task_timeout(Duration::from_millis(200))
    ///         .build()
    ///         .unwrap();
    ///     let results: Vec<_> = pool.map(nap, [1, 60_000, 2]).collect();
    ///     assert_eq!(results[0], Ok(1));
    ///     assert!(matches!(&results[1], Err(TaskError::Killed(why)) if why.contains("timeout")));
    ///     assert_eq!(results[2], Ok(2));
    /// }
    /// ```
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Stops a worker that allocates more than `bytes` of memory: the task it was running
    /// fails with [`TaskError::Killed`](crate::TaskError::Killed), whose message names the
    /// limit; the pool starts a replacement and goes on.
    ///
    /// The limit is the worker's data segment (heap, anonymous mappings, thread stacks), set by
    /// the worker on itself with `RLIMIT_DATA` once it has started, so start-up is never what
    /// hits it: an allocation past it fails, which ends the worker. It counts what was
    /// allocated, not only what was touched, and it includes the few MiB a worker needs for
    /// itself. Linux enforces it; other Unix systems may not.
    ///
    /// Rust ends a process whose allocation fails with an abort; the worker tells that abort
    /// from others, whatever `RUST_BACKTRACE` says, by the allocation-failure handler's frame on
    /// the aborting thread's stack (or the `ENOMEM` the failed allocation left behind, for C code
    /// that aborts then). Any other abort still fails its task with
    /// [`TaskError::WorkerDied`](crate::TaskError::WorkerDied) ("SIGABRT").
    ///
    /// The limit is a resource limit of the worker process, and resource limits carry over to
    /// the programs a process starts: a program that a task starts (with
    /// [`std::process::Command`], say) runs under the same `RLIMIT_DATA`, and an allocation past
    /// it fails there as that program handles it (it is not reported as this limit). Give such
    /// programs what they need within the limit, or start them from the parent.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError};
    ///
    /// fn allocate(mib: usize) -> usize {
    ///     vec![1u8; mib << 20].iter().map(|&b| b as usize).sum()
    /// }
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = ProcessPoolExecutor::builder()
    ///         .max_workers(1)
    ///         .max_memory_per_worker(256 << 20)
    ///         .build()
    ///         .unwrap();
    ///     assert_eq!(pool.submit(allocate, 1).result(), Ok(1 << 20));
    ///     let too_much = pool.submit(allocate, 1024).result();
    ///     assert!(matches!(too_much, Err(TaskError::Killed(why)) if why.contains("memory limit")));
    ///     assert_eq!(pool.submit(allocate, 2).result(), Ok(2 << 20));
    /// }
    /// ```
    pub fn max_memory_per_worker(mut self, bytes: u64) -> Self {
        self.max_memory_per_worker = Some(bytes);
        self
    }

    /// Makes the pool. No process starts before the first task.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`, [`BuildError::ZeroTasksPerChild`] for
    /// `max_tasks_per_child(0)`, [`BuildError::ZeroTaskTimeout`] and
    /// [`BuildError::ZeroMemoryLimit`] for limits of zero, and
    /// [`BuildError::FunctionOutsideExecutable`] for an initializer compiled into a shared
    /// library, and [`BuildError::InitializerArgument`] for an `initializer_with` argument that
    /// cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{BuildError, ProcessPoolExecutor};
    ///
    /// let err = ProcessPoolExecutor::builder().max_workers(0).build().unwrap_err();
    /// assert_eq!(err, BuildError::ZeroWorkers);
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor, BuildError> {
        refuse_pool_in_uninitialised_worker();
        let max_workers = self.max_workers.unwrap_or_else(crate::executor::cpus);
        if max_workers == 0 {
            return Err(BuildError::ZeroWorkers);
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(BuildError::ZeroTasksPerChild);
        }
        if self.task_timeout == Some(Duration::ZERO) {
            return Err(BuildError::ZeroTaskTimeout);
        }
        if self.max_memory_per_worker == Some(0) {
            return Err(BuildError::ZeroMemoryLimit);
        }
        if self.max_queued == Some(0) {
            return Err(BuildError::ZeroMaxQueued);
        }
        let initializer = self
            .initializer
            .map(trampoline::offset_of_init)
            .transpose()
            .map_err(BuildError::FunctionOutsideExecutable)?;
        let initializer_with = match self.initializer_with {
            None => None,
            Some(InitializerWith { call, target, arg }) => Some(InitWith {
                call: trampoline::offset_of_init_call(call).map_err(BuildError::FunctionOutsideExecutable)?,
                target: trampoline::offset_of_target(target)
                    .map_err(BuildError::FunctionOutsideExecutable)?,
                arg: ByteBuf(arg.map_err(BuildError::InitializerArgument)?),
            }),
        };
        let setup = Setup {
            initializer,
            initializer_with,
            max_tasks: self.max_tasks_per_child.map(|n| n as u64),
            item_by_item: self.task_timeout.is_some(),
            memory_limit: self.max_memory_per_worker,
        };
        let launch = Launch::new(setup);
        let pool = Pool::new(
            max_workers,
            self.max_queued,
            slot::run,
            launch,
            self.task_timeout,
            self.max_memory_per_worker,
        );
        Ok(ProcessPoolExecutor {
            processes: Processes { pool, trace: PoolTrace::numbered("ProcessPoolExecutor") },
        })
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

    /// A builder for every setting: [`max_workers`](ProcessPoolBuilder::max_workers),
    /// [`max_tasks_per_child`](ProcessPoolBuilder::max_tasks_per_child), an
    /// [`initializer`](ProcessPoolBuilder::initializer) (or one with an argument,
    /// [`initializer_with`](ProcessPoolBuilder::initializer_with)), a
    /// [`task_timeout`](ProcessPoolBuilder::task_timeout) and a
    /// [`max_memory_per_worker`](ProcessPoolBuilder::max_memory_per_worker).
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
}
