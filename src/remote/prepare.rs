//! Turning a `submit` or a map chunk into a task for another process: the argument encoded
//! item by item, the function as its trampoline's offset, the future and its promise. Shared by
//! every pool whose workers are this program re-executed (processes, MPI ranks).

use super::batch::Batch;
use super::codec;
use super::service::{self, Exposed};
use super::task::{Chunk, CollectingPromise, Completer, Pending, Single};
use super::trampoline;
use crate::error::TaskError;
use crate::executor::Payload;
use crate::executor::map::ChunkOutput;
use crate::future::Future;

/// How a task's function travels: the trampoline that runs its items, and, for a function
/// pointer (chosen at run time), the function itself.
#[derive(Clone, Copy)]
pub(crate) struct Function {
    call: trampoline::Call,
    target: Option<usize>,
}

impl Function {
    /// A function sent by its type: a fn item or a closure that captures nothing (checked
    /// when the program is built; the error's notes name the caller's line).
    pub(crate) fn of<F, A, R>(f: &F) -> Function
    where
        F: Fn(A) -> R + 'static,
        A: Payload,
        R: Payload,
    {
        const {
            assert!(
                size_of::<F>() == 0,
                "a process or MPI pool's task function must be a fn item or a closure that \
                 captures nothing (a `fn` pointer chosen at run time goes to the pool's own \
                 `submit` and `map`); send the data it needs through the task's argument"
            )
        };
        Function { call: trampoline::call_for(f), target: None }
    }

    /// A function sent as a pointer: any `fn(A) -> R` of this program.
    pub(crate) fn pointer<A: Payload, R: Payload>(f: fn(A) -> R) -> Function {
        Function { call: trampoline::pointer_call::<A, R>(), target: Some(f as usize) }
    }
}

/// A task ready to be given an id and queued.
pub(crate) struct Prepared {
    call: isize,
    /// The offset of the function, for a task sent as a function pointer.
    target: Option<isize>,
    args: Batch,
    /// The parent services the argument names (a `SharedMap`), by id.
    pub(crate) services: Exposed,
    task: Box<dyn Completer>,
}

impl Prepared {
    pub(crate) fn into_pending(self, id: u64) -> Pending {
        let args = std::sync::Arc::new(self.args);
        Pending {
            id,
            call: self.call,
            target: self.target,
            args,
            done: 0,
            task: self.task,
            services: self.services,
            trace: Default::default(),
        }
    }

    /// How many items it carries (those of a chunk that could be encoded).
    pub(crate) fn len(&self) -> usize {
        self.args.len()
    }

    /// Fails the task without running it.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // an MPI pool refuses some
    pub(crate) fn reject(self, error: TaskError) {
        self.task.reject(error);
    }
}

/// `f(arg)` as a task; `None` when its future is already done (the argument could not be
/// encoded, or `f` is not in the main program).
pub(crate) fn single<A: Payload, R: Payload>(function: Function, arg: A) -> (Future<R>, Option<Prepared>) {
    let (future, promise) = Future::pending();
    let (args, services) = service::collecting(|| Batch::single_owned(arg));
    let task = CollectingPromise::new(promise, Single::new());
    let prepared = match args {
        Ok(args) => prepare(function, args, services, task),
        Err(e) => {
            task.reject(encode_error(e));
            None
        }
    };
    (future, prepared)
}

/// A map's chunk as one task whose items are encoded, and answered, one by one; an item that
/// cannot be encoded fails alone.
pub(crate) fn chunk<A: Payload, R: Payload>(
    function: Function,
    items: Vec<A>,
) -> (Future<ChunkOutput<R>>, Option<Prepared>) {
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
    let task = CollectingPromise::new(promise, Chunk::new(unsent, len));
    (future, prepare(function, args, services, task))
}

fn prepare(function: Function, args: Batch, services: Exposed, task: Box<dyn Completer>) -> Option<Prepared> {
    if args.is_empty() {
        task.finish();
        return None;
    }
    let target =
        function.target.map(trampoline::offset_of_target).transpose().map_err(TaskError::Serialization);
    match trampoline::offset_of(function.call).and_then(|call| Ok((call, target?))) {
        Ok((call, target)) => Some(Prepared { call, target, args, services, task }),
        Err(error) => {
            task.reject(error);
            None
        }
    }
}

fn encode_error(error: codec::Error) -> TaskError {
    TaskError::Serialization(format!("could not encode the task's argument: {error}"))
}
