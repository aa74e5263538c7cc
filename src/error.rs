//! The error values of the crate: [`TaskError`] for what happens to a task, [`BuildError`] for
//! builder misuse.
//!
//! Depends on nothing of the crate; everything else may use it.

use serde::{Deserialize, Serialize};
use std::any::Any;

/// Why a [`Future`](crate::Future) holds no value.
///
/// Every way a task can fail to produce its result is one variant, so a caller can tell a task
/// that panicked from one that never ran, one whose worker died, or one that simply ran out of
/// the caller's patience.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{TaskError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let future = pool.spawn(|| -> u32 { panic!("bad input: {}", 7) });
/// match future.result() {
///     Err(TaskError::Panicked(message)) => assert!(message.contains("bad input: 7")),
///     other => panic!("expected a panic, got {other:?}"),
/// }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TaskError {
    /// The task panicked; the payload is the panic message (from the worker, for processes).
    #[error("the task panicked: {0}")]
    Panicked(String),
    /// The task was cancelled before it started.
    #[error("the task was cancelled before it ran")]
    Cancelled,
    /// A `*_timeout` call ran out of time. The task itself goes on.
    #[error("timed out waiting for the task (the task itself goes on)")]
    Timeout,
    /// The worker process running the task exited or was killed; the message says how.
    #[error("the worker process running the task died: {0}")]
    WorkerDied(String),
    /// The pool can no longer run tasks, for example because an initializer failed.
    #[error("the pool is broken: {0}")]
    BrokenPool(String),
    /// The task was submitted after the executor was shut down.
    #[error("cannot run new tasks after the executor was shut down")]
    Shutdown,
    /// An argument or a result could not be encoded or decoded.
    #[error("could not encode or decode a task's argument or result: {0}")]
    Serialization(String),
    /// The task was stopped on purpose while it ran; the message says by what:
    /// [`Future::kill`](crate::Future::kill), the pool's `task_timeout`, its memory limit, or
    /// `kill_workers`/`terminate_workers`.
    #[error("the task was killed: {0}")]
    Killed(String),
}

/// A builder was given settings that cannot make a working pool.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{BuildError, ThreadPoolExecutor};
///
/// let err = ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err, BuildError::ZeroWorkers);
/// assert!(err.to_string().contains("at least 1"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// `max_workers(0)`: a pool needs at least one worker.
    #[error("max_workers must be at least 1 (use 1 for a serial pool, or leave it unset for the default)")]
    ZeroWorkers,
    /// `max_tasks_per_child(0)`: a worker must be allowed at least one task.
    #[error("max_tasks_per_child must be at least 1 (leave it unset to keep workers for the pool's life)")]
    ZeroTasksPerChild,
    /// `task_timeout(Duration::ZERO)`: no task could ever finish.
    #[error("task_timeout must be longer than zero (leave it unset to let tasks run as long as they take)")]
    ZeroTaskTimeout,
    /// `max_queued(0)`: no task could ever be submitted.
    #[error("max_queued must be at least 1 (leave it unset for an unbounded queue, as in Python)")]
    ZeroMaxQueued,
    /// `max_memory_per_worker(0)`: no worker could ever run a task.
    #[error("max_memory_per_worker must be more than 0 bytes (leave it unset for no limit)")]
    ZeroMemoryLimit,
    /// A function the pool would send to its workers (the initializer) is not in the main
    /// executable, where a worker could find it; the message says where it is.
    #[error("{0}")]
    FunctionOutsideExecutable(String),
    /// An `MpiPoolExecutor` cannot be made here; the message says why and what to do
    /// (most often: start the program with `mpirun -n N`, N ≥ 2).
    #[error("{0}")]
    MpiUnavailable(String),
    /// The argument of a process pool's `initializer_with` could not be encoded for its
    /// workers; the message says why.
    #[error("the initializer's argument cannot be sent to the worker processes: {0}")]
    InitializerArgument(String),
}

/// The text of a panic payload: the `&str` or `String` that `panic!` was given.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_reads_str_and_string_payloads() {
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "static");
        let p = std::panic::catch_unwind(|| panic!("formatted {}", 3)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "formatted 3");
        let p = std::panic::catch_unwind(|| std::panic::panic_any(5_u8)).unwrap_err();
        assert!(panic_message(p.as_ref()).contains("not a string"));
    }

    #[test]
    fn task_error_round_trips_through_postcard() {
        for e in [
            TaskError::Panicked("p".into()),
            TaskError::Cancelled,
            TaskError::Timeout,
            TaskError::WorkerDied("signal 9".into()),
            TaskError::BrokenPool("init".into()),
            TaskError::Shutdown,
            TaskError::Serialization("bad".into()),
            TaskError::Killed("by Future::kill".into()),
        ] {
            let bytes = postcard::to_allocvec(&e).unwrap();
            assert_eq!(postcard::from_bytes::<TaskError>(&bytes).unwrap(), e);
        }
    }
}
