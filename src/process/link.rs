//! The parent's connection to one worker process: a reader thread and a writer thread that only
//! move bytes, so that the slot thread, which decides, never waits on the worker's I/O.
//!
//! # Why parent and worker never both block writing
//!
//! The worker runs one task at a time: it reads its task channel only between tasks, and
//! writes each answer with a blocking send. The parent does its blocking I/O on two threads of
//! its own and nowhere else:
//!
//! - the **reader** does nothing but receive: every frame (and the pieces of detached bytes
//!   after it, see `pieces`) is handed to the slot through an unbounded in-memory channel, so
//!   it never waits for the slot. Hence every answer the worker writes is read, and the
//!   worker's sends always complete;
//! - the **writer** sends tasks (frames, then the pieces of their detached arguments) and
//!   waits for nothing but the worker reading them. Since the worker's sends always complete,
//!   it always comes back to read between tasks, so the writer's sends complete too. A worker
//!   that cannot allocate an argument still reads its pieces before it dies (see `worker`), so
//!   the writer completes and the task counts as delivered. For an argument with segments
//!   (see `remote::segments`) the writer also runs its `Serialize` a second time while it
//!   sends, on the value it takes out of the batch for that time (a second writer of the same
//!   batch, after its first worker died, waits for it at most 5 s): that waits on nothing of
//!   the pool either.
//!
//! No wait depends on another in a cycle, whatever the sizes in flight. The slot thread waits
//! only on in-memory channels, each with a deadline where one applies, so a worker that stops
//! reading or writing (stopped with SIGSTOP, hung in a task) is still killed on time, and its
//! death ends both threads' waits (its sockets close).
//!
//! One exception keeps the round trip short: the slot thread writes a small task frame itself
//! when that cannot block. It does so only when the writer has sent everything it was given,
//! the frame has no detached payload, and what the worker has not read yet (every message with
//! no answer so far: a worker reads a whole message before it runs its first task) plus the
//! frame fits in a quarter of the socket's send buffer (at most 64 KiB): the kernel takes such
//! a write at once, whatever the worker is doing.
//!
//! The control channel is written by the slot thread itself: it carries a few bytes per kill
//! request, at most one per task in flight plus one per overrun item before the worker is
//! killed outright, far below a socket's buffer, so that send never blocks either.

use super::pieces::{self, Missed, Received};
use super::protocol::{Batch, Control, FromWorker, encode};
use crate::future::Killer;
use crate::sys;
use crossbeam_channel::{Receiver, Sender, unbounded};
use ipc_channel::IpcError;
use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender, IpcReceiver};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The most bytes the worker may have left unread for the slot thread to write a frame itself
/// (see the module docs).
static INLINE_BUDGET: LazyLock<usize> =
    LazyLock::new(|| sys::seqpacket_send_buffer().map_or(0, |buffer| (buffer / 4).min(64 << 10)));

/// How long dropping a [`Link`] waits for each of its threads to end.
const THREADS_PATIENCE: Duration = Duration::from_secs(5);

/// What the slot hears about its worker.
#[derive(Debug)]
pub(crate) enum Event {
    /// A frame from the worker, its detached bytes (if any) attached.
    Frame(FromWorker),
    /// The worker's results channel closed: the worker is gone (its last frames came before).
    Gone,
    /// The worker sent something unreadable; nothing more is read from it.
    Garbage(String),
    /// The future of task `id` was killed (`Future::kill`): stop the task.
    Kill(u64),
}

/// One message for the writer: a frame, then the bytes of each detached batch, in order.
pub(crate) struct Outgoing {
    pub(crate) frame: Vec<u8>,
    pub(crate) detached: Vec<Arc<Batch>>,
}

/// The channels of a worker whose handshake was accepted.
pub(crate) struct Channels {
    pub(crate) tasks: IpcBytesSender,
    pub(crate) control: IpcBytesSender,
    pub(crate) results: IpcReceiver<FromWorker>,
    pub(crate) payloads: IpcBytesReceiver,
}

/// The slot's side of the connection.
pub(crate) struct Link {
    events: Receiver<Event>,
    /// For killers and the reader; the slot keeps one so `events` never disconnects.
    notify: Sender<Event>,
    /// `None` once closed: the writer then sends what it has and closes the task channel.
    outgoing: Option<Sender<Outgoing>>,
    /// How many [`Outgoing`] messages the slot sent (itself or through the writer), and how
    /// many reached the worker whole.
    sent: u64,
    delivered: Arc<AtomicU64>,
    /// The task channel, for the frames the slot writes itself; `None` once closed.
    inline: Option<IpcBytesSender>,
    /// The messages the worker has not read yet, by number, with their sizes.
    unread: VecDeque<(u64, usize)>,
    unread_bytes: usize,
    /// Disconnects when the writer thread ends.
    writer_ended: Receiver<()>,
    /// Disconnects when the reader thread ends (and has closed the worker's results channels).
    reader_ended: Receiver<()>,
    control: IpcBytesSender,
}

