//! [`Ahead`]: how an ordered map with the default window keeps every worker busy while an
//! early item is slow.
//!
//! Results come in input order, so a map holds the chunks that finished after a slow one until
//! that one is done. With a fixed window of chunks in flight, a worker that is done with
//! everything else then idles while the slow chunk runs (the head-of-line block). The default
//! window counts only the chunks not finished yet (waiting to run, or running), 4 per worker,
//! and lets finished ones be held up to a larger bound, 64 per worker: the other workers go on
//! with the input, in bounded memory. Each chunk's completion rings a bell, so a consumer
//! waiting for a slow head (one not done after [`HEAD_PATIENCE`]) tops the window up as soon
//! as another chunk finishes.

use crate::future::Future;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Chunks held per worker at most (finished or not) while an earlier one is slow.
pub(super) const HELD_PER_WORKER: usize = 64;
/// How long the oldest chunk may keep the consumer waiting before it counts as slow and the
/// map reads ahead of it: longer than most chunks take, so that a map of even chunks waits
/// for each head alone (as many wake-ups as chunks).
pub(super) const HEAD_PATIENCE: std::time::Duration = std::time::Duration::from_micros(250);

/// The longest a consumer waits for the bell before it looks at its chunks again.
const BELL_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// The count of finished chunks, and the bell their completions ring.
pub(super) struct Ahead {
    finished: Arc<AtomicUsize>,
    bell_tx: Sender<()>,
    bell: Receiver<()>,
    /// Chunks handed to the consumer so far (each finished before it was).
    consumed: usize,
}

impl Ahead {
    pub(super) fn new() -> Self {
        let (bell_tx, bell) = crossbeam_channel::bounded(1);
        Ahead { finished: Arc::new(AtomicUsize::new(0)), bell_tx, bell, consumed: 0 }
    }

    /// Counts `chunk` when it finishes (cancelled included) and rings the bell.
    pub(super) fn watch<T>(&self, chunk: &Future<T>) {
        let (finished, bell) = (Arc::clone(&self.finished), self.bell_tx.clone());
        chunk.add_done_callback(move |_| {
            finished.fetch_add(1, Ordering::AcqRel);
            let _ = bell.try_send(());
        });
    }

    /// Of `held` chunks not consumed yet, how many have not finished.
    pub(super) fn not_finished(&self, held: usize) -> usize {
        let finished_held = self.finished.load(Ordering::Acquire).saturating_sub(self.consumed);
        held.saturating_sub(finished_held)
    }

    /// A finished chunk went to the consumer.
    pub(super) fn consumed_one(&mut self) {
        self.consumed += 1;
    }

    /// Waits until some chunk finishes (or one already did since the last wait), or for
    /// [`BELL_POLL`] at most; false only once `deadline` has passed. The caller looks at its
    /// chunks again either way: the bell holds one ring, so a ring can be lost to an earlier
    /// one still unheard, and looking again after a bounded wait is what keeps that from
    /// becoming a hang.
    pub(super) fn wait(&self, deadline: Option<Instant>) -> bool {
        let poll = Instant::now() + BELL_POLL;
        let until = deadline.map_or(poll, |deadline| deadline.min(poll));
        match self.bell.recv_deadline(until) {
            Err(RecvTimeoutError::Timeout) => deadline.is_none_or(|deadline| Instant::now() < deadline),
            _ => true,
        }
    }
}
