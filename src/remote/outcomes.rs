//! [`Outcomes`]: a task's item outcomes as a worker gathers them for its answer: the encoded
//! results of the items that succeeded, and the failed ones by position. Shared by the process
//! pool's workers and the MPI ranks.

use super::batch::Batch;
use super::items::ItemHooks;
use crate::error::TaskError;

/// The outcomes of the items answered since the last [`take`](Self::take).
#[derive(Default)]
pub(crate) struct Outcomes {
    values: Batch,
    /// Positions count from the last `take`, ascending.
    failures: Vec<(u32, TaskError)>,
    answered: u32,
}

impl Outcomes {
    /// Room for `bytes` of encoded results.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Outcomes { values: Batch::with_capacity(bytes), ..Outcomes::default() }
    }

    /// Where the next item's encoded result goes.
    pub(crate) fn values(&mut self) -> &mut Batch {
        &mut self.values
    }

    /// The next item is over: its result is in [`values`](Self::values), or here is why not.
    pub(crate) fn record(&mut self, outcome: Result<(), TaskError>) {
        if let Err(error) = outcome {
            self.failures.push((self.answered, error));
        }
        self.answered += 1;
    }

    /// The next `count` items succeeded.
    pub(crate) fn succeeded(&mut self, count: usize) {
        self.answered += count as u32;
    }

    /// Items answered since the last `take`.
    pub(crate) fn answered(&self) -> usize {
        self.answered as usize
    }

    /// The outcomes so far, for an answer; counting starts again.
    pub(crate) fn take(&mut self) -> (Batch, Vec<(u32, TaskError)>) {
        self.answered = 0;
        (std::mem::take(&mut self.values), std::mem::take(&mut self.failures))
    }
}

/// How many items an answer (encoded results, failures by position) answers, if it adds up (no
/// failure out of place or twice, well-formed values); `None` for an answer from a broken peer.
pub(crate) fn answered(values: &Batch, failures: &[(u32, TaskError)]) -> Option<usize> {
    let count = values.len().checked_add(failures.len())?;
    let ascending = failures.windows(2).all(|w| w[0].0 < w[1].0);
    let inside = failures.last().is_none_or(|(at, _)| (*at as usize) < count);
    (ascending && inside && values.is_well_formed()).then_some(count)
}

/// Every item runs and is answered together, at the end (an MPI rank's way).
impl ItemHooks for Outcomes {
    fn before(&mut self, _index: usize) -> bool {
        true
    }

    fn out(&mut self) -> &mut Batch {
        self.values()
    }

    fn after(&mut self, _index: usize, outcome: Result<(), TaskError>) -> Result<(), String> {
        self.record(outcome);
        Ok(())
    }

    fn item_by_item(&self) -> bool {
        false
    }

    fn succeeded(&mut self, _first: usize, count: usize) -> Result<(), String> {
        Outcomes::succeeded(self, count);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_positions_among_successes_until_taken() {
        let mut outcomes = Outcomes::default();
        outcomes.values().push(&1u32).unwrap();
        outcomes.record(Ok(()));
        outcomes.record(Err(TaskError::Cancelled));
        outcomes.succeeded(3);
        outcomes.record(Err(TaskError::Timeout));
        assert_eq!(outcomes.answered(), 6);
        let (values, failures) = outcomes.take();
        assert_eq!(values.len(), 1);
        assert_eq!(failures, [(1, TaskError::Cancelled), (5, TaskError::Timeout)]);
        outcomes.record(Err(TaskError::Cancelled));
        assert_eq!(outcomes.take().1, [(0, TaskError::Cancelled)], "positions count from the take");
    }

    #[test]
    fn answers_must_add_up() {
        let values = Batch::single(&1u8).unwrap();
        let fail = |at| (at, TaskError::Panicked("p".into()));
        assert_eq!(answered(&values, &[fail(0)]), Some(2));
        assert_eq!(answered(&values, &[fail(2)]), None);
        assert_eq!(answered(&Batch::default(), &[fail(0), fail(0)]), None);
    }
}
