//! [`Block`]: bytes received in pieces into memory laid out as the vector they will become.
//!
//! A large argument or result travels after its frame in pieces (see `process::pieces`). The
//! receiver does not know its Rust type yet, only its length and its elements' alignment (from
//! the frame), so it receives into a block allocated with exactly that size and alignment. If
//! the value turns out to be a `Vec<N>` of plain numbers of that alignment (or a `Vec<u8>`), the
//! block becomes the vector as it is ([`Block::into_vec`]); anything else is decoded from its
//! bytes. The allocation is the one place of the crate that builds a `Vec` from raw parts.

use super::plain::Plain;
use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// The largest alignment a block is made with: that of the widest plain number.
pub(crate) const MAX_ALIGN: usize = 8;

/// Why a block could not be made.
#[derive(Debug)]
pub(crate) enum BlockError {
    /// The length or alignment (a peer's word) is not one a block can have.
    Invalid(String),
    /// The memory could not be had: what an allocation of this layout would have reported to
    /// `handle_alloc_error`.
    NoMemory(Layout),
}

impl std::fmt::Display for BlockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockError::Invalid(why) => f.write_str(why),
            BlockError::NoMemory(layout) => write!(f, "{} bytes could not be allocated", layout.size()),
        }
    }
}

/// An owned allocation of exactly `len` bytes aligned to `align`, of which the first `filled`
/// are initialised.
pub(crate) struct Block {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
    filled: usize,
}

// SAFETY: a block owns its allocation alone, like a `Vec<u8>`; nothing else points into it.
unsafe impl Send for Block {}
// SAFETY: `&Block` only reads the initialised bytes (`bytes`); every change takes `&mut Block`.
unsafe impl Sync for Block {}

impl Block {
    /// Room for `len` bytes aligned to `align` (1, 2, 4 or 8: a peer's word, checked here). An
    /// error, never an abort, if the memory cannot be had: the caller decides.
    pub(crate) fn new(len: usize, align: usize) -> Result<Block, BlockError> {
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(BlockError::Invalid(format!(
                "an alignment of {align} bytes, where 1, 2, 4 or 8 was expected"
            )));
        }
        let layout = Layout::from_size_align(len, align)
            .map_err(|_| BlockError::Invalid(format!("{len} bytes cannot be laid out")))?;
        let ptr = if len == 0 {
            // Nothing is allocated for nothing: a well-aligned dangling pointer, as `Vec` uses.
            NonNull::new(std::ptr::without_provenance_mut(align))
                .ok_or_else(|| BlockError::Invalid("a zero alignment".to_owned()))?
        } else {
            // SAFETY: `layout` has a non-zero size.
            NonNull::new(unsafe { alloc::alloc(layout) }).ok_or(BlockError::NoMemory(layout))?
        };
        let mut block = Block { ptr, len, align, filled: 0 };
        crate::sys::prefer_huge_pages(block.unfilled());
        Ok(block)
    }

    /// A block holding a copy of `bytes`.
    #[cfg(test)]
    pub(crate) fn copy_of(bytes: &[u8], align: usize) -> Result<Block, BlockError> {
        let mut block = Block::new(bytes.len(), align)?;
        block.fill(bytes);
        Ok(block)
    }

    /// Appends `piece` after the bytes received so far; false (and nothing written) if it does
    /// not fit in what is left.
    pub(crate) fn fill(&mut self, piece: &[u8]) -> bool {
        if piece.len() > self.len - self.filled {
            return false;
        }
        // SAFETY: `filled + piece.len() <= len` (checked above), so the destination is inside
        // the allocation; `piece` is another object's memory, so the two do not overlap.
        unsafe { self.ptr.as_ptr().add(self.filled).copy_from_nonoverlapping(piece.as_ptr(), piece.len()) };
        self.filled += piece.len();
        true
    }

    /// The part not received yet.
    fn unfilled(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        // SAFETY: `[filled, len)` is inside the allocation and borrowed mutably with `self`;
        // `MaybeUninit` makes no claim about what it holds.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(self.filled).cast(), self.len - self.filled)
        }
    }

    /// Bytes still to come.
    pub(crate) fn missing(&self) -> usize {
        self.len - self.filled
    }

    /// The alignment it was made with.
    pub(crate) fn align(&self) -> usize {
        self.align
    }

    /// The bytes received so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the first `filled` bytes of the allocation were written by `fill`, and the
        // borrow of `self` keeps the allocation alive and unchanged.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.filled) }
    }

    /// The whole block as a vector of `N`, without a copy, if it is one: every byte arrived,
    /// the alignment is `N`'s and the length a whole number of `N`. Otherwise the block back.
    /// The bytes are little-endian: on a big-endian target only vectors of bytes are taken.
    pub(crate) fn into_vec<N: Plain>(self) -> Result<Vec<N>, Block> {
        let size = size_of::<N>();
        let bytes_only = align_of::<N>() == 1;
        if self.filled != self.len
            || self.align != align_of::<N>()
            || size == 0
            || self.len % size != 0
            || (cfg!(target_endian = "big") && !bytes_only)
        {
            return Err(self);
        }
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let count = self.len / size;
        let ptr = self.ptr.as_ptr().cast::<N>();
        std::mem::forget(self);
        // SAFETY: `ptr` was allocated by the global allocator with a layout of `count * size`
        // bytes (`len`, not zero) aligned to `align_of::<N>()` (checked above), which is the
        // layout of a `Vec<N>` with capacity `count`; all those bytes are initialised (`filled
        // == len`), and every bit pattern is a valid `N` (`Plain`: integers, floats and arrays
        // of them, without padding). The block was forgotten, so the vector owns it alone.
        Ok(unsafe { Vec::from_raw_parts(ptr, count, count) })
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `new` with this very layout (checked valid there), and not
            // handed on (`into_vec` forgets the block it hands on).
            unsafe {
                alloc::dealloc(self.ptr.as_ptr(), Layout::from_size_align_unchecked(self.len, self.align))
            };
        }
    }
}

