//! [`init`]: how a program tells a normal start from a worker process, and the settings a
//! worker reads from its environment once (and clears, so nothing a task starts inherits them).

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a worker's environment: the name of the parent's one-shot server.
pub(crate) const WORKER_ENV: &str = "CONCURRENT_FUTURES_WORKER";
/// Set in a worker's environment: the parent's pid.
pub(crate) const PARENT_PID_ENV: &str = "CONCURRENT_FUTURES_PARENT_PID";
/// The exit code of a worker whose `main` did not call `init()` first.
pub(crate) const FORGOT_INIT_EXIT_CODE: i32 = 86;
/// The length of the handshake secret.
pub(crate) const SECRET_LEN: usize = 32;

/// True once `init()` ran in this process (as a parent, or as a worker that may itself start
/// pools from its tasks).
static INIT_RAN: AtomicBool = AtomicBool::new(false);
/// In a worker: the pid of the parent that started it.
static PARENT_PID: OnceLock<u32> = OnceLock::new();

thread_local! {
    /// True on a thread that called `init()`: the main thread, or a test's own thread.
    static INIT_HERE: Cell<bool> = const { Cell::new(false) };
}

/// The entry point for process pools: call it as the first line of `main`.
///
/// In a normal start it returns at once. In a worker process (the program re-executed by a
/// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor)) it runs the worker loop and never
/// returns, so nothing of `main` runs twice.
///
/// A program that creates a process pool without calling `init()` first gets no hang and no
/// runaway process tree: its workers stop as soon as they reach the pool, and the parent's
/// futures fail with [`TaskError::BrokenPool`](crate::TaskError::BrokenPool), whose message
/// says to call `init()`.
///
/// **In tests.** Call `init()` as the first line of each `#[test]` that uses a process pool, and
/// build the pool on the test's own thread: its workers run just that test again
/// (`<test name> --exact`), and `init()` turns them into workers. A `harness = false` test
/// target calls it first in its `main`; a doc test writes its own `fn main` that does.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// fn main() {
///     concurrent_futures::init(); // first: in a worker, this never returns
///     let pool = ProcessPoolExecutor::new(2);
///     assert_eq!(pool.submit(double, 21).result(), Ok(42));
/// }
/// ```
pub fn init() {
    INIT_HERE.with(|here| here.set(true));
    if INIT_RAN.swap(true, Ordering::AcqRel) {
        return;
    }
    let Some(server) = std::env::var_os(WORKER_ENV) else {
        // Look at this program's file now, before it can be replaced (an error shows at the
        // first pool, which asks again).
        let _ = super::protocol::Identity::of_this_process();
        // Under `mpirun`: start MPI; a worker rank serves rank 0 here and exits.
        #[cfg(feature = "mpi")]
        crate::mpi::on_init();
        return;
    };
    let parent = std::env::var(PARENT_PID_ENV).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: this is a worker process that has just started, in `init()`, which must be the
    // first line of `main`: the program has started no thread of its own that could read the
    // environment while these two variables are removed. Removing them keeps them from every
    // program a task starts (which would otherwise take itself for a worker).
    unsafe {
        std::env::remove_var(WORKER_ENV);
        std::env::remove_var(PARENT_PID_ENV);
    }
    let _ = PARENT_PID.set(parent);
    super::worker::run(&server.to_string_lossy(), parent)
}

/// True if `init()` was called on the current thread.
pub(crate) fn init_ran_on_this_thread() -> bool {
    INIT_HERE.with(Cell::get)
}

/// Called when a process pool is created. In a worker whose `main` did not start with `init()`,
/// this is where the re-executed `main` reaches the pool: stop here instead of starting a pool
/// of its own (which would grow a process tree without end).
pub(crate) fn refuse_pool_in_uninitialised_worker() {
    if std::env::var_os(WORKER_ENV).is_some() && !INIT_RAN.load(Ordering::Acquire) {
        eprintln!(
            "concurrent_futures: this worker process ran the program's main() up to a \
             ProcessPoolExecutor; call concurrent_futures::init() as the first line of main()"
        );
        std::process::exit(FORGOT_INIT_EXIT_CODE);
    }
}

/// In a worker: the pid of the parent that started it.
pub(crate) fn parent_pid() -> Option<u32> {
    PARENT_PID.get().copied()
}
