//! How a task's argument or result becomes bytes and back: postcard, except for the types that
//! are bytes already. A `Vec<u8>` (or `String`) argument or result travels as its own bytes,
//! copied in one go, not as postcard's sequence of one-byte elements.
//!
//! Both sides know the type (the parent from `submit`'s signature, the worker from the
//! trampoline, which is monomorphised for it), so no tag travels: the choice is made by
//! `TypeId` at compile time.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};

/// Why a value could not be encoded or decoded.
pub(crate) type Error = String;

/// Appends `value`, encoded, to `out`; on error `out` is left as it was.
pub(crate) fn encode_into<T: Serialize + 'static>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    let any = value as &dyn Any;
    if let Some(bytes) = any.downcast_ref::<Vec<u8>>() {
        out.extend_from_slice(bytes);
        return Ok(());
    }
    if let Some(text) = any.downcast_ref::<String>() {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    /// Appends to the buffer in place (postcard's `to_extend` takes its writer by value, and
    /// would lose the buffer on an error).
    struct Append<'a>(&'a mut Vec<u8>);
    impl Extend<u8> for Append<'_> {
        fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
            self.0.extend(bytes);
        }
    }
    let start = out.len();
    postcard::to_extend(value, Append(out)).map(drop).map_err(|e| {
        out.truncate(start);
        e.to_string()
    })
}

/// Decodes a `T` from exactly `bytes`.
pub(crate) fn decode<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, Error> {
    if TypeId::of::<T>() == TypeId::of::<Vec<u8>>() {
        return cast(bytes.to_vec());
    }
    if TypeId::of::<T>() == TypeId::of::<String>() {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        return cast(text.to_owned());
    }
    postcard::from_bytes(bytes).map_err(|e| e.to_string())
}

/// `value` as a `T`, which the caller checked it is.
fn cast<T: 'static, V: 'static>(value: V) -> Result<T, Error> {
    let boxed: Box<dyn Any> = Box::new(value);
    boxed.downcast::<T>().map(|t| *t).map_err(|_| "a value of an unexpected type".to_owned())
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
    fn bytes_and_text_travel_raw_everything_else_as_postcard() {
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
    fn text_that_is_not_utf8_is_an_error() {
        assert!(decode::<String>(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
