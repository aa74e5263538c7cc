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
            let flat = self.flat();
            *self = Batch::adopt(flat);
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
                let mut data = Vec::new();
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

    /// The one value's bytes with its segments in their places (a copy: for a transport without
    /// segments, or a batch that grows).
    fn flat(&self) -> Vec<u8> {
        if let Some(kept) = &self.kept {
            // The value wrote these bytes once already; if it cannot again, its decoding fails.
            return kept.flat().unwrap_or_default();
        }
        let blocks = self.received.as_ref().map_or(&[][..], |(blocks, _)| &blocks[..]);
        let (mut flat, mut from) = (Vec::new(), 0);
        for (segment, block) in self.segments.iter().zip(blocks) {
            let at = (segment.at as usize).min(self.bytes().len()).max(from);
            flat.extend_from_slice(&self.bytes()[from..at]);
            flat.extend_from_slice(block.bytes());
            from = at;
        }
        flat.extend_from_slice(&self.bytes()[from..]);
        flat
    }

    /// The one item of a batch of one, without a copy.
    pub(crate) fn into_single(mut self) -> Option<Owned> {
        let whole = match &self.layout {
            Layout::Fixed { width, count: 1 } => *width as usize == self.bytes().len(),
            Layout::Ends(ends) => ends[..] == [self.bytes().len()],
            Layout::Fixed { .. } => false,
        };
        if !whole {
            return None;
        }
        if self.segments.is_empty() {
            return Some(self.take_storage());
        }
        let Some((blocks, intact)) = self.received.take() else {
            return Some(Owned::Bytes(self.flat()));
        };
        let main = match self.take_storage() {
            Owned::Numbers(numbers) => match numbers.into_any().downcast::<Block>() {
                Ok(block) => *block,
                Err(_) => return None,
            },
            _ => return None,
        };
        let segments = self.segments.iter().map(|segment| segment.at as usize).zip(blocks).collect();
        Some(Owned::Parts(Box::new(Parts { main, segments, intact })))
    }

    /// How many bytes the items take, with their segments.
    pub(crate) fn data_len(&self) -> usize {
        self.segments.iter().fold(self.bytes().len(), |len, segment| len.saturating_add(segment.len as usize))
    }

    /// The items' bytes (a value's segments apart).
    #[cfg(test)]
    pub(crate) fn data(&self) -> &[u8] {
        self.bytes()
    }

    /// Sends what follows the frame of this batch sent detached (see [`Batch::wire`]): its
    /// bytes, then its segments (see [`segments::send_segments`]). `send` sends one run of bytes.
    pub(crate) fn send_detached(
        &self,
        send: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        send(self.bytes())?;
        match &self.kept {
            Some(kept) => segments::send_segments(kept, self.bytes(), &self.segments, send),
            None => Ok(()),
        }
    }

    /// Takes out what [`Batch::send_detached`] sends, for a batch whose frame is sent first.
    pub(crate) fn detach(&mut self) -> Detached {
        let kept = self.kept.take();
        let segments = if kept.is_some() { self.segments.clone() } else { Vec::new() };
        Detached { main: self.take_storage(), segments, kept }
    }

    /// The segments its frame announced.
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Takes the items' bytes out without a copy (a vector it adopted stays that vector),
    /// leaving the layout and the alignment: the batch is then detached.
    pub(crate) fn take_storage(&mut self) -> Owned {
        match self.numbers.take() {
            Some(numbers) => {
                self.align = numbers.align() as u8;
                Owned::Numbers(numbers)
            }
            None => Owned::Bytes(std::mem::take(&mut self.data.0)),
        }
    }

    /// How many bytes its layout says its items take: what a detached batch waits for. `None`
    /// if that is more than this machine can address.
    pub(crate) fn expected_len(&self) -> Option<usize> {
        match &self.layout {
            Layout::Fixed { width, count } => usize::try_from(u64::from(*width) * u64::from(*count)).ok(),
            Layout::Ends(ends) => Some(ends.last().copied().unwrap_or(0)),
        }
    }

    /// The alignment its sender gave for the block its detached bytes go into.
    pub(crate) fn align(&self) -> usize {
        usize::from(self.align)
    }

    /// Puts back the bytes of a detached batch, in the block they arrived in, with its
    /// segments and the sender's verdict on them; false if they do not fit its layout.
    pub(crate) fn attach(&mut self, block: Block, segments: Vec<Block>, intact: bool) -> bool {
        self.data.0 = Vec::new();
        self.numbers = Some(Box::new(block));
        let fits = segments.len() == self.segments.len()
            && segments
                .iter()
                .zip(&self.segments)
                .all(|(block, segment)| block.bytes().len() as u64 == segment.len)
            && segments::check(&self.segments, self.bytes().len()).is_ok();
        self.received = (!self.segments.is_empty()).then_some((segments, intact));
        fits && self.is_well_formed() && (self.segments.is_empty() || self.len() == 1)
    }

    /// The batch as it goes into a frame: whole, or `detached` (its bytes travel apart).
    /// A batch with segments that is not detached goes whole: its value's bytes with the
    /// segments in their places, as a batch of one item (a copy).
    pub(crate) fn wire(&self, detached: bool) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct Wire<'a> {
            data: Bytes<'a>,
            layout: &'a Layout,
            align: u8,
            segments: &'a [Segment],
        }
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Either<'a> {
            Borrowed(Wire<'a>),
            Flat(FlatWire),
        }
        #[derive(Serialize)]
        struct FlatWire {
            data: ByteBuf,
            layout: Layout,
            align: u8,
            segments: Vec<Segment>,
        }
        let align = self.numbers.as_ref().map_or(self.align, |numbers| numbers.align() as u8);
        // (A batch whose parts were taken out to be sent after its frame keeps its segments.)
        let holds_parts = self.kept.is_some() || self.received.is_some();
        if !detached && !self.segments.is_empty() && holds_parts {
            let flat = Batch::adopt(self.flat());
            return Either::Flat(FlatWire {
                data: flat.data,
                layout: flat.layout,
                align: 1,
                segments: Vec::new(),
            });
        }
        let data = Bytes(if detached { &[] } else { self.bytes() });
        let segments = &self.segments[..];
        Either::Borrowed(Wire { data, layout: &self.layout, align, segments })
    }

    /// Appends `value`, encoded (see [`codec`]); on error the batch is left as it was.
    pub(crate) fn push<T: Serialize + 'static>(&mut self, value: &T) -> Result<(), codec::Error> {
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

/// What follows the frame of a batch sent detached, taken out of it (see [`Batch::detach`]).
pub(crate) struct Detached {
    main: Owned,
    segments: Vec<Segment>,
    kept: Option<Kept>,
}

impl Detached {
    /// Sends it, as [`Batch::send_detached`] does.
    pub(crate) fn send(&self, send: &mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
        send(self.main.bytes())?;
        match &self.kept {
            Some(kept) => segments::send_segments(kept, self.main.bytes(), &self.segments, send),
            None => Ok(()),
        }
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
