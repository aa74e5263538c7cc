//! What parent and worker say to each other, and how it is framed.
//!
//! Each IPC message is one frame: a postcard-encoded [`ToWorker`], [`Control`] or
//! [`FromWorker`]. A task is a batch of items (one for `submit`, a chunk's worth for `map`),
//! each item encoded on its own inside one buffer, so that a value that fails to decode fails
//! its own item, and a frame that fails to decode (or does not add up) is a broken peer (the
//! worker is replaced), never a stream out of step.

use crate::error::TaskError;
pub(crate) use crate::remote::batch::{Batch, ByteBuf};
use crate::remote::build::Build;
use crate::sys;
use ipc_channel::ipc::IpcBytesSender;
use serde::{Deserialize, Serialize};

/// One task sent to a worker: run `call` on each item of `args`, in order.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct TaskFrame {
    pub(crate) id: u64,
    /// The trampoline's offset (see `trampoline`).
    pub(crate) call: isize,
    /// The function's offset, for a task sent as a function pointer.
    pub(crate) target: Option<isize>,
    pub(crate) args: Batch,
    /// The arguments' bytes follow the frame, in pieces (see [`DETACH_AT`]).
    pub(crate) detached: bool,
}

/// A task as the parent encodes it: the same frame, its arguments borrowed (no copy).
pub(crate) struct TaskFrameRef<'a> {
    pub(crate) id: u64,
    pub(crate) call: isize,
    pub(crate) target: Option<isize>,
    pub(crate) args: &'a Batch,
}

impl TaskFrameRef<'_> {
    /// True if the arguments' bytes travel apart from the frame.
    pub(crate) fn detached(&self) -> bool {
        self.args.data_len() >= DETACH_AT
    }
}

impl Serialize for TaskFrameRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let detached = self.detached();
        let mut frame = serializer.serialize_struct("TaskFrame", 5)?;
        frame.serialize_field("id", &self.id)?;
        frame.serialize_field("call", &self.call)?;
        frame.serialize_field("target", &self.target)?;
        frame.serialize_field("args", &self.args.wire(detached))?;
        frame.serialize_field("detached", &detached)?;
        frame.end()
    }
}

/// Items' bytes from this size on travel after their frame, in pieces (see `pieces`), and are
/// neither copied into the frame nor out of it: a `Vec<u8>` or `Vec<f64>` argument is sent from
/// its own memory, and the block it is received into becomes the task's vector (and likewise
/// for results).
/// Below it, one frame is cheaper than two messages (docs/PERFORMANCE.md has the measurements).
pub(crate) const DETACH_AT: usize = 256 << 10;

/// Parent to worker, on the task channel.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum ToWorker {
    /// The first frame: how to set the worker up.
    Setup(Setup),
    /// Tasks to run in order.
    Tasks(Vec<TaskFrame>),
}

/// [`ToWorker`] as the parent encodes it (same wire form).
#[derive(Serialize)]
pub(crate) enum ToWorkerRef<'a> {
    Setup(&'a Setup),
    Tasks(&'a [TaskFrameRef<'a>]),
}

/// An initializer with an argument (`initializer_with`): its trampoline's offset, the offset of
/// the `fn(A)`, and the encoded argument.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct InitWith {
    pub(crate) call: isize,
    pub(crate) target: isize,
    pub(crate) arg: ByteBuf,
}

/// How a worker is set up.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub(crate) struct Setup {
    pub(crate) initializer: Option<isize>,
    /// Run after `initializer`.
    pub(crate) initializer_with: Option<InitWith>,
    pub(crate) max_tasks: Option<u64>,
    /// Report every item as it finishes (a task timeout needs to know which item runs),
    /// rather than a task's items together.
    pub(crate) item_by_item: bool,
    /// The worker's memory limit in bytes, applied once it is set up.
    pub(crate) memory_limit: Option<u64>,
}

/// Parent to worker, on the control channel: read by a thread of its own in the worker, so
/// it arrives while a task runs.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Stop task `id` if it is running item `item` (any item for `None`) right now: the worker
    /// exits at once with [`KILLED_EXIT_CODE`]. A task not started yet is skipped when it
    /// comes; one that is over is left alone.
    Kill { id: u64, item: Option<u32> },
}

