//! Sending a function to a worker process as a number, and calling it there.
//!
//! A task's function is a zero-sized `Fn(A) -> R` (a fn item or a non-capturing closure, checked
//! at compile time by `submit`). For each such `F` the compiler makes one monomorphised
//! [`trampoline`], which runs a task's items with `F` (the loops of `items`, with the worker's
//! duties around each item: [`ItemHooks`]). The parent sends the trampoline's address as an
//! offset from [`anchor`]; the worker adds its own address of `anchor` and calls the function
//! there.
//!
//! The `unsafe` of calling a number is in this module. It is sound because:
//! - only the parent sends offsets, over a private channel, and only to workers that proved at
//!   the handshake that they run the same executable file (same device, inode, size and
//!   modification time), where every function sits at the same offset from `anchor`;
//! - the parent sends only offsets it computed itself, and only for functions that are in the
//!   main program together with `anchor` ([`offset_of`] refuses others, such as code in a
//!   shared library, whose place differs from process to process);
//! - the parent never calls an address, or uses an offset, that a worker sent it.

use super::batch::Batch;
use super::codec;
use super::items::{ItemHooks, run_items};
use crate::error::TaskError;
use crate::sys;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a trampoline looks like: a task's encoded arguments in, with the address of the
/// function to run for a task sent as a function pointer (0 for one sent by its type); each
/// item's encoded result appended to the batch the worker provides, or why there is none.
pub(crate) type Call = fn(Batch, usize, &mut dyn ItemHooks) -> Result<(), String>;

/// What an initializer with an argument looks like in the worker: the address of the `fn(A)`,
/// and the encoded argument.
pub(crate) type InitCall = fn(usize, Vec<u8>) -> Result<(), String>;

/// The fixed point that function offsets are measured from.
#[inline(never)]
fn anchor() {}

fn anchor_address() -> usize {
    anchor as fn() as usize
}

/// The offset of the function at `address` from the anchor, if both are in the main program.
fn offset_of_address(address: usize) -> Result<isize, String> {
    if !sys::in_main_program(anchor_address()) {
        return Err("concurrent-futures is not linked into the main executable (a dylib?): process \
                    pools need it linked statically, which is cargo's default"
            .to_owned());
    }
    if !sys::in_main_program(address) {
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

/// The offset of a function pointer from the anchor: what the parent sends as a task's target.
///
/// # Errors
///
/// When `f` (a function chosen at run time, say) or the anchor is not in the main program.
pub(crate) fn offset_of_target(address: usize) -> Result<isize, String> {
    offset_of_address(address)
}

/// The offset of an [`InitCall`] from the anchor.
pub(crate) fn offset_of_init_call(call: InitCall) -> Result<isize, String> {
    offset_of_address(call as usize)
}

/// The address, in this (worker) process, of the function at `offset` from the anchor: a
/// task's target, or an initializer's.
///
/// The address is only ever handed to the trampoline the same frame names, which calls it as
/// the function type it was made for (see [`pointer_call`]).
pub(crate) fn address_at(offset: isize) -> usize {
    (anchor_address() as isize).wrapping_add(offset) as usize
}

/// The [`InitCall`] at `offset`, in this (worker) process.
///
/// # Safety
///
/// `offset` must come from [`offset_of_init_call`] in a process running the same executable.
pub(crate) unsafe fn init_call_at(offset: isize) -> InitCall {
    // SAFETY: as in `call_at`, for an `InitCall`.
    unsafe { std::mem::transmute::<usize, InitCall>(address_at(offset)) }
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
///
/// # Safety
///
/// `F` must be inhabited: a value of it must be able to exist, as one did when the caller got
/// `F` from that value (as [`call_for`] does). A zero-sized type with no value (an empty enum,
/// or a closure type that captured one) has nothing to conjure, and making one is undefined
/// behaviour; size and drop glue, checked here at compile time, cannot tell it apart.
unsafe fn conjure<F: 'static>() -> F {
    const {
        assert!(
            size_of::<F>() == 0,
            "a function sent to another process must be a fn item or a closure that captures \
             nothing: pass what it needs through the task's argument (the notes below name the \
             closure's file and line)"
        );
        assert!(
            !std::mem::needs_drop::<F>(),
            "a function sent to another process must be a fn item or a closure that captures \
             nothing: pass what it needs through the task's argument (the notes below name the \
             closure's file and line)"
        );
    };
    // SAFETY: `F` is zero-sized (asserted above): a read of it from a non-null, well-aligned
    // pointer touches no memory, and yields its only value since `F` is inhabited (the
    // caller's contract). `F` has no drop glue, so a conjured value owns nothing that could be
    // released twice.
    unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() }
}

/// The trampoline for `f`'s type. Taking `f` proves that `F` is inhabited, which the trampoline
/// relies on; this is the only way to get one.
pub(crate) fn call_for<F, A, R>(_f: &F) -> Call
where
    F: Fn(A) -> R + 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    trampoline::<F, A, R>
}

