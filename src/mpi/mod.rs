//! [`MpiPoolExecutor`] (feature `mpi`): the same [`Executor`](crate::Executor) over the ranks of an MPI job,
//! like mpi4py.futures. `init()` starts MPI on every rank (`launch`); rank 0's communication
//! thread (`comm`) takes the ranks' hellos and, at exit, their goodbyes (`greet`, both waits
//! bounded), and in between feeds the tasks of every live pool to the worker ranks (`rank`)
//! over the frames of `wire`: the MPI transport of the remote-task layer. Depends on `remote`,
//! `sys`, `executor`, `future`, `error` and `sync`; never on `process`.

mod comm;
mod greet;
mod launch;
mod rank;
mod wire;

pub(crate) use self::launch::on_init;

use self::comm::Command;
use self::launch::Link;
use crate::error::{BuildError, TaskError};
use crate::executor::Payload;
use crate::executor::intake::Intake;
use crate::future::Future;
use crate::remote::prepare::{Function, Prepared};
use crate::remote::task::Pending;
use crate::remote::workers::{Workers, remote_executor};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A pool whose workers are the other ranks of an MPI job: the program started by
/// `mpirun -n N` on every rank, ranks 1..N serving rank 0.
///
/// The same program runs on every rank. [`init`](crate::init), the first line of `main`,
/// starts MPI: on ranks 1..N it serves tasks and exits (with status 0) when rank 0 finishes,
/// and on rank 0 it returns, so `main` runs there only. Before any task, every rank proves it
/// runs the same build as rank 0 (the executable's size and a hash of its bytes); a rank that
/// does not is sent away, and the pool's futures fail with
/// [`TaskError::BrokenPool`] saying so.
///
/// Tasks are the process pool's: a function that captures nothing, arguments and results that
/// are [`Payload`]s, a panic that fails its own future with its message and location, an
/// argument or result that cannot be encoded failing only its own future. Every MPI call of a
/// rank is made on one thread (MPI_THREAD_FUNNELED is enough).
///
/// Any number of pools may be alive at once (and follow one another): they share the worker
/// ranks, each with its own queue and its own tasks in flight, served one task from each in
/// turn. Dropping a pool waits for its own tasks only; the ranks stay, serving the other pools
/// and the pools made later, until rank 0's program ends: then they finalize MPI and exit
/// (with status 0).
///
/// Every wait of rank 0 on another rank is bounded:
/// - **hello**: the first [`new`](Self::new) waits until every worker rank has proved its
///   build, at most 60 s after MPI started (the environment variable
///   `CONCURRENT_FUTURES_MPI_HELLO_SECS`, in seconds, changes it), plus up to 5 s for rank 0's
///   own part; a rank still silent then makes `new()` (and every later `new()`) fail with
///   [`BuildError::MpiUnavailable`] naming the rank and what to check. A rank whose hello
///   comes later is sent away.
/// - **exit**: when rank 0's program ends, the ranks finish the task they run, if any, and say
///   goodbye; rank 0 waits at most 10 s for that (`CONCURRENT_FUTURES_MPI_EXIT_SECS`) and then
///   finalizes MPI. If a rank has not said goodbye by then (a task that still runs, or a rank
///   that never started), rank 0 says which on standard error and exits without finalizing
///   MPI, so the launcher ends the job (and reports the missing finalize); in every case the
///   exit is held at most that bound plus 5 s.
/// - **tasks**: like on a process pool, a task runs as long as it takes; [`Future::result_timeout`]
///   and a map's `timeout` bound the caller's wait, and dropping a pool waits for its tasks.
///
/// What differs from a process pool:
/// - a rank that crashes ends the whole MPI job: MPI (Open MPI 4 included) has no fault
///   tolerance, so there is no replacement;
/// - [`Future::kill`] fails the future at once, but the rank finishes the task (its answer is
///   dropped): a rank cannot be stopped alone;
/// - a [`SharedMap`](crate::SharedMap) cannot travel to a rank: such a submit fails at once with
///   [`TaskError::Serialization`]; return pairs and use [`merge_results`](crate::merge_results).
///
/// [`Executor::stats`](crate::Executor::stats) counts as on a process pool: `busy` is the
/// ranks running an item now, `workers` every worker rank, and `workers_replaced` stays 0.
///
/// # Errors
///
/// [`new`](Self::new) fails with [`BuildError::MpiUnavailable`] outside an MPI job of two or
/// more ranks, if `init()` was not called first, or if a rank never said hello.
///
/// # Examples
///
/// ```no_run
/// use concurrent_futures::{Executor, MpiPoolExecutor};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     concurrent_futures::init(); // ranks 1..N serve here and never return
///     // Run with `mpirun -n 3 target/release/examples/...`; alone, `new()` says so.
///     let pool = MpiPoolExecutor::new().expect("started with mpirun -n N");
///     let squares: Vec<u64> = pool.map(square, 1..=5).map(Result::unwrap).collect();
///     assert_eq!(squares, [1, 4, 9, 16, 25]);
/// }
/// ```
pub struct MpiPoolExecutor {
    ranks: Ranks,
}

