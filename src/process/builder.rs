//! [`ProcessPoolBuilder`]: the settings of a process pool.

use super::ProcessPoolExecutor;
use super::entry::refuse_pool_in_uninitialised_worker;
use super::pool::Pool;
use super::trampoline;
use crate::error::BuildError;

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
    max_tasks_per_child: Option<usize>,
    initializer: Option<fn()>,
}

impl ProcessPoolBuilder {
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

    /// Makes the pool. No process starts before the first task.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`, [`BuildError::ZeroTasksPerChild`] for
    /// `max_tasks_per_child(0)`.
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
        let max_workers = self.max_workers.unwrap_or_else(num_cpus::get);
        if max_workers == 0 {
            return Err(BuildError::ZeroWorkers);
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(BuildError::ZeroTasksPerChild);
        }
        let initializer = self.initializer.map(trampoline::offset_of_init);
        let max_tasks = self.max_tasks_per_child.map(|n| n as u64);
        Ok(ProcessPoolExecutor { pool: Pool::new(max_workers, initializer, max_tasks) })
    }
}
