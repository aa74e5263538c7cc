//! Turning a `submit` or a map chunk into a task for another process: the argument encoded
//! item by item, the function as its trampoline's offset, the future and its promise. Shared by
//! every pool whose workers are this program re-executed (processes, MPI ranks).

use super::codec;
use super::protocol::Batch;
use super::service::{self, Exposed};
use super::task::{Chunk, Pending, Remote, Single, Typed};
use super::trampoline;
use crate::error::TaskError;
use crate::executor::Payload;
use crate::executor::map::ChunkOutput;
use crate::future::Future;

/// A task ready to be given an id and queued.
pub(crate) struct Prepared {
    call: isize,
    args: Batch,
    /// The parent services the argument names (a `SharedMap`), by id.
    pub(crate) services: Exposed,
    task: Box<dyn Remote>,
}

impl Prepared {
    pub(crate) fn into_pending(self, id: u64) -> Pending {
        let args = std::sync::Arc::new(self.args);
        Pending { id, call: self.call, args, done: 0, task: self.task, services: self.services }
    }

    /// Fails the task without running it.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // an MPI pool refuses some
    pub(crate) fn reject(self, error: TaskError) {
        self.task.reject(error);
    }
}

/// `f(arg)` as a task; `None` when its future is already done (the argument could not be
/// encoded, or `f` is not in the main program).
pub(crate) fn single<F, A, R>(f: &F, arg: A) -> (Future<R>, Option<Prepared>)
where
    F: Fn(A) -> R + 'static,
    A: Payload,
    R: Payload,
{
    let (future, promise) = Future::pending();
    let (args, services) = service::collecting(|| Batch::single_owned(arg));
    let task = Typed::new(promise, Single::new());
    let prepared = match args {
        Ok(args) => prepare(trampoline::call_for(f), args, services, task),
        Err(e) => {
            task.reject(encode_error(e));
            None
        }
    };
    (future, prepared)
}

/// A map's chunk as one task whose items are encoded, and answered, one by one; an item that
/// cannot be encoded fails alone.
pub(crate) fn chunk<F, A, R>(f: &F, items: Vec<A>) -> (Future<ChunkOutput<R>>, Option<Prepared>)
where
    F: Fn(A) -> R + 'static,
    A: Payload,
    R: Payload,
{
    let (future, promise) = Future::pending();
    let len = items.len();
    let mut unsent = Vec::new();
    let (args, services) = service::collecting(|| {
        // Room for a chunk of plain values without growing (a guess for other types).
        let mut args = Batch::with_capacity(len * size_of::<A>());
        for (position, item) in items.iter().enumerate() {
            if let Err(e) = args.push(item) {
                unsent.push((position, encode_error(e)));
            }
        }
        args
    });
    let task = Typed::new(promise, Chunk::new(unsent, len));
    (future, prepare(trampoline::call_for(f), args, services, task))
}

fn prepare(
    call: trampoline::Call,
    args: Batch,
    services: Exposed,
    task: Box<dyn Remote>,
) -> Option<Prepared> {
    if args.is_empty() {
        task.finish();
        return None;
    }
    match trampoline::offset_of(call) {
        Ok(call) => Some(Prepared { call, args, services, task }),
        Err(error) => {
            task.reject(error);
            None
        }
    }
}

fn encode_error(error: codec::Error) -> TaskError {
    TaskError::Serialization(format!("could not encode the task's argument: {error}"))
}
