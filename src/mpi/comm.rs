//! Rank 0's communication thread, the only thread of rank 0 that calls MPI: it starts MPI,
//! takes every worker rank's hello (`greet`), then feeds the tasks of every live pool to the
//! ranks (a few in flight per rank to hide the latency) and completes their futures from the
//! answers, until rank 0 exits; then it says goodbye to the ranks (`greet`) and finalizes MPI.
//! Depends on `wire`, `greet`, `rank` and the remote-task layer.
//!
//! Several pools at once: each pool's queue is served (`Served`), one task from each in turn,
//! over the same ranks; a pool is let go once it is shut down, its queue is empty and none of
//! its tasks is on a rank.
//!
//! No deadlock between rank 0 and a worker rank, by construction: rank 0 blocks in a send only
//! for a message MPI delivers without the receiver (at most [`EAGER`] bytes: a task lined up
//! behind another, a verdict, a stop) or for a task to a rank with nothing in flight, which
//! is waiting for just that or finishing an answer rank 0 has taken already; a worker rank
//! never blocks sending an answer (it takes what rank 0 sends meanwhile, `rank`); and rank 0
//! takes every answer as it comes.

use super::greet::{self, Heard, Roster};
use super::wire::{Answer, TAG_ANSWER, TAG_GOODBYE, TAG_TASK, encode};
use crate::error::TaskError;
use crate::executor::intake::Intake;
use crate::remote::tally::{self, Front};
use crate::remote::task::Pending;
use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};
use mpi::Threading;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Tasks sent to one rank and not answered yet.
const IN_FLIGHT: usize = 2;
/// The largest task message lined up behind another on a busy rank (about what MPI sends
/// eagerly, without waiting for the receiver).
const EAGER: usize = 4096;
/// With nothing on any rank: the longest sleep before the ranks are looked at again (for a
/// late hello, say), unless a task or a command comes first.
const LISTEN: Duration = Duration::from_millis(100);

/// What rank 0's other threads ask of the communication thread.
pub(crate) enum Command {
    /// Serve this pool's queue until it is shut down and drained; dropping `done` says so.
    Serve { intake: Arc<Intake<Pending>>, done: Sender<()> },
    /// Rank 0 is exiting: stop the ranks and finalize MPI.
    Exit,
}

/// How the hellos went: `Err` says which ranks stayed silent and what to check.
pub(crate) type Greeted = Result<(), String>;

/// What starting MPI came to on this rank.
pub(crate) enum Started {
    /// Rank 0 of a world with `workers` more ranks; `greeted` tells how the hellos went.
    Root { workers: usize, greeted: Receiver<Greeted> },
    /// A worker rank: its thread serves rank 0 until told to stop.
    Worker,
    /// MPI could not be used; why.
    Failed(String),
}

/// Starts MPI on this thread and serves as rank 0 or as a worker rank. `exiting` turns true
/// when rank 0 exits (it cuts the wait for the hellos short).
pub(crate) fn run(commands: &Receiver<Command>, started: &Sender<Started>, exiting: &AtomicBool) {
    let Some((universe, provided)) = mpi::initialize_with_threading(Threading::Funneled) else {
        let _ = started.send(Started::Failed("MPI was initialised already, by other code".into()));
        return;
    };
    if provided == Threading::Single {
        let _ = started.send(Started::Failed(
            "the MPI library offers no thread support (MPI_THREAD_SINGLE); concurrent-futures needs \
             MPI_THREAD_FUNNELED"
                .into(),
        ));
        return;
    }
    let world = universe.world();
    let workers = usize::try_from(world.size() - 1).unwrap_or(0);
    if world.rank() != 0 {
        let _ = started.send(Started::Worker);
        super::rank::serve(&world);
        // Empty: MPI delivers it without waiting for rank 0.
        world.process_at_rank(0).send_with_tag(&[0u8; 0][..], TAG_GOODBYE);
        return;
    }
    let (greeted_tx, greeted) = crossbeam_channel::bounded(1);
    let _ = started.send(Started::Root { workers, greeted });
    let mut root = Root::new(&world, workers);
    let hellos = root.roster.hellos(&world, greet::hello_bound(), &|| exiting.load(Ordering::Relaxed));
    if let Ok(Some(why)) | Err(why) = &hellos {
        root.broken = Some(why.clone());
    }
    let _ = greeted_tx.send(hellos.map(|_| ()));
    root.serve(commands);
    let bound = greet::exit_bound();
    let missing = root.roster.goodbyes(&world, bound);
    if !missing.is_empty() {
        let ranks: Vec<String> = missing.iter().map(usize::to_string).collect();
        eprintln!(
            "concurrent_futures: rank(s) {} did not say goodbye within {:.1} s of rank 0's exit (a \
             task still running, or a rank that never started); rank 0 exits without finalizing \
             MPI, and the launcher ends the job (CONCURRENT_FUTURES_MPI_EXIT_SECS sets the wait)",
            ranks.join(", "),
            bound.as_secs_f64()
        );
        // MPI_Finalize would wait for the missing ranks: rank 0 leaves it undone.
        std::mem::forget(universe);
    }
}

