//! Serving one started worker: the slot thread's loop that lines tasks up for it, reads its
//! answers and enforces every deadline (the task timeout, the escalation of a kill).
//!
//! The loop waits only on in-memory channels (the pool's queue, the worker's [`Link`], its
//! exit), each wait bounded by the next deadline, never on the worker's I/O: a worker that stops
//! reading or answering is still killed on time (see `link` for why no write blocks for ever).
//!
//! It lines up more than one task (up to [`IN_FLIGHT`]) only while every other slot is busy, the
//! pool is not over its limit, and its worker's tasks are known to be short (its last answer
//! came quickly): a long task queued behind another would wait while an idle worker, or one
//! the pool starts when it grows, could run it. A worker runs its tasks one after another, item after item, so the
//! oldest unanswered item is the one running.
//!
//! With a task timeout the slot waits for each item with a deadline. When it passes, it asks the
//! worker to stop that item (the worker decides, so an item that just finished is never mistaken
//! for the next) and kills the worker outright if it has not stopped after `KILL_GRACE`. A
//! `Future::kill` escalates the same way once its task is the one running: asked first, killed
//! outright after `KILL_GRACE` without an answer (a worker stopped with SIGSTOP, say).

use super::link::{Event, Link, Outgoing};
use super::pool::{Idle, Pool};
use super::protocol::{FromWorker, TaskFrameRef, ToWorkerRef, encode};
use super::reap::Worker;
use crate::remote::tally::{self, Front};
use crate::remote::task::Pending;
use crossbeam_channel::{Receiver, Select, TryRecvError, select};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tasks sent to one worker and not answered yet: enough to hide the round trip, few enough
/// that queued tasks stay cancellable.
const IN_FLIGHT: usize = 4;
/// A result that took longer than this to come means tasks are long next to the round trip
/// (about 10 µs): lining them up would gain nothing and could keep one waiting, so the slot
/// sends one at a time until results come quickly again.
const LONG_TASK: Duration = Duration::from_millis(1);
/// How long the last frames of a worker that exited may take to be read before it counts as
/// gone (they are already in the socket: this bound only matters if something else, a process
/// the task forked, keeps the socket open).
pub(super) const EXIT_DRAIN: Duration = Duration::from_secs(1);

/// A task handed to the writer, with the number of the message that carries it.
pub(crate) struct Sent {
    pub(crate) pending: Pending,
    pub(crate) message: u64,
}

/// An item the slot asked the worker to stop, because it ran past the task timeout.
pub(crate) struct Asked {
    pub(crate) id: u64,
    pub(crate) item: usize,
    /// When the worker was asked; `None` once it was killed outright.
    pub(super) at: Option<Instant>,
}

/// How serving one worker ended.
pub(crate) enum Ended {
    /// The pool shut down and the queue is empty: the worker has nothing left to do.
    QueueClosed,
    /// The pool shrank (`set_max_workers`) and this slot, with nothing in flight, is one too
    /// many: its worker and the slot end.
    Shrunk,
    /// The worker ran its `max_tasks_per_child`.
    Retired,
    /// The worker is gone (perhaps because it was asked to stop an item).
    Died(Option<Asked>),
    /// The worker broke the protocol; it must be killed.
    Misbehaved(String),
}

/// One worker being served.
pub(crate) struct Serving<'a> {
    pub(super) pool: &'a Pool,
    pub(super) worker: &'a mut Worker,
    pub(super) link: &'a mut Link,
    /// Sent and not wholly answered, oldest first.
    pub(crate) in_flight: VecDeque<Sent>,
    /// Whether the front item of `in_flight`, the one the worker runs, counts as busy in the
    /// pool's counts (see `remote::tally`).
    pub(crate) front: Front,
    /// How many tasks to line up: 1 while tasks are long, or not known to be short yet.
    pub(super) limit: usize,
    /// When the oldest unanswered item started (as near as the parent can tell).
    pub(super) front_since: Instant,
    pub(super) asked: Option<Asked>,
    /// Tasks whose futures were killed, and when the worker was asked to stop each.
    pub(super) kills: Vec<(u64, Instant)>,
    /// The worker was killed outright: only its end is awaited now.
    pub(super) killed_outright: bool,
    /// When the worker's exit was seen (its last frames may still be on their way).
    pub(super) exited_at: Option<Instant>,
    /// This worker is counted as idle for the pool's start-on-demand (see `Pool::announce_idle`).
    pub(super) announced_idle: bool,
    pub(super) never: Receiver<crate::sys::Exit>,
}

