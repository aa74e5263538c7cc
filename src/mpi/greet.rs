//! The start and the end of the job as rank 0 sees them, each wait bounded: the hellos (every
//! worker rank proves its build and rank 0 answers with a verdict) and the goodbyes at exit
//! (every worker rank says it leaves before rank 0 finalizes MPI). [`Roster`] is what rank 0
//! knows of each worker rank; the two bounds live here. Depends on `wire`; used by `comm`.

use super::wire::{TAG_GOODBYE, TAG_HELLO, TAG_STOP, TAG_VERDICT, Verdict};
use crate::remote::build::Build;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use std::time::{Duration, Instant};

/// How long rank 0 waits for every worker rank's hello, unless
/// `CONCURRENT_FUTURES_MPI_HELLO_SECS` says otherwise.
const HELLO_SECS: f64 = 60.0;
/// How long rank 0, at exit, waits for every worker rank's goodbye, unless
/// `CONCURRENT_FUTURES_MPI_EXIT_SECS` says otherwise.
const EXIT_SECS: f64 = 10.0;
/// Rounds of yielding before a wait for a rank's message naps.
const YIELDS: u32 = 200;
/// The nap between looks once yielding gave nothing.
const NAP: Duration = Duration::from_micros(50);

/// The bound of the wait for the hellos (see [`MpiPoolExecutor`](crate::MpiPoolExecutor)).
pub(crate) fn hello_bound() -> Duration {
    bound("CONCURRENT_FUTURES_MPI_HELLO_SECS", HELLO_SECS)
}

/// The bound of the wait for the goodbyes at exit.
pub(crate) fn exit_bound() -> Duration {
    bound("CONCURRENT_FUTURES_MPI_EXIT_SECS", EXIT_SECS)
}

/// Seconds from the environment variable `name`, or `default`.
fn bound(name: &str, default: f64) -> Duration {
    seconds(std::env::var(name).ok().as_deref(), default)
}

/// `value` as seconds when it is a positive number up to a day, else `default`.
fn seconds(value: Option<&str>, default: f64) -> Duration {
    let chosen = value.and_then(|v| v.trim().parse::<f64>().ok());
    Duration::from_secs_f64(chosen.filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0).unwrap_or(default))
}

/// Where a worker rank stands, as rank 0 has seen it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Standing {
    /// No hello yet.
    Silent,
    /// Its build matched: it runs tasks until told to stop.
    Working,
    /// Sent away (another build, or a hello past the bound): it leaves by itself.
    Refused,
    /// Said goodbye: it finalizes MPI and exits.
    Gone,
}

/// What rank 0 knows of its worker ranks (index 0 is rank 1), and the build they must match.
pub(crate) struct Roster {
    standing: Vec<Standing>,
    mine: Result<Build, String>,
}

/// How one message from a worker rank, outside a task's answer, changed the roster.
pub(crate) enum Heard {
    /// Nothing that matters to the tasks.
    Nothing,
    /// A working rank left without being told to: its tasks will never be answered.
    WorkerLeft(usize),
}

impl Roster {
    pub(crate) fn new(workers: usize) -> Roster {
        let mine = Build::these_bytes().map_err(|e| e.to_string());
        Roster { standing: vec![Standing::Silent; workers], mine }
    }

    /// Whether the worker rank at `index` (rank `index + 1`) takes tasks.
    pub(crate) fn is_working(&self, index: usize) -> bool {
        self.standing.get(index) == Some(&Standing::Working)
    }

