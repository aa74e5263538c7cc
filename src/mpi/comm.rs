//! Rank 0's communication thread, the only thread of rank 0 that calls MPI: it starts MPI,
//! checks every worker rank's build, then feeds the pools' tasks to the ranks (a few in flight
//! per rank to hide the latency) and completes their futures from the answers, until rank 0
//! exits. Depends on `wire`, `rank`, `launch` and the process pool's tasks.

use super::launch::Started;
use super::wire::{
    Answer, Fingerprint, MAX_MESSAGE, TAG_ANSWER, TAG_HELLO, TAG_STOP, TAG_TASK, TAG_VERDICT, TaskOut,
};
use crate::error::TaskError;
use crate::executor::intake::Intake;
use crate::process::protocol::FromWorker;
use crate::process::task::Pending;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mpi::Threading;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Tasks sent to one rank and not answered yet.
const IN_FLIGHT: usize = 2;
/// The largest task message lined up behind another on a busy rank (about what MPI sends
/// eagerly, without waiting for the receiver).
const EAGER: usize = 4096;
/// Rounds of yielding before an idle wait for answers sleeps.
const YIELDS: u32 = 200;
/// The sleep between looks for answers once yielding gave nothing.
const NAP: Duration = Duration::from_micros(50);

/// What rank 0's other threads ask of the communication thread.
pub(crate) enum Command {
    /// Serve this pool's queue until it is shut down and drained; dropping `done` says so.
    Serve { intake: Arc<Intake<Pending>>, done: Sender<()> },
    /// Rank 0 is exiting: stop the ranks and finalize MPI.
    Exit,
}

/// Starts MPI on this thread and serves as rank 0 or as a worker rank.
pub(crate) fn run(commands: &Receiver<Command>, started: &Sender<Started>) {
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
        return;
    }
    let _ = started.send(Started::Root { workers });
    let mut root = Root {
        world: &world,
        in_flight: (0..workers).map(|_| VecDeque::new()).collect(),
        broken: None,
        held: None,
    };
    let refused = root.check_builds();
    root.serve(commands);
    for rank in 1..=workers {
        if !refused.contains(&rank) {
            world.process_at_rank(rank as i32).send_with_tag(&[0u8; 0][..], TAG_STOP);
        }
    }
}

struct Root<'a> {
    world: &'a SimpleCommunicator,
    /// Per worker rank (index 0 is rank 1): its tasks in the order sent.
    in_flight: Vec<VecDeque<Pending>>,
    /// Why no task can run any more, once that is so.
    broken: Option<String>,
    /// A task taken from the queue and encoded, waiting for a rank with room for it.
    held: Option<(Pending, Vec<u8>)>,
}

