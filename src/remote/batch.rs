//! [`Batch`]: a task's items (or their results), each encoded on its own, in one buffer.

use super::block::Block;
pub(crate) use super::bytebuf::ByteBuf;
use super::bytebuf::Bytes;
use super::codec;
use super::numbers::{self, NumberBytes, Owned};
use super::segments::{self, Kept, Parts, Segment};
use serde::{Deserialize, Serialize, Serializer};

/// Encoded items in one buffer. Items of one width (numbers: see [`codec`]) need nothing more
/// than that width; items of varying width carry where each ends.
///
/// A batch of one vector of plain numbers that it was given to own holds the vector itself,
/// whose memory is its bytes (see [`numbers::take_vector`]): sent from there, it is not copied.
/// A batch whose bytes travelled apart from its frame holds the [`Block`] they arrived in.
///
/// A batch of one value whose large vectors are segments (see [`segments`]) holds the value's
/// other bytes, the segments' places, and the value itself to send them from (or, received,
/// the blocks they arrived in). Its layout is that of the other bytes.
#[derive(Deserialize, Debug, Clone)]
pub(crate) struct Batch {
    data: ByteBuf,
    layout: Layout,
    /// The alignment of the elements of the vector it holds, for the receiver's block (1 for
    /// anything that is not a vector of numbers); a peer's word until a block checks it.
    align: u8,
    /// The adopted vector or the received block, if any; `data` is then empty.
    #[serde(skip)]
    numbers: Option<Box<dyn NumberBytes>>,
    /// The segments of its one value, if any; a peer's word until `segments::check` and
    /// decoding have used it.
    segments: Vec<Segment>,
    /// The value the segments are sent from.
    #[serde(skip)]
    kept: Option<Kept>,
    /// The segments received, and the sender's verdict on them.
    #[serde(skip)]
    received: Option<(Vec<Block>, bool)>,
}

impl PartialEq for Batch {
    fn eq(&self, other: &Batch) -> bool {
        self.layout == other.layout && self.bytes() == other.bytes() && self.segments == other.segments
    }
}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.wire(false).serialize(serializer)
    }
}

/// Where the items of a [`Batch`] are in its buffer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Layout {
    /// `count` items of `width` bytes each.
    Fixed { width: u32, count: u32 },
    /// Item `i` is `data[ends[i - 1]..ends[i]]` (from 0 for the first).
    Ends(Vec<usize>),
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            data: ByteBuf::default(),
            layout: Layout::Fixed { width: 0, count: 0 },
            align: 1,
            numbers: None,
            segments: Vec::new(),
            kept: None,
            received: None,
        }
    }
}

impl Batch {
    /// An empty batch with room for `bytes` of items.
    pub(crate) fn with_capacity(bytes: usize) -> Batch {
        Batch { data: ByteBuf(Vec::with_capacity(bytes)), ..Batch::default() }
    }

