//! One chunk of a map: running it on a worker, and reading its results back in order.

use crate::error::{TaskError, panic_message};
use serde::{Deserialize, Serialize};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The results of a chunk: the values of the items that succeeded, in order, and the failed
/// items with their positions. Compact on purpose (a `Vec<Result<R, TaskError>>` would cost
/// 32 bytes per `u64`), since a chunk travels between threads or processes.
#[derive(Serialize, Deserialize)]
pub(crate) struct ChunkOutput<R> {
    values: Vec<R>,
    /// Positions in the chunk, ascending.
    failures: Vec<(usize, TaskError)>,
}

#[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // used by the process pool
impl<R> ChunkOutput<R> {
    pub(crate) fn with_capacity(len: usize) -> Self {
        ChunkOutput { values: Vec::with_capacity(len), failures: Vec::new() }
    }

    /// How many items have an outcome.
    pub(crate) fn len(&self) -> usize {
        self.values.len() + self.failures.len()
    }

    /// Makes room for `additional` more values.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.values.reserve(additional);
    }

    /// Adds the outcome of the next item.
    #[inline]
    pub(crate) fn push(&mut self, outcome: Result<R, TaskError>) {
        match outcome {
            Ok(value) => self.values.push(value),
            Err(error) => self.failures.push((self.len(), error)),
        }
    }
}

/// How a chunk of `weight` items counts in a pool's counters: the items that returned a value,
/// and those that failed (all of them when the chunk failed as a whole).
pub(crate) fn tally_chunk<R>(outcome: &Result<ChunkOutput<R>, TaskError>, weight: usize) -> (usize, usize) {
    match outcome {
        Ok(output) => (output.values.len(), output.failures.len()),
        Err(_) => (0, weight),
    }
}

/// Runs `f` on every item; a panicking item fails alone and the rest of the chunk goes on.
pub(crate) fn run_chunk<F: Fn(A) -> R, A, R>(f: F, items: Vec<A>) -> ChunkOutput<R> {
    let mut values = Vec::with_capacity(items.len());
    let mut failures = Vec::new();
    let mut items = items.into_iter();
    // One landing pad for the whole chunk: after a panic, resume with the next item.
    // `extend` reserves nothing more (the capacity is there) and writes in place; if an item
    // panics, what was written before it stays, and `items` has moved past it.
    while let Err(payload) = catch_unwind(AssertUnwindSafe(|| values.extend(items.by_ref().map(&f)))) {
        let position = values.len() + failures.len();
        failures.push((position, TaskError::Panicked(panic_message(payload.as_ref()))));
    }
    ChunkOutput { values, failures }
}

/// The results of one chunk as the map yields them: one per item, in item order.
pub(crate) struct ChunkResults<R> {
    values: std::vec::IntoIter<R>,
    failures: std::vec::IntoIter<(usize, TaskError)>,
    /// Position of the next failed item; `usize::MAX` when none is left.
    next_failure_at: usize,
    position: usize,
    len: usize,
    /// A chunk that failed as a whole (cancelled, its worker died): every item gets this error.
    whole_chunk_error: Option<TaskError>,
}

impl<R> ChunkResults<R> {
    pub(crate) fn empty() -> Self {
        Self::from_outcome(0, Ok(ChunkOutput { values: Vec::new(), failures: Vec::new() }))
    }

    /// One error standing for the rest of the map (a timeout).
    pub(crate) fn single_error(error: TaskError) -> Self {
        Self::from_outcome(1, Err(error))
    }

    /// The results of a chunk of `len` items; a chunk that failed as a whole (cancelled, its
    /// worker died) yields its error once for each item.
    pub(crate) fn from_outcome(len: usize, outcome: Result<ChunkOutput<R>, TaskError>) -> Self {
        let (output, whole_chunk_error) = match outcome {
            Ok(output) => (output, None),
            Err(error) => (ChunkOutput { values: Vec::new(), failures: Vec::new() }, Some(error)),
        };
        let next_failure_at = match (&whole_chunk_error, output.failures.first()) {
            (Some(_), _) => 0,
            (None, Some((at, _))) => *at,
            (None, None) => usize::MAX,
        };
        ChunkResults {
            values: output.values.into_iter(),
            failures: output.failures.into_iter(),
            next_failure_at,
            position: 0,
            len,
            whole_chunk_error,
        }
    }