impl Root<'_> {
    /// Takes every worker rank's hello and answers it; returns the ranks refused (they exit).
    fn check_builds(&mut self) -> Vec<usize> {
        let mine = Fingerprint::of_this_program().map_err(|e| e.to_string());
        let mut refused = Vec::new();
        for _ in 0..self.in_flight.len() {
            let (bytes, status) =
                self.world.any_process().matched_probe_with_tag(TAG_HELLO).matched_receive_vec::<u8>();
            let rank = usize::try_from(status.source_rank()).unwrap_or(0);
            let theirs: Result<Fingerprint, String> =
                postcard::from_bytes(&bytes).unwrap_or_else(|e| Err(format!("an unreadable hello ({e})")));
            let verdict = match (&mine, theirs) {
                (Ok(mine), Ok(theirs)) if *mine == theirs => None,
                (Ok(mine), Ok(theirs)) => Some(format!(
                    "rank {rank} runs another build of the program than rank 0 ({} bytes, hash {:x}, \
                     version {} against {} bytes, hash {:x}, version {}); start the same executable \
                     on every rank",
                    theirs.size, theirs.hash, theirs.crate_version, mine.size, mine.hash, mine.crate_version
                )),
                (Err(why), _) => Some(format!("rank 0 cannot read its own executable: {why}")),
                (_, Err(why)) => Some(format!("rank {rank} cannot prove its build: {why}")),
            };
            let reply = postcard::to_allocvec(&verdict).unwrap_or_default();
            self.world.process_at_rank(rank as i32).send_with_tag(&reply[..], TAG_VERDICT);
            if let Some(why) = verdict {
                refused.push(rank);
                self.broken.get_or_insert(why);
            }
        }
        refused
    }

    /// Serves the pools one after another until rank 0 exits.
    fn serve(&mut self, commands: &Receiver<Command>) {
        let mut pools: VecDeque<(Arc<Intake<Pending>>, Sender<()>)> = VecDeque::new();
        let mut idle_rounds = 0u32;
        loop {
            let mut progressed = false;
            loop {
                match commands.try_recv() {
                    Ok(Command::Serve { intake, done }) => pools.push_back((intake, done)),
                    Ok(Command::Exit) | Err(TryRecvError::Disconnected) => return self.abandon(pools),
                    Err(TryRecvError::Empty) => break,
                }
            }
            if let Some(why) = &self.broken {
                for (intake, _done) in pools.drain(..) {
                    intake.break_with(why.clone(), Vec::new());
                }
            }
            if let Some((intake, _)) = pools.front() {
                let drained = self.send_from(intake, &mut progressed);
                if drained && self.in_flight.iter().all(VecDeque::is_empty) {
                    pools.pop_front();
                    progressed = true;
                }
            }
            while let Some(found) = self.world.any_process().immediate_matched_probe_with_tag(TAG_ANSWER) {
                let (bytes, status) = found.matched_receive_vec::<u8>();
                self.take_answer(usize::try_from(status.source_rank()).unwrap_or(0), &bytes);
                progressed = true;
            }
            if progressed {
                idle_rounds = 0;
                continue;
            }
            if self.in_flight.iter().all(VecDeque::is_empty) {
                // Nothing to wait for from the ranks: sleep until a task or a command comes.
                let queue = pools.front().map(|(intake, _)| intake.receiver().clone());
                match queue {
                    Some(queue) => crossbeam_channel::select! {
                        recv(commands) -> command => match command {
                            Ok(Command::Serve { intake, done }) => pools.push_back((intake, done)),
                            Ok(Command::Exit) | Err(_) => return self.abandon(pools),
                        },
                        recv(queue) -> pending => if let Some(encoded) = pending.ok().and_then(|p| self.encode(p)) {
                            // Nothing is in flight: every rank is idle.
                            self.transmit(0, encoded);
                        },
                    },
                    None => match commands.recv() {
                        Ok(Command::Serve { intake, done }) => pools.push_back((intake, done)),
                        Ok(Command::Exit) | Err(_) => return self.abandon(pools),
                    },
                }
            } else if idle_rounds < YIELDS {
                idle_rounds += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(NAP);
            }
        }
    }

    /// Sends queued tasks to ranks with room; true once the pool is shut down and drained.
    fn send_from(&mut self, intake: &Intake<Pending>, progressed: &mut bool) -> bool {
        loop {
            let next = match self.held.take() {
                Some(held) => held,
                None => match intake.receiver().try_recv() {
                    Ok(pending) => match self.encode(pending) {
                        Some(encoded) => encoded,
                        None => {
                            *progressed = true;
                            continue;
                        }
                    },
                    Err(TryRecvError::Empty) => return false,
                    Err(TryRecvError::Disconnected) => return true,
                },
            };
            match self.rank_for(next.1.len()) {
                Some(rank) => {
                    self.transmit(rank, next);
                    *progressed = true;
                }
                None => {
                    self.held = Some(next);
                    return false;
                }
            }
        }
    }

    /// A task as its message; `None` when it fails here instead (too big, or the pool is
    /// broken).
    fn encode(&mut self, pending: Pending) -> Option<(Pending, Vec<u8>)> {
        if let Some(why) = &self.broken {
            pending.fail_rest(&TaskError::BrokenPool(why.clone()));
            return None;
        }
        let frame = TaskOut { id: pending.id, call: pending.call, args: &pending.args };
        match postcard::to_allocvec(&frame) {
            Ok(bytes) if bytes.len() <= MAX_MESSAGE => Some((pending, bytes)),
            Ok(bytes) => {
                pending.fail_rest(&TaskError::Serialization(format!(
                    "the task's arguments take {} bytes, more than the {MAX_MESSAGE} one MPI message \
                     holds; send less per task",
                    bytes.len()
                )));
                None
            }
            Err(e) => {
                pending.fail_rest(&TaskError::Serialization(format!("could not encode the task: {e}")));
                None
            }
        }
    }

    /// The worker rank (by index) to send a message of `len` bytes to: an idle one, or, for a
    /// small message, one with room in its line. A large message never waits in a busy rank's
    /// line: MPI may hold a large send until the rank takes it, and this thread has every
    /// other rank to serve meanwhile.
    fn rank_for(&self, len: usize) -> Option<usize> {
        let lines = self.in_flight.iter().map(VecDeque::len).enumerate();
        let (rank, busy) = lines.min_by_key(|(_, busy)| *busy)?;
        (busy == 0 || (len <= EAGER && busy < IN_FLIGHT)).then_some(rank)
    }

    /// Sends an encoded task to the worker rank at index `rank`, unless it was cancelled.
    fn transmit(&mut self, rank: usize, (pending, bytes): (Pending, Vec<u8>)) {
        // An MPI rank cannot be stopped from here: `Future::kill` fails the future at once and
        // the rank's answer is dropped when it comes.
        if !pending.task.set_running(Box::new(|| {})) {
            return;
        }
        self.world.process_at_rank(rank as i32 + 1).send_with_tag(&bytes[..], TAG_TASK);
        self.in_flight[rank].push_back(pending);
    }

    /// Completes the task that worker rank `rank` answered.
    fn take_answer(&mut self, rank: usize, bytes: &[u8]) {
        let Some(queue) = rank.checked_sub(1).and_then(|index| self.in_flight.get_mut(index)) else {
            return self.break_all(format!("an answer came from rank {rank}, which is no worker"));
        };
        let Ok(answer) = postcard::from_bytes::<Answer>(bytes) else {
            return self.break_all(format!("rank {rank} sent an unreadable answer"));
        };
        let Some(mut front) = queue.pop_front().filter(|front| front.id == answer.id) else {
            return self
                .break_all(format!("rank {rank} answered task {}, which it was not running", answer.id));
        };
        let whole = FromWorker::items_answered(&answer.values, &answer.failures)
            .filter(|count| *count == front.args.len() - front.done);
        match whole {
            Some(count) => {
                front.answer_all(answer.values, answer.failures, count);
                front.task.finish();
            }
            None => {
                front.fail_rest(&TaskError::Serialization(format!(
                    "rank {rank} answered with outcomes that do not add up"
                )));
                self.break_all(format!("rank {rank} answered with outcomes that do not add up"));
            }
        }
    }

    /// Nothing more can run: fails what is in flight and every pool from now on.
    fn break_all(&mut self, why: String) {
        let held = self.held.take().map(|(pending, _)| pending);
        for pending in self.in_flight.iter_mut().flat_map(std::mem::take).chain(held) {
            pending.fail_rest(&TaskError::BrokenPool(why.clone()));
        }
        self.broken.get_or_insert(why);
    }

    /// Rank 0 is exiting with pools still open (a pool that was leaked): fails their work.
    fn abandon(&mut self, pools: VecDeque<(Arc<Intake<Pending>>, Sender<()>)>) {
        let why = "rank 0 finished while this task was still running on a worker rank".to_owned();
        self.break_all(why.clone());
        for (intake, _done) in pools {
            intake.break_with(why.clone(), Vec::new());
        }
    }
}
