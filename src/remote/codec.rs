//! How a task's argument or result becomes bytes and back. Types that are bytes already, and
//! plain numbers, have a form of their own; the rest goes through `format`, a serde format
//! with numbers at fixed width (so that a `Vec<f64>` or `Vec<u32>` field of a struct is a
//! tight loop, not a varint per element).
//!
//! - A `Vec<u8>` (or `String`) argument or result travels as its own bytes, copied in one go
//!   (or not at all: see `take_bytes`).
//! - A vector of plain numbers (`Vec<f64>`, `Box<[i32]>`, `Vec<[f32; 3]>`: see `numbers`) as
//!   its elements' little-endian bytes, copied in one go.
//! - A number (`u64`, `f32`, ...) as its fixed-width little-endian bytes, so that a chunk of
//!   numbers has items of one width (see `Batch`) and encodes and decodes in a tight loop.
//!
//! Both sides know the type (the parent from `submit`'s signature, the worker from the
//! trampoline, which is monomorphised for it), so no tag travels: the choice is made by
//! `TypeId` at compile time.

use super::format;
use super::numbers::{self, Owned, cast};
use super::segments::{Kept, Noted, Parts, Rewrite, Segment, Sink};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};

/// Why a value could not be encoded or decoded.
pub(crate) type Error = String;

/// Runs `$body` with `$ty` bound to the number type `T` is, if it is one.
macro_rules! for_number_types {
    ($t:ty, $body:ident) => {
        $body!($t, u8);
        $body!($t, u16);
        $body!($t, u32);
        $body!($t, u64);
        $body!($t, u128);
        $body!($t, usize);
        $body!($t, i8);
        $body!($t, i16);
        $body!($t, i32);
        $body!($t, i64);
        $body!($t, i128);
        $body!($t, isize);
        $body!($t, f32);
        $body!($t, f64);
    };
}

/// Appends `value`, encoded, to `out`; on error `out` is left as it was.
pub(crate) fn encode_into<T: Serialize + 'static>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    if encode_raw(value, out) {
        return Ok(());
    }
    let start = out.len();
    format::write(value, out).map_err(|e| {
        out.truncate(start);
        e.0
    })
}

/// Encodes `value`, which it takes, into the empty `out`: a value written in the format whose
/// large vectors of numbers are segments (see `segments`) is kept, with its segments, to send
/// them from; any other value is encoded as [`encode_into`] does, and dropped.
pub(crate) fn encode_in_parts<T: Serialize + Send + 'static>(
    value: T,
    out: &mut Vec<u8>,
) -> Result<Option<(Vec<Segment>, Kept)>, Error> {
    if encode_raw(&value, out) {
        return Ok(None);
    }
    let mut noted = Noted::default();
    if let Err(error) = format::write_with(&value, out, &mut noted) {
        out.clear();
        return Err(error.0);
    }
    if noted.segments.is_empty() {
        return Ok(None);
    }
    /// A value written again in the format (see `segments::Rewrite`).
    struct Again<T>(T);
    impl<T: Serialize + Send> Rewrite for Again<T> {
        fn rewrite(&self, out: &mut Vec<u8>, sink: &mut dyn Sink) -> Result<(), String> {
            format::write_with(&self.0, out, sink).map_err(|e| e.0)
        }
    }
    Ok(Some((noted.segments, Kept::new(Box::new(Again(value))))))
}

/// Appends `value` if it has a form of its own (a number, bytes, text, a vector of numbers) and
/// says so; writes nothing otherwise (the value goes through the format).
fn encode_raw<T: Serialize + 'static>(value: &T, out: &mut Vec<u8>) -> bool {
    let any = value as &dyn Any;
    macro_rules! number {
        ($t:ty, $n:ty) => {
            if let Some(n) = any.downcast_ref::<$n>() {
                // usize and isize travel as 64 bits, so 32- and 64-bit processes agree.
                out.extend_from_slice(&widen!($n, *n).to_le_bytes());
                return true;
            }
        };
    }
    for_number_types!(T, number);
    if let Some(bytes) = any.downcast_ref::<Vec<u8>>() {
        out.extend_from_slice(bytes);
        return true;
    }
    if let Some(text) = any.downcast_ref::<String>() {
        out.extend_from_slice(text.as_bytes());
        return true;
    }
    numbers::encode(value, out)
}

/// `usize`/`isize` as 64 bits on the wire; every other number as itself.
macro_rules! widen {
    (usize, $v:expr) => {
        ($v as u64)
    };
    (isize, $v:expr) => {
        ($v as i64)
    };
    ($n:ty, $v:expr) => {
        $v
    };
}
use widen;

/// Decodes a `T` from exactly `bytes`.
pub(crate) fn decode<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, Error> {
    macro_rules! number {
        ($t:ty, $n:ty) => {
            if TypeId::of::<$t>() == TypeId::of::<$n>() {
                return decode_number!($n, bytes);
            }
        };
    }
    for_number_types!(T, number);
    if TypeId::of::<T>() == TypeId::of::<Vec<u8>>() {
        return cast(bytes.to_vec());
    }
    if TypeId::of::<T>() == TypeId::of::<String>() {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        return cast(text.to_owned());
    }
    if let Some(values) = numbers::decode::<T>(bytes) {
        return values;
    }
    format::read(bytes).map_err(|e| e.0)
}

