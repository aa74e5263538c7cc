//! Python's `concurrent.futures` for Rust: run a function over many inputs in parallel and
//! collect the results, with no async runtime to learn.
//!
//! - [`ThreadPoolExecutor`]: a pool of threads, for I/O-bound work and, since Rust has no GIL,
//!   for CPU-bound work too.
//! - `ProcessPoolExecutor`: a pool of worker processes (this program, re-executed), for
//!   isolation from crashes, leaks and runaway tasks; its `main` starts with [`init()`].
//! - `MpiPoolExecutor` (cargo feature `mpi`): the same [`Executor`] over the ranks of an MPI
//!   job (`mpirun -n N program`), for work that outgrows one machine.
//! - [`Future`]: the handle a submit returns: [`result`](Future::result) (with a timeout),
//!   [`cancel`](Future::cancel), [`add_done_callback`](Future::add_done_callback).
//! - [`as_completed`] and [`wait`]: wait on many futures at once, from any mix of executors.
//! - [`Executor::map`]: a lazy parallel map with `chunksize`, a bound on work in flight, a
//!   timeout and completion order; a failed item yields its own error and the map goes on.
//! - [`SharedMap`] and [`merge_results`]: two ways to build one map from many tasks.
//! - Watching and steering a running pool: [`Executor::stats`] ([`PoolStats`]: busy, queued,
//!   completed, failed...), `max_queued(n)` on the builders (a submit waits for room),
//!   `set_max_workers(n)` (resize), and [`stop_requested()`] (a thread task stops when killed).
//!
//! # Quick start
//!
//! ```
//! use concurrent_futures::{as_completed, Executor, ThreadPoolExecutor};
//!
//! fn is_prime(n: u64) -> bool {
//!     n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! let pool = ThreadPoolExecutor::new(4);
//!
//! // map: results in input order.
//! let primes: Vec<bool> = pool.map(is_prime, [2, 15, 97]).map(Result::unwrap).collect();
//! assert_eq!(primes, [true, false, true]);
//!
//! // submit + as_completed: results as they finish.
//! let futures: Vec<_> = (1..=4u64).map(|n| pool.submit(|n: u64| n * 10, n)).collect();
//! let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
//! assert_eq!(total, 100);
//! ```
//!
//! Coming from Python? `docs/guide.md` maps every `concurrent.futures` call to its Rust form.
//!
//! # Platforms and features
//!
//! Everything but the process pool uses only std and crossbeam-channel, and builds
//! wherever std does. The process pool (cargo feature `process`, on by default) runs on Unix:
//! tested on Linux, both with Linux's own calls and with the portable Unix code that other
//! Unixes use. Without the feature, or off Unix, `ProcessPoolExecutor` does not exist and
//! [`init()`] does nothing, so `main` needs no `cfg`.
//!
//! With the cargo feature `tracing` (off by default), every task runs inside a `tracing` span
//! named `task` (fields `pool`: a thread pool's thread name prefix, or `ProcessPoolExecutor-{n}`;
//! `id`: the task's number in its pool), whose parent is the span current where it was
//! submitted. A process worker's `tracing` events and `log` records reach the parent's
//! subscriber inside that span, with a `worker_pid` field (and the worker's target in
//! `worker_target`), in order and before the task's result, even when the worker dies right
//! after; a worker captures the levels the parent's subscriber wanted when it started, so set
//! the subscriber first. No API changes with the feature; without a subscriber it costs a
//! submit one atomic load.

#![deny(missing_docs, unreachable_pub, unsafe_op_in_unsafe_fn)]

mod error;
mod executor;
mod future;
mod init;
mod merge;
#[cfg(all(feature = "mpi", unix))]
mod mpi;
#[cfg(all(feature = "process", unix))]
mod process;
#[cfg(all(feature = "process", unix))]
mod remote;
mod room;
mod shared_map;
mod stats;
mod stop;
mod sync;
#[cfg(all(feature = "process", unix))]
mod sys;
mod thread_pool;
mod trace;
mod wait;

#[cfg(all(test, loom))]
mod loom_tests;

/// Entry points for the fuzz targets under `fuzz/` (only with `--cfg fuzzing`, which cargo-fuzz
/// sets): not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes `data` as every frame a peer process can send, and reads it as a map chunk.
    pub fn decode_everything(data: &[u8]) {
        #[cfg(all(feature = "process", unix))]
        crate::process::fuzz_decode(data);
        #[cfg(all(feature = "process", unix))]
        crate::remote::fuzz::decode_values(data);
        crate::executor::map::fuzz_decode(data);
    }
}

/// Compiles and runs the code blocks of the README and the guide as doc tests.
/// (They use the process pool and progress reports, so only with the default features.)
#[cfg(all(doctest, feature = "process", feature = "progress", unix))]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/guide.md")]
struct DocumentationExamples;

pub use crate::error::{BuildError, TaskError};
pub use crate::executor::map::{Map, MapSource};
pub use crate::executor::{Executor, Payload};
pub use crate::future::{Awaiting, Future, KillOnDrop};
pub use crate::init::init;
pub use crate::merge::{IntoPairs, merge_results};
#[cfg(all(feature = "mpi", unix))]
pub use crate::mpi::{MpiPoolExecutor, Ranks};
#[cfg(all(feature = "process", unix))]
pub use crate::process::{ProcessPoolBuilder, ProcessPoolExecutor, Processes};
pub use crate::shared_map::SharedMap;
pub use crate::stats::PoolStats;
pub use crate::stop::stop_requested;
pub use crate::thread_pool::{Scope, ScopedFuture, ThreadPoolBuilder, ThreadPoolExecutor, Threads};
pub use crate::wait::{
    AsCompleted, AsCompletedTimeout, Keyed, Keys, ReturnWhen, Unkeyed, WaitResult, Waitable, as_completed,
    wait,
};
