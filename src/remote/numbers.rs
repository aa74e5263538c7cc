//! Vectors of plain numbers as one block of bytes: a `Vec<N>`, `Box<[N]>` or a vector of fixed
//! arrays of them (`Vec<[f32; 3]>`), for `N` one of `u8`..`u64`, `i8`..`i64`, `f32`, `f64`,
//! travels as its elements' little-endian bytes one after another, copied in one go, and comes
//! back with a length check and one tight loop, not element by element through serde.
//!
//! `usize`, `isize`, `u128` and `i128` are not plain here: their vectors go through the general
//! format as before (`usize` must travel as 64 bits and be checked on a 32-bit peer).

use super::block::Block;
pub(crate) use super::plain::Plain;
use super::segments::Parts;
use std::any::{Any, TypeId};

/// Why bytes are not a vector of numbers.
type Error = String;

/// The bytes of `values` as they travel: on a little-endian target, the memory itself.
#[cfg(target_endian = "little")]
pub(crate) fn as_bytes<N: Plain>(values: &[N]) -> &[u8] {
    // SAFETY: `Plain` is sealed and implemented only for the primitive integer and float types
    // and arrays of them, which have no padding, so all `size_of_val(values)` bytes from the
    // slice's start are initialised and belong to it; `u8` needs no alignment; the borrow keeps
    // `values` alive and unchanged for the returned slice's lifetime. On a little-endian target
    // these bytes are each value's `to_le_bytes` in order, the wire form.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
}

/// Appends the wire form of `values` to `out`: one copy.
pub(crate) fn write<N: Plain>(values: &[N], out: &mut Vec<u8>) {
    #[cfg(target_endian = "little")]
    out.extend_from_slice(as_bytes(values));
    #[cfg(not(target_endian = "little"))]
    {
        out.reserve(size_of_val(values));
        values.iter().for_each(|v| v.write(out));
    }
}

/// The values `bytes` holds, which must be a whole number of them; allocates exactly once, no
/// more than the input's size (an error, not an abort, if that cannot be had). On a
/// little-endian target, one copy into a [`Block`] that becomes the vector.
pub(crate) fn read<N: Plain>(bytes: &[u8]) -> Result<Vec<N>, Error> {
    if N::WIDTH == 0 {
        return Err("a vector of zero-sized values does not travel as numbers".into());
    }
    if bytes.len() % N::WIDTH != 0 {
        return Err(format!("{} bytes are not a whole number of values of {} bytes", bytes.len(), N::WIDTH));
    }
    #[cfg(target_endian = "little")]
    {
        let mut block = match Block::new(bytes.len(), align_of::<N>()) {
            Ok(block) => block,
            // Out of memory ends the process, as for any `Vec` (a worker's memory limit names it).
            Err(super::block::BlockError::NoMemory(layout)) => std::alloc::handle_alloc_error(layout),
            Err(super::block::BlockError::Invalid(why)) => return Err(why),
        };
        block.fill(bytes);
        // `WIDTH` is `size_of::<N>()` (no padding), so a full block of `N`'s alignment is one.
        block.into_vec::<N>().map_err(|_| "a block that is not a vector".to_owned())
    }
    #[cfg(not(target_endian = "little"))]
    {
        let mut values = Vec::with_capacity(bytes.len() / N::WIDTH);
        values.extend(bytes.chunks_exact(N::WIDTH).map(N::read));
        Ok(values)
    }
}

/// Runs `$body!(element type)` for every element type whose vectors travel as numbers.
macro_rules! for_plain_elements {
    ($body:ident) => {
        for_plain_elements!(@numbers $body, u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
    };
    (@numbers $body:ident, $($n:ty),*) => {$(
        $body!($n);
        $body!([$n; 2]);
        $body!([$n; 3]);
        $body!([$n; 4]);
        $body!([$n; 6]);
        $body!([$n; 8]);
        $body!([$n; 9]);
        $body!([$n; 16]);
    )*};
}
pub(crate) use for_plain_elements;

/// If `value` is a vector (or boxed slice) of plain numbers, appends its wire form to `out`
/// and says so.
pub(crate) fn encode<T: 'static>(value: &T, out: &mut Vec<u8>) -> bool {
    let any = value as &dyn Any;
    macro_rules! try_element {
        ($e:ty) => {
            if let Some(values) = any.downcast_ref::<Vec<$e>>() {
                write::<$e>(values, out);
                return true;
            }
            if let Some(values) = any.downcast_ref::<Box<[$e]>>() {
                write::<$e>(values, out);
                return true;
            }
        };
    }
    for_plain_elements!(try_element);
    false
}

/// True if `T` is a vector (or boxed slice) of plain numbers.
pub(crate) fn is_vector<T: 'static>() -> bool {
    macro_rules! try_element {
        ($e:ty) => {
            if TypeId::of::<T>() == TypeId::of::<Vec<$e>>() || TypeId::of::<T>() == TypeId::of::<Box<[$e]>>()
            {
                return true;
            }
        };
    }
    for_plain_elements!(try_element);
    false
}

/// If `T` is a vector (or boxed slice) of plain numbers, decodes it from exactly `bytes`.
pub(crate) fn decode<T: 'static>(bytes: &[u8]) -> Option<Result<T, Error>> {
    macro_rules! try_element {
        ($e:ty) => {
            if TypeId::of::<T>() == TypeId::of::<Vec<$e>>() {
                return Some(read::<$e>(bytes).and_then(cast));
            }
            if TypeId::of::<T>() == TypeId::of::<Box<[$e]>>() {
                return Some(read::<$e>(bytes).map(Vec::into_boxed_slice).and_then(cast));
            }
        };
    }
    for_plain_elements!(try_element);
    None
}

