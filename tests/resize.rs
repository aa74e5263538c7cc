//! `set_max_workers(n)` on a running pool, as a user calls it, on both pools: growing starts
//! workers at once for the tasks that wait; shrinking interrupts nothing, and once the running
//! tasks end, at most `n` tasks run at once; `max_workers()` and `stats()` follow; a storm of
//! resizes loses no task; `0` panics with a clear message. A worker is this test binary
//! re-executed, so `main` calls `init()` first and runs the checks itself (`harness = false`).
//!
//! No check depends on timing: tasks are held running by a flag the check controls (a channel
//! on threads, a [`SharedMap`] key on processes), and states are waited for with a bound.

mod common;

use common::{Check, PATIENCE, eventually};
use concurrent_futures::{Executor, ProcessPoolExecutor, SharedMap, ThreadPoolExecutor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

fn main() {
    concurrent_futures::init();
    let checks: &[Check] = &[
        ("threads_grow_at_once_for_the_tasks_that_wait", threads_grow_at_once),
        ("threads_shrink_as_tasks_end_and_then_run_at_most_n", threads_shrink_as_tasks_end),
        ("idle_threads_retire_at_once", idle_threads_retire_at_once),
        ("a_storm_of_resizes_loses_nothing_and_the_last_limit_holds", threads_resize_storm),
        ("zero_workers_panics_with_a_clear_message", zero_panics),
        ("shutdown_waits_for_the_threads_a_concurrent_grow_started", threads_shutdown_races_resizes),
        ("processes_grow_at_once_for_the_tasks_that_wait", processes_grow_at_once),
        ("processes_shrink_as_tasks_end_and_then_run_on_n", processes_shrink_as_tasks_end),
        ("a_storm_of_process_resizes_loses_nothing", processes_resize_storm),
        ("shutdown_waits_for_the_workers_a_concurrent_grow_started", processes_shutdown_races_resizes),
    ];
    common::run_checks(checks);
}

/// Counts the tasks running at once and the most there ever were.
#[derive(Default)]
struct Peak {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Peak {
    /// Runs `work` counted as one running task.
    fn run(&self, work: impl FnOnce()) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        work();
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// A few hundred microseconds of work the optimiser cannot remove: long enough that tasks
/// overlap when they can.
fn some_work() {
    let mut x = 0u64;
    for i in 0..200_000u64 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    std::hint::black_box(x);
}

/// Spawns `n` tasks of [`some_work`] on `pool`, each counted in `peak` while it runs.
fn spawn_counted(
    pool: &ThreadPoolExecutor,
    peak: &Arc<Peak>,
    n: usize,
) -> Vec<concurrent_futures::Future<()>> {
    (0..n)
        .map(|_| {
            let peak = Arc::clone(peak);
            pool.spawn(move || peak.run(some_work))
        })
        .collect()
}

/// Runs `n` tasks of [`some_work`] on `pool` to their end; the most that ran at once.
fn most_at_once(pool: &ThreadPoolExecutor, n: usize) -> usize {
    let peak = Arc::new(Peak::default());
    for future in spawn_counted(pool, &peak, n) {
        assert_eq!(future.result(), Ok(()));
    }
    peak.most()
}

/// Holds `n` tasks running on `pool` until the returned gate is dropped or sent to; returns
/// their futures once all `n` run.
fn hold(
    pool: &ThreadPoolExecutor,
    n: usize,
) -> (Vec<concurrent_futures::Future<()>>, Vec<std::sync::mpsc::Sender<()>>) {
    let started = Arc::new(AtomicUsize::new(0));
    let mut futures = Vec::new();
    let mut gates = Vec::new();
    for _ in 0..n {
        let (gate, wait) = std::sync::mpsc::channel::<()>();
        let started = Arc::clone(&started);
        futures.push(pool.spawn(move || {
            started.fetch_add(1, Ordering::SeqCst);
            let _ = wait.recv_timeout(PATIENCE);
        }));
        gates.push(gate);
    }
    (futures, gates)
}

fn started_count(futures: &[concurrent_futures::Future<()>]) -> usize {
    futures.iter().filter(|f| f.is_running() || f.is_done()).count()
}

fn threads_grow_at_once() {
    let pool = ThreadPoolExecutor::new(1);
    let (first, first_gate) = hold(&pool, 1);
    assert!(eventually(PATIENCE, || started_count(&first) == 1), "the first task never started");
    let (waiting, gates) = hold(&pool, 3);
    assert_eq!(pool.stats().queued, 3, "one worker: the other three wait");
    pool.set_max_workers(4);
    assert_eq!(pool.max_workers(), 4);
    assert_eq!(pool.stats().max_workers, 4);
    // The three start while the first still runs: the pool grew at once.
    assert!(
        eventually(PATIENCE, || started_count(&waiting) == 3),
        "the waiting tasks never started: {:?}",
        pool.stats()
    );
    let stats = pool.stats();
    assert_eq!((stats.busy, stats.queued, stats.workers), (4, 0, 4), "{stats:?}");
    drop((first_gate, gates));
    for future in first.into_iter().chain(waiting) {
        assert_eq!(future.result(), Ok(()));
    }
}

fn threads_shrink_as_tasks_end() {
    for (from, to) in [(4, 2), (4, 1), (3, 2), (6, 3)] {
        common::step(format!("{from} -> {to}"));
        let pool = ThreadPoolExecutor::new(from);
        let (running, gates) = hold(&pool, from);
        assert!(eventually(PATIENCE, || started_count(&running) == from), "the tasks never all ran");
        pool.set_max_workers(to);
        assert_eq!(pool.max_workers(), to);
        // Nothing running is interrupted.
        let stats = pool.stats();
        assert_eq!((stats.max_workers, stats.busy), (to, from), "{stats:?}");
        assert!(running.iter().all(|f| !f.is_done()), "a running task was interrupted");
        drop(gates);
        for future in running {
            assert_eq!(future.result(), Ok(()), "a running task ran to its end");
        }
        assert!(
            eventually(PATIENCE, || pool.stats().workers == to),
            "workers never shrank to {to}: {:?}",
            pool.stats()
        );
        // From now on at most `to` tasks run at once.
        let most = most_at_once(&pool, 8 * from);
        assert!(most <= to, "{most} tasks ran at once after a shrink to {to}");
        assert!(pool.stats().workers <= to, "{:?}", pool.stats());
    }
}

fn idle_threads_retire_at_once() {
    let pool = ThreadPoolExecutor::new(4);
    // Four tasks that meet: four threads.
    let barrier = Arc::new(Barrier::new(4));
    let futures: Vec<_> = (0..4)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.spawn(move || {
                barrier.wait();
            })
        })
        .collect();
    for future in futures {
        assert_eq!(future.result(), Ok(()));
    }
    assert_eq!(pool.stats().workers, 4);
    pool.set_max_workers(1);
    // Idle threads, blocked waiting for work, retire without a task to wake them.
    assert!(eventually(PATIENCE, || pool.stats().workers == 1), "idle threads stayed: {:?}", pool.stats());
    assert_eq!(pool.submit(|x: u32| x * 3, 5).result(), Ok(15));
}

fn threads_resize_storm() {
    // Limits that go up and down while tasks run and more are submitted: every task ends with
    // its own value, the counts add up, and the last limit holds.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    for round in 0..6 {
        common::step(format!("round {round}"));
        let start = 1 + next(5) as usize;
        let pool = Arc::new(ThreadPoolExecutor::new(start));
        let limits: Vec<usize> = (0..20).map(|_| 1 + next(6) as usize).collect();
        let last = *limits.last().unwrap_or(&1);
        let resizer = set_limits(Arc::clone(&pool), limits, |p, n| p.set_max_workers(n));
        let futures: Vec<_> = (0..400u64)
            .map(|i| {
                pool.spawn(move || {
                    if i % 7 == 0 {
                        some_work();
                    }
                    i * 2
                })
            })
            .collect();
        assert!(resizer.join().is_ok());
        for (i, future) in futures.into_iter().enumerate() {
            assert_eq!(future.result(), Ok(i as u64 * 2));
        }
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.failed, stats.cancelled), (400, 0, 0), "{stats:?}");
        assert_eq!(pool.max_workers(), last);
        assert!(eventually(PATIENCE, || pool.stats().workers <= last), "{:?}", pool.stats());
        let most = most_at_once(&pool, 6 * last);
        assert!(most <= last, "{most} ran at once under a limit of {last}");
    }
}