impl Link {
    /// Starts the reader and writer threads of a worker named `pid` (for thread names).
    pub(crate) fn open(channels: Channels, pid: u32) -> std::io::Result<Link> {
        let Channels { tasks, control, results, payloads } = channels;
        let (notify, events) = unbounded();
        let (outgoing, to_write) = unbounded::<Outgoing>();
        let delivered = Arc::new(AtomicU64::new(0));
        let (writer_alive, writer_ended) = crossbeam_channel::bounded::<()>(0);
        let (reader_alive, reader_ended) = crossbeam_channel::bounded::<()>(0);
        let inline = Some(tasks.clone());
        let reader_notify = notify.clone();
        std::thread::Builder::new().name(format!("concurrent-futures-reader-{pid}")).spawn(move || {
            // Declared first, dropped last: it disconnects once the channels are closed.
            let _alive = reader_alive;
            read(&results, &payloads, &reader_notify);
            drop((results, payloads));
        })?;
        let counter = Arc::clone(&delivered);
        std::thread::Builder::new().name(format!("concurrent-futures-writer-{pid}")).spawn(move || {
            let _alive = writer_alive;
            write(tasks, &to_write, &counter);
        })?;
        Ok(Link {
            events,
            notify,
            outgoing: Some(outgoing),
            sent: 0,
            delivered,
            inline,
            unread: VecDeque::new(),
            unread_bytes: 0,
            writer_ended,
            reader_ended,
            control,
        })
    }