/// `value` as a `T`, which the caller checked it is (no allocation: the value moves through
/// an `Option` seen as `dyn Any`).
pub(crate) fn cast<T: 'static, V: 'static>(value: V) -> Result<T, Error> {
    let mut slot = Some(value);
    (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<T>>()
        .and_then(Option::take)
        .ok_or_else(|| "a value of an unexpected type".to_owned())
}

/// A vector of plain numbers seen as its bytes (the wire form), so that a batch can own it and
/// send it from its own memory; or a [`Block`] received for one.
pub(crate) trait NumberBytes: Owner + Send + Sync + 'static {
    /// The vector's wire form.
    fn bytes(&self) -> &[u8];
    /// The alignment of its elements, which a receiver gives the block it receives it into.
    fn align(&self) -> usize;
}

/// What every [`NumberBytes`] does the same way: clone itself into a box, and be taken out by
/// type.
pub(crate) trait Owner {
    /// The same vector, in a box of its own.
    fn clone_box(&self) -> Box<dyn NumberBytes>;
    /// The vector itself, to be taken out by type.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    /// The vector itself, to ask its type.
    fn as_any(&self) -> &dyn Any;
}

impl<T: NumberBytes + Clone> Owner for T {
    fn clone_box(&self) -> Box<dyn NumberBytes> {
        Box::new(self.clone())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(target_endian = "little")]
impl<N: Plain + Send + Sync> NumberBytes for Vec<N> {
    fn bytes(&self) -> &[u8] {
        as_bytes(self)
    }
    fn align(&self) -> usize {
        align_of::<N>()
    }
}

impl NumberBytes for Block {
    fn bytes(&self) -> &[u8] {
        Block::bytes(self)
    }
    fn align(&self) -> usize {
        Block::align(self)
    }
}

impl Clone for Box<dyn NumberBytes> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// The one value of a batch, taken out of it without a copy: bytes, or a vector of numbers (the
/// one it was given, or a block it received).
pub(crate) enum Owned {
    Bytes(Vec<u8>),
    Numbers(Box<dyn NumberBytes>),
    /// A value that arrived with segments (see `segments`).
    Parts(Box<Parts>),
}

impl Owned {
    /// Its wire form.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Owned::Bytes(bytes) => bytes,
            Owned::Numbers(numbers) => numbers.bytes(),
            Owned::Parts(parts) => parts.main.bytes(),
        }
    }

    /// As a `Vec<N>`: the vector itself where it is one (or a block that can become one), a
    /// decoded copy otherwise.
    pub(crate) fn into_vec<N: Plain>(self) -> Result<Vec<N>, Error> {
        let numbers = match self {
            Owned::Bytes(bytes) if TypeId::of::<N>() == TypeId::of::<u8>() => return cast(bytes),
            Owned::Bytes(bytes) => return read(&bytes),
            Owned::Numbers(numbers) => numbers,
            Owned::Parts(_) => return Err("a vector of numbers sent with segments".to_owned()),
        };
        if !(numbers.as_any().is::<Vec<N>>() || numbers.as_any().is::<Block>()) {
            return read(numbers.bytes());
        }
        let any = match numbers.into_any().downcast::<Vec<N>>() {
            Ok(values) => return Ok(*values),
            Err(any) => any,
        };
        match any.downcast::<Block>() {
            Ok(block) => block.into_vec::<N>().or_else(|block| read(block.bytes())),
            Err(_) => Err("a vector of an unexpected type".to_owned()),
        }
    }
}

impl PartialEq for dyn NumberBytes {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl std::fmt::Debug for dyn NumberBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NumberBytes({} bytes)", self.bytes().len())
    }
}

/// If `T` is a vector (or boxed slice) of plain numbers, `owned` as one (the vector itself
/// where it can be: see [`Owned::into_vec`]); otherwise `owned` back.
pub(crate) fn decode_owned<T: 'static>(owned: Owned) -> Result<Result<T, Error>, Owned> {
    macro_rules! try_element {
        ($e:ty) => {
            if TypeId::of::<T>() == TypeId::of::<Vec<$e>>() {
                return Ok(owned.into_vec::<$e>().and_then(cast));
            }
            if TypeId::of::<T>() == TypeId::of::<Box<[$e]>>() {
                return Ok(owned.into_vec::<$e>().map(Vec::into_boxed_slice).and_then(cast));
            }
        };
    }
    for_plain_elements!(try_element);
    Err(owned)
}

/// If the value in `slot` is a vector (or boxed slice) of plain numbers, takes it out as a
/// vector whose memory is its wire form (moved, not copied; on a little-endian target only).
/// Any other value stays in the slot.
pub(crate) fn take_vector<T: 'static>(slot: &mut Option<T>) -> Option<Box<dyn NumberBytes>> {
    #[cfg(target_endian = "little")]
    {
        let any = slot as &mut dyn Any;
        macro_rules! try_element {
            ($e:ty) => {
                if let Some(values) = any.downcast_mut::<Option<Vec<$e>>>() {
                    return values.take().map(|v| Box::new(v) as Box<dyn NumberBytes>);
                }
                if let Some(values) = any.downcast_mut::<Option<Box<[$e]>>>() {
                    return values.take().map(|v| Box::new(v.into_vec()) as Box<dyn NumberBytes>);
                }
            };
        }
        for_plain_elements!(try_element);
    }
    #[cfg(not(target_endian = "little"))]
    let _ = slot;
    None
}
