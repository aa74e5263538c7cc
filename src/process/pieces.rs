//! The bytes of a large argument or result, after their frame, in pieces.
//!
//! A batch of [`DETACH_AT`](super::protocol::DETACH_AT) bytes or more travels apart from its
//! frame: as messages of at most [`piece_size`] bytes each, which ipc-channel sends as one packet
//! apiece, in order, on the same channel, until the length the frame's layout gives has
//! arrived. The receiver copies each piece into a [`Block`] laid out as the vector the bytes
//! will become (the frame gives the alignment), so that a `Vec<f64>` or `Vec<u8>` is received
//! into its own memory and handed over without another copy. One message of many megabytes would
//! instead arrive in a fresh buffer of ipc-channel's, to be copied once more; a piece arrives in
//! a small buffer the allocator hands out again and again, still in the cache.
//!
//! Pieces change nothing in who waits for whom: the sender writes them right after the frame,
//! and the receiver reads them right after it, on the same thread (see `link` for why the two
//! never both block writing).

use crate::remote::batch::Batch;
use crate::remote::block::{Block, BlockError};
use crate::remote::segments;
use crate::sys;
use ipc_channel::ipc::IpcBytesSender;
use std::alloc::Layout;
use std::sync::LazyLock;

/// The size of a piece: the most that fits in one packet of a channel, rounded down to whole
/// pages (ipc-channel keeps room for its header and descriptors in the socket's buffer).
static PIECE: LazyLock<usize> = LazyLock::new(|| {
    let page = 4096;
    sys::seqpacket_send_buffer()
        .map_or(64 << 10, |buffer| (buffer.saturating_sub(page) / page * page).max(page))
});

/// The size of every piece but the last.
pub(crate) fn piece_size() -> usize {
    *PIECE
}

/// Sends `bytes` in pieces; an error if the receiver is gone.
pub(crate) fn send(sender: &IpcBytesSender, bytes: &[u8]) -> std::io::Result<()> {
    bytes.chunks(piece_size()).try_for_each(|piece| sender.send(piece))
}

/// Why the detached bytes of a batch were not received.
#[derive(Debug)]
pub(crate) enum Missed {
    /// This process could not allocate the memory for them (this layout): nothing was read.
    NoMemory(Layout),
    /// The channel's error, or pieces (or a frame) that do not add up.
    Broken(String),
}

impl std::fmt::Display for Missed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missed::NoMemory(layout) => write!(f, "{} bytes could not be allocated", layout.size()),
            Missed::Broken(why) => f.write_str(why),
        }
    }
}

/// What follows the frame of a detached batch, received: its bytes, its segments (see
/// `remote::segments`), and the sender's verdict on them.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) main: Block,
    pub(crate) segments: Vec<Block>,
    pub(crate) intact: bool,
}

#[cfg(test)]
impl From<Block> for Received {
    /// A batch's bytes without segments.
    fn from(main: Block) -> Received {
        Received { main, segments: Vec::new(), intact: true }
    }
}

/// Receives the detached bytes of `batch` from `next` (each call: the next piece, or why there
/// is none): into a block of the length and alignment its frame gives, then each of its
/// segments into a block of its own, then the verdict. The peer's word is checked before it is
/// used: segments in their places (`segments::check`), alignments a plain number can have,
/// lengths this machine can lay out and allocate (or [`Missed::NoMemory`] with nothing read,
/// never an abort: the caller decides), pieces that are not empty and do not run past a block.
pub(crate) fn receive(
    batch: &Batch,
    mut next: impl FnMut() -> Result<Vec<u8>, String>,
) -> Result<Received, Missed> {
    let len =
        batch.expected_len().ok_or_else(|| Missed::Broken("a length this machine cannot address".into()))?;
    segments::check(batch.segments(), len).map_err(Missed::Broken)?;
    let block = |len: u64, align: usize| {
        let len =
            usize::try_from(len).map_err(|_| Missed::Broken(format!("{len} bytes cannot be addressed")))?;
        Block::new(len, align).map_err(|error| match error {
            BlockError::NoMemory(layout) => Missed::NoMemory(layout),
            BlockError::Invalid(why) => Missed::Broken(why),
        })
    };
    // Every block first: out of memory is then known before anything is read.
    let mut main = block(len as u64, batch.align())?;
    let mut parts: Vec<Block> = batch
        .segments()
        .iter()
        .map(|segment| block(segment.len, usize::from(segment.align)))
        .collect::<Result<_, _>>()?;
    for block in std::iter::once(&mut main).chain(&mut parts) {
        while block.missing() > 0 {
            let piece = next().map_err(Missed::Broken)?;
            if piece.is_empty() || !block.fill(&piece) {
                let missing = block.missing();
                return Err(Missed::Broken(format!(
                    "a piece of {} bytes where {missing} were missing",
                    piece.len()
                )));
            }
        }
    }
    let intact = match batch.segments() {
        [] => true,
        _ => verdict(&mut next).map_err(Missed::Broken)?,
    };
    Ok(Received { main, segments: parts, intact })
}

