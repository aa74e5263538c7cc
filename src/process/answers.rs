//! A worker's answer, as the slot serving it reads it: checked against what was sent (an answer
//! that does not add up gets the worker killed), then given to the task's future.

use super::protocol::Batch;
use super::serve::{Ended, Sent, Serving};
use crate::error::TaskError;
use std::time::Instant;

impl Serving<'_> {
    /// The outcomes of the next items of task `id`: checked against what was sent, then given
    /// to its future.
    pub(super) fn on_items(
        &mut self,
        id: u64,
        values: Batch,
        failures: Vec<(u32, TaskError)>,
    ) -> Result<(), Ended> {
        let killed = self.kills.iter().any(|(k, _)| *k == id);
        let Some(Sent { pending: front, message }) =
            self.in_flight.front_mut().filter(|sent| sent.pending.id == id)
        else {
            return Err(Ended::Misbehaved(format!("answered task {id}, which it was not running")));
        };
        let count = crate::remote::outcomes::answered(&values, &failures)
            .filter(|count| (1..=front.args.len() - front.done).contains(count));
        let Some(count) = count else {
            return Err(Ended::Misbehaved(format!("answered task {id} with outcomes that do not add up")));
        };
        // A worker reports a panic, a value it could not decode or encode, or (for a task the
        // parent asked it to stop) that it skipped it: nothing else.
        if let Some((_, error)) = failures.iter().find(|(_, error)| !worker_can_report(error, killed)) {
            return Err(Ended::Misbehaved(format!("reported {error:?} for an item of task {id}")));
        }
        // Counted before the future completes (see `remote::tally`).
        let counters = self.pool.counters();
        self.front.answered(counters, count, failures.len(), front.task.is_done());
        let last = front.answer_all(values, failures, count);
        let done = front.done;
        // It read that message (and those before) before it ran anything of it.
        let message = *message;
        self.link.read_up_to(message);
        if self.asked.as_ref().is_some_and(|a| a.id == id && a.item < done) {
            // It finished before the worker could stop it.
            self.asked = None;
        }
        if last && let Some(sent) = self.in_flight.pop_front() {
            if self.in_flight.is_empty() {
                // Counted as idle before the future completes, so that a submit made as soon
                // as it has finds this worker instead of starting another.
                self.announce_idle();
            }
            sent.pending.task.finish();
            self.kills.retain(|(k, _)| *k != id);
        }
        // The worker runs the next item of this task, or of the next one, now.
        self.front.follow(counters, !self.in_flight.is_empty());
        self.front_since = Instant::now();
        Ok(())
    }
}

/// True for the errors a worker can produce for an item it was sent.
fn worker_can_report(error: &TaskError, killed: bool) -> bool {
    match error {
        TaskError::Panicked(_) | TaskError::Serialization(_) => true,
        TaskError::Killed(_) => killed,
        _ => false,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::future::Future;
    use crate::process::handle::WorkerHandle;
    use crate::process::link::{Channels, Link};
    use crate::process::pool::{Idle, Pool};
    use crate::process::protocol::{FromWorker, Setup};
    use crate::process::reap::Worker;
    use crate::process::slot::{fail_all, run};
    use crate::process::spawn::Launch;
    use crate::remote::task::Pending;
    use crate::remote::task::{CollectingPromise, Completer, Single};
    use ipc_channel::ipc::{bytes_channel, channel};
    use std::collections::VecDeque;
    use std::sync::Arc;

    /// Serves one task to a fake worker that answers its first frame with `reply` (or closes
    /// its channel when `reply` is `None`); returns how serving ended and the task's future.
    fn serve_fake(reply: Option<FromWorker>) -> (Ended, Future<u32>) {
        let pool = Pool::new(1, None, run, Launch::new(Setup::default()), None, None);
        // No more tasks will come: once the fake's answer is read, serving ends.
        pool.shutdown(false, false);
        let (tasks, tasks_rx) = bytes_channel().unwrap();
        let (control, _control_rx) = bytes_channel().unwrap();
        let (results_tx, results) = channel().unwrap();
        let (_payloads_tx, payloads) = bytes_channel().unwrap();
        let (_exited_tx, exited) = crossbeam_channel::bounded(1);
        let fake = std::thread::spawn(move || {
            let _frame = tasks_rx.recv().unwrap();
            match reply {
                Some(frame) => results_tx.send(frame).unwrap(),
                None => drop(results_tx),
            }
        });
        let mut link = Link::open(Channels { tasks, control, results, payloads }, 0).unwrap();
        let mut worker = Worker::fake(WorkerHandle::new(0), exited);
        let (future, promise) = Future::pending();
        let task = CollectingPromise::new(promise, Single::new());
        assert!(task.set_running(Box::new(|| {})));
        let pending = Pending {
            id: 7,
            call: 0,
            target: None,
            args: Arc::new(Batch::single(&1u8).unwrap()),
            done: 0,
            task,
            services: Vec::new(),
            trace: Default::default(),
        };
        let mut retry = VecDeque::from([pending]);
        let mut serving = Serving::new(&pool, &mut worker, &mut link);
        let ended = serving.serve(&mut Idle::starting(&pool), &mut retry);
        let in_flight = std::mem::take(&mut serving.in_flight);
        fake.join().unwrap();
        let in_flight = in_flight.into_iter().map(|sent| sent.pending);
        fail_all(&pool, in_flight, &TaskError::WorkerDied("test".into()));
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
    fn a_frame_that_answers_no_item_is_misbehaviour() {
        // It would put the task timeout off for ever.
        let none =
            FromWorker::Items { id: 7, values: Batch::default(), failures: Vec::new(), detached: false };
        let (ended, _) = serve_fake(Some(none));
        assert!(matches!(ended, Ended::Misbehaved(ref why) if why.contains("do not add up")));
    }

    #[test]
    fn an_error_no_worker_can_produce_is_misbehaviour() {
        for error in
            [TaskError::Cancelled, TaskError::Shutdown, TaskError::Timeout, TaskError::Killed("k".into())]
        {
            let claimed = FromWorker::Items {
                id: 7,
                values: Batch::default(),
                failures: vec![(0, error)],
                detached: false,
            };
            let (ended, future) = serve_fake(Some(claimed));
            assert!(matches!(ended, Ended::Misbehaved(ref why) if why.contains("reported")));
            assert!(
                matches!(future.result(), Err(TaskError::WorkerDied(_))),
                "the task fails as its worker's"
            );
        }
    }

    #[test]
    fn a_panic_reported_by_the_worker_fails_the_task() {
        let panicked = FromWorker::Items {
            id: 7,
            values: Batch::default(),
            failures: vec![(0, TaskError::Panicked("p".into()))],
            detached: false,
        };
        let (_, future) = serve_fake(Some(panicked));
        assert_eq!(future.result(), Err(TaskError::Panicked("p".into())));
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
