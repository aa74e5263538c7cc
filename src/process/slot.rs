//! One worker slot: a thread of the parent that keeps one worker process busy, and replaces it
//! when it dies, retires or is killed.
//!
//! The slot starts its worker (`spawn`), opens its [`Link`], sends it its setup and waits for it
//! to be ready, then serves it (`serve`). When a worker dies only the oldest unanswered item was
//! running: it fails (`WorkerDied`, or `Killed` when the parent stopped it), and the items and
//! tasks after it, which never started, go to the replacement. Without a task timeout a worker
//! reports a task's items together, so the whole of that task fails.
//!
//! No wait of the slot is unbounded: a starting worker gives up when the pool is terminated or
//! has nothing left for it, a running one is killed past its deadlines, and an exiting one is
//! killed after [`EXIT_PATIENCE`].

use super::link::{Channels, Event, Link, Outgoing};
use super::pool::{EXIT_PATIENCE, Idle, Pool};
use super::protocol::{FromWorker, MEMORY_EXIT_CODE, ToWorkerRef, encode};
use super::reap::Worker;
use super::serve::{Asked, Ended, Sent, Serving};
use super::spawn::{StartError, Starter, start_watch, start_worker};
use crate::error::TaskError;
use crate::remote::tally::{self, Front};
use crate::remote::task::Pending;
use crate::sys::{self, Signal};
use crossbeam_channel::{Receiver, select};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Attempts to start a worker before the pool counts as broken.
const START_ATTEMPTS: usize = 3;
/// How long the writer of a dead worker may take to notice (its sends fail at once).
const WRITER_PATIENCE: Duration = Duration::from_secs(1);

/// The slot thread: workers, one after another, until the pool shuts down or breaks.
pub(crate) fn run(pool: &Pool) {
    // Every write to a worker happens on this thread or one it starts: none may raise a SIGPIPE
    // that ends the program (see `os`).
    sys::hold_back_sigpipe_on_this_thread();
    let mut idle = Idle::starting(pool);
    // Tasks that were sent to a worker that never started them, for the next worker.
    let mut retry: VecDeque<Pending> = VecDeque::new();
    // The last worker died or was killed: the next one to start replaces it (`workers_replaced`
    // counts it then; one that retired after `max_tasks_per_child` is not counted).
    let mut replacing = false;
    loop {
        if let Some(reason) = pool.terminated() {
            return fail_all(pool, retry, &TaskError::Killed(reason.clone()));
        }
        let (mut worker, mut link) = match start(pool, &retry) {
            Ok(started) => {
                if std::mem::take(&mut replacing) {
                    pool.counters().replaced();
                }
                started
            }
            Err(StartError::GivenUp) => {
                let error = match pool.terminated() {
                    Some(reason) => TaskError::Killed(reason.clone()),
                    None => TaskError::Cancelled,
                };
                return fail_all(pool, retry, &error);
            }
            Err(StartError::Broken(why) | StartError::Retry(why)) => {
                if let Some(reason) = pool.terminated() {
                    return fail_all(pool, retry, &TaskError::Killed(reason.clone()));
                }
                return pool.break_pool(why, retry.into_iter().collect());
            }
        };
        let mut serving = Serving::new(pool, &mut worker, &mut link);
        let ended = serving.serve(&mut idle, &mut retry);
        let in_flight = std::mem::take(&mut serving.in_flight);
        let mut front = std::mem::take(&mut serving.front);
        drop(serving);
        match ended {
            Ended::QueueClosed | Ended::Shrunk => {
                link.close(WRITER_PATIENCE);
                worker.reap(EXIT_PATIENCE);
                pool.unregister(&worker.handle);
                return;
            }
            Ended::Retired => {
                worker.reap(EXIT_PATIENCE);
                link.close(WRITER_PATIENCE);
                // It retired before running anything more it was sent.
                front.requeued(pool.counters());
                requeue(&mut retry, in_flight);
            }
            Ended::Died(asked) => {
                replacing = true;
                let line = (in_flight, front);
                reap_and_requeue(pool, &mut worker, &mut link, asked, line, &mut retry)
            }
            Ended::Misbehaved(why) => {
                replacing = true;
                worker.handle.condemn(why);
                let line = (in_flight, front);
                reap_and_requeue(pool, &mut worker, &mut link, None, line, &mut retry);
            }
        }
        pool.unregister(&worker.handle);
        if let Some(why) = pool.is_broken() {
            let why = why.clone();
            return pool.break_pool(why, retry.into_iter().collect());
        }
        // The pool shrank meanwhile: a slot too many with nothing left to run starts no
        // replacement.
        if retry.is_empty() && pool.try_retire() {
            return;
        }
    }
}