/// Decodes a number of type `$n` from exactly `bytes`, as a `T` (which it is).
macro_rules! decode_number {
    (usize, $bytes:expr) => {{
        let wide = u64::from_le_bytes(exact($bytes)?);
        cast(usize::try_from(wide).map_err(|_| format!("{wide} does not fit a usize here"))?)
    }};
    (isize, $bytes:expr) => {{
        let wide = i64::from_le_bytes(exact($bytes)?);
        cast(isize::try_from(wide).map_err(|_| format!("{wide} does not fit an isize here"))?)
    }};
    ($n:ty, $bytes:expr) => {
        cast(<$n>::from_le_bytes(exact($bytes)?))
    };
}
use decode_number;

/// `bytes` as an array of exactly `N` bytes.
fn exact<const N: usize>(bytes: &[u8]) -> Result<[u8; N], Error> {
    bytes.try_into().map_err(|_| format!("{} bytes where a number of {N} was expected", bytes.len()))
}

/// If the value in `slot` is bytes already (a `Vec<u8>`, a `String`), takes it out as its
/// bytes, moved, not copied; any other value stays in the slot.
pub(crate) fn take_bytes<T: 'static>(slot: &mut Option<T>) -> Option<Vec<u8>> {
    let any = slot as &mut dyn Any;
    if let Some(bytes) = any.downcast_mut::<Option<Vec<u8>>>() {
        return bytes.take();
    }
    if let Some(text) = any.downcast_mut::<Option<String>>() {
        return text.take().map(String::into_bytes);
    }
    None
}

/// Decodes a `T` from the one value of a batch, which it takes: a `Vec<u8>`, a `String` or a
/// vector of plain numbers is the memory itself where it can be, moved, not copied.
pub(crate) fn decode_owned<T: DeserializeOwned + 'static>(owned: Owned) -> Result<T, Error> {
    if let Owned::Parts(parts) = owned {
        return decode_parts(*parts);
    }
    if TypeId::of::<T>() == TypeId::of::<String>() {
        let bytes = owned.into_vec::<u8>()?;
        return cast(String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?);
    }
    match numbers::decode_owned::<T>(owned) {
        Ok(value) => value,
        Err(owned) => decode(owned.bytes()),
    }
}

/// Decodes a `T` that arrived with segments: only a value written in the format has them.
fn decode_parts<T: DeserializeOwned + 'static>(parts: Parts) -> Result<T, Error> {
    if has_own_form::<T>() {
        return Err("a value of a type that has no segments arrived with segments".into());
    }
    parts.decode(|bytes, cursor| format::read_parts(bytes, cursor).map_err(|e| e.0))
}

/// True if a `T` has a form of its own rather than the format's (a number, bytes, text, a
/// vector of numbers), settled by type.
fn has_own_form<T: 'static>() -> bool {
    macro_rules! number {
        ($t:ty, $n:ty) => {
            if TypeId::of::<$t>() == TypeId::of::<$n>() {
                return true;
            }
        };
    }
    for_number_types!(T, number);
    TypeId::of::<T>() == TypeId::of::<Vec<u8>>()
        || TypeId::of::<T>() == TypeId::of::<String>()
        || numbers::is_vector::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static>(value: T) {
        let mut bytes = vec![9];
        encode_into(&value, &mut bytes).unwrap();
        assert_eq!(decode::<T>(&bytes[1..]).unwrap(), value);
    }

    #[test]
    fn bytes_and_text_travel_raw_everything_else_in_the_format() {
        let mut bytes = Vec::new();
        encode_into(&vec![1u8, 2, 3], &mut bytes).unwrap();
        assert_eq!(bytes, [1, 2, 3]);
        round_trip(vec![0u8; 1000]);
        round_trip(String::from("héllo"));
        round_trip((1u32, String::from("x"), vec![1u8]));
        round_trip(vec![1u64, 2, 3]);
        round_trip(Vec::<u8>::new());
    }

    #[test]
    fn numbers_travel_at_their_fixed_width() {
        let mut bytes = Vec::new();
        encode_into(&1u64, &mut bytes).unwrap();
        assert_eq!(bytes, 1u64.to_le_bytes());
        let mut bytes = Vec::new();
        encode_into(&7usize, &mut bytes).unwrap();
        assert_eq!(bytes.len(), 8, "usize travels as 64 bits");
        round_trip(u8::MAX);
        round_trip(-3i16);
        round_trip(u128::MAX);
        round_trip(isize::MIN);
        round_trip(1.5f32);
        round_trip(f64::NAN.to_bits());
        assert!(decode::<u32>(&[1, 2, 3]).unwrap_err().contains("3 bytes"));
    }

    #[test]
    fn bytes_move_instead_of_being_copied() {
        let bytes = vec![1u8, 2, 3];
        let address = bytes.as_ptr();
        let moved = take_bytes(&mut Some(bytes)).unwrap();
        assert_eq!(moved.as_ptr(), address);
        let back: Vec<u8> = decode_owned(Owned::Bytes(moved)).unwrap();
        assert_eq!(back.as_ptr(), address);
        let mut number = Some(5u32);
        assert_eq!(take_bytes(&mut number), None);
        assert_eq!(number, Some(5), "a value that is not bytes stays");
        assert_eq!(decode_owned::<String>(Owned::Bytes(b"hi".to_vec())).unwrap(), "hi");
    }

    #[test]
    fn text_that_is_not_utf8_is_an_error() {
        assert!(decode::<String>(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
