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
use crate::remote::block::Block;
use crate::sys;
use ipc_channel::ipc::IpcBytesSender;
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

/// Receives the detached bytes of `batch` from `next` (each call: the next piece, or why there
/// is none), into a block of the length and alignment its frame gives. The peer's word is
/// checked before it is used: an alignment a plain number can have, a length this machine can
/// lay out and allocate (or an error, never an abort), and pieces that are not empty and do not
/// run past that length.
pub(crate) fn receive(
    batch: &Batch,
    mut next: impl FnMut() -> Result<Vec<u8>, String>,
) -> Result<Block, String> {
    let len = batch.expected_len().ok_or("a length this machine cannot address")?;
    let mut block = Block::new(len, batch.align())?;
    while block.missing() > 0 {
        let piece = next()?;
        if piece.is_empty() || !block.fill(&piece) {
            return Err(format!("a piece of {} bytes where {} were missing", piece.len(), block.missing()));
        }
    }
    Ok(block)
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
        let block = receive(&batch, || rx.recv().map_err(|e| format!("{e:?}"))).unwrap();
        sender.join().unwrap();
        assert_eq!(block.into_vec::<f64>().unwrap(), values);
    }

    #[test]
    fn pieces_that_do_not_add_up_are_refused() {
        let (batch, bytes) = detached(&[1.0; 100]);
        let too_long = [bytes.clone(), vec![0]].concat();
        let mut pieces = vec![too_long].into_iter();
        assert!(receive(&batch, || pieces.next().ok_or_else(String::new)).unwrap_err().contains("missing"));
        let mut pieces = vec![Vec::new(), bytes.clone()].into_iter();
        assert!(receive(&batch, || pieces.next().ok_or_else(String::new)).is_err(), "an empty piece");
        let mut pieces = vec![bytes[..400].to_vec()].into_iter();
        let short = receive(&batch, || pieces.next().ok_or_else(|| "gone".to_owned()));
        assert_eq!(short.unwrap_err(), "gone", "the channel's error when the rest never comes");
        let mut pieces = vec![bytes[..400].to_vec(), bytes[400..].to_vec()].into_iter();
        let whole = receive(&batch, || pieces.next().ok_or_else(String::new)).unwrap();
        assert_eq!(whole.bytes(), bytes);
    }
}
