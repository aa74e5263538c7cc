//! One worker slot: a thread of the parent that keeps one worker process busy, and replaces it
//! when it dies, retires or is killed.
//!
//! The slot sends its worker up to [`IN_FLIGHT`] tasks at a time (in one frame when several are
//! waiting) and reads the outcomes in order. It lines up more than one task only while every
//! other slot is busy and its worker's tasks are short: a long task queued behind another
//! would wait while an idle worker could run it.
//!
//! A worker runs its tasks one after another, item after item, so when it dies only the oldest
//! unanswered item was running: it fails (`WorkerDied`, or `Killed` when the parent stopped it),
//! and the items and tasks after it, which never started, go to the replacement. Without a
//! task timeout a worker reports a task's items together, so the whole of that task fails.
//!
//! With a task timeout the slot waits for each item with a deadline. When it passes, it asks the
//! worker to stop that item (the worker decides, so an item that just finished is never
//! mistaken for the next), and kills the worker outright if it has not stopped after
//! [`KILL_GRACE`].

use super::os::{Exit, Signal};
use super::pool::{Idle, Pool};
use super::protocol::{FromWorker, KILLED_EXIT_CODE, MEMORY_EXIT_CODE, TaskFrameRef, ToWorkerRef, encode};
use super::spawn::{StartError, Worker, start_worker};
use super::task::Pending;
use crate::error::TaskError;
use ipc_channel::IpcError;
use ipc_channel::TryRecvError;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Tasks sent to one worker and not answered yet: enough to hide the round trip, few enough
/// that queued tasks stay cancellable.
const IN_FLIGHT: usize = 4;
/// A result that took longer than this to come means tasks are long next to the round trip
/// (about 10 µs): lining them up would gain nothing and could keep one waiting, so the slot
/// sends one at a time until results come quickly again.
const LONG_TASK: Duration = Duration::from_millis(1);
/// Attempts to start a worker before the pool counts as broken.
const START_ATTEMPTS: usize = 3;
/// How long an exiting worker may take before it is killed.
pub(crate) const EXIT_PATIENCE: Duration = Duration::from_secs(5);
/// How long a worker asked to stop an item may take before it is killed outright.
const KILL_GRACE: Duration = Duration::from_millis(500);

/// An item the slot asked the worker to stop, because it ran past the task timeout.
struct Asked {
    id: u64,
    item: usize,
    /// When the worker was asked; `None` once it was killed outright.
    at: Option<Instant>,
}

/// How serving one worker ended.
enum Ended {
    /// The pool shut down and the queue is empty: the worker was told to exit.
    QueueClosed,
    /// The worker ran its `max_tasks_per_child`.
    Retired,
    /// The worker's channel closed: it died (perhaps because it was asked to stop an item).
    Died(Option<Asked>),
    /// The worker broke the protocol; it must be killed.
    Misbehaved(String),
}

/// The slot thread: workers, one after another, until the pool shuts down or breaks.
pub(crate) fn run(pool: &Pool) {
    let mut idle = Idle::starting(pool);
    // Tasks that were sent to a worker that never started them, for the next worker.
    let mut retry: VecDeque<Pending> = VecDeque::new();
    loop {
        if let Some(reason) = pool.terminated() {
            // Handed to a worker already (running, as their futures say): killed with it.
            let killed = TaskError::Killed(reason.clone());
            for pending in retry {
                pending.fail_rest(&killed);
            }
            return;
        }
        let worker = match start(pool) {
            Ok(worker) => worker,
            Err(why) => return pool.break_pool(why, retry.into_iter().collect()),
        };
        if !pool.register(&worker.handle) {
            // Terminated while it started.
            worker.handle.signal(Signal::Kill);
            worker.reap(EXIT_PATIENCE);
            continue;
        }
        let mut in_flight: VecDeque<Pending> = VecDeque::new();
        let ended = serve(pool, &worker, &mut idle, &mut retry, &mut in_flight);
        pool.unregister(&worker.handle);
        match ended {
            Ended::QueueClosed => {
                worker.close(EXIT_PATIENCE);
                return;
            }
            Ended::Retired => {
                worker.reap(EXIT_PATIENCE);
                requeue(&mut retry, in_flight);
            }
            Ended::Died(asked) => {
                let exit = worker.reap(EXIT_PATIENCE);
                bury(pool, &worker, &exit, asked, in_flight, &mut retry);
            }
            Ended::Misbehaved(why) => {
                worker.handle.condemn(why);
                let exit = worker.reap(EXIT_PATIENCE);
                bury(pool, &worker, &exit, None, in_flight, &mut retry);
            }
        }
        if let Some(why) = pool.is_broken() {
            let why = why.clone();
            return pool.break_pool(why, retry.into_iter().collect());
        }
    }
}

