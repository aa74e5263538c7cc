//! The state machine shared by a [`Future`](crate::Future) and the worker that completes it.
//!
//! ```text
//!            set_running             complete
//!   PENDING ────────────▶ RUNNING ────────────▶ COMPLETING ──▶ FINISHED
//!      │  ╲                                        ▲
//!      │   ╲───────────── complete (reject) ───────╯
//!      │ cancel
//!      ▼
//!   CANCELLING ──▶ CANCELLED
//! ```
//!
//! `COMPLETING` and `CANCELLING` are the moments when the done callbacks run: the completing thread
//! runs every callback (including ones added meanwhile) before it publishes the final state, so
//! callbacks run exactly once, in the order they were added, and `result()` never returns while a
//! callback still borrows the value.
//!
//! The result lives in an `UnsafeCell` rather than behind the mutex, so that reading a finished
//! future never takes a lock and a callback added to a finished future can borrow the value
//! without holding one. The protocol that makes this sound:
//! - the cell is written once, by the one thread that moved the state to `COMPLETING` (the
//!   transition happens under the listeners' lock, so exactly one thread wins it), before it
//!   stores `FINISHED` with `Release`;
//! - it is read only through [`Handle`], the one non-`Clone` owner, and only after loading
//!   `FINISHED` with `Acquire`; the completing side never touches it after publishing;
//! - it is moved out only by [`Handle::take`], which consumes the handle, so no borrow handed out
//!   by [`Handle::with_outcome`] can still be alive.

