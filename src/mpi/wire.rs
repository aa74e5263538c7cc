//! What rank 0 and the worker ranks say to each other: message tags and the frames (a rank's
//! hello is its [`Build`](crate::remote::build::Build), by its bytes).

use crate::error::TaskError;
use crate::remote::batch::Batch;
use crate::remote::task::Pending;
use crate::stats::Counters;
use serde::{Deserialize, Serialize};

/// A worker rank's hello to rank 0: its build.
pub(crate) const TAG_HELLO: i32 = 1;
/// Rank 0's verdict on a hello: go on, or exit.
pub(crate) const TAG_VERDICT: i32 = 2;
/// A task, rank 0 to a worker rank.
pub(crate) const TAG_TASK: i32 = 3;
/// A task's outcomes, a worker rank to rank 0.
pub(crate) const TAG_ANSWER: i32 = 4;
/// The job is over: a worker rank finalizes MPI and exits.
pub(crate) const TAG_STOP: i32 = 5;
/// A worker rank to rank 0, empty: it is leaving (stopped, refused, or unable to go on) and
/// finalizes MPI next. Rank 0 finalizes only once every worker rank has said it.
pub(crate) const TAG_GOODBYE: i32 = 6;

/// The most bytes one MPI message may hold (its count is a C `int`).
pub(crate) const MAX_MESSAGE: usize = i32::MAX as usize;

/// Rank 0's answer to a hello: `None` to go on, or why the rank must exit.
pub(crate) type Verdict = Option<String>;

/// A task as rank 0 sends it (the arguments always inside the message).
#[derive(Serialize)]
pub(crate) struct TaskOut<'a> {
    pub(crate) id: u64,
    pub(crate) call: isize,
    pub(crate) target: Option<isize>,
    pub(crate) args: &'a Batch,
}

/// A task as a worker rank reads it.
#[derive(Deserialize)]
pub(crate) struct TaskIn {
    pub(crate) id: u64,
    pub(crate) call: isize,
    pub(crate) target: Option<isize>,
    pub(crate) args: Batch,
}

/// Every outcome of one task: the encoded results of the items that succeeded, in order, and
/// the failed ones by position (ascending).
#[derive(Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) id: u64,
    pub(crate) values: Batch,
    pub(crate) failures: Vec<(u32, TaskError)>,
}

/// A task as its message under the id `wire`; `None` when it fails here instead (too big, or
/// it cannot be encoded), its future failed with why and its items counted in `counters` as
/// never run.
pub(crate) fn encode(pending: Pending, wire: u64, counters: &Counters) -> Option<(Pending, Vec<u8>)> {
    let frame = TaskOut { id: wire, call: pending.call, target: pending.target, args: &pending.args };
    let why = match postcard::to_allocvec(&frame) {
        Ok(bytes) if bytes.len() <= MAX_MESSAGE => return Some((pending, bytes)),
        Ok(bytes) => format!(
            "the task's arguments take {} bytes, more than the {MAX_MESSAGE} one MPI message holds; \
             send less per task",
            bytes.len()
        ),
        Err(e) => format!("could not encode the task: {e}"),
    };
    crate::remote::tally::never_ran(counters, pending, &TaskError::Serialization(why));
    None
}
