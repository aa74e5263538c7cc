//! [`Batch`]: a task's items (or their results), each encoded on its own, in one buffer.

use super::codec;
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Encoded items in one buffer: item `i` is `data[ends[i - 1]..ends[i]]` (from 0 for the first).
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub(crate) struct Batch {
    data: ByteBuf,
    ends: Vec<usize>,
}

impl Batch {
    /// A batch of the one item `value`.
    pub(crate) fn single<T: Serialize + 'static>(value: &T) -> Result<Batch, codec::Error> {
        let mut batch = Batch::default();
        batch.push(value)?;
        Ok(batch)
    }

    /// Appends `value`, encoded (see [`codec`]); on error the batch is left as it was.
    pub(crate) fn push<T: Serialize + 'static>(&mut self, value: &T) -> Result<(), codec::Error> {
        codec::encode_into(value, &mut self.data.0)?;
        self.ends.push(self.data.0.len());
        Ok(())
    }

    /// Appends bytes that are already one encoded item.
    pub(crate) fn push_encoded(&mut self, bytes: &[u8]) {
        self.data.0.extend_from_slice(bytes);
        self.ends.push(self.data.0.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The items, in order; `None` for the first one whose bounds are not inside the buffer
    /// (a batch from a broken peer), and nothing after it.
    pub(crate) fn items(&self) -> impl Iterator<Item = Option<&[u8]>> {
        let data = &self.data.0[..];
        let mut start = 0;
        let mut broken = false;
        self.ends.iter().map_while(move |&end| {
            if broken {
                return None;
            }
            let item = data.get(start..end);
            broken = item.is_none();
            start = end;
            Some(item)
        })
    }

    /// True if every item's bounds are inside the buffer.
    pub(crate) fn is_well_formed(&self) -> bool {
        self.items().all(|item| item.is_some())
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

/// Bytes that serde moves as one block (`serialize_bytes`), not byte by byte.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ByteBuf(pub(crate) Vec<u8>);

impl Serialize for ByteBuf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                // Never trust a length hint from a peer with an allocation.
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(byte) = seq.next_element()? {
                    bytes.push(byte);
                }
                Ok(ByteBuf(bytes))
            }
        }
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_items_apart_and_resend_their_tails() {
        let mut batch = Batch::default();
        for word in ["a", "bb", "", "dddd"] {
            batch.push(&word.to_owned()).unwrap();
        }
        let words: Vec<String> = batch.items().map(|item| codec::decode(item.unwrap()).unwrap()).collect();
        assert_eq!(words, ["a", "bb", "", "dddd"]);
        let tail: Vec<String> =
            batch.tail(2).items().map(|item| codec::decode(item.unwrap()).unwrap()).collect();
        assert_eq!(tail, ["", "dddd"]);
    }

    #[test]
    fn a_batch_pointing_outside_its_buffer_is_caught() {
        let bad = Batch { data: ByteBuf(vec![1, 2]), ends: vec![1, 9, 2] };
        assert!(!bad.is_well_formed());
        assert_eq!(bad.items().filter(Option::is_some).count(), 1);
        let backwards = Batch { data: ByteBuf(vec![1, 2]), ends: vec![2, 1] };
        assert!(!backwards.is_well_formed());
    }
}
