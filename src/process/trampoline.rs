//! Sending a function to a worker process as a number, and calling it there.
//!
//! A task's function is a zero-sized `Fn(A) -> R` (a fn item or a non-capturing closure, checked
//! at compile time by `submit`). For each such `F` the compiler makes one monomorphised
//! [`trampoline`], which decodes one argument, runs `F`, and appends the encoded result to a
//! batch. The parent sends the trampoline's address as an offset from [`anchor`]; the worker
//! adds its own address of `anchor` and calls the function there.
//!
//! The `unsafe` of calling a number is in this module. It is sound because:
//! - only the parent sends offsets, over a private channel, and only to workers that proved at
//!   the handshake that they run the same executable file (same device, inode, size and
//!   modification time), where every function sits at the same offset from `anchor`;
//! - the parent sends only offsets it computed itself, and only for functions that are in the
//!   main program together with `anchor` ([`offset_of`] refuses others, such as code in a
//!   shared library, whose place differs from process to process);
//! - the parent never calls an address, or uses an offset, that a worker sent it.

use super::codec;
use super::os;
use super::protocol::Batch;
use crate::error::{TaskError, panic_message};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a trampoline looks like: one encoded argument in, its encoded result appended to the
/// batch (or why there is none).
pub(crate) type Call = fn(&[u8], &mut Batch) -> Result<(), TaskError>;

/// The fixed point that function offsets are measured from.
#[inline(never)]
fn anchor() {}

fn anchor_address() -> usize {
    anchor as fn() as usize
}

/// The offset of the function at `address` from the anchor, if both are in the main program.
fn offset_of_address(address: usize) -> Result<isize, String> {
    if !os::in_main_program(anchor_address()) {
        return Err("concurrent-futures is not linked into the main executable (a dylib?): process \
                    pools need it linked statically, which is cargo's default"
            .to_owned());
    }
    if !os::in_main_program(address) {
        return Err("the task's function is not in the main executable (it was compiled into a \
                    shared library); a worker process cannot find it there"
            .to_owned());
    }
    Ok((address as isize).wrapping_sub(anchor_address() as isize))
}

/// The offset of `call` from the anchor: what the parent sends.
///
/// # Errors
///
/// When `call` or the anchor is not in the main program (see the module docs).
pub(crate) fn offset_of(call: Call) -> Result<isize, TaskError> {
    offset_of_address(call as usize).map_err(TaskError::Serialization)
}

/// The offset of a plain `fn()` (an initializer) from the anchor.
pub(crate) fn offset_of_init(f: fn()) -> Result<isize, String> {
    offset_of_address(f as usize)
}

/// The trampoline at `offset`, in this (worker) process.
///
/// # Safety
///
/// `offset` must come from [`offset_of`] in a process running the same executable file.
pub(crate) unsafe fn call_at(offset: isize) -> Call {
    let address = (anchor_address() as isize).wrapping_add(offset) as usize;
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
    let address = (anchor_address() as isize).wrapping_add(offset) as usize;
    // SAFETY: as in `call_at`, for a `fn()`.
    unsafe { std::mem::transmute::<usize, fn()>(address) }
}

/// The one value of a zero-sized function type without drop glue (a fn item or a
/// non-capturing closure): how a worker gets the function the parent named by its type.
pub(crate) fn conjure<F: 'static>() -> F {
    const {
        assert!(size_of::<F>() == 0, "a function sent to another process must not capture anything");
        assert!(!std::mem::needs_drop::<F>(), "a function sent to another process must not capture anything");
    };
    // SAFETY: `F` is zero-sized (asserted above): a read of it from a non-null, well-aligned
    // pointer touches no memory and yields its only value. Closure and fn item types are
    // inhabited, and `F` has no drop glue, so a conjured value owns nothing that could be
    // released twice.
    unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() }
}

/// The trampoline for `f`'s type.
pub(crate) fn call_for<F, A, R>(_f: &F) -> Call
where
    F: Fn(A) -> R + 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    trampoline::<F, A, R>
}

/// Decodes one argument, runs `F` on it, and appends the encoded result to `out`.
pub(crate) fn trampoline<F, A, R>(arg: &[u8], out: &mut Batch) -> Result<(), TaskError>
where
    F: Fn(A) -> R + 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    let arg: A = codec::decode(arg)
        .map_err(|e| TaskError::Serialization(format!("could not decode the task's argument: {e}")))?;
    let f: F = conjure();
    let result = catch_unwind(AssertUnwindSafe(|| super::worker::in_task(|| f(arg)))).map_err(|payload| {
        TaskError::Panicked(super::worker::with_panic_location(panic_message(payload.as_ref())))
    })?;
    out.push(&result)
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
        let call = call_for(&double);
        // SAFETY: the offset comes from `offset_of` in this very process.
        let found = unsafe { call_at(offset_of(call).unwrap()) };
        let mut out = Batch::default();
        found(&postcard::to_allocvec(&21u32).unwrap(), &mut out).unwrap();
        let results: Vec<u32> =
            out.items().map(|item| postcard::from_bytes(item.unwrap()).unwrap()).collect();
        assert_eq!(results, [42]);
    }

    #[test]
    fn a_bad_argument_is_a_serialization_error() {
        let call = call_for(&|s: String| s.len());
        assert!(matches!(call(&[0xff, 0xff, 0xff], &mut Batch::default()), Err(TaskError::Serialization(_))));
    }

    #[test]
    fn code_outside_the_main_program_is_refused() {
        let err = offset_of_address(os::tests::address_in_a_shared_library()).unwrap_err();
        assert!(err.contains("not in the main executable"), "{err}");
        assert!(offset_of_address(double as fn(u32) -> u32 as usize).is_ok());
    }
}