impl Clone for Block {
    /// A block of the same size and alignment, holding the same bytes; out of memory, as for a
    /// `Vec`, is `handle_alloc_error` (its layout was valid when this block was made).
    fn clone(&self) -> Block {
        let layout = Layout::from_size_align(self.len, self.align).unwrap_or(Layout::new::<u8>());
        let mut copy = Block::new(self.len, self.align).unwrap_or_else(|_| alloc::handle_alloc_error(layout));
        copy.fill(self.bytes());
        copy
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Block({} of {} bytes, aligned to {})", self.filled, self.len, self.align)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_full_block_of_the_right_alignment_becomes_the_vector_itself() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64 * 0.5).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut block = Block::new(bytes.len(), 8).unwrap();
        for piece in bytes.chunks(999) {
            assert!(block.fill(piece));
        }
        assert_eq!(block.missing(), 0);
        let address = block.bytes().as_ptr();
        let back: Vec<f64> = block.into_vec().unwrap();
        assert_eq!(back, values);
        assert_eq!(back.as_ptr().cast::<u8>(), address, "not copied");
        let text: Vec<u8> = Block::copy_of(b"hello", 1).unwrap().into_vec().unwrap();
        assert_eq!(text, b"hello");
        let empty: Vec<u32> = Block::new(0, 4).unwrap().into_vec().unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn anything_else_stays_a_block() {
        let bytes = [1u8; 24];
        assert!(Block::copy_of(&bytes, 4).unwrap().into_vec::<f64>().is_err(), "alignment 4 is not f64's");
        assert!(Block::copy_of(&bytes[..20], 8).unwrap().into_vec::<f64>().is_err(), "20 bytes are not f64s");
        let mut partial = Block::new(24, 8).unwrap();
        partial.fill(&bytes[..16]);
        let partial = partial.into_vec::<u64>().unwrap_err();
        assert_eq!(partial.bytes(), &bytes[..16], "what arrived is kept");
        assert_eq!(Block::copy_of(&bytes, 8).unwrap().clone().bytes(), bytes);
    }

    #[test]
    fn pieces_that_do_not_fit_and_bad_alignments_are_refused() {
        let mut block = Block::new(10, 1).unwrap();
        assert!(block.fill(&[1; 6]));
        assert!(!block.fill(&[2; 5]), "one byte too many");
        assert_eq!(block.bytes(), [1; 6]);
        assert!(block.fill(&[3; 4]));
        assert!(!block.fill(&[4]));
        for align in [0, 3, 16, 1 << 20] {
            assert!(Block::new(8, align).is_err(), "{align}");
        }
        assert!(Block::new(usize::MAX - 2, 8).is_err(), "cannot be laid out");
    }
}
