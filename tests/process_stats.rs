//! `ProcessPoolExecutor::stats()`, as a user reads it: the counts add up for plain submits,
//! maps, concurrent submitters, a storm of kills, timeouts, deaths and cancellations,
//! `kill_workers` and `shutdown(cancel_futures)`; `busy` and `queued` are right while tasks
//! are held running; no worker is left after `shutdown(true, _)`. A worker is this test binary
//! re-executed, so `main` calls `init()` first and runs the checks itself (`harness = false`).
//!
//! No check depends on timing: a task is held running by a [`SharedMap`] flag the check
//! controls, and a state is waited for with a bound ([`eventually`]), never with a sleep.

mod common;

use common::{Check, PATIENCE, eventually};
use concurrent_futures::{Executor, PoolStats, ProcessPoolExecutor, SharedMap, TaskError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

fn main() {
    concurrent_futures::init();
    let checks: &[Check] = &[
        ("plain_submits_and_a_map_add_up", plain_submits_and_a_map_add_up),
        ("items_that_cannot_be_sent_count_as_failed", items_that_cannot_be_sent_count_as_failed),
        ("retiring_workers_are_not_counted_as_replaced", retiring_workers_are_not_replacements),
        ("a_broken_pool_adds_up", a_broken_pool_adds_up),
        ("concurrent_submitters_add_up", concurrent_submitters_add_up),
        ("busy_and_queued_while_tasks_are_held", busy_and_queued_while_tasks_are_held),
        ("a_kill_storm_adds_up_and_counts_replaced_workers", a_kill_storm_adds_up),
        ("kill_workers_adds_up_and_replaces_nobody", kill_workers_adds_up),
        ("shutdown_cancel_futures_adds_up_and_leaves_no_worker", shutdown_cancel_futures_adds_up),
        ("max_queued_makes_a_submit_wait_for_room", max_queued_waits_for_room),
    ];
    common::run_checks(checks);
}

/// What the futures of a check came to, to hold the pool's counts against.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcomes {
    completed: u64,
    failed: u64,
    cancelled: u64,
}

impl Outcomes {
    fn add<T>(&mut self, outcome: &Result<T, TaskError>) {
        match outcome {
            Ok(_) => self.completed += 1,
            Err(TaskError::Cancelled) => self.cancelled += 1,
            Err(_) => self.failed += 1,
        }
    }

    fn total(&self) -> u64 {
        self.completed + self.failed + self.cancelled
    }
}

/// The counts of `stats`, as [`Outcomes`].
fn outcomes_of(stats: &PoolStats) -> Outcomes {
    Outcomes { completed: stats.completed, failed: stats.failed, cancelled: stats.cancelled }
}

/// True once nothing is queued or running and the outcomes are `expected`.
fn settled(stats: &PoolStats, expected: &Outcomes) -> bool {
    stats.queued == 0 && stats.busy == 0 && outcomes_of(stats) == *expected
}

/// Waits (bounded) until the pool's counts have settled on `expected`; fails with the last
/// snapshot otherwise.
fn assert_settles(pool: &ProcessPoolExecutor, expected: &Outcomes) -> PoolStats {
    let mut last = pool.stats();
    let ok = eventually(PATIENCE, || {
        last = pool.stats();
        settled(&last, expected)
    });
    assert!(ok, "the counts never settled on {expected:?}: {last:?}");
    last
}

fn square(x: u64) -> u64 {
    x * x
}

fn square_or_panic(x: u64) -> u64 {
    if x % 7 == 3 {
        panic!("item {x} fails on purpose");
    }
    x * x
}

fn plain_submits_and_a_map_add_up() {
    let pool = ProcessPoolExecutor::new(2);
    let mut seen = Outcomes::default();
    let futures: Vec<_> = (0..30).map(|x| pool.submit(square_or_panic, x)).collect();
    for future in futures {
        seen.add(&future.result());
    }
    assert_eq!((seen.completed, seen.failed), (26, 4));
    // Every future is done and none was completed from outside the pool: the counts are
    // settled already (they are made before a future completes).
    let stats = pool.stats();
    assert!(settled(&stats, &seen), "{stats:?} after {seen:?}");
    for chunksize in [1, 4, 64] {
        for outcome in pool.map(square_or_panic, 0..100).chunksize(chunksize) {
            seen.add(&outcome);
        }
        let stats = pool.stats();
        assert!(settled(&stats, &seen), "chunksize {chunksize}: {stats:?} after {seen:?}");
    }
    assert_eq!(seen.total(), 330, "each item of a map counts one task");
    let stats = pool.stats();
    assert_eq!(stats.max_workers, 2);
    assert!((1..=2).contains(&stats.workers), "{stats:?}");
    assert_eq!(stats.workers_replaced, 0, "a panic does not end its worker");
    pool.shutdown(true, false);
    let after = pool.stats();
    assert_eq!(after.workers, 0, "no worker is left after shutdown(true, _): {after:?}");
    assert!(settled(&after, &seen), "{after:?}");
}

