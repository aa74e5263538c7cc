//! [`WaitSet`]: futures waited on as a set, handed out as they complete.

use crate::error::TaskError;
use crate::future::Future;
use crate::future::waiter::Waiter;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// Futures waited on as a set, yielded as they complete. Keys are slot indices, reused once
/// their future has been handed out.
pub(crate) struct WaitSet<T> {
    /// Each future with the caller's tag for it.
    slots: Vec<Option<(Future<T>, usize)>>,
    free: Vec<usize>,
    waiter: Arc<Waiter>,
    /// Keys whose futures are done and not yet handed out, in completion order.
    ready: VecDeque<usize>,
    /// Registered futures that have not reported completion yet.
    outstanding: usize,
    scratch: Vec<usize>,
}

impl<T> WaitSet<T> {
    pub(crate) fn new() -> Self {
        WaitSet {
            slots: Vec::new(),
            free: Vec::new(),
            waiter: Arc::new(Waiter::default()),
            ready: VecDeque::new(),
            outstanding: 0,
            scratch: Vec::new(),
        }
    }

    /// Adds a future with a tag of the caller's; one that is done already is first in line.
    pub(crate) fn push(&mut self, future: Future<T>, tag: usize) {
        let key = match self.free.pop() {
            Some(key) => key,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        if future.handle().register(&self.waiter, key) {
            self.outstanding += 1;
        } else {
            self.ready.push_back(key);
        }
        self.slots[key] = Some((future, tag));
    }

    /// How many futures have not been handed out yet.
    pub(crate) fn len(&self) -> usize {
        self.ready.len() + self.outstanding
    }

    /// The next future to complete, with its tag: `Ok(None)` when none are left,
    /// `Err(Timeout)` when the deadline passed first.
    pub(crate) fn next(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<(Future<T>, usize)>, TaskError> {
        loop {
            if let Some(key) = self.ready.pop_front() {
                self.free.push(key);
                return Ok(self.slots[key].take());
            }
            if self.outstanding == 0 {
                return Ok(None);
            }
            if !self.waiter.wait(deadline, &mut self.scratch) {
                return Err(TaskError::Timeout);
            }
            self.outstanding -= self.scratch.len();
            self.ready.extend(self.scratch.drain(..));
        }
    }

    /// Every future not handed out yet, in the order they were added (keys reused).
    pub(crate) fn into_pending(mut self) -> Vec<Future<T>> {
        self.unregister_all();
        std::mem::take(&mut self.slots).into_iter().flatten().map(|(future, _)| future).collect()
    }

    /// Cancels every future not handed out yet that has not started.
    pub(crate) fn cancel_all(&self) {
        for (future, _) in self.slots.iter().flatten() {
            future.cancel();
        }
    }

    fn unregister_all(&mut self) {
        for (key, future) in self.slots.iter().enumerate() {
            if let Some((future, _)) = future {
                future.handle().unregister(&self.waiter, key);
            }
        }
        self.outstanding = 0;
    }
}

impl<T> Drop for WaitSet<T> {
    fn drop(&mut self) {
        self.unregister_all();
    }
}
