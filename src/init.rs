//! [`init`]: the first line of `main`. It asks each transport whether this process is one of
//! its workers (a process pool's re-executed worker, an MPI rank other than 0); a worker serves
//! there and never returns. Without process pools (feature `process` off, or not Unix) there is
//! no worker mode to enter, and it does nothing.

/// The entry point for process pools: call it as the first line of `main`.
///
/// In a normal start it returns at once. In a worker process (the program re-executed by a
/// `ProcessPoolExecutor`) it runs the worker loop and never returns, so nothing of `main` runs
/// twice. Under `mpirun` (cargo feature `mpi`) it starts MPI, and on ranks 1..N it serves rank
/// 0's `MpiPoolExecutor` and exits when rank 0's program ends.
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
/// Without the feature `process` (or off Unix) it does nothing, so that a `main` that starts
/// with it builds with or without process pools.
///
/// # Examples
///
#[cfg_attr(all(feature = "process", unix), doc = "```")]
#[cfg_attr(not(all(feature = "process", unix)), doc = "```ignore")]
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
    #[cfg(all(feature = "process", unix))]
    {
        // A process pool's worker serves here and exits.
        if !crate::process::worker::on_init() {
            return;
        }
        // Look at this program's file now, before it can be replaced (an error shows at the
        // first pool, which asks again).
        let _ = crate::remote::build::Build::this_file();
    }
    // Under `mpirun`: start MPI; a worker rank serves rank 0 here and exits.
    #[cfg(all(feature = "mpi", unix))]
    crate::mpi::on_init();
}