/// A panic's message, whether it was formatted or a literal.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match payload.downcast_ref::<&str>() {
        Some(text) => text.to_string(),
        None => payload.downcast_ref::<String>().cloned().unwrap_or_default(),
    }
}

fn zero_panics() {
    let threads = ThreadPoolExecutor::new(2);
    assert_panics_for_zero(|| threads.set_max_workers(0));
    assert_eq!(threads.max_workers(), 2, "the limit is unchanged");
    let processes = ProcessPoolExecutor::new(1);
    assert_panics_for_zero(|| processes.set_max_workers(0));
    assert_eq!(processes.max_workers(), 1, "the limit is unchanged");
}

/// `set_zero` panics, and says the pool needs at least one worker.
fn assert_panics_for_zero(set_zero: impl FnOnce()) {
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(set_zero)).expect_err("0 must panic");
    let message = panic_text(panic.as_ref());
    assert!(message.contains("at least one worker"), "{message}");
}

/// Sets the limit of `pool` to each of `limits` in turn, on a thread of its own.
fn set_limits<P: Send + Sync + 'static>(
    pool: Arc<P>,
    limits: impl IntoIterator<Item = usize, IntoIter: Send + 'static>,
    set: fn(&P, usize),
) -> std::thread::JoinHandle<()> {
    let limits = limits.into_iter();
    std::thread::spawn(move || {
        for limit in limits {
            set(&pool, limit);
            std::thread::yield_now();
        }
    })
}