/// A pool rank 0 serves.
struct Served {
    key: u64,
    intake: Arc<Intake<Pending>>,
    /// Dropped when the pool is let go: what the pool's thread (joined by `shutdown`) waits for.
    _done: Sender<()>,
    /// Its tasks taken from its queue and not answered yet.
    out: usize,
}

/// A task on its way to a rank or on one: the pool it is of (key, intake) and its wire id.
struct Sent {
    pool: u64,
    intake: Arc<Intake<Pending>>,
    wire: u64,
    pending: Pending,
}

struct Root<'a> {
    world: &'a SimpleCommunicator,
    roster: Roster,
    /// Per worker rank (index 0 is rank 1): its tasks in the order sent.
    in_flight: Vec<VecDeque<Sent>>,
    /// Per worker rank: whether the front item of its line counts as busy (`remote::tally`).
    fronts: Vec<Front>,
    /// Why no task can run any more, once that is so.
    broken: Option<String>,
    /// A task taken from a queue and encoded, waiting for a rank with room for it.
    held: Option<(Sent, Vec<u8>)>,
    pools: Vec<Served>,
    /// The pool (by place in `pools`) to take the next task from.
    turn: usize,
    next_key: u64,
    next_wire: u64,
}

/// What the next pool in turn had.
enum Next {
    Task(Sent, Vec<u8>),
    /// A task that failed here (it could not be encoded): look again.
    Failed,
    Nothing,
}

