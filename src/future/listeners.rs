//! [`Listeners`]: who hears of a future's completion: its done callbacks, the waiters parked on
//! it (`Future::wait`, `as_completed`), and, for process tasks and awaited futures only, what
//! kills its task and the waker of its `.await`.

use super::waiter::Waiter;
use crate::error::TaskError;
use std::sync::Arc;

/// A done callback, as `Future::add_done_callback` stores it.
pub(crate) type Callback<T> = Box<dyn FnOnce(Result<&T, &TaskError>) + Send>;

/// What stops a running task, set by an executor that can stop one (a process pool: it asks
/// the worker to kill the task). Called at most once, after the future has been failed.
pub(crate) type Killer = Box<dyn FnOnce() + Send>;

pub(super) struct Listeners<T> {
    pub(super) callbacks: Vec<Callback<T>>,
    pub(super) waiters: Vec<(Arc<Waiter>, usize)>,
    /// What only some futures need, boxed so that the others (every thread-pool task) stay
    /// small: allocated the first time either is set.
    pub(super) killer_and_waker: Option<Box<KillerAndWaker>>,
}

/// The parts of a future's listeners that only process tasks and awaited futures use.
#[derive(Default)]
pub(super) struct KillerAndWaker {
    /// Set while the task runs somewhere it can be stopped (see `Core::kill`).
    pub(super) killer: Option<Killer>,
    /// The waker of the one `.await` on this future, if it is pending there.
    pub(super) waker: Option<std::task::Waker>,
}

impl<T> Listeners<T> {
    pub(super) fn killer_and_waker(&mut self) -> &mut KillerAndWaker {
        self.killer_and_waker.get_or_insert_with(Box::default)
    }

    pub(super) fn take_killer(&mut self) -> Option<Killer> {
        self.killer_and_waker.as_mut().and_then(|rare| rare.killer.take())
    }

    pub(super) fn take_waker(&mut self) -> Option<std::task::Waker> {
        self.killer_and_waker.as_mut().and_then(|rare| rare.waker.take())
    }
}