/// Puts never-started tasks back at the front of the line, in their order.
fn requeue(retry: &mut VecDeque<Pending>, in_flight: VecDeque<Pending>) {
    for pending in in_flight.into_iter().rev() {
        retry.push_front(pending);
    }
}

/// After a worker died: fails the item it was running, says why, and keeps the rest.
fn bury(
    pool: &Pool,
    worker: &Worker,
    exit: &Exit,
    asked: Option<Asked>,
    mut in_flight: VecDeque<Pending>,
    retry: &mut VecDeque<Pending>,
) {
    let Some(mut front) = in_flight.pop_front() else { return };
    if let Some(reason) = pool.terminated() {
        // `terminate_workers`/`kill_workers`: every task handed to this worker (running, as
        // their futures say) is killed with it; nothing more runs.
        let killed = TaskError::Killed(reason.clone());
        for pending in std::iter::once(front).chain(in_flight) {
            pending.fail_rest(&killed);
        }
        return;
    }
    let error = if let Some(why) = worker.handle.condemned() {
        TaskError::WorkerDied(format!("the worker process {why}; it was killed"))
    } else if asked.is_some_and(|a| a.id == front.id && a.item == front.done) {
        let timeout = pool.task_timeout.unwrap_or_default();
        TaskError::Killed(format!("it ran past the task timeout of {timeout:?}"))
    } else if exit.code == Some(MEMORY_EXIT_CODE)
        && let Some(limit) = pool.memory_limit
    {
        TaskError::Killed(format!(
            "its worker process went past the memory limit of {limit} bytes (max_memory_per_worker)"
        ))
    } else if exit.code == Some(KILLED_EXIT_CODE) && front.task.is_done() {
        // Stopped by `Future::kill`, which already failed the future.
        TaskError::Killed("stopped by Future::kill".into())
    } else {
        TaskError::WorkerDied(format!("the worker process {}", exit.text))
    };
    if pool.launch.setup.item_by_item {
        // Only the running item failed; the rest of its task goes to the replacement.
        if front.answer(Err(error)) {
            front.task.finish();
        } else {
            in_flight.push_front(front.rest());
        }
    } else {
        front.fail_rest(&error);
    }
    requeue(retry, in_flight);
}

fn start(pool: &Pool) -> Result<Worker, String> {
    let mut last = String::new();
    for _ in 0..START_ATTEMPTS {
        match start_worker(&pool.launch) {
            Ok(worker) => return Ok(worker),
            Err(StartError::Broken(why)) => return Err(why),
            Err(StartError::Retry(why)) => last = why,
        }
    }
    Err(format!("could not start a worker process ({START_ATTEMPTS} attempts): {last}"))
}

