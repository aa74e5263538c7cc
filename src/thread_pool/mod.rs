//! [`ThreadPoolExecutor`]: a pool of threads, Python's `ThreadPoolExecutor` for Rust, with its
//! builder, its `job` (a closure and its future in one allocation) and its `worker` threads.
//! Depends on `executor`, `future`, `error` and `sync`; never on `process` or `shared_map`.

mod builder;
mod executor;
pub(crate) mod job;
mod scope;
mod scoped_future;
mod worker;

pub use self::builder::ThreadPoolBuilder;
pub use self::executor::{ThreadPoolExecutor, Threads};
pub use self::scope::Scope;
pub use self::scoped_future::ScopedFuture;
