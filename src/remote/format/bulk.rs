//! Sequences of plain numbers (see `numbers`) in one copy: a `Vec<f64>`, `Box<[i16]>` or
//! `Vec<[f32; 3]>` anywhere inside a value (a struct's or an enum's field, an `Option`, the
//! elements of a `Vec<Vec<u32>>`, a map's values) is written as its count and its elements'
//! bytes in one copy, and read back with one size check and one allocation, instead of a
//! serde call per element. The bytes are exactly those of the element-by-element path: a `u64`
//! count, then each number's `to_le_bytes` (an array's numbers one after another).
//!
//! How such a sequence is recognised:
//!
//! - Writing: serde's `Serialize` for `Vec<T>` and `[T]` (which `Box<[T]>`, `Arc<[T]>`,
//!   `Cow<[T]>` forward to) calls `collect_seq(self)`, so the iterator is a `&Vec<N>` or a
//!   `&[N]`. Its lifetime keeps `std::any::TypeId` out; `typeid::of` compares types with
//!   lifetimes erased, which is exact here since `Vec<N>` and `[N]` have none of their own.
//! - Reading: serde's `Deserialize` for `Vec<T>` (which `Box<[T]>` goes through) passes its
//!   own visitor to `deserialize_seq`. Only that visitor takes the fast path, not every visitor
//!   whose value is a `Vec<N>`: a `deserialize_with` (or serde_with's `Vec<DisplayFromStr>`) can
//!   build a `Vec<f64>` from elements of another type, which must still be read one by one.
//!   Serde's visitor type is private, so `vec_visitor` asks `Vec<N>::deserialize` for it.

use super::error::Error;
use crate::remote::numbers::{self, Plain, for_plain_elements};
use crate::remote::segments::{Cursor, Sink};
use serde::de::{self, Deserialize, DeserializeOwned, Visitor};
use std::any::TypeId;
use std::mem::ManuallyDrop;

/// From this many bytes on, a vector's copy asks for huge pages first (a system call, worth it
/// only when it spares hundreds of page faults).
const HUGE_FROM: usize = 2 << 20;

/// If `iter` (what `collect_seq` was given) is a `&Vec<N>` or a `&[N]` for a plain `N`, writes
/// its count and elements (or, if `sink` takes them as a segment, its count only) and says so;
/// otherwise writes nothing.
pub(super) fn write<'s, I>(
    out: &mut Vec<u8>,
    iter: &I,
    sink: Option<&mut (dyn Sink + 's)>,
) -> Result<bool, Error> {
    macro_rules! try_element {
        ($e:ty) => {
            if let Some(values) = plain_slice::<I, $e>(iter) {
                if let Some(sink) = sink
                    && sink.sequence(out.len() + 8, numbers::as_bytes(values), align_of::<$e>()).map_err(Error)?
                {
                    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
                    return Ok(true);
                }
                let size = 8 + size_of_val(values);
                out.reserve(size);
                if size >= HUGE_FROM {
                    // Megabytes about to be written into fresh memory: in huge pages.
                    crate::sys::prefer_huge_pages(&mut out.spare_capacity_mut()[..size]);
                }
                out.extend_from_slice(&(values.len() as u64).to_le_bytes());
                numbers::write(values, out);
                #[cfg(test)]
                taken(0);
                return Ok(true);
            }
        };
    }
    for_plain_elements!(try_element);
    Ok(false)
}

