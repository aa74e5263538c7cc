//! The worker's memory limit: `RLIMIT_DATA`, and an abort handler that tells an abort caused by
//! an allocation that failed under the limit from any other abort. Depends on nothing of the
//! crate.
//!
//! Rust ends a process whose allocation fails in `std::alloc::handle_alloc_error`, which prints
//! a message (and, with `RUST_BACKTRACE` set, a backtrace) and aborts. Two marks tell that
//! abort apart, checked in this order by the SIGABRT handler:
//! 1. `errno` is still `ENOMEM` from the failed `malloc`/`mmap`. Cheap, and it also covers C
//!    code that aborts when its allocation fails; but printing a backtrace, or a failed write to
//!    a closed stderr, overwrites it (measured: `ENOENT` after `RUST_BACKTRACE=1`).
//! 2. `handle_alloc_error` is one of the frames of the aborting thread. It never returns, so
//!    its frame is on the stack only while an allocation failure is being handled, and then the
//!    abort is that failure's. This holds whatever was printed before the abort, in debug,
//!    release and fat-LTO builds (measured). The walk uses the platform's unwinder (the one
//!    panics use), which reads only the stack and the unwind tables and does not allocate; the
//!    handler warms it up when the limit is set, so it loads nothing lazily in the handler.
//!    A build without unwind tables leaves only mark 1.

use std::ffi::{c_int, c_void};
use std::io;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The exit code an out-of-memory abort ends with, once [`limit_memory`] ran.
static MEMORY_EXIT: AtomicI32 = AtomicI32::new(0);
/// The address of `std::alloc::handle_alloc_error`, once [`limit_memory`] ran.
static ALLOCATION_FAILURE: AtomicUsize = AtomicUsize::new(0);

/// The unwinder's context for one frame (opaque).
#[repr(C)]
struct UnwindContext {
    _opaque: [u8; 0],
}

/// `_URC_NO_REASON`: go on to the next frame.
const CONTINUE: c_int = 0;
/// `_URC_NORMAL_STOP`: any other value stops the walk.
const STOP: c_int = 4;
/// Frames walked at most: the allocation failure is about 15 frames above the handler.
const MAX_FRAMES: usize = 128;

type Visit = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;

// The Itanium C++ ABI's unwinder, which every Unix's C runtime provides and std links for
// panics and backtraces.
unsafe extern "C" {
    fn _Unwind_Backtrace(visit: Visit, state: *mut c_void) -> c_int;
    fn _Unwind_GetRegionStart(context: *mut UnwindContext) -> usize;
}

/// What a walk of the stack looks for, and how far it got.
struct Walk {
    function: usize,
    frames: usize,
    found: bool,
}

extern "C" fn visit(context: *mut UnwindContext, state: *mut c_void) -> c_int {
    // SAFETY: `state` is the `Walk` that `on_stack` passes to `_Unwind_Backtrace`, alive and
    // not otherwise borrowed for the whole walk; `context` is valid for this call.
    let (walk, start) = unsafe { (&mut *state.cast::<Walk>(), _Unwind_GetRegionStart(context)) };
    walk.frames += 1;
    if start == walk.function {
        walk.found = true;
        return STOP;
    }
    if walk.frames >= MAX_FRAMES { STOP } else { CONTINUE }
}

/// True if the function that starts at `function` has a frame on this thread's stack.
fn on_stack(function: usize) -> bool {
    let mut walk = Walk { function, frames: 0, found: false };
    // SAFETY: `visit` matches the callback's signature and only touches `walk`, which outlives
    // the call. The unwinder only reads this thread's stack and the unwind tables.
    unsafe {
        _Unwind_Backtrace(visit, (&raw mut walk).cast());
    }
    walk.found
}

extern "C" fn on_abort(_: c_int) {
    // Both marks are read without allocating or locking (see the module docs). Any other abort
    // returns from here, and `abort` goes on to end the process with SIGABRT.
    let failure = ALLOCATION_FAILURE.load(Ordering::Relaxed);
    if io::Error::last_os_error().raw_os_error() == Some(libc::ENOMEM) || (failure != 0 && on_stack(failure))
    {
        // SAFETY: _exit is async-signal-safe and ends the process at once.
        unsafe { libc::_exit(MEMORY_EXIT.load(Ordering::Relaxed)) }
    }
}

/// Limits the memory this process may allocate (its data segment: heap, anonymous mappings,
/// thread stacks) to `bytes`, and makes an allocation that fails under the limit end the
/// process with `exit_code` instead of a bare SIGABRT, so the parent can say why, whatever
/// `RUST_BACKTRACE` says. The limit stays with the programs this process starts (resource
/// limits survive `exec`); the handler does not (handlers are reset by `exec`).
pub(crate) fn limit_memory(bytes: u64, exit_code: i32) -> io::Result<()> {
    MEMORY_EXIT.store(exit_code, Ordering::Relaxed);
    let failure = std::alloc::handle_alloc_error as fn(std::alloc::Layout) -> ! as usize;
    ALLOCATION_FAILURE.store(failure, Ordering::Relaxed);
    // Warm the unwinder up here, not first in the handler: it resolves its symbols and finds
    // the unwind tables once.
    let _ = on_stack(failure);
    // SAFETY: `action` is fully initialised before use, and `on_abort` does only what a signal
    // handler may (see above). `limit` is a valid rlimit that getrlimit fills in.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_abort as extern "C" fn(c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGABRT, &action, std::ptr::null_mut());
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_DATA, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.rlim_cur = libc::rlim_t::try_from(bytes).unwrap_or(libc::RLIM_INFINITY).min(limit.rlim_max);
        if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn look_for_myself() -> bool {
        on_stack(look_for_myself as fn() -> bool as usize)
    }

    #[test]
    fn the_walk_finds_a_function_on_the_stack_and_no_other() {
        assert!(look_for_myself(), "the unwinder walks this thread's stack");
        // `handle_alloc_error` never returns: no allocation failure is in progress here.
        let failure = std::alloc::handle_alloc_error as fn(std::alloc::Layout) -> ! as usize;
        assert!(!on_stack(failure));
    }
}
