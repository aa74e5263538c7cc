//! Segments: the large vectors of plain numbers inside a value (a `Vec<f64>` field of a struct
//! argument or result), sent apart from the value's other bytes, straight from the value's own
//! memory, and received each into a [`Block`] of its own that becomes the field.
//!
//! Without them, such a value is copied twice on its way: into its encoded form by the sender,
//! and out of it by the receiver. With them:
//!
//! 1. **Encoding** (on the thread that submits, or the worker that returns the value): the value
//!    is written in the format as usual, except that a sequence of plain numbers of
//!    [`SEGMENT_FROM`] bytes or more is written as its count only, and its place, length and
//!    alignment are noted as a [`Segment`]. The batch keeps the value itself ([`Kept`]).
//! 2. **Sending** (by whoever sends the batch's detached bytes, see `process::pieces`): the
//!    batch's bytes, then the value is written a second time with a [`Sink`] that sends each
//!    segment's bytes from the vector itself while serde lends it, then one verdict byte. A
//!    value's `Serialize` could write something else the second time (interior mutability, or
//!    a vector the value shares with the caller through an `Arc<Mutex<_>>`): the other bytes it
//!    writes, and each segment's place, length and alignment, are compared with the first
//!    writing; if they differ, zeros stand in for what was announced and the verdict says so,
//!    so that the receiver fails the task rather than read a value whose shape nobody sent.
//!    A segment's *contents* are read when it is sent, not at submit (comparing them would cost
//!    a pass over them each way): a shared vector changed in between travels as it then is.
//! 3. **Decoding**: each segment arrived in a block of its own (see `process::pieces`); the
//!    format adopts the block as the vector when it reads a `Vec<N>` at the segment's place
//!    (see `format::bulk`), or reads its elements from it one by one for any other visitor.
//!    Every segment must be read exactly where it was announced, and all of them, or the value
//!    is refused: a peer's word is checked before it is used.
//!
//! Nothing here is unsafe: the vector's bytes are only read while serde lends them.

use super::block::Block;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, OnceCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How long a value with segments waits for another sender to let go of it (see [`Kept`]).
const BUSY_PATIENCE: Duration = Duration::from_secs(5);

/// From this many bytes on, a sequence of plain numbers inside a value travels as a segment.
pub(crate) const SEGMENT_FROM: usize = 1 << 20;

/// The most segments a value has (more large vectors are written inline); a peer announcing
/// more is refused.
pub(crate) const MAX_SEGMENTS: usize = 64;

/// A segment as its frame announces it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Where its bytes would be among the value's other bytes: right after its count.
    pub(crate) at: u64,
    /// Its length in bytes.
    pub(crate) len: u64,
    /// The alignment of its elements, for the receiver's block.
    pub(crate) align: u8,
}

/// Told of every sequence of plain numbers the format writes, while serde lends it.
pub(crate) trait Sink {
    /// The elements `bytes` (of alignment `align`) would be written at `at`: true if they are
    /// a segment (the format then writes their count only). An error stops the writing.
    fn sequence(&mut self, at: usize, bytes: &[u8], align: usize) -> Result<bool, String>;
}

/// Whether the `index`-th sequence of plain numbers met while writing, of `len` bytes, is a
/// segment: the one rule both writings follow. Segments are the sender's memory as it is, so
/// they exist on little-endian targets only (the format is little-endian).
fn is_segment(index: usize, len: usize) -> bool {
    cfg!(target_endian = "little") && len >= SEGMENT_FROM && index < MAX_SEGMENTS
}

/// The first writing's sink: notes the segments.
#[derive(Default)]
pub(crate) struct Noted {
    pub(crate) segments: Vec<Segment>,
}

impl Sink for Noted {
    fn sequence(&mut self, at: usize, bytes: &[u8], align: usize) -> Result<bool, String> {
        if !is_segment(self.segments.len(), bytes.len()) {
            return Ok(false);
        }
        self.segments.push(Segment { at: at as u64, len: bytes.len() as u64, align: align as u8 });
        Ok(true)
    }
}

/// A value that can be written again, its segments handed to a sink: what a batch keeps of a
/// value that has segments.
pub(crate) trait Rewrite: Send {
    /// Writes the value into `out`, handing every sequence of plain numbers to `sink`.
    fn rewrite(&self, out: &mut Vec<u8>, sink: &mut dyn Sink) -> Result<(), String>;
}