use super::listeners::{Callback, Killer, Listeners};
use super::waiter::Waiter;
use crate::error::{TaskError, panic_message};
use crate::sync::{AtomicU8, Mutex, Ordering, UnsafeCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

pub(crate) const PENDING: u8 = 0;
pub(crate) const RUNNING: u8 = 1;
pub(crate) const CANCELLING: u8 = 2;
pub(crate) const COMPLETING: u8 = 3;
pub(crate) const CANCELLED: u8 = 4;
pub(crate) const FINISHED: u8 = 5;

/// What `cancel` hands to callbacks.
static CANCELLED_ERROR: TaskError = TaskError::Cancelled;

pub(crate) struct Core<T> {
    state: AtomicU8,
    /// Set by `kill` on a running task that nothing can stop by force (a thread's): the task
    /// reads it through [`crate::stop_requested`].
    stop: std::sync::atomic::AtomicBool,
    listeners: Mutex<Listeners<T>>,
    outcome: UnsafeCell<Option<Result<T, TaskError>>>,
}

// SAFETY: `Core` hands out `&T` only through `Handle` (see the module docs), and a `Handle` is
// `Sync` only when `T: Sync` (its `PhantomData<T>`). Between threads the value is only moved
// (written by the completing thread, later read or taken by the handle's owner), which `T: Send`
// allows. Everything else in `Core` is already `Sync`.
unsafe impl<T: Send> Sync for Core<T> {}

impl<T> Core<T> {
    fn new(state: u8, outcome: Option<Result<T, TaskError>>) -> Self {
        Core {
            state: AtomicU8::new(state),
            stop: std::sync::atomic::AtomicBool::new(false),
            listeners: Mutex::new(Listeners {
                callbacks: Vec::new(),
                waiters: Vec::new(),
                killer_and_waker: None,
            }),
            outcome: UnsafeCell::new(outcome),
        }
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state(), FINISHED | CANCELLED)
    }

    /// The flag `kill` sets when it cannot stop the running task by force.
    pub(crate) fn stop_flag(&self) -> &std::sync::atomic::AtomicBool {
        &self.stop
    }

    /// Registers `waiter` to be notified with `key` when the future is done. Returns false, and
    /// registers nothing, when it is done already.
    pub(crate) fn register(&self, waiter: &Arc<Waiter>, key: usize) -> bool {
        if self.is_done() {
            return false;
        }
        let mut listeners = self.listeners.lock();
        if self.is_done() {
            return false;
        }
        listeners.waiters.push((Arc::clone(waiter), key));
        true
    }

    /// Makes the completing thread wake `waker` (replacing the waker of an earlier poll; O(1)).
    /// Returns false, and keeps nothing, when the future is done already.
    pub(crate) fn register_waker(&self, waker: &std::task::Waker) -> bool {
        if self.is_done() {
            return false;
        }
        let mut listeners = self.listeners.lock();
        if self.is_done() {
            return false;
        }
        let rare = listeners.killer_and_waker();
        match &rare.waker {
            Some(registered) if registered.will_wake(waker) => {}
            _ => rare.waker = Some(waker.clone()),
        }
        true
    }

    /// Forgets the registered waker (its `.await` was dropped).
    pub(crate) fn unregister_waker(&self) {
        let waker = self.listeners.lock().take_waker();
        drop(waker);
    }

    /// Undoes [`register`](Self::register); harmless when the future already completed.
    pub(crate) fn unregister(&self, waiter: &Arc<Waiter>, key: usize) {
        let mut listeners = self.listeners.lock();
        if let Some(i) = listeners.waiters.iter().position(|(w, k)| *k == key && Arc::ptr_eq(w, waiter)) {
            listeners.waiters.swap_remove(i);
        }
    }

    /// Moves the future from pending to running. False when it was cancelled (or completed)
    /// first, in which case the task must not run.
    pub(crate) fn set_running(&self) -> bool {
        self.state.compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Moves a pending future to cancelled. True if it is cancelled now or was already.
    fn cancel(&self) -> bool {
        match self.state() {
            CANCELLING | CANCELLED => return true,
            PENDING => {}
            _ => return false,
        }
        let mut listeners = self.listeners.lock();
        match self.state.compare_exchange(PENDING, CANCELLING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let callbacks = std::mem::take(&mut listeners.callbacks);
                drop(listeners);
                self.settle(callbacks, None);
                true
            }
            Err(actual) => matches!(actual, CANCELLING | CANCELLED),
        }
    }

    /// Stops the task: a pending one is cancelled; a running one that can be stopped (it has a
    /// killer) fails with `error` at once and its killer is called. True in both cases; false
    /// when the task is done, or runs where it cannot be stopped (a thread: it is then asked to
    /// stop, see `stop_flag`).
    pub(crate) fn kill(&self, error: impl FnOnce() -> TaskError) -> bool {
        loop {
            match self.state() {
                PENDING => {
                    if self.cancel() {
                        return true;
                    }
                    // It started meanwhile: look again.
                }
                RUNNING => {
                    let mut listeners = self.listeners.lock();
                    if self.state.load(Ordering::Acquire) != RUNNING {
                        continue;
                    }
                    let Some(killer) = listeners.take_killer() else {
                        // A thread cannot be stopped: ask the task to stop (`stop_requested`).
                        self.stop.store(true, std::sync::atomic::Ordering::Release);
                        return false;
                    };
                    self.state.store(COMPLETING, Ordering::Release);
                    let callbacks = std::mem::take(&mut listeners.callbacks);
                    drop(listeners);
                    killer();
                    self.settle(callbacks, Some(Err(error())));
                    return true;
                }
                _ => return false,
            }
        }
    }

    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // used by the process pool
    /// Moves a pending future to running, with the killer that can stop it there. False when
    /// it was cancelled (or completed) first, in which case the task must not run.
    pub(super) fn set_running_killable(&self, killer: Killer) -> bool {
        let mut listeners = self.listeners.lock();
        if self.state.compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return false;
        }
        listeners.killer_and_waker().killer = Some(killer);
        true
    }

    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // used by the process pool
    /// Replaces the killer of a running future (its task moved to another worker).
    pub(super) fn set_killer(&self, killer: Killer) {
        let mut listeners = self.listeners.lock();
        if self.state.load(Ordering::Acquire) == RUNNING {
            listeners.killer_and_waker().killer = Some(killer);
        }
    }

    /// Stores the outcome of a pending or running future. False when it was cancelled or
    /// completed already (the outcome is then dropped).
    pub(crate) fn complete(&self, outcome: Result<T, TaskError>) -> bool {
        let mut listeners = self.listeners.lock();
        let current = self.state.load(Ordering::Acquire);
        if current != PENDING && current != RUNNING {
            return false;
        }
        self.state.store(COMPLETING, Ordering::Release);
        let callbacks = std::mem::take(&mut listeners.callbacks);
        let killer = listeners.take_killer();
        drop(listeners);
        drop(killer);
        self.settle(callbacks, Some(outcome));
        true
    }

    /// Fails a task that will never run: `Cancelled` cancels it, any other error finishes it
    /// with that error.
    pub(crate) fn reject(&self, error: TaskError) {
        if error == TaskError::Cancelled {
            self.cancel();
        } else {
            self.complete(Err(error));
        }
    }

    /// Runs the callbacks (and any added while they run), then publishes the final state and
    /// wakes the waiters. Called only by the thread that won the move to COMPLETING/CANCELLING.
    fn settle(&self, mut callbacks: Vec<Callback<T>>, outcome: Option<Result<T, TaskError>>) {
        let final_state = if outcome.is_some() { FINISHED } else { CANCELLED };
        loop {
            for callback in callbacks.drain(..) {
                let view = match &outcome {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(e)) => Err(e),
                    None => Err(&CANCELLED_ERROR),
                };
                run_callback(callback, view);
            }
            let mut listeners = self.listeners.lock();
            if listeners.callbacks.is_empty() {
                // SAFETY: this thread won the move to COMPLETING/CANCELLING, and nobody reads the
                // cell before the state below is published (module docs).
                self.outcome.with_mut(|cell| unsafe { *cell = outcome });
                self.state.store(final_state, Ordering::Release);
                let waiters = std::mem::take(&mut listeners.waiters);
                let waker = listeners.take_waker();
                drop(listeners);
                for (waiter, key) in waiters {
                    waiter.notify(key);
                }
                if let Some(waker) = waker {
                    waker.wake();
                }
                return;
            }
            callbacks = std::mem::take(&mut listeners.callbacks);
        }
    }
}

