//! [`Plain`]: the number types (and fixed arrays of them) whose vectors travel as their
//! little-endian bytes (see `numbers`), and which a received block may become (see `block`).

/// A type whose values travel as `WIDTH` little-endian bytes: one of the number types above,
/// or an array of them. Every bit pattern of its bytes is a valid value, and it has no padding.
pub(crate) trait Plain: Copy + 'static + sealed::Sealed {
    /// Bytes per value.
    const WIDTH: usize;
    /// The value from exactly `WIDTH` bytes.
    #[cfg_attr(target_endian = "little", allow(dead_code))]
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