/// The trampoline for a task sent as a `fn(A) -> R` pointer (a function chosen at run time):
/// the frame carries the function's offset as its target.
pub(crate) fn pointer_call<A, R>() -> Call
where
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    pointer_trampoline::<A, R>
}

/// The initializer trampoline for an `fn(A)` pointer and its encoded argument.
pub(crate) fn init_call<A: DeserializeOwned + 'static>() -> InitCall {
    init_trampoline::<A>
}

/// Runs the task's items with `F`, the function named by the trampoline's own type. Private:
/// only [`call_for`], which is given a value of `F`, hands it out.
fn trampoline<F, A, R>(args: Batch, _target: usize, hooks: &mut dyn ItemHooks) -> Result<(), String>
where
    F: Fn(A) -> R + 'static,
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    // SAFETY: this trampoline was handed out by `call_for`, which was given a value of `F`
    // (in the parent, of the same type in the same executable), so `F` is inhabited.
    let f: F = unsafe { conjure() };
    run_items(&f, args, hooks)
}

/// Runs the task's items with the `fn(A) -> R` at `target`.
fn pointer_trampoline<A, R>(args: Batch, target: usize, hooks: &mut dyn ItemHooks) -> Result<(), String>
where
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    if target == 0 {
        return Err("the parent sent a task by pointer without its function".into());
    }
    // SAFETY: this trampoline is named only by frames the parent made with `pointer_call::<A,
    // R>()` and, as their target, the offset of an `fn(A) -> R` of this same executable (checked
    // to be in the main program, `offset_of_target`): `target` is that function here.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(target) };
    run_items(&f, args, hooks)
}