/// An [`MpiPoolExecutor`]'s worker ranks, as its own [`map`](MpiPoolExecutor::map) sees them:
/// the [`MapSource`](crate::MapSource) of a `Map` whose function is a `fn(A) -> R` pointer.
/// Nothing to use directly.
pub struct Ranks {
    link: &'static Link,
    intake: Arc<Intake<Pending>>,
    next_id: AtomicU64,
}

impl fmt::Debug for Ranks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ranks").field("max_workers", &self.link.workers).finish()
    }
}

impl MpiPoolExecutor {
    /// A pool over the worker ranks of this MPI job (`max_workers()` is the world size less
    /// one). Any number may be alive at once and follow one another; the ranks stay until rank
    /// 0 exits. The first call waits for the ranks' hellos (bounded: see the type's docs).
    ///
    /// # Errors
    ///
    /// [`BuildError::MpiUnavailable`] outside `mpirun -n N` with N ≥ 2 (the message says to
    /// start the program that way), when `init()` did not run first in `main`, or when a rank
    /// did not say hello in time (the message names it and says what to check).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{BuildError, MpiPoolExecutor};
    ///
    /// // Not started by mpirun here: a clear error, not a hang.
    /// match MpiPoolExecutor::new() {
    ///     Err(BuildError::MpiUnavailable(why)) => assert!(why.contains("mpirun")),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn new() -> Result<Self, BuildError> {
        let link = launch::link().map_err(BuildError::MpiUnavailable)?;
        link.greeted().map_err(BuildError::MpiUnavailable)?;
        Ok(MpiPoolExecutor {
            ranks: Ranks { link, intake: Arc::new(Intake::new(1, None)), next_id: AtomicU64::new(0) },
        })
    }

    /// Schedules `f(arg)` on a worker rank: the pool's own `submit`, whose `f` is a
    /// `fn(A) -> R` of this program (a closure that captures is refused by `cargo check`, at
    /// its line). Code generic over `E: Executor` calls [`Executor::submit`](crate::Executor::submit) instead.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use concurrent_futures::MpiPoolExecutor;
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = MpiPoolExecutor::new().expect("started with mpirun -n N");
    ///     assert_eq!(pool.submit(|x: u64| x * x, 7).result(), Ok(49));
    /// }
    /// ```
    pub fn submit<A: Payload, R: Payload>(&self, f: fn(A) -> R, arg: A) -> Future<R> {
        self.ranks.submit(Function::pointer(f), arg)
    }

    /// Runs `f` over `items` on the worker ranks and yields the results in input order: the
    /// pool's own `map`, whose `f` is a `fn(A) -> R` (see [`submit`](Self::submit)), with
    /// [`Map`](crate::Map)'s builder methods.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use concurrent_futures::MpiPoolExecutor;
    ///
    /// fn main() {
    ///     concurrent_futures::init();
    ///     let pool = MpiPoolExecutor::new().expect("started with mpirun -n N");
    ///     let squares: Vec<u64> = pool.map(|x: u64| x * x, 1..=3).map(Result::unwrap).collect();
    ///     assert_eq!(squares, [1, 4, 9]);
    /// }
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn map<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
    ) -> crate::Map<'_, Ranks, fn(A) -> R, A, R, I::IntoIter>
    where
        A: Payload,
        R: Payload,
        I: IntoIterator<Item = A>,
    {
        crate::Map::new(&self.ranks, f, items.into_iter())
    }
}

impl Workers for Ranks {
    fn queue(&self, prepared: Prepared) {
        if !prepared.services.is_empty() {
            crate::remote::tally::failed_before_queued(self.intake.counters(), prepared.len());
            return prepared.reject(TaskError::Serialization(
                "a SharedMap cannot be sent to an MPI rank; return the pairs from the task and \
                 combine them with merge_results"
                    .into(),
            ));
        }
        let pending = prepared.into_pending(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.intake.submit(pending, || self.start_serving());
    }

    fn max_workers(&self) -> usize {
        self.link.workers
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.intake.shutdown(wait, cancel_futures);
    }

    /// Every rank of the job is a worker for as long as the job runs.
    fn stats(&self) -> crate::PoolStats {
        self.intake.counters().snapshot(self.link.workers, self.link.workers)
    }

    fn counters(&self) -> &crate::stats::Counters {
        self.intake.counters()
    }
}

impl Ranks {
    /// On the first submit: asks the communication thread to serve this pool, from a thread
    /// that lives until the pool is drained (what `shutdown(wait)` joins).
    fn start_serving(&self) -> Option<String> {
        if !self.intake.can_start_thread() {
            return None;
        }
        let intake = Arc::clone(&self.intake);
        let commands = self.link.commands.clone();
        self.intake.start_thread(
            |_| "concurrent-futures-mpi-pool".to_owned(),
            move || {
                let (done, finished) = crossbeam_channel::bounded::<()>(0);
                if commands.send(Command::Serve { intake: Arc::clone(&intake), done }).is_err() {
                    intake.break_with("rank 0's MPI communication thread has ended".into(), Vec::new());
                    return;
                }
                // Disconnected once the communication thread is done with this pool.
                let _ = finished.recv();
            },
        )
    }
}

impl fmt::Debug for MpiPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPoolExecutor")
            .field("max_workers", &self.ranks.link.workers)
            .field("shutdown", &self.ranks.intake.is_shutdown())
            .finish()
    }
}

remote_executor!(MpiPoolExecutor, ranks, Ranks);
