//! The serde data format of task values that are not bytes or numbers already (see `codec`):
//! like postcard, not self-describing (both sides are the same binary and know the type), but
//! every number at its fixed width, little-endian, so that a sequence of numbers inside a
//! struct (a `Vec<f64>` or `Vec<u32>` field) is its elements' bytes, written and read in one
//! copy (see `bulk`), with no varint and no serde call per element.
//!
//! The form: `bool` one byte (0 or 1); integers and floats their `to_le_bytes` (`usize` and
//! `isize` travel as 64 bits, as serde passes them); `char` as `u32`; strings and bytes a `u64`
//! length then the bytes; `Option` a tag byte then the value; a sequence or map a `u64` count
//! then its elements; tuples and structs their fields in order; an enum its `u32` variant
//! index then its content; unit types nothing.
//!
//! Decoding checks every size before it is used: a count or length larger than the bytes left
//! is an error before anything is allocated (so a sequence of values that take no bytes, such
//! as `Vec<()>`, is refused on both sides); short input, bytes left over, a bad tag, a bad
//! `char` or UTF-8 are errors; nothing panics.

mod bulk;
mod de;
mod error;
mod ser;

use crate::remote::segments::{Cursor, Sink};
pub(crate) use error::Error;

/// Appends `value` in this format to `out`; on error `out` may hold part of it (the caller
/// truncates).
pub(crate) fn write<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    value.serialize(&mut ser::Serializer { out, sink: None })
}

/// As [`write`], telling `sink` of every sequence of plain numbers, which it may take as a
/// segment (see `segments`): its count is then written, and not its elements.
pub(crate) fn write_with<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    sink: &mut dyn Sink,
) -> Result<(), Error> {
    value.serialize(&mut ser::Serializer { out, sink: Some(sink) })
}

/// Reads a `T` from exactly `bytes`.
pub(crate) fn read<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    finish(bytes, None)
}

/// Reads a `T` from exactly `bytes` and the segments of `cursor`, each where it was announced.
pub(crate) fn read_parts<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    cursor: Cursor<'_>,
) -> Result<T, Error> {
    finish(bytes, Some(cursor))
}

fn finish<'de, T: serde::Deserialize<'de>>(
    bytes: &'de [u8],
    segments: Option<Cursor<'de>>,
) -> Result<T, Error> {
    let mut deserializer = de::Deserializer { input: bytes, segments };
    let value = T::deserialize(&mut deserializer)?;
    let unread = deserializer.segments.as_ref().map_or(0, Cursor::left);
    match deserializer.input.len() {
        _ if unread > 0 => Err(Error(format!("{unread} segments not where they were announced"))),
        0 => Ok(value),
        left => Err(Error(format!("{left} bytes left over after the value"))),
    }
}

#[cfg(test)]
mod tests;
