//! What parent and worker say to each other, and how it is framed.
//!
//! Each IPC message is one frame: a postcard-encoded [`ToWorker`] or [`FromWorker`]. Arguments
//! and results travel inside frames as their own postcard bytes, so a value that fails to
//! decode fails its own task, and a frame that fails to decode is a broken peer (the worker is
//! replaced), never a stream out of step.

use crate::error::TaskError;
use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender};
use serde::{Deserialize, Serialize};

/// One task sent to a worker.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct TaskFrame {
    pub(crate) id: u64,
    /// The trampoline's offset (see `trampoline`).
    pub(crate) call: isize,
    pub(crate) arg: Vec<u8>,
}

/// Parent to worker.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum ToWorker {
    /// The first frame: how to set the worker up.
    Setup { initializer: Option<isize>, max_tasks: Option<u64> },
    /// Tasks to run in order.
    Tasks(Vec<TaskFrame>),
}

/// Worker to parent.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum FromWorker {
    /// The initializer ran (or there was none): tasks may come.
    Ready,
    /// The initializer panicked with this message; the worker exits.
    InitFailed(String),
    /// A task's outcome: the encoded result, or why there is none.
    Done { id: u64, outcome: Result<Vec<u8>, TaskError> },
    /// The worker ran its `max_tasks_per_child` and exits; it ran none of the tasks it has not
    /// answered.
    Retiring,
}

/// Who a process claims to be at the handshake.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) device: u64,
    pub(crate) inode: u64,
    pub(crate) size: u64,
    pub(crate) modified_ns: i128,
    pub(crate) crate_version: String,
}

impl Identity {
    /// The executable this process runs (`/proc/self/exe`, which still names the file that was
    /// started even if it has been replaced on disk since).
    pub(crate) fn of_this_process() -> std::io::Result<Identity> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata("/proc/self/exe")?;
        Ok(Identity {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }
}

/// The worker's first message, on the parent's one-shot server.
#[derive(Serialize, Deserialize)]
pub(crate) enum Hello {
    /// A worker presenting its secret and identity, with its channels: tasks in, results out,
    /// and the requests of its `SharedMap` proxies with their replies.
    Worker {
        secret: Vec<u8>,
        identity: Identity,
        pid: u32,
        tasks: IpcBytesSender,
        results: IpcBytesReceiver,
        map_requests: IpcBytesReceiver,
        map_replies: IpcBytesSender,
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

/// 32 random bytes from the kernel.
pub(crate) fn random_secret() -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut secret = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frame = ToWorker::Tasks(vec![TaskFrame { id: 3, call: -40, arg: vec![1, 2] }]);
        let back: ToWorker = decode(&encode(&frame).unwrap()).unwrap();
        assert!(matches!(back, ToWorker::Tasks(t) if t[0].id == 3 && t[0].call == -40 && t[0].arg == [1, 2]));
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
        let valid = encode(&FromWorker::Done { id: 5, outcome: Ok(vec![1, 2, 3]) }).unwrap();
        for round in 0..100_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..next() % 64).map(|_| next() as u8).collect()
            } else {
                let mut mutated = valid.clone();
                let at = (next() as usize) % mutated.len();
                mutated[at] = next() as u8;
                mutated
            };
            let _ = decode::<FromWorker>(&bytes);
            let _ = decode::<ToWorker>(&bytes);
        }
    }

    #[test]
    fn identity_of_this_process_is_stable() {
        assert_eq!(Identity::of_this_process().unwrap(), Identity::of_this_process().unwrap());
    }
}
