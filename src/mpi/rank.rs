//! A worker rank (1..N): prove its build to rank 0, then run the tasks rank 0 sends, one after
//! another, until rank 0 says stop (the caller then says goodbye). Every MPI call of the rank
//! is on the thread that runs this.
//!
//! This rank never blocks sending to rank 0 while rank 0 may be blocked sending to it: its
//! hello is small (MPI delivers it without rank 0), and an answer is sent without blocking,
//! taking what rank 0 sends meanwhile (`send_answer`). Its waits on rank 0 (the verdict, the
//! next task) end when rank 0 answers, stops it, or dies (then the launcher ends the job).

use super::wire::{Answer, TAG_ANSWER, TAG_HELLO, TAG_STOP, TAG_TASK, TAG_VERDICT, TaskIn, Verdict};
use crate::error::TaskError;
use crate::remote::batch::Batch;
use crate::remote::build::Build;
use crate::remote::outcomes::Outcomes;
use crate::remote::trampoline;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, Process, SimpleCommunicator};
use std::collections::VecDeque;

/// Serves rank 0 until it says stop (or refuses this rank's build).
pub(crate) fn serve(world: &SimpleCommunicator) {
    crate::remote::panics::report_task_panics_through_futures();
    let root = world.process_at_rank(0);
    let hello: Result<Build, String> = Build::these_bytes().map_err(|e| e.to_string());
    match postcard::to_allocvec(&hello) {
        Ok(bytes) => root.send_with_tag(&bytes[..], TAG_HELLO),
        Err(e) => return eprintln!("concurrent_futures: rank {} cannot say hello: {e}", world.rank()),
    }
    let (verdict, _) = root.matched_probe_with_tag(TAG_VERDICT).matched_receive_vec::<u8>();
    let verdict: Verdict =
        postcard::from_bytes(&verdict).unwrap_or_else(|e| Some(format!("unreadable verdict: {e}")));
    if let Some(why) = verdict {
        return eprintln!("concurrent_futures: rank {} exits: {why}", world.rank());
    }
    // Messages that came while an answer was being sent, in order.
    let mut early: VecDeque<(Vec<u8>, i32)> = VecDeque::new();
    loop {
        let (bytes, tag) = early.pop_front().unwrap_or_else(|| {
            let (message, status) = root.matched_probe();
            let (bytes, status) = (message, status).matched_receive_vec::<u8>();
            (bytes, status.tag())
        });
        match tag {
            TAG_STOP => return,
            TAG_TASK => {
                let (answer, total) = run(&bytes);
                let bytes = match postcard::to_allocvec(&answer) {
                    Ok(bytes) if bytes.len() <= super::wire::MAX_MESSAGE => bytes,
                    Ok(_) => failed(
                        answer.id,
                        total,
                        format!(
                            "the task's results take more than {} bytes, the most one MPI message \
                             holds; return less per task",
                            super::wire::MAX_MESSAGE
                        ),
                    ),
                    Err(e) => {
                        failed(answer.id, total, format!("the worker rank could not encode the answer: {e}"))
                    }
                };
                send_answer(&root, &bytes, &mut early);
            }
            // Only rank 0 writes to a worker rank; a tag it does not use is ignored.
            _ => {}
        }
    }
}

/// Sends an answer to rank 0 without blocking on it: while a large answer waits for rank 0 to
/// take it, this rank keeps taking what rank 0 sends (a large next task, say), so neither can
/// wait forever for the other.
fn send_answer(root: &Process<'_>, bytes: &[u8], early: &mut VecDeque<(Vec<u8>, i32)>) {
    mpi::request::scope(|scope| {
        let mut request = root.immediate_send_with_tag(scope, bytes, TAG_ANSWER);
        loop {
            match request.test() {
                Ok(_) => return,
                Err(pending) => request = pending,
            }
            match root.immediate_matched_probe() {
                Some(found) => {
                    let (bytes, status) = found.matched_receive_vec::<u8>();
                    early.push_back((bytes, status.tag()));
                }
                None => std::thread::yield_now(),
            }
        }
    });
}

/// An answer that fails each of the task's `total` items with `why` (it adds up, so rank 0
/// takes it as the task's outcome).
fn failed(id: u64, total: usize, why: String) -> Vec<u8> {
    let error = TaskError::Serialization(why);
    let failures = (0..total).map(|at| (u32::try_from(at).unwrap_or(u32::MAX), error.clone())).collect();
    postcard::to_allocvec(&Answer { id, values: Batch::default(), failures }).unwrap_or_default()
}

/// Runs one task's items and gathers their outcomes; also how many items it had.
fn run(bytes: &[u8]) -> (Answer, usize) {
    let task: TaskIn = match postcard::from_bytes(bytes) {
        Ok(task) => task,
        // Rank 0 cannot match an answer without the id: it treats this as a broken rank.
        Err(_) => return (Answer { id: u64::MAX, values: Batch::default(), failures: Vec::new() }, 0),
    };
    let total = task.args.len();
    // SAFETY: the offset comes from rank 0, which computed it with `offset_of` and sends tasks
    // only to ranks whose build (executable size and hash) matched its own, so the
    // same function is at the same offset from the anchor here.
    let call = unsafe { trampoline::call_at(task.call) };
    let mut outcomes = Outcomes::with_capacity(total * 8);
    let target = task.target.map_or(0, trampoline::address_at);
    if let Err(why) = call(task.args, target, &mut outcomes) {
        eprintln!("concurrent_futures: a task stopped early: {why}");
    }
    while outcomes.answered() < total {
        outcomes.record(Err(TaskError::Serialization("rank 0 sent a malformed task".into())));
    }
    let (values, failures) = outcomes.take();
    (Answer { id: task.id, values, failures }, total)
}