/// A number that cannot be encoded when it is a multiple of 10.
#[derive(Debug)]
struct Picky(u64);

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 10 == 0 {
            return Err(serde::ser::Error::custom("a multiple of 10 cannot be sent"));
        }
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(Picky)
    }
}

fn unpick(p: Picky) -> u64 {
    p.0
}

fn items_that_cannot_be_sent_count_as_failed() {
    let pool = ProcessPoolExecutor::new(2);
    let mut seen = Outcomes::default();
    for x in [1, 10, 20, 3] {
        seen.add(&pool.submit(unpick, Picky(x)).result());
    }
    for chunksize in [1, 5, 10] {
        for outcome in pool.map(unpick, (0..50).map(Picky)).chunksize(chunksize) {
            seen.add(&outcome);
        }
    }
    assert_eq!((seen.completed, seen.failed), (2 + 3 * 45, 2 + 3 * 5));
    let stats = pool.stats();
    assert!(settled(&stats, &seen), "{stats:?} after {seen:?}");
}

fn retiring_workers_are_not_replacements() {
    let pool = ProcessPoolExecutor::builder().max_workers(2).max_tasks_per_child(3).build().unwrap();
    let futures: Vec<_> = (0..40).map(|x| pool.submit(square, x)).collect();
    for (x, future) in (0..).zip(futures) {
        assert_eq!(future.result(), Ok(x * x));
    }
    let stats = pool.stats();
    assert!(settled(&stats, &Outcomes { completed: 40, failed: 0, cancelled: 0 }), "{stats:?}");
    assert_eq!(stats.workers_replaced, 0, "a worker that retires is not counted: {stats:?}");
    assert!(stats.workers <= 2, "{stats:?}");
    pool.shutdown(true, false);
    assert_eq!(pool.stats().workers, 0);
}

fn failing_initializer() {
    panic!("this initializer fails on purpose");
}

fn a_broken_pool_adds_up() {
    let pool =
        ProcessPoolExecutor::builder().max_workers(2).initializer(failing_initializer).build().unwrap();
    let futures: Vec<_> = (0..30).map(|x| pool.submit(square, x)).collect();
    let mut seen = Outcomes::default();
    for future in futures {
        let outcome = future.result();
        assert!(matches!(outcome, Err(TaskError::BrokenPool(_))), "{outcome:?}");
        seen.add(&outcome);
    }
    seen.add(&pool.submit(square, 1).result());
    assert_eq!(seen.failed, 31);
    // Tasks a slot held when the pool broke are counted once, by the pool's queue.
    let stats = assert_settles(&pool, &seen);
    assert_eq!(stats.workers_replaced, 0, "{stats:?}");
    pool.shutdown(true, false);
    assert_eq!(pool.stats().workers, 0);
}

fn concurrent_submitters_add_up() {
    let pool = ProcessPoolExecutor::new(3);
    let per_thread = 400;
    let seen: Vec<Outcomes> = std::thread::scope(|scope| {
        let submitters: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = &pool;
                scope.spawn(move || {
                    let futures: Vec<_> =
                        (0..per_thread).map(|i| pool.submit(square_or_panic, t * per_thread + i)).collect();
                    let mut seen = Outcomes::default();
                    for future in futures {
                        seen.add(&future.result());
                    }
                    seen
                })
            })
            .collect();
        submitters.into_iter().map(|s| s.join().expect("a submitter panicked")).collect()
    });
    let total = seen.iter().fold(Outcomes::default(), |mut all, one| {
        all.completed += one.completed;
        all.failed += one.failed;
        all.cancelled += one.cancelled;
        all
    });
    assert_eq!(total.total(), 4 * per_thread);
    let stats = pool.stats();
    assert!(settled(&stats, &total), "{stats:?} after {total:?}");
    pool.shutdown(true, false);
    assert_eq!(pool.stats().workers, 0);
}

/// Marks `key` in `map` as started, then runs until `map` holds the key `u32::MAX` (the
/// release) or a long bound passes; true if it was released.
fn held((map, key): (SharedMap<u32, u32>, u32)) -> bool {
    map.insert(key, 1);
    eventually(4 * PATIENCE, || map.contains_key(&u32::MAX))
}

const RELEASE: u32 = u32::MAX;

