//! Vectors of plain numbers as one block of bytes: a `Vec<N>`, `Box<[N]>` or a vector of fixed
//! arrays of them (`Vec<[f32; 3]>`), for `N` one of `u8`..`u64`, `i8`..`i64`, `f32`, `f64`,
//! travels as its elements' little-endian bytes one after another, copied in one go, and comes
//! back with a length check and one tight loop, not element by element through serde.
//!
//! `usize`, `isize`, `u128` and `i128` are not plain here: their vectors go through the general
//! format as before (`usize` must travel as 64 bits and be checked on a 32-bit peer).

use super::codec::Error;
use std::any::{Any, TypeId};

/// A type whose values travel as `WIDTH` little-endian bytes: one of the number types above,
/// or an array of them. Every bit pattern of its bytes is a valid value, and it has no padding.
pub(crate) trait Plain: Copy + 'static + sealed::Sealed {
    /// Bytes per value.
    const WIDTH: usize;
    /// The value from exactly `WIDTH` bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Appends the value's `WIDTH` bytes.
    #[cfg_attr(target_endian = "little", allow(dead_code))]
    fn write(self, out: &mut Vec<u8>);
}

mod sealed {
    /// Only the types this module implements `Plain` for.
    pub(crate) trait Sealed {}
}

macro_rules! plain_number {
    ($($n:ty),*) => {$(
        impl sealed::Sealed for $n {}
        impl Plain for $n {
            const WIDTH: usize = size_of::<$n>();
            #[inline(always)]
            fn read(bytes: &[u8]) -> Self {
                let mut array = [0; size_of::<$n>()];
                array.copy_from_slice(bytes);
                <$n>::from_le_bytes(array)
            }
            #[inline(always)]
            fn write(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
plain_number!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

impl<N: Plain, const K: usize> sealed::Sealed for [N; K] {}
impl<N: Plain, const K: usize> Plain for [N; K] {
    const WIDTH: usize = N::WIDTH * K;
    #[inline(always)]
    fn read(bytes: &[u8]) -> Self {
        std::array::from_fn(|i| N::read(&bytes[i * N::WIDTH..(i + 1) * N::WIDTH]))
    }
    #[inline(always)]
    fn write(self, out: &mut Vec<u8>) {
        self.into_iter().for_each(|n| n.write(out));
    }
}

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
/// more than the input's size.
pub(crate) fn read<N: Plain>(bytes: &[u8]) -> Result<Vec<N>, Error> {
    if N::WIDTH == 0 {
        return Err("a vector of zero-sized values does not travel as numbers".into());
    }
    if bytes.len() % N::WIDTH != 0 {
        return Err(format!("{} bytes are not a whole number of values of {} bytes", bytes.len(), N::WIDTH));
    }
    let mut values = Vec::with_capacity(bytes.len() / N::WIDTH);
    values.extend(bytes.chunks_exact(N::WIDTH).map(N::read));
    Ok(values)
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

/// If `T` is a vector (or boxed slice) of plain numbers, decodes it from exactly `bytes`.
pub(crate) fn decode<T: 'static>(bytes: &[u8]) -> Option<Result<T, Error>> {
    macro_rules! try_element {
        ($e:ty) => {
            if TypeId::of::<T>() == TypeId::of::<Vec<$e>>() {
                return Some(read::<$e>(bytes).and_then(super::codec::cast));
            }
            if TypeId::of::<T>() == TypeId::of::<Box<[$e]>>() {
                return Some(read::<$e>(bytes).map(Vec::into_boxed_slice).and_then(super::codec::cast));
            }
        };
    }
    for_plain_elements!(try_element);
    None
}

/// Decodes `data` as each form of vector of numbers, and as a batch whose items are read as
/// them: what a peer's bytes can reach here (for the fuzz target; none may panic).
#[cfg(fuzzing)]
pub(crate) fn fuzz_decode(data: &[u8]) {
    use super::batch::Batch;
    use super::codec::{decode, decode_owned};
    fn each_form(bytes: &[u8]) {
        let _ = decode::<Vec<u32>>(bytes);
        let _ = decode::<Vec<f64>>(bytes);
        let _ = decode::<Vec<i16>>(bytes);
        let _ = decode::<Box<[i8]>>(bytes);
        let _ = decode::<Vec<[f32; 3]>>(bytes);
        let _ = decode::<Box<[[u64; 16]]>>(bytes);
        let _ = decode::<Option<Vec<i16>>>(bytes);
        let _ = decode::<Vec<Vec<u32>>>(bytes);
    }
    each_form(data);
    let _ = decode_owned::<Vec<u64>>(data.to_vec());
    if let Ok(batch) = postcard::from_bytes::<Batch>(data) {
        batch.items().map_while(|item| item).for_each(each_form);
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::{decode, decode_owned, encode_into};
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;

    /// Encodes `value` after a byte that must stay, checks its size is exactly `bytes`, and
    /// decodes it back (borrowed and owned).
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug + 'static>(value: T, bytes: usize) {
        let mut out = vec![9];
        encode_into(&value, &mut out).unwrap();
        assert_eq!(out.len() - 1, bytes, "{value:?} travels as its bytes and nothing else");
        assert_eq!(decode::<T>(&out[1..]).unwrap(), value);
        assert_eq!(decode_owned::<T>(out[1..].to_vec()).unwrap(), value);
    }

    #[test]
    fn every_number_type_travels_as_its_bytes() {
        round_trip(vec![0u8, 1, 255], 3);
        round_trip(vec![u16::MAX, 0, 7], 6);
        round_trip(vec![u32::MAX, 1], 8);
        round_trip(vec![u64::MAX, 1 << 40], 16);
        round_trip(vec![i8::MIN, -1, i8::MAX], 3);
        round_trip(vec![i16::MIN, -1], 4);
        round_trip(vec![i32::MIN, -1], 8);
        round_trip(vec![i64::MIN, -1, 0], 24);
        round_trip(vec![1.5f32, -0.0, f32::INFINITY], 12);
        round_trip(vec![1.5f64, -0.0, f64::NEG_INFINITY, f64::MIN_POSITIVE], 32);
        round_trip(Vec::<f64>::new(), 0);
        round_trip(vec![1u32, 2, 3].into_boxed_slice(), 12);
        let mut out = Vec::new();
        encode_into(&vec![1u32, 0x0203_0405], &mut out).unwrap();
        assert_eq!(out, [1, 0, 0, 0, 5, 4, 3, 2], "little-endian, one after another");
    }

    #[test]
    fn floats_come_back_bit_for_bit() {
        let odd = [f64::NAN, -f64::NAN, f64::from_bits(0x7ff0_0000_0000_0001), -0.0, 0.0, f64::INFINITY];
        let mut out = Vec::new();
        encode_into(&odd.to_vec(), &mut out).unwrap();
        let back: Vec<f64> = decode(&out).unwrap();
        assert_eq!(back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(), odd.map(f64::to_bits));
        let odd = [f32::NAN, f32::from_bits(0xffc0_0001), -0.0];
        let mut out = Vec::new();
        encode_into(&odd.to_vec(), &mut out).unwrap();
        let back: Vec<f32> = decode(&out).unwrap();
        assert_eq!(back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(), odd.map(f32::to_bits));
    }

    #[test]
    fn arrays_of_numbers_travel_as_their_bytes() {
        round_trip(vec![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]], 24);
        round_trip(vec![[1u8, 2], [3, 4]], 4);
        round_trip(vec![[-1i64; 4]; 3], 96);
        round_trip(vec![[0.5f64; 16]].into_boxed_slice(), 128);
        round_trip(Vec::<[i16; 9]>::new(), 0);
    }

    #[test]
    fn other_vectors_keep_their_own_form() {
        // usize (64 bits on the wire, checked on the way in), 128-bit numbers, nested vectors
        // and options go through the general format as before.
        let mut out = Vec::new();
        encode_into(&vec![1usize, 2], &mut out).unwrap();
        assert_ne!(out.len(), 16);
        for value in [vec![u128::MAX], vec![7]] {
            let mut out = Vec::new();
            encode_into(&value, &mut out).unwrap();
            assert_eq!(decode::<Vec<u128>>(&out).unwrap(), value);
        }
        let nested = vec![vec![1u32, 2], vec![], vec![3]];
        let mut out = Vec::new();
        encode_into(&nested, &mut out).unwrap();
        assert_eq!(decode::<Vec<Vec<u32>>>(&out).unwrap(), nested);
        let maybe = Some(vec![-1i16, 2]);
        let mut out = Vec::new();
        encode_into(&maybe, &mut out).unwrap();
        assert_eq!(decode::<Option<Vec<i16>>>(&out).unwrap(), maybe);
    }

    #[test]
    fn bytes_that_are_not_whole_numbers_are_an_error() {
        assert!(decode::<Vec<u32>>(&[1, 2, 3, 4, 5]).unwrap_err().contains("whole number"));
        assert!(decode::<Vec<f64>>(&[0; 7]).unwrap_err().contains("7 bytes"));
        assert!(decode::<Vec<[f32; 3]>>(&[0; 16]).is_err());
        assert!(decode::<Box<[i16]>>(&[0; 3]).is_err());
        assert_eq!(decode::<Vec<u16>>(&[]).unwrap(), Vec::<u16>::new());
        assert!(decode_owned::<Vec<u64>>(vec![0; 9]).is_err());
    }

    #[test]
    fn a_corrupt_item_in_a_batch_fails_alone() {
        use super::super::batch::Batch;
        let mut batch = Batch::default();
        batch.push(&vec![1u32, 2]).unwrap();
        batch.push_encoded(&[1, 2, 3, 4, 5]);
        batch.push(&vec![3u32]).unwrap();
        let decoded: Vec<Result<Vec<u32>, String>> =
            batch.items().map(|item| decode(item.unwrap())).collect();
        assert_eq!(decoded[0], Ok(vec![1, 2]));
        assert!(decoded[1].as_ref().unwrap_err().contains("5 bytes"));
        assert_eq!(decoded[2], Ok(vec![3]));
    }
}
