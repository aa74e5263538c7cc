//! How a remote task's items move through its pool's [`Counters`]: each item counts one task,
//! like a plain submit (the Intake counted it `submitted` when it was queued).
//!
//! A worker (process or rank) runs what it was sent one item after another, so the item that
//! runs is the front item of the front task of its line. That item counts as started (`busy`)
//! from when it becomes the front of the line until its outcome arrives ([`Front`]); the items
//! lined up behind it, in its own task or in the tasks after it, stay `queued`. An answer that
//! covers several items at once (a worker reports a task's items together unless each has its
//! own deadline) settles the running one and the ones that ran behind it (`ran_along`). Items
//! that never run (cancelled, killed before their turn, failed before they were sent) leave the
//! queue with `dropped` ([`never_ran`]). Every count is made before the future it concerns
//! completes, so a caller who sees every future done sees the counts settled, except for the
//! tasks whose futures were completed from outside the pool (a cancel, a kill): those are
//! counted when the pool comes to them.

use super::task::Pending;
use crate::error::TaskError;
use crate::executor::intake::Refuse;
use crate::stats::Counters;

/// Whether the front item of one worker's line counts as running (`busy`) in its pool's
/// [`Counters`]. The transport calls [`follow`](Self::follow) whenever its line's front may
/// have changed (a task sent to an empty line, an answer), and settles the counted item with
/// [`answered`](Self::answered), [`fail`](Self::fail) or [`requeued`](Self::requeued).
#[derive(Debug, Default)]
pub(crate) struct Front {
    counted: bool,
}

impl Front {
    /// The line's front item is the one running now, if the line has one (`some`): counts it
    /// as started, once.
    pub(crate) fn follow(&mut self, counters: &Counters, some: bool) {
        if some && !self.counted {
            counters.started(1);
            self.counted = true;
        }
    }

    /// The next `count` items of the front task have their outcomes, `failed` of them failed:
    /// the first is the running one, the rest ran behind it. `task_done` says the task's future
    /// was completed already (killed): then its values are dropped, and every item counts as
    /// failed. Call it before the outcomes reach the future.
    pub(crate) fn answered(&mut self, counters: &Counters, count: usize, failed: usize, task_done: bool) {
        if count == 0 {
            return;
        }
        if !self.counted {
            counters.started(1);
        }
        self.counted = false;
        let failed = if task_done { count } else { failed.min(count) };
        counters.ran_along(count - 1);
        counters.finished(count - failed, failed);
    }

    /// The front task's items left all fail with `error`: the running one first, the others
    /// with it.
    pub(crate) fn fail(&mut self, counters: &Counters, pending: Pending, error: &TaskError) {
        let left = pending.weight();
        self.answered(counters, left, left, false);
        pending.fail_rest(error);
    }

    /// The item counted as running never ran after all (its worker never read it, or retired
    /// first): it waits again.
    pub(crate) fn requeued(&mut self, counters: &Counters) {
        if std::mem::take(&mut self.counted) {
            counters.finished(0, 0);
            counters.submitted(1);
        }
    }
}

/// Counts `n` items that failed before they could be queued (an argument that could not be
/// encoded, a task this transport cannot take): submitted, and failed.
pub(crate) fn failed_before_queued(counters: &Counters, n: usize) {
    if n > 0 {
        counters.submitted(n);
        counters.dropped(n, false);
    }
}

/// Counts `pending`'s items left as never to run: cancelled when `error` is `Cancelled`, failed
/// otherwise; then fails them with `error`.
pub(crate) fn never_ran(counters: &Counters, pending: Pending, error: &TaskError) {
    counters.dropped(pending.weight(), matches!(error, TaskError::Cancelled));
    pending.fail_rest(error);
}

/// Counts `pending`'s items left as never to run because its future is done already: cancelled
/// (`cancelled`) or killed while it waited; the caller lets go of it.
pub(crate) fn skipped(counters: &Counters, pending: &Pending, cancelled: bool) {
    counters.dropped(pending.weight(), cancelled);
}