/// Flips the limit of `pool` between `low` and `high` until `stop` is set.
fn flip_limits<P: Send + Sync + 'static>(
    pool: Arc<P>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    (low, high): (usize, usize),
    set: fn(&P, usize),
) -> std::thread::JoinHandle<()> {
    let flips = [high, low].into_iter().cycle().take_while(move |_| !stop.load(Ordering::SeqCst));
    set_limits(pool, flips, set)
}

fn threads_shutdown_races_resizes() {
    // `shutdown(true, _)` returns once every task has ended, even while another thread grows
    // and shrinks the pool (a grow must not start a thread that shutdown does not join).
    for round in 0..40 {
        common::step(format!("round {round}"));
        let pool = Arc::new(ThreadPoolExecutor::new(1));
        let peak = Arc::new(Peak::default());
        let futures = spawn_counted(&pool, &peak, 64);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let resizer = flip_limits(Arc::clone(&pool), Arc::clone(&stop), (1, 8), |p, n| p.set_max_workers(n));
        pool.shutdown(true, false);
        let running = peak.now.load(Ordering::SeqCst);
        let undone = futures.iter().filter(|f| !f.is_done()).count();
        stop.store(true, Ordering::SeqCst);
        assert!(resizer.join().is_ok());
        assert_eq!((running, undone), (0, 0), "tasks still ran after shutdown(true) returned");
    }
}

fn processes_shutdown_races_resizes() {
    for round in 0..4 {
        common::step(format!("round {round}"));
        let pool = Arc::new(ProcessPoolExecutor::new(1));
        let futures: Vec<_> = (0..100u64).map(|x| pool.submit(double, x)).collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let resizer = flip_limits(Arc::clone(&pool), Arc::clone(&stop), (1, 4), |p, n| p.set_max_workers(n));
        pool.shutdown(true, false);
        let undone = futures.iter().filter(|f| !f.is_done()).count();
        let workers = pool.stats().workers;
        stop.store(true, Ordering::SeqCst);
        assert!(resizer.join().is_ok());
        assert_eq!((undone, workers), (0, 0), "tasks or workers left after shutdown(true) returned");
        for (x, future) in futures.into_iter().enumerate() {
            assert_eq!(future.result(), Ok(x as u64 * 2));
        }
    }
}