impl<'a> Serving<'a> {
    pub(crate) fn new(pool: &'a Pool, worker: &'a mut Worker, link: &'a mut Link) -> Self {
        Serving {
            pool,
            worker,
            link,
            in_flight: VecDeque::new(),
            front: Front::default(),
            // Until its first answer says tasks are short, one at a time: a long task lined up
            // behind another would wait there while the pool grows or another worker idles.
            limit: 1,
            front_since: Instant::now(),
            asked: None,
            kills: Vec::new(),
            killed_outright: false,
            exited_at: None,
            announced_idle: false,
            never: crossbeam_channel::never(),
        }
    }

    /// Feeds the worker and reads its answers until it stops. `retry` holds tasks that a
    /// previous worker never started: they go first.
    pub(crate) fn serve(&mut self, idle: &mut Idle<'_>, retry: &mut VecDeque<Pending>) -> Ended {
        loop {
            if let Err(ended) = self.fill(idle, retry) {
                return ended;
            }
            if self.in_flight.is_empty() {
                continue;
            }
            let waiting_since = Instant::now();
            let event = self.next_event(self.deadline());
            let result = match event {
                Some(Ok(event)) => {
                    if matches!(event, Event::Frame(FromWorker::Items { .. })) {
                        self.limit = if waiting_since.elapsed() > LONG_TASK { 1 } else { IN_FLIGHT };
                    }
                    self.on_event(event)
                }
                Some(Err(ended)) => Err(ended),
                None => self.on_deadline(),
            };
            if let Err(ended) = result {
                return ended;
            }
        }
    }

    /// Lines up tasks for the worker and hands them to the writer. While nothing is in flight
    /// it waits for a task, also hearing the worker (it may die or misbehave while idle).
    fn fill(&mut self, idle: &mut Idle<'_>, retry: &mut VecDeque<Pending>) -> Result<(), Ended> {
        let mut batch: Vec<Pending> = Vec::new();
        while self.in_flight.len() + batch.len() < self.limit {
            let next = if let Some(pending) = retry.pop_front() {
                // Already running; it may have been killed while it waited.
                if pending.task.is_done() {
                    tally::skipped(self.pool.counters(), &pending, false);
                    pending.task.finish();
                } else {
                    pending.task.set_killer(self.link.killer(pending.id));
                    batch.push(pending);
                }
                continue;
            } else if self.in_flight.is_empty() && batch.is_empty() {
                if self.pool.try_retire() {
                    return Err(Ended::Shrunk);
                }
                self.announce_idle();
                idle.set(true);
                let next = self.wait_idle();
                idle.set(false);
                self.withdraw_idle();
                match next? {
                    Some(pending) => pending,
                    None => continue,
                }
            } else if self.pool.has_idle_slot() || self.pool.over_limit() {
                break;
            } else {
                match self.pool.queue().try_recv() {
                    Ok(pending) => pending,
                    Err(_) => break,
                }
            };
            if next.task.set_running(self.link.killer(next.id)) {
                batch.push(next);
            } else {
                tally::skipped(self.pool.counters(), &next, true);
            }
        }
        self.send(batch);
        Ok(())
    }

    /// Waits for a task, hearing the worker meanwhile; `None` after an event that changed
    /// nothing.
    ///
    /// It waits for the queue to have a task without taking it, and asks whether to retire
    /// (the pool may have shrunk meanwhile) right before it takes one: only a shrink that lands
    /// between the two leaves that task to a slot too many, which retires after it.
    fn wait_idle(&mut self) -> Result<Option<Pending>, Ended> {
        let exited = if self.exited_at.is_some() { &self.never } else { self.worker.exited() };
        let deadline = self.exited_at.map(|at| at + EXIT_DRAIN);
        let wait = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
        let (queue, events, bell) = (self.pool.queue(), self.link.events(), self.pool.resize_bell());
        let mut select = Select::new();
        let on_queue = select.recv(queue);
        let on_event = select.recv(events);
        let on_exit = select.recv(exited);
        select.recv(bell);
        let Ok(ready) = select.ready_timeout(wait) else { return Err(Ended::Died(None)) };
        if ready == on_queue {
            if self.pool.try_retire() {
                return Err(Ended::Shrunk);
            }
            match queue.try_recv() {
                Ok(pending) => Ok(Some(pending)),
                // Another slot took it.
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => Err(Ended::QueueClosed),
            }
        } else if ready == on_event {
            match events.try_recv() {
                Ok(event) => self.on_event(event).map(|()| None),
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => Err(Ended::Died(None)),
            }
        } else if ready == on_exit {
            match exited.try_recv() {
                Ok(exit) => self.saw_exit(Some(exit)),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.saw_exit(None),
            }
            Ok(None)
        } else {
            // The pool shrank: the caller asks whether this slot is one too many.
            let _ = bell.try_recv();
            Ok(None)
        }
    }