/// Runs one done callback; a panic is caught and reported on stderr, never propagated.
pub(crate) fn run_callback<T>(callback: Callback<T>, view: Result<&T, &TaskError>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(view))) {
        eprintln!(
            "concurrent_futures: a done callback panicked (ignored): {}",
            panic_message(payload.as_ref())
        );
    }
}

/// Anything that may sit beside a core in its allocation (a queued closure, or nothing).
pub(crate) trait Erased: Send + Sync {}

impl<X: Send + Sync + ?Sized> Erased for X {}

/// One allocation per task: the core, then whatever the executor keeps beside it (for a thread
/// pool, the closure). `S` is last so that `Arc<Cell<T, S>>` coerces to `Arc<Cell<T, dyn _>>`.
pub(crate) struct Cell<T, S: ?Sized> {
    pub(crate) core: Core<T>,
    pub(crate) slot: S,
}

impl<T, S> Cell<T, S> {
    pub(crate) fn new(slot: S) -> Self {
        Cell { core: Core::new(PENDING, None), slot }
    }
}

/// A cell as the future and the promise see it: the slot's type erased.
pub(crate) type DynCell<T> = Cell<T, dyn Erased>;

/// The one owner of the result: what a [`Future`](crate::Future) wraps. Not `Clone`.
pub(crate) struct Handle<T> {
    cell: Arc<DynCell<T>>,
    /// Makes the handle `Sync` only when `T: Sync`, since `with_outcome` lends `&T` out.
    _value: std::marker::PhantomData<T>,
}

impl<T> Handle<T> {
    pub(crate) fn new(cell: Arc<DynCell<T>>) -> Self {
        Handle { cell, _value: std::marker::PhantomData }
    }

    pub(crate) fn core(&self) -> &Core<T> {
        &self.cell.core
    }

    pub(crate) fn cancel(&self) -> bool {
        self.core().cancel()
    }

    pub(crate) fn kill(&self) -> bool {
        self.core().kill(|| TaskError::Killed("stopped by Future::kill".into()))
    }

    pub(crate) fn register(&self, waiter: &Arc<Waiter>, key: usize) -> bool {
        self.core().register(waiter, key)
    }

    pub(crate) fn unregister(&self, waiter: &Arc<Waiter>, key: usize) {
        self.core().unregister(waiter, key);
    }

    /// Lends the outcome to `f`, or `None` while the future is not done.
    pub(crate) fn with_outcome<R>(&self, f: impl FnOnce(Result<&T, &TaskError>) -> R) -> Option<R> {
        let core = self.core();
        match core.state() {
            // SAFETY: FINISHED was loaded with Acquire, so the write is visible and final; only
            // this handle reads the cell, and `take` needs the handle by value (module docs).
            FINISHED => core.outcome.with(|cell| match unsafe { &*cell } {
                Some(Ok(v)) => Some(f(Ok(v))),
                Some(Err(e)) => Some(f(Err(e))),
                None => None,
            }),
            CANCELLED => Some(f(Err(&CANCELLED_ERROR))),
            _ => None,
        }
    }

    /// Moves the outcome out of a done future; `None` while it is not done.
    pub(crate) fn take(self) -> Option<Result<T, TaskError>> {
        let core = self.core();
        match core.state() {
            // SAFETY: as in `with_outcome`; consuming the handle ends every borrow it lent.
            FINISHED => core.outcome.with_mut(|cell| unsafe { (*cell).take() }),
            CANCELLED => Some(Err(TaskError::Cancelled)),
            _ => None,
        }
    }

    /// Adds a done callback: run now on this thread if the future is done, otherwise by the
    /// thread that completes it.
    pub(crate) fn add_done_callback(&self, callback: Callback<T>) {
        let listeners = self.core().listeners.lock();
        if self.core().is_done() {
            drop(listeners);
            let mut callback = Some(callback);
            self.with_outcome(|view| {
                if let Some(callback) = callback.take() {
                    run_callback(callback, view);
                }
            });
        } else {
            let mut listeners = listeners;
            listeners.callbacks.push(callback);
        }
    }
}