    /// Takes the worker ranks' hellos, answering each at once, until every rank has said hello
    /// (or left), `bound` has passed, or `exiting()` (rank 0 is exiting: the goodbyes answer
    /// the hellos still to come). `Ok` with why the ranks cannot run tasks when one was refused
    /// (another build); `Err` naming the ranks that stayed silent.
    ///
    /// Bounded: a rank that never says hello is given up on at `bound`. The sends here are
    /// small verdicts, which MPI delivers without waiting for the receiver.
    pub(crate) fn hellos(
        &mut self,
        world: &SimpleCommunicator,
        bound: Duration,
        exiting: &dyn Fn() -> bool,
    ) -> Result<Option<String>, String> {
        let give_up = Instant::now() + bound;
        let mut broken = None;
        let mut idle = 0u32;
        while self.standing.contains(&Standing::Silent) {
            let Some(found) = world.any_process().immediate_matched_probe() else {
                if Instant::now() >= give_up || exiting() {
                    break;
                }
                idle = pause(idle);
                continue;
            };
            idle = 0;
            let (bytes, status) = found.matched_receive_vec::<u8>();
            let rank = usize::try_from(status.source_rank()).unwrap_or(0);
            match status.tag() {
                TAG_HELLO => {
                    if let Some(why) = self.hello(world, rank, &bytes, None) {
                        broken.get_or_insert(why);
                    }
                }
                TAG_GOODBYE => self.goodbye(rank),
                // Nothing else is due before the hellos: dropped.
                _ => {}
            }
        }
        let silent: Vec<String> = self.ranks_in(Standing::Silent).map(|rank| rank.to_string()).collect();
        if silent.is_empty() {
            return Ok(broken);
        }
        Err(format!(
            "MpiPoolExecutor: rank(s) {} of this MPI job did not say hello within {:.1} s of MPI \
             starting. Check that every rank runs this same program, that it calls \
             concurrent_futures::init() as the first line of main on every rank, and that the \
             executable is readable on those ranks' hosts (each rank hashes it to prove its build); \
             a slow start can be given longer with CONCURRENT_FUTURES_MPI_HELLO_SECS",
            silent.join(", "),
            bound.as_secs_f64()
        ))
    }

    /// Answers rank `rank`'s hello; `late` is why it is refused anyway (it came too late).
    /// Returns why the rank was refused, if it was. A hello from no worker rank, or a second
    /// one, is dropped.
    fn hello(
        &mut self,
        world: &SimpleCommunicator,
        rank: usize,
        bytes: &[u8],
        late: Option<&str>,
    ) -> Option<String> {
        let index =
            rank.checked_sub(1).filter(|index| self.standing.get(*index) == Some(&Standing::Silent))?;
        let theirs: Result<Build, String> =
            postcard::from_bytes(bytes).unwrap_or_else(|e| Err(format!("an unreadable hello ({e})")));
        let verdict: Verdict = match (late, &self.mine, theirs) {
            (Some(late), _, _) => Some(late.to_owned()),
            (None, Ok(mine), Ok(theirs)) if *mine == theirs => None,
            (None, Ok(mine), Ok(theirs)) => Some(format!(
                "rank {rank} runs another build of the program than rank 0 ({theirs} against \
                 {mine}); start the same executable on every rank"
            )),
            (None, Err(why), _) => Some(format!("rank 0 cannot read its own executable: {why}")),
            (None, _, Err(why)) => Some(format!("rank {rank} cannot prove its build: {why}")),
        };
        let reply = postcard::to_allocvec(&verdict).unwrap_or_default();
        world.process_at_rank(rank as i32).send_with_tag(&reply[..], TAG_VERDICT);
        self.standing[index] = if verdict.is_some() { Standing::Refused } else { Standing::Working };
        verdict.filter(|_| late.is_none())
    }

    /// A hello or a goodbye that came while rank 0 serves tasks: a hello past the bound is
    /// refused (its rank then leaves); a goodbye from a working rank means its tasks are lost.
    pub(crate) fn heard(&mut self, world: &SimpleCommunicator, rank: usize, tag: i32, bytes: &[u8]) -> Heard {
        match tag {
            TAG_HELLO => {
                self.late_hello(world, rank, bytes);
                Heard::Nothing
            }
            TAG_GOODBYE => {
                let was_working = rank.checked_sub(1).is_some_and(|index| self.is_working(index));
                self.goodbye(rank);
                if was_working { Heard::WorkerLeft(rank) } else { Heard::Nothing }
            }
            _ => Heard::Nothing,
        }
    }