/// The value a batch with segments keeps, to send them from (shared by the batch's clones):
/// `None` while a sender has it out, with the condition its return is signalled on.
#[derive(Clone)]
pub(crate) struct Kept(Arc<Held>);

/// The value, or `None` while it is out, and the condition its return is signalled on.
type Held = (Mutex<Option<Box<dyn Rewrite>>>, Condvar);

impl Kept {
    pub(crate) fn new(value: Box<dyn Rewrite>) -> Kept {
        Kept(Arc::new((Mutex::new(Some(value)), Condvar::new())))
    }

    /// The value written again with every sequence inline (for a transport without segments).
    pub(crate) fn flat(&self) -> Result<Vec<u8>, String> {
        struct Inline;
        impl Sink for Inline {
            fn sequence(&mut self, _: usize, _: &[u8], _: usize) -> Result<bool, String> {
                Ok(false)
            }
        }
        let mut out = Vec::new();
        self.with(|value| value.rewrite(&mut out, &mut Inline))?;
        Ok(out)
    }

    /// Runs `f` on the value, taken out while `f` sends its segments; a panic of its
    /// `Serialize` is an error. Another sender that still has it out after [`BUSY_PATIENCE`] (a
    /// writer to a dead worker whose socket a process it started keeps open) makes this an
    /// error rather than a wait without end.
    fn with(&self, f: impl FnOnce(&dyn Rewrite) -> Result<(), String>) -> Result<(), String> {
        let (slot, returned) = &*self.0;
        let free = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut free, _) = returned
            .wait_timeout_while(free, BUSY_PATIENCE, |value| value.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        let Some(value) = free.take() else {
            return Err("still being sent elsewhere".into());
        };
        drop(free);
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&*value)))
            .unwrap_or_else(|_| Err("its Serialize panicked when it was written again".into()));
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        returned.notify_one();
        outcome
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept(..)")
    }
}

/// A value's bytes `main` with each segment's bytes put in at its place (a copy; a place out of
/// order or past the end is taken as the nearest one that is not).
pub(crate) fn splice<'a>(main: &[u8], segments: impl Iterator<Item = (usize, &'a [u8])>) -> Vec<u8> {
    let (mut flat, mut from) = (Vec::new(), 0);
    for (at, bytes) in segments {
        let at = at.clamp(from, main.len());
        flat.extend_from_slice(&main[from..at]);
        flat.extend_from_slice(bytes);
        from = at;
    }
    flat.extend_from_slice(&main[from..]);
    flat
}

/// Sends what follows the frame of a detached batch: its bytes `main`, then, for a value kept
/// with `segments`, those segments and the verdict (see [`send_segments`]).
pub(crate) fn send_after(
    main: &[u8],
    segments: &[Segment],
    kept: Option<&Kept>,
    send: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    send(main)?;
    match kept {
        Some(kept) => send_segments(kept, main, segments, send),
        None => Ok(()),
    }
}

/// Sends what follows the bytes `main` of a batch with `segments`, kept in `kept`: each
/// segment's bytes from the value itself, then the verdict (one byte: 1 if the value wrote
/// again what it wrote first, 0 if not, and zeros were sent for what was missing). `send` sends
/// one run of bytes (in pieces); its error (the receiver is gone) ends the sending.
pub(crate) fn send_segments(
    kept: &Kept,
    main: &[u8],
    segments: &[Segment],
    send: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    struct Sending<'a> {
        segments: &'a [Segment],
        /// Sequences met that are segments.
        met: usize,
        /// Segments sent whole, each as announced; none after the first that differs.
        sent: usize,
        same: bool,
        send: &'a mut dyn FnMut(&[u8]) -> std::io::Result<()>,
        failed: Option<std::io::Error>,
    }
    impl Sink for Sending<'_> {
        fn sequence(&mut self, at: usize, bytes: &[u8], align: usize) -> Result<bool, String> {
            if !is_segment(self.met, bytes.len()) {
                return Ok(false);
            }
            self.met += 1;
            let this = Segment { at: at as u64, len: bytes.len() as u64, align: align as u8 };
            if self.same && self.segments.get(self.sent) == Some(&this) {
                if let Err(error) = (self.send)(bytes) {
                    self.failed = Some(error);
                    return Err("the receiver is gone".into());
                }
                self.sent += 1;
            } else {
                self.same = false;
            }
            Ok(true)
        }
    }
    let mut again = Vec::with_capacity(main.len());
    let mut sending = Sending { segments, met: 0, sent: 0, same: true, send, failed: None };
    let written = kept.with(|value| value.rewrite(&mut again, &mut sending));
    if let Some(error) = sending.failed {
        return Err(error);
    }
    let same = sending.same && written.is_ok() && sending.met == segments.len() && again == main;
    // What was announced and not sent: zeros, so that the receiver's count adds up.
    let zeros = vec![0u8; 64 << 10];
    for segment in &segments[sending.sent..] {
        let mut left = segment.len as usize;
        while left > 0 {
            let n = left.min(zeros.len());
            (sending.send)(&zeros[..n])?;
            left -= n;
        }
    }
    (sending.send)(&[u8::from(same)])
}

