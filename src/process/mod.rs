//! [`ProcessPoolExecutor`]: worker processes, Python's `ProcessPoolExecutor` for Rust (feature
//! `process`, Unix): the ipc-channel transport of the remote-task layer. Depends on `remote`,
//! `sys` (every OS call), `executor`, `future`, `error` and `sync`; never on `mpi`, on
//! `shared_map` (which plugs in through `remote::service`) or on `thread_pool`.

mod answers;
mod builder;
mod deadlines;
#[cfg(feature = "tracing")]
mod events;
mod executor;
mod handle;
mod launch;
mod link;
mod pieces;
mod pool;
pub(crate) mod protocol;
mod reap;
mod serve;
pub(crate) mod service;
mod slot;
mod spawn;
mod watchdog;
pub(crate) mod worker;

pub use self::builder::ProcessPoolBuilder;
pub use self::executor::{ProcessPoolExecutor, Processes};

/// Decodes `data` as each kind of frame (for the fuzz target), and as a worker's frame followed
/// by detached bytes, the way the parent's reader pairs them: the first byte says where the
/// frame ends and the bytes begin.
#[cfg(fuzzing)]
pub(crate) fn fuzz_decode(data: &[u8]) {
    let _ = protocol::decode::<protocol::ToWorker>(data);
    let _ = protocol::decode::<protocol::Control>(data);
    let read = |frame: protocol::FromWorker| {
        if let protocol::FromWorker::Items { values, failures, .. } = frame {
            if crate::remote::outcomes::answered(&values, &failures).is_some() {
                values.items().for_each(drop);
            }
        }
    };
    if let Ok(frame) = protocol::decode(data) {
        read(frame);
    }
    if let Some((&split, rest)) = data.split_first() {
        let (frame, bytes) = rest.split_at(usize::from(split).min(rest.len()));
        if let Ok(frame) = protocol::decode::<protocol::FromWorker>(frame) {
            // Only what the input can fill: a frame may announce any length, and the reader
            // allocates it before the bytes come (as ipc-channel does for a message).
            if frame.has_detached() && link::detached_len(&frame).is_some_and(|len| len <= bytes.len()) {
                let mut pieces = bytes.chunks(4096).map(<[u8]>::to_vec);
                let next = || pieces.next().ok_or_else(|| "no more bytes".to_owned());
                if let Ok(received) = link::receive_detached(&frame, next)
                    && let link::Event::Frame(frame) = link::attach(frame, received)
                {
                    read(frame);
                }
            }
        }
    }
}
