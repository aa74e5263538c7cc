//! One worker slot: a thread of the parent that keeps one worker process busy, and replaces it
//! when it dies or retires.
//!
//! The slot sends its worker up to [`IN_FLIGHT`] tasks at a time (in one frame when several are
//! waiting) and reads the results in order. It lines up more than one task only while every
//! other slot is busy and its worker's tasks are short: a long task queued behind another
//! would wait while an idle worker could run it.
//!
//! A worker runs its tasks one after another, so when it dies, only the oldest unanswered task
//! was running: that one fails with `WorkerDied`, and the others, which never started, go to
//! the replacement.

use super::pool::{Idle, Pending, Pool};
use super::protocol::{FromWorker, TaskFrame, ToWorker, decode, encode};
use super::spawn::{StartError, Worker, start_worker};
use crate::error::TaskError;
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
const EXIT_PATIENCE: Duration = Duration::from_secs(5);

/// How serving one worker ended.
enum Ended {
    /// The pool shut down and the queue is empty: the worker was told to exit.
    QueueClosed,
    /// The worker ran its `max_tasks_per_child`.
    Retired,
    /// The worker's channel closed: it died.
    Died,
    /// The worker broke the protocol; it must be killed.
    Misbehaved(String),
}

/// The slot thread: workers, one after another, until the pool shuts down or breaks.
pub(crate) fn run(pool: &Pool) {
    let mut idle = Idle::starting(pool);
    // Tasks that were sent to a worker that never started them, for the next worker.
    let mut retry: VecDeque<Pending> = VecDeque::new();
    loop {
        let worker = match start(pool) {
            Ok(worker) => worker,
            Err(why) => return pool.break_pool(why, retry.into_iter().collect()),
        };
        let mut in_flight: VecDeque<Pending> = VecDeque::new();
        let ended = serve(pool, &worker, &mut idle, &mut retry, &mut in_flight);
        match ended {
            Ended::QueueClosed => {
                worker.close(EXIT_PATIENCE);
                return;
            }
            Ended::Retired => {
                worker.reap(EXIT_PATIENCE);
                requeue(&mut retry, in_flight);
            }
            Ended::Died => {
                let how = worker.reap(EXIT_PATIENCE);
                if let Some(running) = in_flight.pop_front() {
                    running.task.reject(TaskError::WorkerDied(format!("the worker process {how}")));
                }
                requeue(&mut retry, in_flight);
            }
            Ended::Misbehaved(why) => {
                super::os::kill(worker.pid);
                worker.reap(EXIT_PATIENCE);
                if let Some(running) = in_flight.pop_front() {
                    running
                        .task
                        .reject(TaskError::WorkerDied(format!("the worker process {why}; it was killed")));
                }
                requeue(&mut retry, in_flight);
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

fn start(pool: &Pool) -> Result<Worker, String> {
    let mut last = String::new();
    for _ in 0..START_ATTEMPTS {
        match start_worker(&pool.worker_args, pool.initializer, pool.max_tasks) {
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
    loop {
        let mut batch: Vec<Pending> = Vec::new();
        while !unreachable && in_flight.len() + batch.len() < limit {
            let next = if let Some(pending) = retry.pop_front() {
                // Already marked running when it was first sent.
                batch.push(pending);
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
            if next.task.set_running() {
                batch.push(next);
            }
        }
        if !batch.is_empty() {
            let frames: Vec<TaskFrame> =
                batch.iter().map(|p| TaskFrame { id: p.id, call: p.call, arg: p.arg.clone() }).collect();
            let sent = encode(&ToWorker::Tasks(frames)).map(|bytes| worker.tasks.send(&bytes));
            match sent {
                Ok(Ok(())) => in_flight.extend(batch),
                Ok(Err(_)) => {
                    // These never reached the worker.
                    requeue(retry, batch.into());
                    unreachable = true;
                }
                Err(error) => {
                    for pending in batch {
                        pending.task.reject(error.clone());
                    }
                }
            }
            if in_flight.is_empty() && !unreachable {
                continue;
            }
        }
        let waiting_since = Instant::now();
        let Ok(bytes) = worker.results.recv() else { return Ended::Died };
        limit = if waiting_since.elapsed() > LONG_TASK { 1 } else { IN_FLIGHT };
        match decode::<FromWorker>(&bytes) {
            Ok(FromWorker::Done { id, outcome }) => match in_flight.front() {
                Some(oldest) if oldest.id == id => {
                    if let Some(done) = in_flight.pop_front() {
                        done.task.complete(outcome);
                    }
                }
                _ => return Ended::Misbehaved(format!("answered task {id}, which it was not running")),
            },
            Ok(FromWorker::Retiring) => return Ended::Retired,
            Ok(other) => return Ended::Misbehaved(format!("sent {other:?} out of turn")),
            Err(error) => return Ended::Misbehaved(format!("sent an unreadable frame ({error})")),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::future::Future;
    use crate::process::pool::Typed;
    use ipc_channel::ipc::bytes_channel;

    /// Serves one task to a fake worker that answers its first frame with `reply` (or closes
    /// its channel when `reply` is `None`); returns how serving ended and the task's future.
    fn serve_fake(reply: Option<Vec<u8>>) -> (Ended, Future<u32>) {
        let pool = Pool::new(1, None, None);
        // No more tasks will come: once the fake's answer is read, serving ends.
        pool.shutdown(false, false);
        let (tasks, tasks_rx) = bytes_channel().unwrap();
        let (results_tx, results) = bytes_channel().unwrap();
        let (_exited_tx, exited) = crossbeam_channel::bounded(1);
        let fake = std::thread::spawn(move || {
            let _frame = tasks_rx.recv().unwrap();
            match reply {
                Some(bytes) => results_tx.send(&bytes).unwrap(),
                None => drop(results_tx),
            }
        });
        let worker = Worker { pid: 0, tasks, results, exited };
        let (future, promise) = Future::pending();
        assert!(promise.set_running());
        let mut retry =
            VecDeque::from([Pending { id: 7, call: 0, arg: Vec::new(), task: Box::new(Typed(promise)) }]);
        let mut in_flight = VecDeque::new();
        let ended = serve(&pool, &worker, &mut Idle::starting(&pool), &mut retry, &mut in_flight);
        fake.join().unwrap();
        for pending in in_flight {
            pending.task.reject(TaskError::WorkerDied("test".into()));
        }
        (ended, future)
    }

    #[test]
    fn garbage_from_a_worker_is_misbehaviour_not_a_panic() {
        let (ended, _) = serve_fake(Some(vec![0xde, 0xad, 0xbe, 0xef, 0xff, 0xff]));
        assert!(matches!(ended, Ended::Misbehaved(ref why) if why.contains("unreadable")));
    }

    #[test]
    fn an_answer_for_another_task_is_misbehaviour() {
        let frame = encode(&FromWorker::Done { id: 99, outcome: Ok(vec![1]) }).unwrap();
        let (ended, _) = serve_fake(Some(frame));
        assert!(matches!(ended, Ended::Misbehaved(ref why) if why.contains("task 99")));
    }

    #[test]
    fn a_closed_channel_is_a_death() {
        let (ended, future) = serve_fake(None);
        assert!(matches!(ended, Ended::Died));
        assert!(matches!(future.result(), Err(TaskError::WorkerDied(_))));
    }

    #[test]
    fn a_good_answer_completes_the_future() {
        let frame =
            encode(&FromWorker::Done { id: 7, outcome: Ok(postcard::to_allocvec(&5u32).unwrap()) }).unwrap();
        let pool_closed_after = {
            let (_, future) = serve_fake_then_close(frame);
            future
        };
        assert_eq!(pool_closed_after.result(), Ok(5));
    }

    /// Like `serve_fake`, but the fake answers and then closes, so serving ends as a death
    /// with nothing in flight.
    fn serve_fake_then_close(reply: Vec<u8>) -> (Ended, Future<u32>) {
        serve_fake(Some(reply))
    }
}