/// Feeds one worker and reads its results until it stops.
fn serve(
    pool: &Pool,
    worker: &Worker,
    idle: &mut Idle<'_>,
    retry: &mut VecDeque<Pending>,
    in_flight: &mut VecDeque<Pending>,
) -> Ended {
    // Set when a send fails: the worker is exiting, but what it said before still counts
    // (a retiring worker's `Retiring`, its last results), so keep reading until the end.
    let mut unreachable = false;
    // How many tasks to line up: 1 while tasks are long.
    let mut limit = IN_FLIGHT;
    // When the oldest unanswered item started (as near as the parent can tell).
    let mut front_since = Instant::now();
    let mut asked: Option<Asked> = None;
    loop {
        let mut batch: Vec<Pending> = Vec::new();
        while !unreachable && in_flight.len() + batch.len() < limit {
            let next = if let Some(pending) = retry.pop_front() {
                // Already running; it may have been killed while it waited.
                if pending.task.is_done() {
                    pending.task.finish();
                } else {
                    pending.task.set_killer(worker.handle.killer(pending.id));
                    batch.push(pending);
                }
                continue;
            } else if in_flight.is_empty() && batch.is_empty() {
                idle.set(true);
                let next = pool.queue().recv();
                idle.set(false);
                match next {
                    Ok(pending) => pending,
                    Err(_) => return Ended::QueueClosed,
                }
            } else if pool.has_idle_slot() {
                break;
            } else {
                match pool.queue().try_recv() {
                    Ok(pending) => pending,
                    Err(_) => break,
                }
            };
            if next.task.set_running(worker.handle.killer(next.id)) {
                batch.push(next);
            }
        }
        if !batch.is_empty() {
            if in_flight.is_empty() {
                front_since = Instant::now();
            }
            for pending in &batch {
                worker.handle.grants.grant(&pending.services);
            }
            let frames: Vec<TaskFrameRef<'_>> =
                batch.iter().map(|p| TaskFrameRef { id: p.id, call: p.call, args: &p.args }).collect();
            // Detached arguments follow their frame, from their own buffers: no copy.
            let sent = encode(&ToWorkerRef::Tasks(&frames)).map(|bytes| {
                worker.send(&bytes)?;
                frames
                    .iter()
                    .filter(|frame| frame.detached())
                    .try_for_each(|frame| worker.send(frame.args.data()))
            });
            drop(frames);
            match sent {
                Ok(Ok(())) => in_flight.extend(batch),
                Ok(Err(_)) => {
                    // These never reached the worker.
                    requeue(retry, batch.into());
                    unreachable = true;
                }
                Err(error) => {
                    for pending in batch {
                        pending.fail_rest(&error);
                    }
                }
            }
            if in_flight.is_empty() && !unreachable {
                continue;
            }
        }
        let deadline = match (&asked, pool.task_timeout) {
            (Some(Asked { at: Some(at), .. }), _) => Some(*at + KILL_GRACE),
            (Some(Asked { at: None, .. }), _) => None,
            (None, Some(timeout)) if !in_flight.is_empty() => Some(front_since + timeout),
            (None, _) => None,
        };
        let waiting_since = Instant::now();
        let received = match deadline {
            None => worker.results.recv().map_err(TryRecvError::IpcError),
            Some(deadline) => {
                worker.results.try_recv_timeout(deadline.saturating_duration_since(waiting_since))
            }
        };
        let frame = match received {
            Ok(frame) => frame,
            Err(TryRecvError::Empty) => {
                match &mut asked {
                    None => {
                        if let Some(front) = in_flight.front() {
                            worker.handle.request_kill(front.id, Some(front.done as u32));
                            asked = Some(Asked { id: front.id, item: front.done, at: Some(Instant::now()) });
                        }
                    }
                    Some(asked) => {
                        // It did not stop when asked: stop it.
                        worker.handle.signal(Signal::Kill);
                        asked.at = None;
                    }
                }
                continue;
            }
            // A closed or reset channel: the worker is gone.
            Err(TryRecvError::IpcError(IpcError::Disconnected | IpcError::Io(_))) => {
                return Ended::Died(asked);
            }
            Err(TryRecvError::IpcError(IpcError::SerializationError(error))) => {
                return Ended::Misbehaved(format!("sent an unreadable frame ({error})"));
            }
        };
        limit = if waiting_since.elapsed() > LONG_TASK { 1 } else { IN_FLIGHT };
        match frame {
            FromWorker::Items { id, mut values, failures, detached } => {
                if detached {
                    match worker.payloads.recv() {
                        Ok(data) => {
                            if !values.attach(data) {
                                let why = format!("sent detached results for task {id} that do not fit");
                                return Ended::Misbehaved(why);
                            }
                        }
                        // It died before it had sent them: the item was not answered.
                        Err(_) => return Ended::Died(asked),
                    }
                }
                let Some(front) = in_flight.front_mut().filter(|front| front.id == id) else {
                    return Ended::Misbehaved(format!("answered task {id}, which it was not running"));
                };
                let count = FromWorker::items_answered(&values, &failures)
                    .filter(|count| *count <= front.args.len() - front.done);
                let Some(count) = count else {
                    return Ended::Misbehaved(format!("answered task {id} with outcomes that do not add up"));
                };
                let last = front.answer_all(values, failures, count);
                if asked.as_ref().is_some_and(|a| a.id == id && a.item < front.done) {
                    // It finished before the worker could stop it.
                    asked = None;
                }
                if last && let Some(done) = in_flight.pop_front() {
                    done.task.finish();
                }
                front_since = Instant::now();
            }
            FromWorker::Retiring => return Ended::Retired,
            other => return Ended::Misbehaved(format!("sent {other:?} out of turn")),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::TaskError;
    use crate::future::Future;
    use crate::process::handle::WorkerHandle;
    use crate::process::protocol::{Batch, Setup};
    use crate::process::spawn::Launch;
    use crate::process::task::{Remote, Single, Typed};
    use ipc_channel::ipc::{bytes_channel, channel};

    /// Serves one task to a fake worker that answers its first frame with `reply` (or closes
    /// its channel when `reply` is `None`); returns how serving ended and the task's future.
    fn serve_fake(reply: Option<FromWorker>) -> (Ended, Future<u32>) {
        let pool = Pool::new(1, Launch::new(Setup::default()), None, None);
        // No more tasks will come: once the fake's answer is read, serving ends.
        pool.shutdown(false, false);
        let (tasks, tasks_rx) = bytes_channel().unwrap();
        let (results_tx, results) = channel().unwrap();
        let (_exited_tx, exited) = crossbeam_channel::bounded(1);
        let fake = std::thread::spawn(move || {
            let _frame = tasks_rx.recv().unwrap();
            match reply {
                Some(frame) => results_tx.send(frame).unwrap(),
                None => drop(results_tx),
            }
        });
        let (_payloads_tx, payloads) = bytes_channel().unwrap();
        let worker = Worker::fake(WorkerHandle::new(0), tasks, results, payloads, exited);
        let (future, promise) = Future::pending();
        let task = Typed::new(promise, Single::new());
        assert!(task.set_running(Box::new(|| {})));
        let pending = Pending {
            id: 7,
            call: 0,
            args: Batch::single(&1u8).unwrap(),
            done: 0,
            task,
            services: Vec::new(),
        };
        let mut retry = VecDeque::from([pending]);
        let mut in_flight = VecDeque::new();
        let ended = serve(&pool, &worker, &mut Idle::starting(&pool), &mut retry, &mut in_flight);
        fake.join().unwrap();
        for pending in in_flight {
            pending.fail_rest(&TaskError::WorkerDied("test".into()));
        }
        (ended, future)
    }

    fn answer(id: u64, value: u32) -> FromWorker {
        FromWorker::Items {
            id,
            values: Batch::single(&value).unwrap(),
            failures: Vec::new(),
            detached: false,
        }
    }

    #[test]
    fn an_answer_for_another_task_is_misbehaviour() {
        let (ended, _) = serve_fake(Some(answer(99, 1)));
        assert!(matches!(ended, Ended::Misbehaved(ref why) if why.contains("task 99")));
    }

    #[test]
    fn outcomes_that_do_not_add_up_are_misbehaviour() {
        let two = FromWorker::Items {
            id: 7,
            values: Batch::single(&1u32).unwrap(),
            failures: vec![(0, TaskError::Cancelled)],
            detached: false,
        };
        let (ended, _) = serve_fake(Some(two));
        assert!(matches!(ended, Ended::Misbehaved(ref why) if why.contains("do not add up")));
    }

    #[test]
    fn a_frame_out_of_turn_is_misbehaviour() {
        let (ended, _) = serve_fake(Some(FromWorker::Ready));
        assert!(matches!(ended, Ended::Misbehaved(ref why) if why.contains("out of turn")));
    }

    #[test]
    fn a_closed_channel_is_a_death() {
        let (ended, future) = serve_fake(None);
        assert!(matches!(ended, Ended::Died(None)));
        assert!(matches!(future.result(), Err(TaskError::WorkerDied(_))));
    }

    #[test]
    fn a_good_answer_completes_the_future() {
        let (_, future) = serve_fake(Some(answer(7, 5)));
        assert_eq!(future.result(), Ok(5));
    }
}