fn busy_and_queued_while_tasks_are_held() {
    let pool = ProcessPoolExecutor::new(2);
    let map: SharedMap<u32, u32> = SharedMap::new();
    let futures: Vec<_> = (0..5).map(|key| pool.submit(held, (map.clone(), key))).collect();
    let started = || (0..5).filter(|key| map.contains_key(key)).count();
    assert!(eventually(PATIENCE, || started() == 2), "two held tasks never ran together");
    // Two run; the other three wait, whether in the pool's queue or lined up inside a worker
    // behind a running one (which has not started them).
    let mut last = pool.stats();
    let seen = eventually(PATIENCE, || {
        last = pool.stats();
        (last.busy, last.queued, last.workers) == (2, 3, 2)
    });
    assert!(seen, "busy 2, queued 3, workers 2 while two tasks are held: {last:?}");
    assert_eq!((last.completed, last.failed, last.cancelled), (0, 0, 0));
    assert_eq!(started(), 2, "nothing else started meanwhile");
    map.insert(RELEASE, 1);
    for future in futures {
        assert_eq!(future.result(), Ok(true));
    }
    assert_settles(&pool, &Outcomes { completed: 5, failed: 0, cancelled: 0 });
    pool.shutdown(true, false);
    assert_eq!(pool.stats().workers, 0);
}

/// Marks `key` as started, then blocks (until killed, or a long bound).
fn block((map, key): (SharedMap<u32, u32>, u32)) -> u32 {
    map.insert(key, 1);
    std::thread::sleep(4 * PATIENCE);
    key
}

/// A short task that panics, or ends its worker, for some `x`.
fn quick(x: u64) -> u64 {
    match x % 50 {
        7 => panic!("quick task {x} fails on purpose"),
        13 => std::process::exit(3),
        _ => x + 1,
    }
}

/// True for the outcomes that end a worker on a pool with a task timeout: the task exited its
/// worker, or overran the timeout.
fn ends_its_worker<T>(outcome: &Result<T, TaskError>) -> bool {
    match outcome {
        Err(TaskError::WorkerDied(_)) => true,
        Err(TaskError::Killed(why)) => why.contains("timeout"),
        _ => false,
    }
}

fn a_kill_storm_adds_up() {
    common::deadline(Duration::from_secs(180));
    // A timeout that only the blocking tasks overrun, whatever the machine's load.
    let timeout = Duration::from_secs(5);
    let pool = ProcessPoolExecutor::builder().max_workers(3).task_timeout(timeout).build().unwrap();
    let map: SharedMap<u32, u32> = SharedMap::new();
    let started = |key: u32| map.contains_key(&key);
    // Victims 0..4 are killed while they run; overrunners 100..102 run past the timeout.
    let victims: Vec<_> = (0..4).map(|key| pool.submit(block, (map.clone(), key))).collect();
    let overrunners: Vec<_> = (100..102).map(|key| pool.submit(block, (map.clone(), key))).collect();
    let blockers = || (0..4).chain(100..102).filter(|&key| started(key)).count();
    assert!(eventually(PATIENCE, || blockers() == 3), "three blocking tasks never ran together");
    common::step("every worker is blocked: quick tasks queue up, and some are cancelled");
    let quick_tasks: Vec<_> = (0..300).map(|x| pool.submit(quick, x)).collect();
    let cancelled = quick_tasks.iter().step_by(3).filter(|f| f.cancel()).count();
    assert!(cancelled > 0, "some queued task could be cancelled");
    let mut seen = Outcomes::default();
    common::step("the victims are killed as each starts");
    for (key, victim) in (0..).zip(&victims) {
        assert!(eventually(PATIENCE, || started(key)), "victim {key} never started");
        // Killed now, or (on a machine slow enough) by the task timeout already: either way
        // its worker ends.
        victim.kill();
    }
    // Every victim ends its worker; so does every other task that overran the timeout or
    // exited.
    let mut deaths = 4;
    common::step("a map with failing items, as the storm goes on");
    for outcome in pool.map(square_or_panic, 0..60).chunksize(4) {
        deaths += u64::from(ends_its_worker(&outcome));
        seen.add(&outcome);
    }
    common::step("every future ends");
    for victim in victims {
        let outcome = victim.result();
        assert!(matches!(outcome, Err(TaskError::Killed(_))), "{outcome:?}");
        seen.add(&outcome);
    }
    for overrunner in overrunners {
        let outcome = overrunner.result();
        assert!(ends_its_worker(&outcome), "{outcome:?}");
        deaths += 1;
        seen.add(&outcome);
    }
    for (x, future) in (0u64..).zip(quick_tasks) {
        let outcome = future.result();
        if x % 50 == 13 && !matches!(outcome, Err(TaskError::Cancelled)) {
            assert!(matches!(outcome, Err(TaskError::WorkerDied(_))), "task {x}: {outcome:?}");
        }
        deaths += u64::from(ends_its_worker(&outcome));
        seen.add(&outcome);
    }
    assert_eq!(seen.cancelled, cancelled as u64);
    assert_eq!(seen.total(), 4 + 2 + 300 + 60);
    common::step("the counts settle");
    let stats = assert_settles(&pool, &seen);
    assert!(stats.workers <= 3, "{stats:?}");
    // The pool, still open, replaces every worker that ended.
    let replaced = deaths;
    assert!(replaced > 4 + 2, "victims, overrunners and at least one exit: {replaced}");
    let mut last = pool.stats();
    let counted = eventually(PATIENCE, || {
        last = pool.stats();
        last.workers_replaced == replaced
    });
    assert!(counted, "{replaced} workers died and were replaced: {last:?}");
    pool.shutdown(true, false);
    let after = pool.stats();
    assert_eq!(after.workers, 0, "{after:?}");
    assert!(settled(&after, &seen), "{after:?}");
    assert_eq!(after.workers_replaced, replaced);
}