/// Fails `tasks`, none of whose items left has started, with `error`.
pub(super) fn fail_all(pool: &Pool, tasks: impl IntoIterator<Item = Pending>, error: &TaskError) {
    for pending in tasks {
        tally::never_ran(pool.counters(), pending, error);
    }
}

/// Puts never-started tasks back at the front of the line, in their order.
fn requeue(retry: &mut VecDeque<Pending>, in_flight: VecDeque<Sent>) {
    for sent in in_flight.into_iter().rev() {
        retry.push_front(sent.pending);
    }
}

/// After a worker died (or was killed for misbehaving): reaps it, fails the item it was
/// running (the front of its line, `in_flight` with whether that item counts as busy), says
/// why, and keeps the rest. Only tasks whose message reached the worker whole can have run.
fn reap_and_requeue(
    pool: &Pool,
    worker: &mut Worker,
    link: &mut Link,
    asked: Option<Asked>,
    (mut in_flight, mut running): (VecDeque<Sent>, Front),
    retry: &mut VecDeque<Pending>,
) {
    let counters = pool.counters();
    let exit = &worker.reap(EXIT_PATIENCE);
    // A writer that did not end cannot say what it delivered: count everything as delivered.
    let delivered = if link.close(WRITER_PATIENCE) { link.delivered() } else { u64::MAX };
    if let Some(reason) = pool.terminated() {
        // `terminate_workers`/`kill_workers`: every task handed to this worker (running, as
        // their futures say) is killed with it; nothing more runs.
        let error = TaskError::Killed(reason.clone());
        let mut line = in_flight.into_iter().map(|sent| sent.pending);
        if let Some(front) = line.next() {
            running.fail(counters, front, &error);
        }
        return fail_all(pool, line, &error);
    }
    let Some(Sent { pending: mut front, message }) = in_flight.pop_front() else { return };
    if message > delivered {
        // The worker never had it: nothing of it ran.
        running.requeued(counters);
        in_flight.push_front(Sent { pending: front, message });
        return requeue(retry, in_flight);
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
    } else if front.task.is_done() {
        // Stopped by `Future::kill` (by the worker itself, with `KILLED_EXIT_CODE`, or outright
        // by the slot), which already failed the future.
        TaskError::Killed("stopped by Future::kill".into())
    } else {
        TaskError::WorkerDied(format!("the worker process {}", exit.text))
    };
    if pool.launch.setup.item_by_item {
        // Only the running item failed; the rest of its task goes to the replacement (and
        // stays counted as queued).
        running.answered(counters, 1, 1, false);
        if front.answer(Err(error)) {
            front.task.finish();
        } else {
            in_flight.push_front(Sent { pending: front.rest(), message });
        }
    } else {
        running.fail(counters, front, &error);
    }
    requeue(retry, in_flight);
}

/// What a slot's starting worker needs from the pool: `has_work` when the slot holds tasks a
/// previous worker never started.
struct SlotStarter<'a> {
    pool: &'a Pool,
    has_work: bool,
    registered: RefCell<Option<Arc<super::handle::WorkerHandle>>>,
}