    /// Where the slot waits for its worker.
    pub(crate) fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Sends a message (itself when that cannot block, see the module docs; otherwise through
    /// the writer); its number (from 1), to compare with [`Link::delivered`].
    pub(crate) fn send(&mut self, message: Outgoing) -> u64 {
        self.sent += 1;
        let bytes =
            message.frame.len() + message.detached.iter().map(|batch| batch.data_len()).sum::<usize>();
        let writer_idle = self.delivered.load(Ordering::Acquire) + 1 == self.sent;
        match &self.inline {
            Some(tasks)
                if writer_idle
                    && message.detached.is_empty()
                    && self.unread_bytes + bytes <= *INLINE_BUDGET =>
            {
                // A worker that is gone makes the write fail; the reader reports the death.
                if tasks.send(&message.frame).is_ok() {
                    self.delivered.fetch_add(1, Ordering::Release);
                }
            }
            _ => {
                if let Some(outgoing) = &self.outgoing {
                    // A writer that ended (the worker is gone) drops it; the reader reports it.
                    let _ = outgoing.send(message);
                }
            }
        }
        self.unread.push_back((self.sent, bytes));
        self.unread_bytes += bytes;
        self.sent
    }

    /// The worker answered something of message `number`: it has read it, and every message
    /// before it.
    pub(crate) fn read_up_to(&mut self, number: u64) {
        while let Some(&(message, bytes)) = self.unread.front() {
            if message > number {
                break;
            }
            self.unread.pop_front();
            self.unread_bytes -= bytes;
        }
    }

    /// How many messages reached the worker whole. Exact once [`Link::close`] returned true.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Asks the worker to stop task `id` if it runs it (at `item`, or at any item for `None`).
    /// The worker decides, so one that has moved on to another task is left alone.
    pub(crate) fn ask_to_stop(&self, id: u64, item: Option<u32>) {
        if let Ok(frame) = encode(&Control::Kill { id, item }) {
            // A worker that is gone has nothing left to stop (see the module docs for why this
            // never blocks).
            let _ = self.control.send(&frame);
        }
    }

    /// What stops task `id` on this worker, for its future: a word to the slot, which asks the
    /// worker and kills it if it does not stop in time.
    pub(crate) fn killer(&self, id: u64) -> Killer {
        let notify = self.notify.clone();
        Box::new(move || {
            let _ = notify.send(Event::Kill(id));
        })
    }

    /// Closes the task channel once the writer has sent what it has (a worker with nothing
    /// left to do exits when it sees that), and waits up to `patience` for the writer to end;
    /// true if it did.
    pub(crate) fn close(&mut self, patience: Duration) -> bool {
        drop(self.inline.take());
        drop(self.outgoing.take());
        matches!(
            self.writer_ended.recv_timeout(patience),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }
}

impl Drop for Link {
    /// Closes the link and waits for both its threads, each up to [`THREADS_PATIENCE`]: the
    /// writer ends once its channel is closed, the reader once the worker is gone (a slot reaps
    /// its worker before it drops the link). After that, none of the worker's channels is open
    /// in the parent any more, so a pool that shut down leaves no descriptor behind. The reader
    /// may outlive the wait only when a process the task forked still holds the worker's end of
    /// the channels; it then ends with that process.
    fn drop(&mut self) {
        self.close(THREADS_PATIENCE);
        let _ = self.reader_ended.recv_timeout(THREADS_PATIENCE);
    }
}

/// The reader thread: every frame to the slot, until the worker is gone or breaks the protocol.
fn read(results: &IpcReceiver<FromWorker>, payloads: &IpcBytesReceiver, notify: &Sender<Event>) {
    loop {
        let event = match results.recv() {
            Ok(frame) if frame.has_detached() => {
                let mut gone = false;
                let next = || {
                    payloads.recv().map_err(|_| {
                        gone = true;
                        "the worker is gone".to_owned()
                    })
                };
                match receive_detached(&frame, next) {
                    Ok(received) => attach(frame, received),
                    // It died before it had sent them all.
                    Err(_) if gone => Event::Gone,
                    Err(Missed::NoMemory(layout)) => Event::Garbage(format!(
                        "sent results of {} bytes, more than this process could allocate",
                        layout.size()
                    )),
                    Err(Missed::Broken(why)) => {
                        Event::Garbage(format!("sent detached results that do not add up: {why}"))
                    }
                }
            }
            Ok(frame) => Event::Frame(frame),
            Err(IpcError::SerializationError(error)) => {
                Event::Garbage(format!("sent an unreadable frame ({error})"))
            }
            // A closed or reset channel: the worker is gone.
            Err(IpcError::Disconnected | IpcError::Io(_)) => Event::Gone,
        };
        let last = !matches!(event, Event::Frame(_));
        if notify.send(event).is_err() || last {
            return;
        }
    }
}

/// The pieces of the detached bytes of an `Items` frame, from `next` (see [`pieces::receive`]).
pub(crate) fn receive_detached(
    frame: &FromWorker,
    next: impl FnMut() -> Result<Vec<u8>, String>,
) -> Result<Received, Missed> {
    match frame {
        FromWorker::Items { values, detached: true, .. } => pieces::receive(values, next),
        other => Err(Missed::Broken(format!("no bytes follow {other:?}"))),
    }
}

/// How many bytes follow an `Items` frame whose values are detached, as its layout and its
/// segments say.
#[cfg(fuzzing)]
pub(crate) fn detached_len(frame: &FromWorker) -> Option<usize> {
    match frame {
        FromWorker::Items { values, detached: true, .. } => {
            values.segments().iter().try_fold(values.expected_len()?, |len, segment| {
                len.checked_add(usize::try_from(segment.len).ok()?)
            })
        }
        _ => None,
    }
}

/// An `Items` frame with the bytes that followed it on the payload channel: the frame whole,
/// or garbage if they do not fit the layout it announced (nothing of a peer is used unchecked).
pub(crate) fn attach(frame: FromWorker, received: Received) -> Event {
    match frame {
        FromWorker::Items { id, mut values, failures, detached: true } => {
            if values.attach(received.main, received.segments, received.intact) {
                Event::Frame(FromWorker::Items { id, values, failures, detached: false })
            } else {
                Event::Garbage(format!("sent detached results for task {id} that do not fit"))
            }
        }
        other => Event::Garbage(format!("sent bytes after {other:?}, which has none")),
    }
}

/// The writer thread: sends each message whole, in order, until the slot closes the link or
/// the worker is gone. Dropping `tasks` at the end tells the worker to exit.
fn write(tasks: IpcBytesSender, to_write: &Receiver<Outgoing>, delivered: &AtomicU64) {
    // A send to a worker that died raises SIGPIPE on this thread: held back here, so that it
    // cannot end a program that restored SIGPIPE's default action; the send fails instead.
    sys::hold_back_sigpipe_on_this_thread();
    for message in to_write {
        let sent = tasks.send(&message.frame).and_then(|()| {
            let mut send = |bytes: &[u8]| pieces::send(&tasks, bytes);
            message.detached.iter().try_for_each(|batch| batch.send_detached(&mut send))
        });
        if sent.is_err() {
            return;
        }
        delivered.fetch_add(1, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
#[path = "link_tests.rs"]
mod tests;