fn kill_workers_adds_up() {
    let pool = ProcessPoolExecutor::new(2);
    let map: SharedMap<u32, u32> = SharedMap::new();
    let blocked: Vec<_> = (0..2).map(|key| pool.submit(block, (map.clone(), key))).collect();
    assert!(eventually(PATIENCE, || (0..2).all(|key| map.contains_key(&key))), "the blockers never ran");
    let queued: Vec<_> = (0..50).map(|x| pool.submit(square, x)).collect();
    pool.kill_workers();
    let mut seen = Outcomes::default();
    for future in blocked {
        let outcome = future.result();
        assert!(matches!(outcome, Err(TaskError::Killed(_))), "{outcome:?}");
        seen.add(&outcome);
    }
    for future in queued {
        seen.add(&future.result());
    }
    assert_eq!(seen.total(), 52);
    // `kill_workers` returns once every worker is reaped and every slot has ended.
    let stats = pool.stats();
    assert!(settled(&stats, &seen), "{stats:?} after {seen:?}");
    assert_eq!((stats.workers, stats.workers_replaced), (0, 0), "{stats:?}");
}

fn shutdown_cancel_futures_adds_up() {
    let pool = ProcessPoolExecutor::new(1);
    let map: SharedMap<u32, u32> = SharedMap::new();
    let first = pool.submit(held, (map.clone(), 0));
    let rest: Vec<_> = (1..40).map(|key| pool.submit(held, (map.clone(), key))).collect();
    assert!(eventually(PATIENCE, || map.contains_key(&0)), "the first task never ran");
    std::thread::scope(|scope| {
        let shutdown = scope.spawn(|| pool.shutdown(true, true));
        // What waits in the pool's queue is cancelled at once; the running task (and what is
        // lined up behind it in its worker) is waited for.
        let cancelled = || rest.iter().filter(|f| f.is_cancelled()).count();
        assert!(eventually(PATIENCE, || cancelled() > 0), "shutdown(cancel_futures) cancelled nothing");
        map.insert(RELEASE, 1);
        shutdown.join().expect("shutdown panicked");
    });
    let mut seen = Outcomes::default();
    seen.add(&first.result());
    for future in rest {
        seen.add(&future.result());
    }
    assert!(seen.cancelled > 0 && seen.completed > 0, "{seen:?}");
    assert_eq!(seen.total(), 40);
    let stats = pool.stats();
    assert!(settled(&stats, &seen), "{stats:?} after {seen:?}");
    assert_eq!(stats.workers, 0, "{stats:?}");
}

/// `max_queued(2)` on one worker held busy: two more tasks wait (in the pool's queue or lined
/// up inside the worker, which has not started them), and a third submit waits for room until
/// the held task ends.
fn max_queued_waits_for_room() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let pool = Arc::new(ProcessPoolExecutor::builder().max_workers(1).max_queued(2).build().unwrap());
    let map: SharedMap<u32, u32> = SharedMap::new();
    let first = pool.submit(held, (map.clone(), 0));
    assert!(eventually(PATIENCE, || map.contains_key(&0)), "the held task never started");
    let waiting: Vec<_> = (1..3).map(|x| pool.submit(square, x)).collect();
    let returned = Arc::new(AtomicBool::new(false));
    let submitter = {
        let (pool, returned) = (Arc::clone(&pool), Arc::clone(&returned));
        std::thread::spawn(move || {
            let future = pool.submit(square, 3);
            returned.store(true, Ordering::SeqCst);
            future
        })
    };
    // A submit that went over the limit would return at once: give it the chance.
    assert!(
        !eventually(Duration::from_millis(300), || returned.load(Ordering::SeqCst)),
        "the submit did not wait"
    );
    assert_eq!(pool.stats().queued, 2);
    map.insert(RELEASE, 1);
    assert_eq!(first.result(), Ok(true));
    assert_eq!(submitter.join().unwrap().result(), Ok(9));
    for (x, future) in (1..3).zip(waiting) {
        assert_eq!(future.result(), Ok(x * x));
    }
    assert_settles(&pool, &Outcomes { completed: 4, failed: 0, cancelled: 0 });
}