impl<'a> Root<'a> {
    fn new(world: &'a SimpleCommunicator, workers: usize) -> Root<'a> {
        Root {
            world,
            roster: Roster::new(workers),
            in_flight: (0..workers).map(|_| VecDeque::new()).collect(),
            fronts: (0..workers).map(|_| Front::default()).collect(),
            broken: None,
            held: None,
            pools: Vec::new(),
            turn: 0,
            next_key: 0,
            next_wire: 0,
        }
    }

    /// Serves the pools, all at once, until rank 0 exits.
    fn serve(&mut self, commands: &Receiver<Command>) {
        let mut idle = 0u32;
        loop {
            let mut progressed = false;
            loop {
                match commands.try_recv() {
                    Ok(Command::Serve { intake, done }) => self.adopt(intake, done),
                    Ok(Command::Exit) | Err(TryRecvError::Disconnected) => return self.abandon(),
                    Err(TryRecvError::Empty) => break,
                }
            }
            progressed |= self.feed();
            progressed |= self.listen();
            progressed |= self.let_go();
            if progressed {
                idle = 0;
            } else if self.held.is_none() && self.in_flight.iter().all(VecDeque::is_empty) {
                // Nothing to wait for from the ranks: sleep until a task or a command comes.
                let mut select = Select::new();
                select.recv(commands);
                for pool in self.pools.iter().filter(|pool| !pool.intake.is_shutdown()) {
                    select.recv(pool.intake.receiver());
                }
                let _ = select.ready_timeout(LISTEN);
                idle = 0;
            } else {
                idle = greet::pause(idle);
            }
        }
    }

    fn adopt(&mut self, intake: Arc<Intake<Pending>>, done: Sender<()>) {
        self.pools.push(Served { key: self.next_key, intake, _done: done, out: 0 });
        self.next_key += 1;
    }

    /// Sends queued tasks, one from each pool in turn, to ranks with room; whether it did
    /// anything. Once the ranks are broken, fails every pool instead.
    fn feed(&mut self) -> bool {
        if let Some(why) = &self.broken {
            let broken = !self.pools.is_empty();
            for pool in self.pools.drain(..) {
                pool.intake.break_with(why.clone(), Vec::new());
            }
            return broken;
        }
        let mut progressed = false;
        loop {
            let (sent, bytes) = match self.held.take() {
                Some(held) => held,
                None if !self.has_room() => return progressed,
                None => match self.next_task() {
                    Next::Task(sent, bytes) => (sent, bytes),
                    Next::Failed => {
                        progressed = true;
                        continue;
                    }
                    Next::Nothing => return progressed,
                },
            };
            match self.rank_for(bytes.len()) {
                Some(rank) => {
                    self.transmit(rank, sent, &bytes);
                    progressed = true;
                }
                None => {
                    self.held = Some((sent, bytes));
                    return progressed;
                }
            }
        }
    }

    /// The next task of the pools, taken in turn and encoded.
    fn next_task(&mut self) -> Next {
        let count = self.pools.len();
        for step in 0..count {
            let at = (self.turn + step) % count;
            let pool = &mut self.pools[at];
            let Ok(pending) = pool.intake.receiver().try_recv() else { continue };
            self.turn = (at + 1) % count;
            let encoded = encode(pending, self.next_wire, pool.intake.counters());
            let Some((pending, bytes)) = encoded else { return Next::Failed };
            pool.out += 1;
            let sent =
                Sent { pool: pool.key, intake: Arc::clone(&pool.intake), wire: self.next_wire, pending };
            self.next_wire += 1;
            return Next::Task(sent, bytes);
        }
        Next::Nothing
    }

    /// True if some working rank could take a small task now.
    fn has_room(&self) -> bool {
        self.in_flight
            .iter()
            .enumerate()
            .any(|(rank, line)| self.roster.is_working(rank) && line.len() < IN_FLIGHT)
    }

    /// The worker rank (by index) to send a message of `len` bytes to: an idle one, or, for a
    /// small message, one with room in its line. A large message never waits in a busy rank's
    /// line: MPI may hold a large send until the rank takes it, and this thread has every
    /// other rank to serve meanwhile.
    fn rank_for(&self, len: usize) -> Option<usize> {
        let lines = self.in_flight.iter().map(VecDeque::len).enumerate();
        let (rank, busy) =
            lines.filter(|(rank, _)| self.roster.is_working(*rank)).min_by_key(|(_, busy)| *busy)?;
        (busy == 0 || (len <= EAGER && busy < IN_FLIGHT)).then_some(rank)
    }

    /// Sends an encoded task to the worker rank at index `rank`, unless it was cancelled.
    fn transmit(&mut self, rank: usize, sent: Sent, bytes: &[u8]) {
        // An MPI rank cannot be stopped from here: `Future::kill` fails the future at once and
        // the rank's answer is dropped when it comes.
        if !sent.pending.task.set_running(Box::new(|| {})) {
            tally::skipped(sent.intake.counters(), &sent.pending, true);
            self.settle(sent.pool);
            return;
        }
        // Blocks only as the module's rule allows: `rank_for` chose an idle rank, or the
        // message is small enough for MPI to deliver without the rank.
        self.world.process_at_rank(rank as i32 + 1).send_with_tag(bytes, TAG_TASK);
        self.fronts[rank].follow(sent.intake.counters(), true);
        self.in_flight[rank].push_back(sent);
    }

    /// Takes every message the ranks have sent; whether there was any.
    fn listen(&mut self) -> bool {
        let mut heard = false;
        while let Some(found) = self.world.any_process().immediate_matched_probe() {
            let (bytes, status) = found.matched_receive_vec::<u8>();
            let rank = usize::try_from(status.source_rank()).unwrap_or(0);
            heard = true;
            if status.tag() == TAG_ANSWER {
                self.take_answer(rank, &bytes);
            } else if let Heard::WorkerLeft(rank) = self.roster.heard(self.world, rank, status.tag(), &bytes)
            {
                self.break_all(format!("rank {rank} left the MPI job before rank 0 told it to stop"));
            }
        }
        heard
    }

    /// Lets go of the pools that are shut down, with nothing queued and nothing on a rank;
    /// whether it let go of any.
    fn let_go(&mut self) -> bool {
        let before = self.pools.len();
        self.pools
            .retain(|pool| pool.out > 0 || !pool.intake.is_shutdown() || !pool.intake.receiver().is_empty());
        self.turn = self.turn.checked_rem(self.pools.len()).unwrap_or(0);
        self.pools.len() < before
    }

    /// One task of pool `key` is over.
    fn settle(&mut self, key: u64) {
        if let Some(pool) = self.pools.iter_mut().find(|pool| pool.key == key) {
            pool.out = pool.out.saturating_sub(1);
        }
    }

    /// Completes the task that worker rank `rank` answered.
    fn take_answer(&mut self, rank: usize, bytes: &[u8]) {
        let Some(queue) = rank.checked_sub(1).and_then(|index| self.in_flight.get_mut(index)) else {
            return self.break_all(format!("an answer came from rank {rank}, which is no worker"));
        };
        let Ok(answer) = postcard::from_bytes::<Answer>(bytes) else {
            return self.break_all(format!("rank {rank} sent an unreadable answer"));
        };
        // The task stays in its line when it is no match: `break_all` fails it with the rest.
        let next = queue.front().is_some_and(|sent| sent.wire == answer.id).then(|| queue.pop_front());
        let Some(Some(Sent { pool, intake, mut pending, .. })) = next else {
            return self
                .break_all(format!("rank {rank} answered task {}, which it was not running", answer.id));
        };
        let index = rank - 1;
        self.settle(pool);
        let whole = crate::remote::outcomes::answered(&answer.values, &answer.failures)
            .filter(|count| *count == pending.args.len() - pending.done);
        match whole {
            Some(count) => {
                // Counted before the answer reaches the future; then the next task runs.
                let front = &mut self.fronts[index];
                front.answered(intake.counters(), count, answer.failures.len(), pending.task.is_done());
                pending.answer_all(answer.values, answer.failures, count);
                pending.task.finish();
            }
            None => {
                let why = format!("rank {rank} answered with outcomes that do not add up");
                self.fronts[index].fail(intake.counters(), pending, &TaskError::Serialization(why.clone()));
                self.break_all(why);
            }
        }
        if let Some(next) = self.in_flight[index].front() {
            self.fronts[index].follow(next.intake.counters(), true);
        }
    }

    /// Nothing more can run: fails what is in flight and every pool from now on.
    fn break_all(&mut self, why: String) {
        let error = TaskError::BrokenPool(why.clone());
        for (line, front) in self.in_flight.iter_mut().zip(&mut self.fronts) {
            let mut line = std::mem::take(line).into_iter();
            if let Some(sent) = line.next() {
                front.fail(sent.intake.counters(), sent.pending, &error);
            }
            for sent in line {
                tally::never_ran(sent.intake.counters(), sent.pending, &error);
            }
        }
        if let Some((sent, _)) = self.held.take() {
            tally::never_ran(sent.intake.counters(), sent.pending, &error);
        }
        for pool in &mut self.pools {
            pool.out = 0;
        }
        self.broken.get_or_insert(why);
    }

    /// Rank 0 is exiting with pools still open (leaked ones): fails their work.
    fn abandon(&mut self) {
        let why = "rank 0 finished while this task was still running on a worker rank".to_owned();
        self.break_all(why.clone());
        for pool in self.pools.drain(..) {
            pool.intake.break_with(why.clone(), Vec::new());
        }
    }
}