/// The exit code of a worker that stopped itself on a [`Control::Kill`].
pub(crate) const KILLED_EXIT_CODE: i32 = 87;
/// The exit code of a worker that ran out of memory under its memory limit.
pub(crate) const MEMORY_EXIT_CODE: i32 = 88;

/// Worker to parent.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum FromWorker {
    /// The initializer ran (or there was none): tasks may come.
    Ready,
    /// The initializer panicked with this message; the worker exits.
    InitFailed(String),
    /// The outcomes of the next `values.len() + failures.len()` items of task `id`, in order:
    /// the encoded results of the items that succeeded, and the failed ones with their
    /// positions (counted within this frame, ascending).
    /// With `detached`, the values' bytes follow on the payload channel.
    Items { id: u64, values: Batch, failures: Vec<(u32, TaskError)>, detached: bool },
    /// The worker ran its `max_tasks_per_child` and exits; it ran none of the tasks it has not
    /// answered.
    Retiring,
    /// An event the worker emitted (feature `tracing`), sent as it happens: before the outcome
    /// of the task that emitted it. Last, so that the other variants' numbers do not change.
    #[cfg(feature = "tracing")]
    Event(crate::remote::events::WorkerEvent),
}

impl FromWorker {
    /// True for an `Items` frame whose values' bytes follow on the payload channel.
    pub(crate) fn has_detached(&self) -> bool {
        matches!(self, FromWorker::Items { detached: true, .. })
    }
}

/// The worker's first message, on the parent's one-shot server.
#[derive(Serialize, Deserialize)]
pub(crate) enum Hello {
    /// A worker presenting its secret and build, with its channels: tasks in, control in,
    /// results out (and, after their frames, the detached bytes of large results), and the
    /// requests of its
    /// parent-service clients with their replies.
    Worker {
        secret: Vec<u8>,
        build: Build,
        pid: u32,
        tasks: IpcBytesSender,
        control: IpcBytesSender,
        results: ipc_channel::ipc::IpcReceiver<FromWorker>,
        payloads: ipc_channel::ipc::IpcBytesReceiver,
        service_requests: ipc_channel::ipc::IpcBytesReceiver,
        service_replies: IpcBytesSender,
    },
    /// Sent by the parent to itself to stop waiting for a worker that died first.
    Abandon,
}

pub(crate) fn encode<T: Serialize>(frame: &T) -> Result<Vec<u8>, TaskError> {
    postcard::to_allocvec(frame)
        .map_err(|e| TaskError::Serialization(format!("could not encode a frame: {e}")))
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, TaskError> {
    postcard::from_bytes(bytes)
        .map_err(|e| TaskError::Serialization(format!("could not decode a frame: {e}")))
}

/// 32 random bytes from the operating system.
pub(crate) fn random_secret() -> std::io::Result<Vec<u8>> {
    let mut secret = vec![0u8; 32];
    sys::fill_random(&mut secret)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let args = Batch::single(&7u32).unwrap();
        let frame = [TaskFrameRef { id: 3, call: -40, target: Some(8), args: &args }];
        let back: ToWorker = decode(&encode(&ToWorkerRef::Tasks(&frame)).unwrap()).unwrap();
        match back {
            ToWorker::Tasks(t) => {
                assert_eq!((t[0].id, t[0].call, t[0].target), (3, -40, Some(8)));
                assert_eq!(t[0].args, args);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for garbage in [&[][..], &[0xff; 7][..], &[9, 9, 9][..]] {
            assert!(decode::<FromWorker>(garbage).is_err());
        }
    }

    #[test]
    fn random_and_mutated_frames_never_panic() {
        // xorshift: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = encode(&FromWorker::Items {
            id: 5,
            values: Batch::single(&vec![1u8, 2, 3]).unwrap(),
            failures: vec![(1, TaskError::Killed("k".into()))],
            detached: false,
        })
        .unwrap();
        for round in 0..100_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..next() % 64).map(|_| next() as u8).collect()
            } else {
                let mut mutated = valid.clone();
                let at = (next() as usize) % mutated.len();
                mutated[at] = next() as u8;
                mutated
            };
            if let Ok(FromWorker::Items { values, failures, .. }) = decode::<FromWorker>(&bytes) {
                if crate::remote::outcomes::answered(&values, &failures).is_some() {
                    values.items().for_each(drop);
                }
            }
            let _ = decode::<ToWorker>(&bytes);
            let _ = decode::<Control>(&bytes);
        }
    }
}