    /// Failed items, the end of the chunk, and malformed output.
    #[cold]
    #[inline(never)]
    fn next_slow(&mut self) -> Option<Result<R, TaskError>> {
        if self.position >= self.len {
            return None;
        }
        let position = self.position;
        self.position += 1;
        if let Some(error) = &self.whole_chunk_error {
            return Some(Err(error.clone()));
        }
        if position == self.next_failure_at {
            let failure = self.failures.next();
            self.next_failure_at = self.failures.as_slice().first().map_or(usize::MAX, |(at, _)| *at);
            if let Some((_, error)) = failure {
                return Some(Err(error));
            }
        }
        match self.values.next() {
            Some(value) => Some(Ok(value)),
            // A chunk whose output has fewer results than items (a bad peer): say so per item.
            None => {
                Some(Err(TaskError::Serialization("a chunk returned fewer results than it had items".into())))
            }
        }
    }
}

impl<R> ChunkResults<R> {
    /// Folds the rest of the chunk into `acc`; a chunk with no failures is one tight loop.
    pub(crate) fn fold_into<B>(&mut self, acc: B, g: &mut impl FnMut(B, Result<R, TaskError>) -> B) -> B {
        if self.next_failure_at == usize::MAX && self.values.len() == self.len - self.position {
            self.position = self.len;
            return self.values.by_ref().map(Ok).fold(acc, g);
        }
        self.by_ref().fold(acc, g)
    }
}

impl<R> Iterator for ChunkResults<R> {
    type Item = Result<R, TaskError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        // The common case, an item that succeeded, is one branch and a Vec read.
        if self.position != self.next_failure_at && self.position < self.len {
            if let Some(value) = self.values.next() {
                self.position += 1;
                return Some(Ok(value));
            }
        }
        self.next_slow()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.position;
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(len: usize, outcome: Result<ChunkOutput<u32>, TaskError>) -> Vec<Result<u32, TaskError>> {
        ChunkResults::from_outcome(len, outcome).collect()
    }

    #[test]
    fn panics_fail_only_their_items_and_keep_positions() {
        let out = run_chunk(|x: u32| if x % 3 == 0 { panic!("bad {x}") } else { x }, vec![0, 1, 2, 3, 4, 6]);
        let results = collect(6, Ok(out));
        assert!(matches!(&results[0], Err(TaskError::Panicked(m)) if m == "bad 0"));
        assert_eq!(results[1], Ok(1));
        assert_eq!(results[2], Ok(2));
        assert!(matches!(&results[3], Err(TaskError::Panicked(m)) if m == "bad 3"));
        assert_eq!(results[4], Ok(4));
        assert!(matches!(&results[5], Err(TaskError::Panicked(m)) if m == "bad 6"));
    }

    #[test]
    fn whole_chunk_error_repeats_for_each_item() {
        assert_eq!(collect(3, Err(TaskError::Cancelled)), vec![Err(TaskError::Cancelled); 3]);
    }

    #[test]
    fn short_output_is_reported_not_hidden() {
        let out = ChunkOutput { values: vec![1], failures: Vec::new() };
        let results = collect(2, Ok(out));
        assert_eq!(results[0], Ok(1));
        assert!(matches!(results[1], Err(TaskError::Serialization(_))));
    }

    #[test]
    fn output_round_trips_through_postcard() {
        let out = run_chunk(|x: u32| if x == 1 { panic!("one") } else { x }, vec![0, 1, 2]);
        let bytes = postcard::to_allocvec(&out).unwrap();
        let back: ChunkOutput<u32> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.values, [0, 2]);
        assert_eq!(back.failures.len(), 1);
    }
}