    /// Hands `batch` to the writer as one frame (their large arguments follow it uncopied).
    fn send(&mut self, mut batch: Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        self.withdraw_idle();
        if self.in_flight.is_empty() {
            self.front_since = Instant::now();
        }
        for pending in &mut batch {
            self.worker.handle.grants.grant(&pending.services);
            // Its span starts as it goes (once: a task sent again keeps it).
            pending.trace.start();
        }
        let frames: Vec<TaskFrameRef<'_>> = batch
            .iter()
            .map(|p| TaskFrameRef { id: p.id, call: p.call, target: p.target, args: &p.args })
            .collect();
        let encoded = encode(&ToWorkerRef::Tasks(&frames));
        let detached: Vec<_> = batch
            .iter()
            .zip(&frames)
            .filter(|(_, f)| f.detached())
            .map(|(p, _)| Arc::clone(&p.args))
            .collect();
        drop(frames);
        match encoded {
            Ok(frame) => {
                let message = self.link.send(Outgoing { frame, detached });
                self.in_flight.extend(batch.into_iter().map(|pending| Sent { pending, message }));
                self.front.follow(self.pool.counters(), true);
            }
            Err(error) => {
                for pending in batch {
                    tally::never_ran(self.pool.counters(), pending, &error);
                }
            }
        }
    }

    /// The next event, or `None` once `deadline` passed; `Err` when the worker is gone.
    fn next_event(&mut self, deadline: Option<Instant>) -> Option<Result<Event, Ended>> {
        // A short task's answer comes within microseconds: look for it a little before parking
        // (a park and wake-up of this thread would cost about as much again).
        let events = self.link.events();
        if deadline.is_none_or(|d| d > Instant::now()) && crate::sync::spin_until(|| !events.is_empty()) {
            if let Ok(event) = events.try_recv() {
                return Some(Ok(event));
            }
        }
        let exited = if self.exited_at.is_some() { &self.never } else { self.worker.exited() };
        let wait = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
        select! {
            recv(self.link.events()) -> event => Some(event.map_err(|_| Ended::Died(self.asked.take()))),
            recv(exited) -> exit => {
                self.saw_exit(exit.ok());
                // Nothing happened yet: the deadline now includes the drain of the last frames.
                self.next_event(self.deadline())
            },
            default(wait) => None,
        }
    }

    fn saw_exit(&mut self, exit: Option<crate::sys::Exit>) {
        if let Some(exit) = exit {
            self.worker.saw_exit(exit);
        }
        self.exited_at = Some(Instant::now());
    }

    pub(super) fn announce_idle(&mut self) {
        if !self.announced_idle {
            self.pool.announce_idle();
            self.announced_idle = true;
        }
    }

    fn withdraw_idle(&mut self) {
        if self.announced_idle {
            self.pool.withdraw_idle();
            self.announced_idle = false;
        }
    }

    fn on_event(&mut self, event: Event) -> Result<(), Ended> {
        match event {
            Event::Frame(FromWorker::Items { id, values, failures, .. }) => {
                self.on_items(id, values, failures)
            }
            Event::Frame(FromWorker::Retiring) => Err(Ended::Retired),
            #[cfg(feature = "tracing")]
            Event::Frame(FromWorker::Event(event)) => {
                self.replay(event);
                Ok(())
            }
            Event::Frame(other) => Err(Ended::Misbehaved(format!("sent {other:?} out of turn"))),
            Event::Gone => Err(Ended::Died(self.asked.take())),
            Event::Garbage(why) => Err(Ended::Misbehaved(why)),
            Event::Kill(id) => {
                self.on_kill(id);
                Ok(())
            }
        }
    }
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.withdraw_idle();
    }
}

#[cfg(feature = "tracing")]
impl Serving<'_> {
    /// Emits an event the worker sent inside the span of the task it names, if that is one
    /// this worker was sent (a task it has not answered yet); otherwise with no task's span.
    fn replay(&self, event: crate::remote::events::WorkerEvent) {
        let task = event.task;
        let span = self
            .in_flight
            .iter()
            .find(|sent| Some(sent.pending.id) == task)
            .and_then(|sent| sent.pending.trace.span());
        crate::remote::replay::emit(event, self.worker.handle.pid, span);
    }
}