impl Starter for SlotStarter<'_> {
    fn register(&self, handle: &Arc<super::handle::WorkerHandle>) -> bool {
        let registered = self.pool.register(handle);
        if registered {
            *self.registered.borrow_mut() = Some(Arc::clone(handle));
        }
        registered
    }

    fn closed(&self) -> &Receiver<()> {
        self.pool.closed()
    }

    fn pointless(&self) -> bool {
        self.pool.terminated().is_some()
            || (!self.has_work && self.pool.is_shutdown() && self.pool.queue().is_empty())
    }
}

/// Starts a worker and sets it up, trying again after a transient failure.
fn start(pool: &Pool, retry: &VecDeque<Pending>) -> Result<(Worker, Link), StartError> {
    let mut last = String::new();
    for _ in 0..START_ATTEMPTS {
        let starter = SlotStarter { pool, has_work: !retry.is_empty(), registered: RefCell::new(None) };
        let started = start_worker(&pool.launch, &starter)
            .and_then(|(worker, channels)| set_up(pool, worker, channels, &starter));
        if let Some(handle) = starter.registered.take()
            && started.is_err()
        {
            pool.unregister(&handle);
        }
        match started {
            Ok(started) => return Ok(started),
            Err(StartError::Retry(why)) => last = why,
            Err(other) => return Err(other),
        }
    }
    Err(StartError::Broken(format!("could not start a worker process ({START_ATTEMPTS} attempts): {last}")))
}

/// Opens the worker's link, sends its setup and waits until it is ready (its initializer ran).
/// The initializer may take as long as it takes, but the wait ends when the worker exits, or
/// the start becomes pointless (the pool was terminated, or shut down with nothing left to do):
/// then the worker is killed.
fn set_up(
    pool: &Pool,
    mut worker: Worker,
    channels: Channels,
    starter: &SlotStarter<'_>,
) -> Result<(Worker, Link), StartError> {
    let given_up = |worker: &mut Worker, why: StartError| {
        worker.handle.signal(Signal::Kill);
        worker.reap(EXIT_PATIENCE);
        why
    };
    let mut link = match Link::open(channels, worker.handle.pid) {
        Ok(link) => link,
        Err(e) => {
            return Err(given_up(
                &mut worker,
                StartError::Retry(format!("cannot start a worker's I/O threads: {e}")),
            ));
        }
    };
    let frame = match encode(&ToWorkerRef::Setup(&pool.launch.setup)) {
        Ok(frame) => frame,
        Err(e) => return Err(given_up(&mut worker, StartError::Broken(e.to_string()))),
    };
    let setup_message = link.send(Outgoing { frame, detached: Vec::new() });
    let never = crossbeam_channel::never();
    loop {
        if starter.pointless() {
            return Err(given_up(&mut worker, StartError::GivenUp));
        }
        let (closed, look_again) = start_watch(starter, &never);
        let event = select! {
            recv(link.events()) -> event => event.unwrap_or(Event::Gone),
            recv(closed) -> _ => continue,
            default(look_again) => continue,
        };
        return match event {
            Event::Frame(FromWorker::Ready) => {
                link.read_up_to(setup_message);
                Ok((worker, link))
            }
            Event::Frame(FromWorker::InitFailed(message)) => Err(given_up(
                &mut worker,
                StartError::Broken(format!("a worker's initializer panicked: {message}")),
            )),
            Event::Gone => {
                // A worker that is gone says how through its exit: an exit code is the
                // initializer's doing (the pool is broken), a signal is worth another try.
                let exit = worker.reap(EXIT_PATIENCE);
                let why = format!("a worker process {} while it started", exit.text);
                Err(if exit.code.is_some() { StartError::Broken(why) } else { StartError::Retry(why) })
            }
            #[cfg(feature = "tracing")]
            Event::Frame(FromWorker::Event(event)) => {
                crate::remote::replay::emit(event, worker.handle.pid, None);
                continue;
            }
            Event::Frame(other) => Err(given_up(
                &mut worker,
                StartError::Retry(format!("a worker answered its setup with {other:?}")),
            )),
            Event::Garbage(why) => {
                Err(given_up(&mut worker, StartError::Retry(format!("a starting worker {why}"))))
            }
            // No task has been sent to it yet.
            Event::Kill(_) => continue,
        };
    }
}
