//! The worker's item loops: how a task's items run in a worker (an MPI rank, a process
//! pool's worker), each decoded, run and its result encoded, with the worker's duties around
//! each ([`ItemHooks`]). A panicking item fails alone, with its message and location.

use super::batch::Batch;
use super::codec;
use super::numbers::Owned;
use super::panics::{in_task, with_panic_location};
use crate::error::{TaskError, panic_message};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What the worker does around each item of a task (the watchdog's marks, where outcomes go),
/// for the loops that run them.
pub(crate) trait ItemHooks {
    /// Item `index` is about to run; false skips it (its task was killed before it started).
    fn before(&mut self, index: usize) -> bool;
    /// Where an item's encoded result goes.
    fn out(&mut self) -> &mut Batch;
    /// Item `index` is over: its result is in [`out`](Self::out), or here is why there is
    /// none. An error ends the task (the parent is gone).
    fn after(&mut self, index: usize, outcome: Result<(), TaskError>) -> Result<(), String>;
    /// True if [`before`](Self::before) and [`after`](Self::after) must see every item as it
    /// runs. If false, the trampoline may run a task's items in one loop, call `before(0)` once
    /// for them all, and report each outcome afterwards.
    fn item_by_item(&self) -> bool {
        true
    }
    /// The next `count` items, from `first` on, succeeded: as many `after(_, Ok(()))` calls.
    fn succeeded(&mut self, first: usize, count: usize) -> Result<(), String> {
        (first..first + count).try_for_each(|index| self.after(index, Ok(())))
    }
}

/// Runs every item of `args`: decodes it, runs `f` on it, and appends the encoded result. A
/// panicking item fails alone, with its message and location, and the items after it run.
pub(crate) fn run_items<F, A, R>(f: &F, args: Batch, hooks: &mut dyn ItemHooks) -> Result<(), String>
where
    F: Fn(A) -> R,
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    if args.len() == 1 {
        // One item (a `submit`): its bytes move into the argument where they can (a `Vec<u8>`).
        let arg = args.into_single();
        return in_task(|| {
            if !hooks.before(0) {
                return hooks
                    .after(0, Err(TaskError::Killed("stopped by Future::kill before it started".into())));
            }
            let outcome = match catch_unwind(AssertUnwindSafe(|| run_owned(f, arg, hooks.out()))) {
                Ok(outcome) => outcome,
                Err(payload) => {
                    Err(TaskError::Panicked(with_panic_location(panic_message(payload.as_ref()))))
                }
            };
            hooks.after(0, outcome)
        });
    }
    if !hooks.item_by_item() {
        return in_task(|| run_together(f, &args, hooks));
    }
    let mut items = args.items().enumerate();
    let mut current = 0;
    in_task(|| {
        loop {
            // One landing pad for the whole task: after a panic, resume with the next item.
            let ran = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
                for (index, item) in items.by_ref() {
                    current = index;
                    if !hooks.before(index) {
                        let killed = TaskError::Killed("stopped by Future::kill before it started".into());
                        hooks.after(index, Err(killed))?;
                        continue;
                    }
                    let outcome = match item {
                        Some(arg) => run_one(f, arg, hooks.out()),
                        None => Err(TaskError::Serialization("the parent sent a malformed task".into())),
                    };
                    hooks.after(index, outcome)?;
                }
                Ok(())
            }));
            match ran {
                Ok(done) => return done,
                Err(payload) => {
                    let message = with_panic_location(panic_message(payload.as_ref()));
                    hooks.after(current, Err(TaskError::Panicked(message)))?;
                }
            }
        }
    })
}

/// Runs every item of `args` in one loop, with nothing between items but decoding and
/// encoding, then gives `hooks` their outcomes in order. A panicking item fails alone, with
/// its message and location, and the items after it run.
fn run_together<F, A, R>(f: &F, args: &Batch, hooks: &mut dyn ItemHooks) -> Result<(), String>
where
    F: Fn(A) -> R,
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    if !hooks.before(0) {
        for index in 0..args.len() {
            hooks.after(index, Err(TaskError::Killed("stopped by Future::kill before it started".into())))?;
        }
        return Ok(());
    }
    let mut failures: Vec<(usize, TaskError)> = Vec::new();
    let mut items = args.items().enumerate();
    let out = hooks.out();
    // Items begun so far (a malformed batch ends them early; `run_task` answers the rest).
    let mut reached = 0;
    loop {
        // One landing pad for the whole task: after a panic, resume with the next item.
        let ran = catch_unwind(AssertUnwindSafe(|| {
            for (index, item) in items.by_ref() {
                reached = index + 1;
                let outcome = match item {
                    Some(arg) => run_one(f, arg, out),
                    None => Err(TaskError::Serialization("the parent sent a malformed task".into())),
                };
                if let Err(error) = outcome {
                    failures.push((index, error));
                }
            }
        }));
        match ran {
            Ok(()) => break,
            Err(payload) => {
                let message = with_panic_location(panic_message(payload.as_ref()));
                failures.push((reached - 1, TaskError::Panicked(message)));
            }
        }
    }
    let mut next = 0;
    for (index, error) in failures {
        hooks.succeeded(next, index - next)?;
        hooks.after(index, Err(error))?;
        next = index + 1;
    }
    hooks.succeeded(next, reached - next)
}

/// Decodes one argument, runs `f` on it, and appends the encoded result to `out`.
fn run_one<F, A, R>(f: &F, arg: &[u8], out: &mut Batch) -> Result<(), TaskError>
where
    F: Fn(A) -> R,
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    let arg: A = codec::decode(arg).map_err(argument_error)?;
    out.push_owned(f(arg)).map_err(result_error)
}

/// As [`run_one`], for the one item of a task, whose bytes it takes.
fn run_owned<F, A, R>(f: &F, arg: Option<Owned>, out: &mut Batch) -> Result<(), TaskError>
where
    F: Fn(A) -> R,
    A: DeserializeOwned + 'static,
    R: Serialize + Send + 'static,
{
    let arg = arg.ok_or_else(|| TaskError::Serialization("the parent sent a malformed task".into()))?;
    let arg: A = codec::decode_owned(arg).map_err(argument_error)?;
    out.push_owned(f(arg)).map_err(result_error)
}

fn argument_error(error: codec::Error) -> TaskError {
    TaskError::Serialization(format!("could not decode the task's argument: {error}"))
}

fn result_error(error: codec::Error) -> TaskError {
    TaskError::Serialization(format!("could not encode the task's result: {error}"))
}
