//! [`WaitSet`]: futures waited on as a set, handed out as they complete.

use super::waitable::sealed::{Keys, Waitable};
use super::waitable::{ItemOf, Unkeyed};
use crate::error::TaskError;
use crate::future::waiter::Waiter;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// Futures of `T` waited on as a set, handed out as they complete, each as it was given (a
/// future, or a pair with its key: see [`Keys`]). Slots are indices, reused once their future
/// has been handed out.
pub(crate) struct WaitSet<T, K: Keys = Unkeyed> {
    slots: Vec<Option<K::Item<T>>>,
    free: Vec<usize>,
    waiter: Arc<Waiter>,
    /// Slots whose futures are done and not yet handed out, in completion order.
    ready: VecDeque<usize>,
    /// Registered futures that have not reported completion yet.
    outstanding: usize,
    scratch: Vec<usize>,
}

impl<T, K: Keys> WaitSet<T, K> {
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

    /// Adds a future (or a pair); one that is done already is first in line.
    pub(crate) fn push<W: Waitable<Output = T, Keys = K>>(&mut self, item: W) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        if item.future().handle().register(&self.waiter, slot) {
            self.outstanding += 1;
        } else {
            self.ready.push_back(slot);
        }
        let item: ItemOf<W> = item.into_item();
        self.slots[slot] = Some(item);
    }

    /// How many futures have not been handed out yet.
    pub(crate) fn len(&self) -> usize {
        self.ready.len() + self.outstanding
    }

    /// The next future to complete: `Ok(None)` when none are left, `Err(Timeout)` when the
    /// deadline passed first.
    pub(crate) fn next(&mut self, deadline: Option<Instant>) -> Result<Option<K::Item<T>>, TaskError> {
        loop {
            if let Some(slot) = self.ready.pop_front() {
                self.free.push(slot);
                return Ok(self.slots[slot].take());
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

    /// Every future not handed out yet, in the order they were added (slots reused).
    pub(crate) fn into_pending(mut self) -> Vec<K::Item<T>> {
        self.unregister_all();
        std::mem::take(&mut self.slots).into_iter().flatten().collect()
    }

    /// Every future not handed out yet.
    pub(crate) fn futures(&self) -> impl Iterator<Item = &crate::Future<T>> {
        self.slots.iter().flatten().map(K::future_of)
    }

    fn unregister_all(&mut self) {
        for (slot, item) in self.slots.iter().enumerate() {
            if let Some(item) = item {
                K::future_of(item).handle().unregister(&self.waiter, slot);
            }
        }
        self.outstanding = 0;
    }
}

impl<T, K: Keys> Drop for WaitSet<T, K> {
    fn drop(&mut self) {
        self.unregister_all();
    }
}
