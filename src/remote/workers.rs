//! [`Workers`]: what a transport gives the remote-task layer (somewhere to queue prepared
//! tasks), and [`remote_executor!`], the [`Executor`](crate::Executor) impl that the process and
//! MPI executors share instead of copying it.

use super::prepare::{self, Function, Prepared};
use super::tally;
use crate::executor::Payload;
use crate::executor::map::ChunkOutput;
use crate::future::Future;
use crate::stats::Counters;

/// A transport's workers, as tasks reach them.
pub(crate) trait Workers {
    /// Queues a prepared task, or fails it if this transport cannot take it.
    fn queue(&self, task: Prepared);

    /// The most tasks the workers run at once.
    fn max_workers(&self) -> usize;

    /// Stops taking tasks, as [`Executor::shutdown`](crate::Executor::shutdown).
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// A snapshot of the workers and their tasks, as [`Executor::stats`](crate::Executor::stats).
    fn stats(&self) -> crate::PoolStats;

    /// The counts of the pool's tasks (see `remote::tally`).
    fn counters(&self) -> &Counters;

    /// `function(arg)` as one task (a future already done needs nothing more).
    fn submit<A: Payload, R: Payload>(&self, function: Function, arg: A) -> Future<R>
    where
        Self: Sized,
    {
        let (future, prepared) = prepare::single(function, arg);
        match prepared {
            Some(task) => self.queue(task),
            None => tally::failed_before_queued(self.counters(), 1),
        }
        future
    }

    /// A map's chunk as one task: each item is its own unit (its own encoding, outcome, and
    /// with a task timeout its own deadline).
    fn submit_chunk<A: Payload, R: Payload>(
        &self,
        function: Function,
        items: Vec<A>,
    ) -> Future<ChunkOutput<R>>
    where
        Self: Sized,
    {
        let items_in = items.len();
        let (future, prepared) = prepare::chunk(function, items);
        // Items that could not be encoded failed already; they count too.
        tally::failed_before_queued(self.counters(), items_in - prepared.as_ref().map_or(0, Prepared::len));
        if let Some(task) = prepared {
            self.queue(task);
        }
        future
    }
}

/// Implements, for an executor whose field `$field` holds its [`Workers`] (`$workers`):
/// [`Executor`](crate::Executor) and its sealed side (a function sent by its type), the
/// [`MapSource`](crate::MapSource) of the executor's own `map` on `$workers` (a `fn(A) -> R`
/// pointer), and `Drop` as `shutdown(true, false)`.
macro_rules! remote_executor {
    ($executor:ty, $field:ident, $workers:ty) => {
        impl $crate::executor::Executor for $executor {
            fn submit<F, A, R>(&self, f: F, arg: A) -> $crate::future::Future<R>
            where
                F: Fn(A) -> R + Clone + Send + Sync + 'static,
                A: $crate::executor::Payload,
                R: $crate::executor::Payload,
            {
                $crate::remote::workers::Workers::submit(
                    &self.$field,
                    $crate::remote::prepare::Function::of(&f),
                    arg,
                )
            }

            fn shutdown(&self, wait: bool, cancel_futures: bool) {
                $crate::remote::workers::Workers::shutdown(&self.$field, wait, cancel_futures);
            }

            fn max_workers(&self) -> usize {
                $crate::remote::workers::Workers::max_workers(&self.$field)
            }

            fn stats(&self) -> $crate::PoolStats {
                $crate::remote::workers::Workers::stats(&self.$field)
            }
        }

        impl $crate::executor::sealed::SubmitChunk for $executor {
            #[allow(private_interfaces)]
            fn submit_chunk<F, A, R>(
                &self,
                f: F,
                items: Vec<A>,
            ) -> $crate::future::Future<$crate::executor::map::ChunkOutput<R>>
            where
                F: Fn(A) -> R + Clone + Send + Sync + 'static,
                A: $crate::executor::Payload,
                R: $crate::executor::Payload,
            {
                $crate::remote::workers::Workers::submit_chunk(
                    &self.$field,
                    $crate::remote::prepare::Function::of(&f),
                    items,
                )
            }
        }

        impl<A: $crate::executor::Payload, R: $crate::executor::Payload>
            $crate::executor::map::sealed_source::MapSource<fn(A) -> R, A, R> for $workers
        {
            #[allow(private_interfaces)]
            fn submit_chunk(
                &self,
                f: &fn(A) -> R,
                items: Vec<A>,
            ) -> $crate::future::Future<$crate::executor::map::ChunkOutput<R>> {
                $crate::remote::workers::Workers::submit_chunk(
                    self,
                    $crate::remote::prepare::Function::pointer(*f),
                    items,
                )
            }

            fn max_workers(&self) -> usize {
                $crate::remote::workers::Workers::max_workers(self)
            }
        }

        impl Drop for $executor {
            fn drop(&mut self) {
                $crate::remote::workers::Workers::shutdown(&self.$field, true, false);
            }
        }
    };
}

pub(crate) use remote_executor;
