//! A [`Batch`] on its way: its form in a frame, its bytes sent apart from the frame (with its
//! value's segments), taken out, and put back as they arrived.

use super::{Batch, Block, ByteBuf, Bytes, Layout, Owned, Parts, Segment, segments};
use crate::remote::segments::Kept;
use serde::Serialize;

impl Batch {
    /// The one value's bytes with its segments in their places (a copy: for a transport without
    /// segments, or a batch that grows); an error if the value kept cannot be written again.
    pub(super) fn flat(&self) -> Result<Vec<u8>, String> {
        if let Some(kept) = &self.kept {
            return kept.flat();
        }
        let blocks = self.received.as_ref().map_or(&[][..], |(blocks, _)| &blocks[..]);
        let places = self.segments.iter().map(|segment| segment.at as usize);
        Ok(segments::splice(self.bytes(), places.zip(blocks.iter().map(Block::bytes))))
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
            return self.flat().ok().map(Owned::Bytes);
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
        segments::send_after(self.bytes(), &self.segments, self.kept.as_ref(), send)
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
            Failed(Failed),
        }
        /// A value that could not be written again: its frame cannot be written either.
        struct Failed(String);
        impl Serialize for Failed {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom(format!("a value with segments written flat: {}", self.0)))
            }
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
            let flat = match self.flat() {
                Ok(flat) => Batch::adopt(flat),
                Err(why) => return Either::Failed(Failed(why)),
            };
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
        segments::send_after(self.main.bytes(), &self.segments, self.kept.as_ref(), send)
    }
}
