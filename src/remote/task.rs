//! A task on its way through a process pool: its encoded items, and the future that their
//! outcomes complete (one value for `submit`, a chunk's output for `map`).

use super::batch::Batch;
use super::numbers::Owned;
use crate::error::TaskError;
use crate::executor::intake::Refuse;
use crate::executor::map::ChunkOutput;
use crate::future::{Killer, Promise};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// What completes a task's future from its items' outcomes (decoding their results), its type
/// erased.
pub(crate) trait Completer: Send {
    /// Marks the task running (it is being sent), with what stops it; false if it was
    /// cancelled.
    fn set_running(&self, killer: Killer) -> bool;
    /// Replaces what stops it (it was sent again, to another worker).
    fn set_killer(&self, killer: Killer);
    /// True once the future is done (for example killed while it waited to be sent again).
    fn is_done(&self) -> bool;
    /// Takes the outcome of the next item: its encoded result, or why there is none.
    fn item(&mut self, outcome: Result<&[u8], TaskError>);
    /// Takes the outcomes of the next `count` items at once: the encoded results of those that
    /// succeeded, in order, and the failed ones by position (ascending; checked by the caller).
    fn items(&mut self, values: Batch, failures: Vec<(u32, TaskError)>, count: usize);
    /// Every item has its outcome: completes the future.
    fn finish(self: Box<Self>);
    /// Completes the future with `error` (cancels it for `Cancelled`) without running it.
    fn reject(self: Box<Self>, error: TaskError);
}

/// How a task's item outcomes become its future's value.
pub(crate) trait Collect: Send + 'static {
    type Output: Send + 'static;
    /// Takes the outcome of the next item.
    fn item(&mut self, outcome: Result<&[u8], TaskError>);
    /// Takes the next item's encoded result, which it may keep instead of copying.
    fn owned_item(&mut self, value: Owned) {
        match value {
            // A value with segments (see `segments`): its bytes with the segments in place.
            Owned::Parts(parts) => match parts.into_flat() {
                Ok(bytes) => self.item(Ok(&bytes)),
                Err(why) => self.item(Err(TaskError::Serialization(why))),
            },
            value => self.item(Ok(value.bytes())),
        }
    }
    /// Takes the encoded results of the next `count` items, all of which succeeded (a
    /// malformed batch with fewer items fails the rest).
    fn values(&mut self, values: &Batch, count: usize) {
        each_value(values, count, |outcome| self.item(outcome));
    }
    /// Every item has its outcome: the future's value.
    fn output(self) -> Result<Self::Output, TaskError>;
}

/// A task's promise, with how its items' outcomes are collected.
pub(crate) struct CollectingPromise<C: Collect> {
    promise: Promise<C::Output>,
    collect: C,
}

impl<C: Collect> CollectingPromise<C> {
    pub(crate) fn new(promise: Promise<C::Output>, collect: C) -> Box<Self> {
        Box::new(CollectingPromise { promise, collect })
    }
}

impl<C: Collect> Completer for CollectingPromise<C> {
    fn set_running(&self, killer: Killer) -> bool {
        self.promise.set_running_killable(killer)
    }

    fn set_killer(&self, killer: Killer) {
        self.promise.set_killer(killer);
    }

    fn is_done(&self) -> bool {
        self.promise.is_done()
    }

    fn item(&mut self, outcome: Result<&[u8], TaskError>) {
        self.collect.item(outcome);
    }

    fn items(&mut self, values: Batch, failures: Vec<(u32, TaskError)>, count: usize) {
        if count == 1 && failures.is_empty() {
            // One value: its bytes move into the result where they can (a `Vec<u8>`).
            if let Some(value) = values.into_single() {
                self.collect.owned_item(value);
            } else {
                self.collect.item(Err(TaskError::Serialization("a malformed result".into())));
            }
            return;
        }
        if failures.is_empty() {
            self.collect.values(&values, count);
            return;
        }
        let mut failures = failures.into_iter().peekable();
        if !values.segments().is_empty() {
            // One value with segments (a batch with segments has one item: `Batch::attach`)
            // among failed items: taken whole, segments and all.
            let mut value = values.into_single();
            for position in 0..count {
                match failures.next_if(|(at, _)| *at as usize == position) {
                    Some((_, error)) => self.collect.item(Err(error)),
                    None => match value.take() {
                        Some(value) => self.collect.owned_item(value),
                        None => self.collect.item(Err(short_batch())),
                    },
                }
            }
            return;
        }
        let mut values = values.items().flatten();
        for position in 0..count {
            let outcome = match failures.next_if(|(at, _)| *at as usize == position) {
                Some((_, error)) => Err(error),
                None => Ok(values.next().unwrap_or_default()),
            };
            self.collect.item(outcome);
        }
    }

    fn finish(self: Box<Self>) {
        let CollectingPromise { promise, collect } = *self;
        promise.complete(collect.output());
    }

    fn reject(self: Box<Self>, error: TaskError) {
        self.promise.reject(error);
    }
}

fn decode<R: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<R, TaskError> {
    super::codec::decode(bytes).map_err(decode_error)
}

/// Calls `f` with each of the first `count` encoded values of `values`, in order; a malformed
/// batch with fewer gets an error for each one missing.
fn each_value(values: &Batch, count: usize, mut f: impl FnMut(Result<&[u8], TaskError>)) {
    let mut visited = 0;
    values.each_item(|bytes| {
        if visited < count {
            f(Ok(bytes));
            visited += 1;
        }
    });
    (visited..count).for_each(|_| f(Err(short_batch())));
}

fn short_batch() -> TaskError {
    TaskError::Serialization("the worker sent fewer results than it said".into())
}