/// Checks the segments a peer announced after `main_len` bytes: at most [`MAX_SEGMENTS`], none
/// empty, each at a place of its own within those bytes, in order.
pub(crate) fn check(segments: &[Segment], main_len: usize) -> Result<(), String> {
    if segments.len() > MAX_SEGMENTS {
        return Err(format!("{} segments, where at most {MAX_SEGMENTS} are sent", segments.len()));
    }
    let mut after = None;
    for segment in segments {
        if segment.len == 0 || segment.at > main_len as u64 || after.is_some_and(|after| segment.at <= after)
        {
            return Err(format!("a segment {segment:?} out of place among {main_len} bytes"));
        }
        after = Some(segment.at);
    }
    Ok(())
}

/// Why a value whose sender's verdict was bad is refused.
const NOT_INTACT: &str = "the value could not be written again the same way when it was sent \
    (its Serialize must write the same bytes for the same value; or it was still being sent to \
    a worker that died, held by a process that worker started)";

/// A value received in parts: its bytes, and its segments in their blocks (checked against
/// what was announced), with the sender's verdict.
pub(crate) struct Parts {
    pub(crate) main: Block,
    pub(crate) segments: Vec<(usize, Block)>,
    /// False if the sender's value wrote something else the second time (see the module docs).
    pub(crate) intact: bool,
}

impl Parts {
    /// Its bytes with the segments in their places (a copy), if the sender's verdict was good.
    pub(crate) fn into_flat(self) -> Result<Vec<u8>, String> {
        if !self.intact {
            return Err(NOT_INTACT.into());
        }
        Ok(splice(self.main.bytes(), self.segments.iter().map(|(at, block)| (*at, block.bytes()))))
    }

    /// Decodes the value with `read`, which is given its bytes and a cursor over its segments.
    pub(crate) fn decode<T>(
        self,
        read: impl FnOnce(&[u8], Cursor<'_>) -> Result<T, String>,
    ) -> Result<T, String> {
        if !self.intact {
            return Err(NOT_INTACT.into());
        }
        let slots: Vec<Slot> = self
            .segments
            .into_iter()
            .map(|(at, block)| Slot { at, pending: Cell::new(Some(block)), read: OnceCell::new() })
            .collect();
        read(self.main.bytes(), Cursor { slots: &slots, next: 0, total: self.main.bytes().len() })
    }
}

/// A segment waiting to be read.
pub(crate) struct Slot {
    at: usize,
    /// The block, until it is taken (to become a vector) or read (element by element).
    pending: Cell<Option<Block>>,
    /// The block once read element by element: it stays for the decoding's lifetime.
    read: OnceCell<Block>,
}

/// The segments of a value being decoded, in order: each is taken at its place, once.
pub(crate) struct Cursor<'de> {
    slots: &'de [Slot],
    next: usize,
    /// The length of the value's bytes, to tell places from what is left of them.
    total: usize,
}

impl<'de> Cursor<'de> {
    /// The next segment, taken, if its place is where `left` bytes of the value are left.
    pub(crate) fn take(&mut self, left: usize) -> Option<Block> {
        let slot = self.here(left)?;
        self.next += 1;
        slot.pending.take()
    }

    /// The next segment's bytes, kept for the decoding, if its place is where `left` bytes are
    /// left: for a sequence read element by element.
    pub(crate) fn borrow(&mut self, left: usize) -> Option<&'de [u8]> {
        let slot = self.here(left)?;
        self.next += 1;
        let block = slot.pending.take()?;
        Some(slot.read.get_or_init(|| block).bytes())
    }

    fn here(&self, left: usize) -> Option<&'de Slot> {
        let slot = self.slots.get(self.next)?;
        (self.total.checked_sub(left) == Some(slot.at)).then_some(slot)
    }

    /// How many segments were not read.
    pub(crate) fn left(&self) -> usize {
        self.slots.len() - self.next
    }
}
