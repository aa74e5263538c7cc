//! `stop_requested()` and what sets it, as a user calls them: a thread task cannot be stopped by
//! force, but once its future is killed (`kill`, a dropped `kill_on_drop`, its map's timeout)
//! it can see that it should stop. Each check has its own deadline: a task that never sees the
//! request would hang its check, not the suite.

mod common;

use common::{Check, PATIENCE, eventually};
use concurrent_futures::{Executor, TaskError, ThreadPoolExecutor, stop_requested};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

fn main() {
    let checks: &[Check] = &[
        ("a_killed_thread_task_sees_the_request_and_returns_its_value", killed_task_returns_early),
        ("no_request_outside_tasks_or_in_tasks_nobody_killed", no_request_elsewhere),
        ("dropping_a_kill_on_drop_future_asks_its_task_to_stop", kill_on_drop_asks),
        ("a_map_timeout_asks_its_running_items_to_stop", map_timeout_asks_items),
    ];
    common::run_checks(checks);
}

/// Spins until asked to stop (or until the patience runs out, which fails the check); says
/// whether it was asked.
fn until_asked() -> bool {
    let give_up = Instant::now() + PATIENCE;
    while !stop_requested() {
        if Instant::now() > give_up {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

fn killed_task_returns_early() {
    for workers in [1, 3] {
        let pool = ThreadPoolExecutor::new(workers);
        let (started_tx, started) = channel();
        let task = pool.spawn(move || {
            started_tx.send(()).unwrap();
            until_asked()
        });
        started.recv_timeout(PATIENCE).unwrap();
        assert!(!task.is_done());
        assert!(!task.kill(), "a running thread task is not stopped by force");
        assert!(!task.kill(), "asking twice changes nothing");
        assert_eq!(task.result(), Ok(true), "the task saw the request and returned its value");
        // The thread goes on with other tasks, which were not asked to stop.
        assert_eq!(pool.spawn(stop_requested).result(), Ok(false));
    }
}

fn no_request_elsewhere() {
    assert!(!stop_requested());
    let pool = ThreadPoolExecutor::new(2);
    let results: Vec<_> = pool.map(|_: u8| stop_requested(), 0..50).collect();
    assert!(results.iter().all(|r| *r == Ok(false)), "{results:?}");
    // A task killed while pending is cancelled, and never runs.
    let one = ThreadPoolExecutor::new(1);
    let gate = common::Blocker::spawn(&one);
    gate.wait_started();
    let pending = one.spawn(stop_requested);
    assert!(pending.kill());
    assert_eq!(pending.result(), Err(TaskError::Cancelled));
    gate.release().result().unwrap();
    assert!(!stop_requested());
}

fn kill_on_drop_asks() {
    let pool = ThreadPoolExecutor::new(1);
    let saw = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = channel();
    let seen = Arc::clone(&saw);
    let task = pool.spawn(move || {
        started_tx.send(()).unwrap();
        if until_asked() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    started.recv_timeout(PATIENCE).unwrap();
    // An `.await` that a request's deadline dropped.
    drop(task.kill_on_drop());
    assert!(eventually(PATIENCE, || saw.load(Ordering::SeqCst) == 1), "the task never saw the request");
    // The pool's thread is free again.
    assert_eq!(pool.spawn(|| 7).result(), Ok(7));
}

fn map_timeout_asks_items() {
    for (workers, chunksize) in [(1, 1), (2, 1), (2, 3)] {
        let pool = ThreadPoolExecutor::new(workers);
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked);
        let results: Vec<_> = pool
            .map(
                move |_: u32| {
                    if until_asked() {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                },
                0..10,
            )
            .chunksize(chunksize)
            .timeout(Duration::from_millis(50))
            .collect();
        assert_eq!(results, [Err(TaskError::Timeout)], "{workers} workers, chunksize {chunksize}");
        // The chunks that were running saw the request and returned: the pool is free, and
        // its shutdown does not wait for the patience to run out.
        pool.shutdown(true, false);
        let asked = asked.load(Ordering::SeqCst);
        assert!((1..=workers * chunksize).contains(&asked), "{asked} items saw the request");
    }
}
