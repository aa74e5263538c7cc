//! Sending a function to a worker process as a number, and calling it there.
//!
//! A task's function is a zero-sized `Fn(A) -> R` (a fn item or a non-capturing closure, checked
//! at compile time by `submit`). For each such `F` the compiler makes one monomorphised
//! [`trampoline`], which decodes the argument, runs `F`, and encodes the result. The parent sends
//! the trampoline's address as an offset from [`anchor`]; the worker adds its own address of
//! `anchor` and calls the function there.
//!
//! Every `unsafe` of the process pool is in this module. It is sound because the worker is the
//! same executable file as the parent (re-executed through `/proc/self/exe`, and checked at the
//! handshake: same device, inode, size and modification time), so every function sits at the
//! same offset from `anchor`, and the offsets come only from the parent over a private channel.

use crate::error::{TaskError, panic_message};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a trampoline looks like: encoded argument in, encoded result (or error) out.
pub(crate) type Call = fn(&[u8]) -> Result<Vec<u8>, TaskError>;

/// The fixed point that function offsets are measured from.
#[inline(never)]
fn anchor() {}

fn anchor_address() -> isize {
    anchor as fn() as usize as isize
}

/// The offset of `call` from the anchor: what the parent sends.
pub(crate) fn offset_of(call: Call) -> isize {
    (call as usize as isize).wrapping_sub(anchor_address())
}

/// The offset of a plain `fn()` (an initializer) from the anchor.
pub(crate) fn offset_of_init(f: fn()) -> isize {
    (f as usize as isize).wrapping_sub(anchor_address())
}

/// The trampoline at `offset`, in this (worker) process.
///
/// # Safety
///
/// `offset` must come from [`offset_of`] in a process running the same executable file.
pub(crate) unsafe fn call_at(offset: isize) -> Call {
    let address = anchor_address().wrapping_add(offset) as usize;
    // SAFETY: by the caller's contract, `address` is where `offset_of` found a `Call` in the
    // same executable, which this process maps at the same offsets from `anchor`.
    unsafe { std::mem::transmute::<usize, Call>(address) }
}

/// The initializer at `offset`, in this (worker) process.
///
/// # Safety
///
/// `offset` must come from [`offset_of_init`] in a process running the same executable file.
pub(crate) unsafe fn init_at(offset: isize) -> fn() {
    let address = anchor_address().wrapping_add(offset) as usize;
    // SAFETY: as in `call_at`, for a `fn()`.
    unsafe { std::mem::transmute::<usize, fn()>(address) }
}

/// A shared-map operation, run in the parent on the map behind a worker's proxy: the map (type
/// erased), the encoded operands in, the encoded answer (or why there is none) out.
pub(crate) type MapHandler = fn(&(dyn std::any::Any + Send + Sync), &[u8]) -> Result<Vec<u8>, String>;

/// The offset of a map handler from the anchor: what a worker sends with a map request.
pub(crate) fn offset_of_handler(handler: MapHandler) -> isize {
    (handler as usize as isize).wrapping_sub(anchor_address())
}

/// The map handler at `offset`, in this (parent) process.
///
/// # Safety
///
/// `offset` must come from [`offset_of_handler`] in a process running the same executable file
/// (a worker of this process, whose identity was checked at its handshake).
pub(crate) unsafe fn handler_at(offset: isize) -> MapHandler {
    let address = anchor_address().wrapping_add(offset) as usize;
    // SAFETY: as in `call_at`, for a `MapHandler`.
    unsafe { std::mem::transmute::<usize, MapHandler>(address) }
}

/// The one value of a zero-sized `Copy` function type (a fn item or a non-capturing closure):
/// how a worker (or the parent, for a map update) gets the function the other side named by
/// its type.
pub(crate) fn conjure<F: Copy + 'static>() -> F {
    const { assert!(size_of::<F>() == 0, "a function sent to another process must not capture anything") };
    // SAFETY: `F` is zero-sized (asserted above): a read of it from a non-null, well-aligned
    // pointer touches no memory and yields its only value. Closure and fn item types are
    // inhabited, and `F: Copy`, so making one has no side effect to duplicate.
    unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() }
}

/// The trampoline for `f`'s type.
pub(crate) fn call_for<F, A, R>(_f: F) -> Call
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    trampoline::<F, A, R>
}

/// Decodes the argument, runs `F` on it, and encodes the result.
pub(crate) fn trampoline<F, A, R>(arg: &[u8]) -> Result<Vec<u8>, TaskError>
where
    F: Fn(A) -> R + Copy + 'static,
    A: DeserializeOwned,
    R: Serialize,
{
    let arg: A = postcard::from_bytes(arg)
        .map_err(|e| TaskError::Serialization(format!("could not decode the task's argument: {e}")))?;
    let f: F = conjure();
    let result = catch_unwind(AssertUnwindSafe(|| f(arg))).map_err(|payload| {
        TaskError::Panicked(super::entry::with_panic_location(panic_message(payload.as_ref())))
    })?;
    postcard::to_allocvec(&result)
        .map_err(|e| TaskError::Serialization(format!("could not encode the task's result: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        x * 2
    }

    #[test]
    fn an_offset_finds_the_same_trampoline_again() {
        let call = call_for(double);
        // SAFETY: the offset comes from `offset_of` in this very process.
        let found = unsafe { call_at(offset_of(call)) };
        let out = found(&postcard::to_allocvec(&21u32).unwrap()).unwrap();
        assert_eq!(postcard::from_bytes::<u32>(&out).unwrap(), 42);
    }

    #[test]
    fn a_bad_argument_is_a_serialization_error() {
        let call = call_for(|s: String| s.len());
        assert!(matches!(call(&[0xff, 0xff, 0xff]), Err(TaskError::Serialization(_))));
    }
}