    /// A batch of the one item `value`.
    #[cfg(test)]
    pub(crate) fn single<T: Serialize + 'static>(value: &T) -> Result<Batch, codec::Error> {
        let mut batch = Batch::default();
        batch.push(value)?;
        Ok(batch)
    }

    /// A batch of the one item `value`, which it takes: a value that is bytes already (see
    /// [`codec::into_bytes`]) becomes the batch's buffer without a copy.
    pub(crate) fn single_owned<T: Serialize + Send + 'static>(value: T) -> Result<Batch, codec::Error> {
        let mut batch = Batch::default();
        batch.push_owned(value)?;
        Ok(batch)
    }

    /// A batch whose one item is `bytes`, already encoded.
    fn adopt(bytes: Vec<u8>) -> Batch {
        match u32::try_from(bytes.len()) {
            Ok(width) => {
                Batch { data: ByteBuf(bytes), layout: Layout::Fixed { width, count: 1 }, ..Batch::default() }
            }
            Err(_) => {
                let end = bytes.len();
                Batch { data: ByteBuf(bytes), layout: Layout::Ends(vec![end]), ..Batch::default() }
            }
        }
    }

    /// A batch whose one item is the vector of numbers `numbers`, whose memory is its bytes.
    fn adopt_numbers(numbers: Box<dyn NumberBytes>) -> Batch {
        let end = numbers.bytes().len();
        let layout = match u32::try_from(end) {
            Ok(width) => Layout::Fixed { width, count: 1 },
            Err(_) => Layout::Ends(vec![end]),
        };
        Batch { layout, align: numbers.align() as u8, numbers: Some(numbers), ..Batch::default() }
    }

    /// The items' bytes.
    fn bytes(&self) -> &[u8] {
        match &self.numbers {
            Some(numbers) => numbers.bytes(),
            None => &self.data.0,
        }
    }

    /// The buffer, to append to: an adopted vector's bytes (or a value's segments) are copied
    /// into it first.
    fn buffer(&mut self) -> &mut Vec<u8> {
        if !self.segments.is_empty() {
            // `push` has taken the value flat already (with its error); `push_encoded`'s
            // batches (a chunk's tail) have no segments. Should that ever change, a value that
            // cannot be written again leaves no item, which its receiver reports.
            *self = self.flat().map(Batch::adopt).unwrap_or_default();
        }
        if let Some(numbers) = self.numbers.take() {
            self.data.0 = numbers.bytes().to_vec();
            self.align = 1;
        }
        &mut self.data.0
    }

    /// Appends `value`, which it takes: into an empty batch, a value that is bytes already
    /// becomes the buffer without a copy, and a value with large vectors of numbers inside is
    /// kept to send them from (see [`segments`]).
    pub(crate) fn push_owned<T: Serialize + Send + 'static>(&mut self, value: T) -> Result<(), codec::Error> {
        let mut slot = Some(value);
        if self.is_empty()
            && let Some(bytes) = codec::take_bytes(&mut slot)
        {
            *self = Batch::adopt(bytes);
            return Ok(());
        }
        if self.is_empty()
            && let Some(numbers) = numbers::take_vector(&mut slot)
        {
            *self = Batch::adopt_numbers(numbers);
            return Ok(());
        }
        match slot {
            Some(value) if self.is_empty() => {
                // Into the buffer it has, keeping its capacity (a worker's outcomes reserve it).
                let mut data = std::mem::take(&mut self.data.0);
                data.clear();
                let parts = codec::encode_in_parts(value, &mut data)?;
                *self = Batch::adopt(data);
                if let Some((segments, kept)) = parts {
                    self.segments = segments;
                    self.kept = Some(kept);
                }
                Ok(())
            }
            Some(value) => self.push(&value),
            None => Ok(()),
        }
    }

    /// Appends `value`, encoded (see [`codec`]); on error the batch is left as it was.
    pub(crate) fn push<T: Serialize + 'static>(&mut self, value: &T) -> Result<(), codec::Error> {
        if !self.segments.is_empty() {
            // The value before it goes flat first; one that cannot be written again is an error.
            *self = Batch::adopt(self.flat()?);
        }
        let start = self.bytes().len();
        codec::encode_into(value, self.buffer())?;
        self.ended(start);
        Ok(())
    }

    /// Appends bytes that are already one encoded item.
    pub(crate) fn push_encoded(&mut self, bytes: &[u8]) {
        let start = self.bytes().len();
        self.buffer().extend_from_slice(bytes);
        self.ended(start);
    }

    /// Records that an item was written from `start` to the end of the buffer.
    fn ended(&mut self, start: usize) {
        let end = self.bytes().len();
        let width = end - start;
        match &mut self.layout {
            Layout::Fixed { count: 0, width: w } => {
                if let Ok(width) = u32::try_from(width) {
                    *w = width;
                    self.layout = Layout::Fixed { width, count: 1 };
                } else {
                    self.layout = Layout::Ends(vec![end]);
                }
            }
            Layout::Fixed { width: w, count } if *w as usize == width && *count < u32::MAX => *count += 1,
            Layout::Fixed { width: w, count } => {
                let w = *w as usize;
                let mut ends: Vec<usize> = (1..=*count as usize).map(|i| i * w).collect();
                ends.push(end);
                self.layout = Layout::Ends(ends);
            }
            Layout::Ends(ends) => ends.push(end),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.layout {
            Layout::Fixed { count, .. } => *count as usize,
            Layout::Ends(ends) => ends.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items, in order; `None` for the first one whose bounds are not inside the buffer
    /// (a batch from a broken peer), and nothing after it.
    pub(crate) fn items(&self) -> Items<'_> {
        Items { data: self.bytes(), layout: &self.layout, index: 0, start: 0, broken: false }
    }

    /// Calls `f` on each item in order, up to the first whose bounds are not inside the buffer,
    /// and returns how many it visited: for items of one width, one tight loop.
    pub(crate) fn each_item(&self, mut f: impl FnMut(&[u8])) -> usize {
        match self.layout {
            Layout::Fixed { width: 0, count } => {
                (0..count).for_each(|_| f(&[]));
                count as usize
            }
            Layout::Fixed { width, count } => {
                let items = self.bytes().chunks_exact(width as usize).take(count as usize);
                let visited = items.len();
                items.for_each(f);
                visited
            }
            Layout::Ends(_) => self.items().map_while(|item| item.map(&mut f)).count(),
        }
    }

    /// True if every item's bounds are inside the buffer (for items of one width, without
    /// walking them).
    pub(crate) fn is_well_formed(&self) -> bool {
        match &self.layout {
            Layout::Fixed { width, count } => {
                u64::from(*width) * u64::from(*count) == self.bytes().len() as u64
            }
            Layout::Ends(_) => self.items().all(|item| item.is_some()),
        }
    }

    /// The items from `first` on, as a batch of their own (for a chunk resent to a new worker).
    pub(crate) fn tail(&self, first: usize) -> Batch {
        let mut tail = Batch::default();
        for item in self.items().skip(first).flatten() {
            tail.push_encoded(item);
        }
        tail
    }
}

/// The items of a [`Batch`], from [`Batch::items`].
pub(crate) struct Items<'a> {
    data: &'a [u8],
    layout: &'a Layout,
    index: usize,
    start: usize,
    broken: bool,
}

impl<'a> Iterator for Items<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        if self.broken {
            return None;
        }
        let end = match self.layout {
            Layout::Fixed { width, count } => {
                if self.index >= *count as usize {
                    return None;
                }
                self.start.checked_add(*width as usize)
            }
            Layout::Ends(ends) => Some(*ends.get(self.index)?),
        };
        self.index += 1;
        let item = end.and_then(|end| self.data.get(self.start..end));
        match (item, end) {
            (Some(_), Some(end)) => self.start = end,
            _ => self.broken = true,
        }
        Some(item)
    }
}

#[path = "batch_wire.rs"]
mod wire;

#[cfg(test)]
impl Batch {
    /// Moves every segment's place by `by` bytes, as a corrupt frame would.
    pub(crate) fn shift_segments_for_test(&mut self, by: i64) {
        self.segments.iter_mut().for_each(|segment| segment.at = segment.at.saturating_add_signed(by));
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;

#[cfg(all(test, not(loom)))]
#[path = "segments_tests.rs"]
mod segments_tests;