fn decode_error(error: super::codec::Error) -> TaskError {
    TaskError::Serialization(format!("could not decode the task's result: {error}"))
}

/// The value of one `submit`: its one item.
pub(crate) struct Single<R>(Option<Result<R, TaskError>>);

impl<R> Single<R> {
    pub(crate) fn new() -> Self {
        Single(None)
    }
}

impl<R: DeserializeOwned + Send + 'static> Collect for Single<R> {
    type Output = R;

    fn item(&mut self, outcome: Result<&[u8], TaskError>) {
        if self.0.is_none() {
            self.0 = Some(outcome.and_then(decode));
        }
    }

    fn owned_item(&mut self, value: Owned) {
        if self.0.is_none() {
            self.0 = Some(super::codec::decode_owned(value).map_err(decode_error));
        }
    }

    fn output(self) -> Result<R, TaskError> {
        self.0.unwrap_or_else(|| {
            Err(TaskError::Serialization("the worker answered the task with no result".into()))
        })
    }
}

/// The value of one chunk of a `map`: every item's outcome in place, including the items that
/// could not even be encoded (`unsent`, by position).
pub(crate) struct Chunk<R> {
    output: ChunkOutput<R>,
    /// Items that failed before they were sent, by position in the chunk, ascending.
    unsent: std::vec::IntoIter<(usize, TaskError)>,
}

impl<R> Chunk<R> {
    pub(crate) fn new(unsent: Vec<(usize, TaskError)>, len: usize) -> Self {
        let mut chunk = Chunk { output: ChunkOutput::with_capacity(len), unsent: unsent.into_iter() };
        chunk.place_unsent();
        chunk
    }

    /// Puts the unsent items that come next in place.
    fn place_unsent(&mut self) {
        while let Some((at, _)) = self.unsent.as_slice().first() {
            if *at != self.output.len() {
                return;
            }
            if let Some((_, error)) = self.unsent.next() {
                self.output.push(Err(error));
            }
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Collect for Chunk<R> {
    type Output = ChunkOutput<R>;

    fn item(&mut self, outcome: Result<&[u8], TaskError>) {
        self.output.push(outcome.and_then(decode));
        self.place_unsent();
    }

    fn owned_item(&mut self, value: Owned) {
        // One item's value, which may have segments (a map's chunk of one item).
        self.output.push(super::codec::decode_owned(value).map_err(decode_error));
        self.place_unsent();
    }

    fn values(&mut self, values: &Batch, count: usize) {
        if !self.unsent.as_slice().is_empty() {
            // Items that failed before they were sent sit between these: one at a time.
            return each_value(values, count, |outcome| self.item(outcome));
        }
        // The common case: one tight loop of decodes into the output (written out rather than
        // through `each_value`, whose `Result` per item costs more: see docs/PERFORMANCE.md).
        let output = &mut self.output;
        output.reserve(count);
        let mut visited = 0;
        values.each_item(|bytes| {
            if visited < count {
                output.push(decode(bytes));
                visited += 1;
            }
        });
        (visited..count).for_each(|_| output.push(Err(short_batch())));
    }

    fn output(mut self) -> Result<ChunkOutput<R>, TaskError> {
        for (_, error) in self.unsent.by_ref() {
            self.output.push(Err(error));
        }
        Ok(self.output)
    }
}

/// A task waiting for (or sent to) a worker.
pub(crate) struct Pending {
    pub(crate) id: u64,
    /// The trampoline's offset.
    pub(crate) call: isize,
    /// The function's offset, for a task sent as a function pointer.
    pub(crate) target: Option<isize>,
    /// The items still to run (after a resend, only those); shared with the writer thread that
    /// sends their bytes.
    pub(crate) args: Arc<Batch>,
    /// How many of `args` have their outcome already.
    pub(crate) done: usize,
    pub(crate) task: Box<dyn Completer>,
    /// The parent services the arguments name, by id: kept alive while the task is, and
    /// granted to the worker it is sent to.
    pub(crate) services: super::service::Exposed,
    /// Its `task` span (feature `tracing`): the span current at submit, then its own once sent.
    pub(crate) trace: crate::trace::Submitted,
}

impl Pending {
    /// Gives the next item its outcome; true when that was the last one.
    pub(crate) fn answer(&mut self, outcome: Result<&[u8], TaskError>) -> bool {
        self.task.item(outcome);
        self.done += 1;
        self.done >= self.args.len()
    }

    /// Gives the next `count` items their outcomes (see [`Completer::items`]); true when that
    /// answered the last one.
    pub(crate) fn answer_all(
        &mut self,
        values: Batch,
        failures: Vec<(u32, TaskError)>,
        count: usize,
    ) -> bool {
        self.task.items(values, failures, count);
        self.done += count;
        self.done >= self.args.len()
    }

    /// Gives every item left the same outcome (a whole task that failed).
    pub(crate) fn fail_rest(mut self, error: &TaskError) {
        while self.done < self.args.len() {
            self.answer(Err(error.clone()));
        }
        self.task.finish();
    }

    /// Prepares a task that lost its worker part-way to be sent again: only the items that
    /// have no outcome yet go.
    pub(crate) fn rest(mut self) -> Pending {
        if self.done > 0 {
            self.args = Arc::new(self.args.tail(self.done));
            self.done = 0;
        }
        self
    }
}

impl Refuse for Pending {
    fn refuse(self, error: TaskError) {
        self.task.reject(error);
    }

    /// Its items without an outcome yet.
    fn weight(&self) -> usize {
        self.args.len().saturating_sub(self.done)
    }
}
