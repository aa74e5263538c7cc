//! [`MapSource`]: what a [`Map`](super::Map) hands its chunks to.

use super::chunk::ChunkOutput;
use crate::future::Future;

/// What a [`Map`](crate::Map) runs its chunks on: any [`Executor`](crate::Executor) (with its `Payload`
/// bounds), a [`ThreadPoolExecutor`](crate::ThreadPoolExecutor)'s own `map` (any `Send` items
/// and results), and a thread pool's [`Scope`](crate::Scope) (borrowed items). Implemented by
/// this crate only (sealed); nothing to call.
pub trait MapSource<F, A, R>: sealed::MapSource<F, A, R> {}

impl<S: sealed::MapSource<F, A, R> + ?Sized, F, A, R> MapSource<F, A, R> for S {}

pub(crate) mod sealed {
    use super::{ChunkOutput, Future};

    /// The crate's side of [`MapSource`](super::MapSource), public in a private module so that
    /// nothing outside the crate implements it (nor can name `ChunkOutput`).
    #[allow(unreachable_pub, private_interfaces)]
    pub trait MapSource<F, A, R> {
        /// Runs `f` over `items` as one task; its future gives every item's outcome.
        fn submit_chunk(&self, f: &F, items: Vec<A>) -> Future<ChunkOutput<R>>;
        /// The most workers the chunks run on at once (sizes the default window).
        fn max_workers(&self) -> usize;
    }
}