/// The sender's verdict after a batch's segments: one byte, 1 or 0.
fn verdict(next: &mut impl FnMut() -> Result<Vec<u8>, String>) -> Result<bool, String> {
    match next()?[..] {
        [1] => Ok(true),
        [0] => Ok(false),
        ref other => Err(format!("a verdict of {} bytes", other.len())),
    }
}

/// Reads and drops what follows the frame of `batch` from `next`, for a receiver that has no
/// room for it: the sender's writes then complete, as if they had been received.
pub(crate) fn skip(batch: &Batch, mut next: impl FnMut() -> Result<Vec<u8>, String>) -> Result<(), String> {
    let len = batch.expected_len().ok_or("a length this machine cannot address")?;
    let lens = std::iter::once(len as u64).chain(batch.segments().iter().map(|segment| segment.len));
    for len in lens {
        skip_len(usize::try_from(len).map_err(|_| format!("{len} bytes cannot be addressed"))?, &mut next)?;
    }
    if !batch.segments().is_empty() {
        verdict(&mut next)?;
    }
    Ok(())
}

/// Reads and drops pieces of `len` bytes in all.
fn skip_len(len: usize, next: &mut impl FnMut() -> Result<Vec<u8>, String>) -> Result<(), String> {
    let mut missing = len;
    while missing > 0 {
        let piece = next()?;
        if piece.is_empty() || piece.len() > missing {
            return Err(format!("a piece of {} bytes where {missing} were missing", piece.len()));
        }
        missing -= piece.len();
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use ipc_channel::ipc::bytes_channel;

    fn detached(values: &[f64]) -> (Batch, Vec<u8>) {
        let mut batch = Batch::single_owned(values.to_vec()).unwrap();
        let bytes = batch.take_storage().bytes().to_vec();
        (batch, bytes)
    }

    #[test]
    fn pieces_sent_arrive_whole_in_a_block_that_becomes_the_vector() {
        let values: Vec<f64> = (0..(3 * piece_size() / 8 + 5)).map(|i| i as f64).collect();
        let (batch, bytes) = detached(&values);
        let (tx, rx) = bytes_channel().unwrap();
        let sender = std::thread::spawn(move || send(&tx, &bytes).unwrap());
        // Received on a thread of its own, so that pieces that never come fail the test.
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx
                .send(receive(&batch, || rx.recv().map_err(|e| format!("{e:?}"))).map_err(|e| e.to_string()));
        });
        let block = done
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the pieces never all came")
            .unwrap();
        sender.join().unwrap();
        assert_eq!(block.main.into_vec::<f64>().unwrap(), values);
    }

    #[test]
    fn pieces_that_do_not_add_up_are_refused() {
        let (batch, bytes) = detached(&[1.0; 100]);
        let too_long = [bytes.clone(), vec![0]].concat();
        let mut pieces = vec![too_long].into_iter();
        let error = receive(&batch, || pieces.next().ok_or_else(String::new)).unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
        let mut pieces = vec![Vec::new(), bytes.clone()].into_iter();
        assert!(receive(&batch, || pieces.next().ok_or_else(String::new)).is_err(), "an empty piece");
        let mut pieces = vec![bytes[..400].to_vec()].into_iter();
        let short = receive(&batch, || pieces.next().ok_or_else(|| "gone".to_owned()));
        assert_eq!(short.unwrap_err().to_string(), "gone", "the channel's error when the rest never comes");
        let mut pieces = vec![bytes[..400].to_vec(), bytes[400..].to_vec()].into_iter();
        let whole = receive(&batch, || pieces.next().ok_or_else(String::new)).unwrap();
        assert_eq!(whole.main.bytes(), bytes);
    }

    #[test]
    fn skipping_reads_exactly_what_was_announced() {
        let mut pieces = vec![vec![1; 500], vec![2; 300], vec![3; 7]].into_iter();
        assert_eq!(skip_len(800, &mut || pieces.next().ok_or_else(String::new)), Ok(()));
        assert_eq!(pieces.next(), Some(vec![3; 7]), "nothing past the length is read");
        let mut pieces = vec![vec![1; 500], vec![2; 301]].into_iter();
        assert!(
            skip_len(800, &mut || pieces.next().ok_or_else(String::new)).is_err(),
            "a piece past the end"
        );
        let mut pieces = vec![Vec::new()].into_iter();
        assert!(skip_len(8, &mut || pieces.next().ok_or_else(String::new)).is_err(), "an empty piece");
        assert_eq!(skip_len(0, &mut || Err("not called".to_owned())), Ok(()));
    }
}