    fn late_hello(&mut self, world: &SimpleCommunicator, rank: usize, bytes: &[u8]) {
        let late = "rank 0 gave up waiting for this rank's hello; start every rank at once, or allow \
                    longer with CONCURRENT_FUTURES_MPI_HELLO_SECS";
        self.hello(world, rank, bytes, Some(late));
    }

    /// A hello that comes once rank 0 is exiting (it exited before its ranks were all up): the
    /// rank is let in and stopped at once, so it leaves quietly, with a goodbye.
    fn hello_at_exit(&mut self, world: &SimpleCommunicator, rank: usize) {
        let Some(standing) = rank.checked_sub(1).and_then(|index| self.standing.get_mut(index)) else {
            return;
        };
        if *standing == Standing::Silent {
            let go_on = postcard::to_allocvec(&Verdict::None).unwrap_or_default();
            let destination = world.process_at_rank(rank as i32);
            destination.send_with_tag(&go_on[..], TAG_VERDICT);
            destination.send_with_tag(&[0u8; 0][..], TAG_STOP);
            *standing = Standing::Working;
        }
    }

    fn goodbye(&mut self, rank: usize) {
        if let Some(standing) = rank.checked_sub(1).and_then(|index| self.standing.get_mut(index)) {
            *standing = Standing::Gone;
        }
    }

    /// At exit: tells every working rank to stop, then waits until every worker rank has said
    /// goodbye or `bound` has passed, answering late hellos (with a refusal) and dropping late
    /// answers meanwhile. Returns the ranks that did not say goodbye (rank 0 must then not
    /// finalize MPI, which would wait for them).
    ///
    /// Bounded by `bound`. The stops are empty messages, which MPI delivers without waiting for
    /// the receiver; a rank sending a large answer meanwhile is not blocked by rank 0, which
    /// keeps taking every message.
    pub(crate) fn goodbyes(&mut self, world: &SimpleCommunicator, bound: Duration) -> Vec<usize> {
        for rank in self.ranks_in(Standing::Working).collect::<Vec<_>>() {
            world.process_at_rank(rank as i32).send_with_tag(&[0u8; 0][..], TAG_STOP);
        }
        let give_up = Instant::now() + bound;
        let mut idle = 0u32;
        while self.standing.iter().any(|s| *s != Standing::Gone) {
            let Some(found) = world.any_process().immediate_matched_probe() else {
                if Instant::now() >= give_up {
                    break;
                }
                idle = pause(idle);
                continue;
            };
            idle = 0;
            // Taken whatever it is, so that no rank waits on rank 0 to take it; only the tag and
            // the source matter here (an answer is of a task abandoned at exit, failed already).
            let (_, status) = found.matched_receive_vec::<u8>();
            let rank = usize::try_from(status.source_rank()).unwrap_or(0);
            match status.tag() {
                TAG_HELLO => self.hello_at_exit(world, rank),
                TAG_GOODBYE => self.goodbye(rank),
                _ => {}
            }
        }
        self.standing.iter().enumerate().filter(|(_, s)| **s != Standing::Gone).map(|(i, _)| i + 1).collect()
    }

    /// The ranks (1..N) standing at `standing`.
    fn ranks_in(&self, standing: Standing) -> impl Iterator<Item = usize> + '_ {
        self.standing.iter().enumerate().filter(move |(_, s)| **s == standing).map(|(index, _)| index + 1)
    }
}

/// One idle round of a wait for a rank's message: a yield, or a nap after many; the next count.
pub(crate) fn pause(idle: u32) -> u32 {
    if idle < YIELDS {
        std::thread::yield_now();
    } else {
        std::thread::sleep(NAP);
    }
    idle.saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_take_positive_seconds_up_to_a_day_and_fall_back_otherwise() {
        assert_eq!(seconds(Some(" 1.5 "), 60.0), Duration::from_millis(1500));
        for odd in
            [None, Some(""), Some("soon"), Some("0"), Some("-3"), Some("NaN"), Some("inf"), Some("1e9")]
        {
            assert_eq!(seconds(odd, 60.0), Duration::from_secs(60), "{odd:?}");
        }
    }
}