/// Decodes an initializer's argument and runs the `fn(A)` at `target` on it (a panic is caught
/// by the caller).
fn init_trampoline<A: DeserializeOwned + 'static>(target: usize, arg: Vec<u8>) -> Result<(), String> {
    let arg: A = codec::decode_owned(super::numbers::Owned::Bytes(arg))
        .map_err(|e| format!("could not decode the initializer's argument: {e}"))?;
    // SAFETY: as in `pointer_trampoline`, for the `fn(A)` the parent named with `init_call::<A>`.
    let f = unsafe { std::mem::transmute::<usize, fn(A)>(target) };
    f(arg);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        if x == 3 {
            panic!("three");
        }
        x * 2
    }

    /// Collects outcomes as the worker would, without reporting.
    #[derive(Default)]
    struct Collect {
        out: Batch,
        outcomes: Vec<Result<(), TaskError>>,
        together: bool,
    }

    impl ItemHooks for Collect {
        fn item_by_item(&self) -> bool {
            !self.together
        }
        fn before(&mut self, _: usize) -> bool {
            true
        }
        fn out(&mut self) -> &mut Batch {
            &mut self.out
        }
        fn after(&mut self, index: usize, outcome: Result<(), TaskError>) -> Result<(), String> {
            assert_eq!(index, self.outcomes.len(), "items are answered in order, once");
            self.outcomes.push(outcome);
            Ok(())
        }
    }

    fn batch_of(numbers: impl IntoIterator<Item = u32>) -> Batch {
        let mut batch = Batch::default();
        for n in numbers {
            batch.push(&n).unwrap();
        }
        batch
    }

    #[test]
    fn an_offset_finds_the_same_trampoline_again_and_a_panic_fails_one_item() {
        let call = call_for(&double);
        // SAFETY: the offset comes from `offset_of` in this very process.
        let found = unsafe { call_at(offset_of(call).unwrap()) };
        let mut collect = Collect::default();
        found(batch_of(0..6), 0, &mut collect).unwrap();
        let results: Vec<u32> =
            collect.out.items().map(|item| codec::decode(item.unwrap()).unwrap()).collect();
        assert_eq!(results, [0, 2, 4, 8, 10]);
        assert!(matches!(&collect.outcomes[3], Err(TaskError::Panicked(m)) if m.contains("three")));
        assert_eq!(collect.outcomes.iter().filter(|o| o.is_ok()).count(), 5);
    }

    #[test]
    fn items_run_together_give_the_same_outcomes_in_the_same_order() {
        for together in [false, true] {
            let mut collect = Collect { together, ..Collect::default() };
            call_for(&double)(batch_of([3, 1, 3, 3, 2, 3]), 0, &mut collect).unwrap();
            let results: Vec<u32> =
                collect.out.items().map(|item| codec::decode(item.unwrap()).unwrap()).collect();
            assert_eq!(results, [2, 4]);
            let failed: Vec<bool> = collect.outcomes.iter().map(Result::is_err).collect();
            assert_eq!(failed, [true, false, true, true, false, true], "together: {together}");
        }
    }

    #[test]
    fn a_function_pointer_runs_through_its_target_like_a_function_sent_by_type() {
        fn triple(x: u32) -> u32 {
            x * 3
        }
        let chosen: fn(u32) -> u32 = if std::env::args().count() > 999 { double } else { triple };
        let offset = offset_of_target(chosen as usize).unwrap();
        // SAFETY: the offset comes from `offset_of` in this very process.
        let call = unsafe { call_at(offset_of(pointer_call::<u32, u32>()).unwrap()) };
        let mut collect = Collect::default();
        call(batch_of(0..4), address_at(offset), &mut collect).unwrap();
        let results: Vec<u32> =
            collect.out.items().map(|item| codec::decode(item.unwrap()).unwrap()).collect();
        assert_eq!(results, [0, 3, 6, 9]);
        let mut collect = Collect::default();
        assert!(
            call(batch_of(0..1), 0, &mut collect).is_err(),
            "a pointer task without its target is refused"
        );
    }

    #[test]
    fn an_initializer_with_its_argument_runs_through_its_target() {
        static SEEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        fn configure(value: u32) {
            SEEN.store(value, std::sync::atomic::Ordering::SeqCst);
        }
        let configure: fn(u32) = configure;
        let mut arg = Vec::new();
        codec::encode_into(&41u32, &mut arg).unwrap();
        let target = address_at(offset_of_target(configure as usize).unwrap());
        // SAFETY: the offset comes from `offset_of_init_call` in this very process.
        let call = unsafe { init_call_at(offset_of_init_call(init_call::<u32>()).unwrap()) };
        call(target, arg).unwrap();
        assert_eq!(SEEN.load(std::sync::atomic::Ordering::SeqCst), 41);
        assert!(call(target, vec![0xff; 9]).is_err(), "an argument that does not decode is an error");
    }

    #[test]
    fn a_bad_argument_is_a_serialization_error() {
        let call = call_for(&|s: String| s.len());
        let mut args = Batch::default();
        args.push_encoded(&[0xff, 0xff, 0xff]);
        let mut collect = Collect::default();
        call(args, 0, &mut collect).unwrap();
        assert!(matches!(collect.outcomes[..], [Err(TaskError::Serialization(_))]));
    }

    #[test]
    fn code_outside_the_main_program_is_refused() {
        let err = offset_of_address(sys::tests::address_in_a_shared_library()).unwrap_err();
        assert!(err.contains("not in the main executable"), "{err}");
        assert!(offset_of_address(double as fn(u32) -> u32 as usize).is_ok());
    }
}