/// `iter` as a slice of `N`, if it is a `&Vec<N>` or a `&[N]`.
fn plain_slice<'i, I, N: Plain>(iter: &'i I) -> Option<&'i [N]> {
    // `N` is a number or an array of numbers (`Plain` is sealed): no lifetime. So the only
    // types with the id of `&'static Vec<N>` (`&'static [N]`) are `&'a Vec<N>` (`&'a [N]`) for
    // some `'a`, and `'a` outlives `'i` since `&'i I` is a valid type.
    if typeid::of::<I>() == TypeId::of::<&'static Vec<N>>() {
        // SAFETY: `I` is `&'a Vec<N>` with `'a: 'i` (above): reading the reference out of `iter`
        // copies a `Copy` value of that very type, and shortening `'a` to `'i` is a subtyping.
        return Some(unsafe { *(iter as *const I).cast::<&'i Vec<N>>() });
    }
    if typeid::of::<I>() == TypeId::of::<&'static [N]>() {
        // SAFETY: as above, `I` is `&'a [N]` with `'a: 'i`.
        return Some(unsafe { *(iter as *const I).cast::<&'i [N]>() });
    }
    None
}

/// If `V` is the visitor of serde's `Deserialize for Vec<N>` for a plain `N`, reads a count and
/// that many `N`s in one go (from the segment at this place, if there is one) and returns the
/// vector; `None` (having read nothing) otherwise.
pub(super) fn read<'de, V: Visitor<'de>>(
    input: &mut &'de [u8],
    segments: Option<&mut Cursor<'de>>,
) -> Option<Result<V::Value, Error>> {
    let value = typeid::of::<V::Value>();
    macro_rules! try_element {
        ($e:ty) => {
            // The first test is settled at compile time; the second only runs if it holds.
            if value == TypeId::of::<Vec<$e>>() && Some(typeid::of::<V>()) == vec_visitor::<$e>() {
                return Some(values::<$e>(input, segments).and_then(cast::<V::Value, $e>));
            }
        };
    }
    for_plain_elements!(try_element);
    None
}

/// A count, then that many `N`s: the count is checked against the bytes left before anything is
/// allocated, so corrupt input is an error and never allocates more than its own size. If a
/// segment is at this place, the `N`s are its block, which becomes the vector.
fn values<'de, N: Plain>(input: &mut &'de [u8], segments: Option<&mut Cursor<'de>>) -> Result<Vec<N>, Error> {
    let Some((count, rest)) = input.split_first_chunk::<8>() else {
        return Err(Error(format!("8 bytes expected where {} are left", input.len())));
    };
    let count = u64::from_le_bytes(*count);
    let size = usize::try_from(count).ok().and_then(|count| count.checked_mul(N::WIDTH));
    if let Some(block) = segments.and_then(|segments| segments.take(rest.len())) {
        *input = rest;
        if size != Some(block.bytes().len()) {
            return Err(Error(format!("{count} values in a segment of {} bytes", block.bytes().len())));
        }
        #[cfg(test)]
        taken(1);
        return block.into_vec::<N>().or_else(|block| numbers::read(block.bytes())).map_err(Error);
    }
    let left = rest.len();
    match size {
        Some(size) if size <= left => {
            #[cfg(test)]
            taken(1);
            let (values, rest) = rest.split_at(size);
            *input = rest;
            numbers::read(values).map_err(Error)
        }
        _ => Err(Error(format!(
            "a length of {count} values of {} bytes where {left} bytes are left",
            N::WIDTH
        ))),
    }
}

/// `values` as a `T`, moved, not copied: an error (never reached: `read` checked it) if `T` is
/// not `Vec<N>`.
fn cast<T, N: Plain>(values: Vec<N>) -> Result<T, Error> {
    if typeid::of::<T>() != TypeId::of::<Vec<N>>() {
        return Err(Error("a vector of numbers read as another type".into()));
    }
    let values = ManuallyDrop::new(values);
    // SAFETY: `Vec<N>` has no lifetime (`N` is a number or an array of numbers: `Plain` is
    // sealed), so the only type whose id with lifetimes erased is that of `Vec<N>` is `Vec<N>`
    // itself: `T` is `Vec<N>`, same size, alignment and validity. `ptr::read` moves the vector
    // out of the `ManuallyDrop`, which is never dropped, so its buffer keeps a single owner.
    Ok(unsafe { std::ptr::read((&raw const *values).cast::<T>()) })
}

/// The id of the visitor that serde's `Deserialize for Vec<N>` passes to `deserialize_seq`,
/// caught by a deserializer that does nothing else (so `None` if serde ever stops calling it).
fn vec_visitor<N: Plain + DeserializeOwned>() -> Option<TypeId> {
    struct Probe(Option<TypeId>);
    impl<'de> de::Deserializer<'de> for &mut Probe {
        type Error = Error;
        fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            self.0 = Some(typeid::of::<V>());
            Err(Error(String::new()))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error(String::new()))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct tuple tuple_struct map struct enum identifier
            ignored_any
        }
    }
    let mut probe = Probe(None);
    let _ = <Vec<N> as Deserialize<'static>>::deserialize(&mut probe);
    probe.0
}

#[cfg(test)]
thread_local! {
    /// How many sequences this thread wrote (`[0]`) and read (`[1]`) here: the tests check that
    /// the fast path is the one taken.
    pub(super) static TAKEN: std::cell::Cell<[usize; 2]> = const { std::cell::Cell::new([0, 0]) };
}

#[cfg(test)]
fn taken(way: usize) {
    TAKEN.with(|taken| {
        let mut counts = taken.get();
        counts[way] += 1;
        taken.set(counts);
    });
}
