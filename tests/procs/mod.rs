//! Helpers of the process-pool stress tests (`process_payloads`, `process_chaos`): payloads
//! compared byte for byte, the workers seen from outside (`/proc`, signals), and waits with a
//! bound. Linux: workers are found through `/proc`.

#![allow(dead_code)]

use concurrent_futures::Future;
use std::time::Duration;

/// How long an operation that should take about a second may take before it counts as a hang.
pub(crate) const BOUND: Duration = Duration::from_secs(10);

/// The payload of item `index`: `len` bytes that depend on the index and on their offset, so
/// that a swapped, truncated or shifted item shows.
pub(crate) fn pattern(index: usize, len: usize) -> Vec<u8> {
    let salt = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len as u64).map(|j| ((j ^ salt).wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 56) as u8).collect()
}

/// Fails with the first difference between `got` and `want` (not the bytes: items are large).
#[track_caller]
pub(crate) fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: {} bytes came back for {} sent; first difference at byte {first}",
            got.len(),
            want.len()
        );
    }
}

/// Returns its argument: the task of the payload tests.
pub(crate) fn echo(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

/// The pid of the worker that runs it.
pub(crate) fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Never returns.
pub(crate) fn spin(_: ()) -> u32 {
    loop {
        std::hint::spin_loop();
    }
}

/// Runs `f` on a thread of its own and gives its value, or fails if it has not returned within
/// `bound` (the thread is left behind: a hang cannot be stopped).
#[track_caller]
pub(crate) fn within<T: Send + 'static>(
    what: &str,
    bound: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(bound) {
        Ok(value) => value,
        Err(_) => panic!("{what} did not return within {bound:?} (or panicked)"),
    }
}

/// Waits, with a bound, until `future` runs on a worker.
#[track_caller]
pub(crate) fn wait_running<T>(future: &Future<T>) {
    let started =
        crate::common::eventually(crate::common::PATIENCE, || future.is_running() || future.is_done());
    assert!(started, "the task never started");
    assert!(future.is_running(), "the task finished before the test could act on it");
}

/// The pids of this process's children (running, stopped or not yet reaped).
pub(crate) fn children() -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|(_, parent)| parent == me))
        .collect()
}

/// Fails if a child that was not there in `before` is still there: a process left behind.
#[track_caller]
pub(crate) fn assert_no_new_children(before: &[u32], what: &str) {
    let left: Vec<u32> = children().into_iter().filter(|pid| !before.contains(pid)).collect();
    assert!(left.is_empty(), "{what}: processes left behind: {left:?}");
}

/// A process's state letter (`R`, `S`, `T`, `Z`...) and its parent, from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let parent = rest.next()?.parse().ok()?;
    Some((state, parent))
}

/// The state letter of process `pid`, if it is there.
pub(crate) fn state(pid: u32) -> Option<char> {
    stat(pid).map(|(state, _)| state)
}

/// The state letter of thread `tid` of this process, if it is there.
pub(crate) fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// Sends `signal` to `pid`; whether it was delivered.
pub(crate) fn signal(pid: u32, signal: i32) -> bool {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process.
    unsafe { libc::kill(pid as libc::pid_t, signal) == 0 }
}

/// SIGKILLs `pid` when dropped if it is still a child of this process (so the pid cannot have
/// been reused): no stopped or stuck worker outlives a failed check.
pub(crate) struct KillIfLeft(pub(crate) u32);

impl Drop for KillIfLeft {
    fn drop(&mut self) {
        if children().contains(&self.0) {
            signal(self.0, libc::SIGKILL);
        }
    }
}

/// A pseudo-random sequence (xorshift64*), seeded from the clock unless `seed` is given.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: Option<u64>) -> Rng {
        let seed = seed.unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            now.as_nanos() as u64 ^ u64::from(std::process::id())
        });
        Rng(seed.max(1))
    }

    /// The state it is in now (for a fresh one: its seed, to replay a run).
    pub(crate) fn seed(&self) -> u64 {
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