/// The key a check sets to release every held process task.
const RELEASE: u32 = u32::MAX;

/// A process task held running: marks its start under `key`, waits (bounded) for the
/// release, and returns its worker's pid.
fn held((map, key): (SharedMap<u32, u32>, u32)) -> u32 {
    map.insert(key, std::process::id());
    eventually(4 * PATIENCE, || map.contains_key(&RELEASE));
    std::process::id()
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn processes_grow_at_once() {
    let pool = ProcessPoolExecutor::new(1);
    let map: SharedMap<u32, u32> = SharedMap::new();
    let futures: Vec<_> = (0..3).map(|key| pool.submit(held, (map.clone(), key))).collect();
    assert!(eventually(PATIENCE, || map.contains_key(&0)), "the first task never started");
    assert!(!map.contains_key(&1) && !map.contains_key(&2), "one worker runs one task at a time");
    pool.set_max_workers(3);
    assert_eq!(pool.max_workers(), 3);
    assert_eq!(pool.stats().max_workers, 3);
    // The two behind start while the first still runs (a worker lines up no task behind one
    // not known to be short).
    assert!(eventually(PATIENCE, || map.len() == 3), "the pool did not grow: {:?}", pool.stats());
    map.insert(RELEASE, 0);
    let pids: Vec<u32> = futures.into_iter().map(|f| f.result().unwrap_or(0)).collect();
    assert!(pids.iter().all(|&p| p != 0), "{pids:?}");
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "the tasks ran on three workers: {pids:?}");
}

fn processes_shrink_as_tasks_end() {
    for (from, to) in [(3, 1), (3, 2)] {
        common::step(format!("{from} -> {to}"));
        let pool = ProcessPoolExecutor::new(from);
        let map: SharedMap<u32, u32> = SharedMap::new();
        let futures: Vec<_> = (0..from as u32).map(|key| pool.submit(held, (map.clone(), key))).collect();
        assert!(eventually(PATIENCE, || map.len() == from), "the held tasks never all ran");
        pool.set_max_workers(to);
        let stats = pool.stats();
        assert_eq!((stats.max_workers, stats.busy), (to, from), "nothing running is interrupted: {stats:?}");
        map.insert(RELEASE, 0);
        for future in futures {
            assert!(future.result().is_ok(), "a running task ran to its end");
        }
        assert!(
            eventually(PATIENCE, || pool.stats().workers == to),
            "workers never shrank: {:?}",
            pool.stats()
        );
        // From now on the pool's tasks run on `to` workers.
        let mut pids: Vec<u32> =
            (0..20).map(|_| pool.submit(pid, ())).map(|f| f.result().unwrap_or(0)).collect();
        pids.sort_unstable();
        pids.dedup();
        assert!(pids.len() <= to && !pids.contains(&0), "tasks ran on {pids:?} after a shrink to {to}");
        let stats = pool.stats();
        assert_eq!((stats.workers_replaced, stats.failed), (0, 0), "a shrink replaces nothing: {stats:?}");
    }
}

fn double(x: u64) -> u64 {
    x * 2
}

fn processes_resize_storm() {
    let pool = Arc::new(ProcessPoolExecutor::new(2));
    for round in 0..3u64 {
        common::step(format!("round {round}"));
        let limits: Vec<usize> = (0..12).map(|i| 1 + ((i * 7 + round as usize * 3) % 4)).collect();
        let last = *limits.last().unwrap_or(&1);
        let resizer = set_limits(Arc::clone(&pool), limits, |p, n| p.set_max_workers(n));
        let results: Vec<u64> =
            pool.map(double, 0..300u64).chunksize(7).map(|r| r.unwrap_or(u64::MAX)).collect();
        assert!(resizer.join().is_ok());
        assert_eq!(results, (0..300u64).map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(pool.max_workers(), last);
        assert!(eventually(PATIENCE, || pool.stats().workers <= last), "{:?}", pool.stats());
    }
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.failed, stats.workers_replaced), (900, 0, 0), "{stats:?}");
}
