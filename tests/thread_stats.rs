//! `stats()` on a thread pool, as a user polls it: every submit, spawn and map item counts one
//! task, and the counts add up whatever becomes of the tasks. Each check has its own deadline
//! (a `harness = false` runner): a hang fails its check.

mod common;

use common::{Blocker, Check, eventually, step};
use concurrent_futures::BuildError;
use concurrent_futures::{Executor, PoolStats, TaskError, ThreadPoolExecutor};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::Duration;

fn main() {
    let checks: &[Check] = &[
        ("submits_spawns_maps_and_scopes_add_up_failures_included", everything_adds_up),
        ("busy_and_queued_while_tasks_are_held", busy_and_queued_while_held),
        ("cancelled_and_refused_tasks_are_counted", cancelled_and_refused),
        ("concurrent_submitters_add_up", concurrent_submitters),
        ("workers_follow_the_threads_alive", workers_follow_threads),
        ("stats_through_a_shared_pool_are_the_pools", stats_through_pointers),
        ("max_queued_makes_a_submit_wait_for_room", max_queued_waits_for_room),
        ("a_submit_waiting_for_room_returns_when_the_pool_shuts_down", waiting_submit_and_shutdown),
        ("max_queued_zero_is_a_build_error", max_queued_zero),
    ];
    common::run_checks(checks);
}

fn fails_on_multiples_of_10(x: u32) -> u32 {
    if x % 10 == 0 {
        panic!("item {x} fails on purpose");
    }
    x
}

/// The counts of a pool whose every task has ended: nothing waits or runs.
fn settled(pool: &ThreadPoolExecutor) -> PoolStats {
    let stats = pool.stats();
    assert_eq!((stats.queued, stats.busy), (0, 0), "every task has ended: {stats:?}");
    stats
}

fn everything_adds_up() {
    for workers in [1, 3] {
        step(format!("{workers} workers"));
        let pool = ThreadPoolExecutor::new(workers);
        let submitted: Vec<_> = (0..20).map(|i| pool.submit(fails_on_multiples_of_10, i)).collect();
        let spawned: Vec<_> = (0..5).map(|i| pool.spawn(move || i)).collect();
        for chunksize in [1, 7, 100] {
            let results: Vec<_> = pool.map(fails_on_multiples_of_10, 0..100).chunksize(chunksize).collect();
            assert_eq!(results.iter().filter(|r| r.is_err()).count(), 10);
        }
        let words = vec!["a".to_string(), "bb".to_string()];
        let scoped: usize = pool.scope(|s| {
            let lengths: usize = s.map(|w: &String| w.len(), &words).map(Result::unwrap).sum();
            lengths + s.spawn(|| words.len()).result().unwrap()
        });
        assert_eq!(scoped, 5);
        assert_eq!(
            submitted.into_iter().filter(|f| f.wait_timeout(common::PATIENCE) && f.is_done()).count(),
            20
        );
        for future in spawned {
            future.result().unwrap();
        }
        let stats = settled(&pool);
        // 20 submits (2 fail), 5 spawns, 3 maps of 100 (10 fail each), 2 scoped items and 1
        // scoped spawn.
        assert_eq!(stats.completed, 18 + 5 + 3 * 90 + 3, "{stats:?}");
        assert_eq!((stats.failed, stats.cancelled, stats.workers_replaced), (2 + 30, 0, 0), "{stats:?}");
        assert_eq!(stats.max_workers, workers);
        assert!((1..=workers).contains(&stats.workers), "{stats:?}");
    }
}

fn busy_and_queued_while_held() {
    for (workers, extra) in [(1, 3), (2, 5)] {
        step(format!("{workers} workers, {extra} queued"));
        let pool = ThreadPoolExecutor::new(workers);
        let blockers: Vec<_> = (0..workers).map(|_| Blocker::spawn(&pool)).collect();
        for blocker in &blockers {
            blocker.wait_started();
        }
        let queued: Vec<_> = (0..extra).map(|i| pool.spawn(move || i)).collect();
        let stats = pool.stats();
        assert_eq!((stats.busy, stats.queued, stats.workers), (workers, extra, workers), "{stats:?}");
        for blocker in blockers {
            blocker.release().result().unwrap();
        }
        for future in queued {
            future.result().unwrap();
        }
        assert_eq!(settled(&pool).completed, (workers + extra) as u64);
    }
}

fn cancelled_and_refused() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let queued: Vec<_> = (0..4).map(|i| pool.spawn(move || i)).collect();
    assert!(queued[0].cancel() && queued[1].cancel());
    // The two left are cancelled by the shutdown; a submit after it is refused.
    pool.shutdown(false, true);
    let refused = pool.spawn(|| 0);
    assert_eq!(refused.result(), Err(TaskError::Shutdown));
    blocker.release().result().unwrap();
    for future in queued {
        assert_eq!(future.result(), Err(TaskError::Cancelled));
    }
    pool.shutdown(true, false);
    let stats = settled(&pool);
    assert_eq!((stats.completed, stats.failed, stats.cancelled), (1, 1, 4), "{stats:?}");
}

fn concurrent_submitters() {
    let pool = Arc::new(ThreadPoolExecutor::new(4));
    let per_thread = 2_000u32;
    let submitters: Vec<_> = (0..4)
        .map(|_| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let futures: Vec<_> =
                    (0..per_thread).map(|i| pool.submit(fails_on_multiples_of_10, i)).collect();
                let mapped = pool.map(fails_on_multiples_of_10, 0..per_thread).chunksize(64).count();
                futures.into_iter().map(|f| f.result().is_ok()).filter(|ok| *ok).count() + mapped
            })
        })
        .collect();
    for submitter in submitters {
        assert_eq!(submitter.join().unwrap(), 1_800 + 2_000);
    }
    let stats = settled(&pool);
    assert_eq!(stats.completed + stats.failed, 4 * 2 * u64::from(per_thread), "{stats:?}");
    assert_eq!(stats.failed, 4 * 2 * 200, "{stats:?}");
}

fn workers_follow_threads() {
    let pool = ThreadPoolExecutor::new(3);
    assert_eq!(pool.stats().workers, 0, "threads start lazily");
    let blockers: Vec<_> = (0..3).map(|_| Blocker::spawn(&pool)).collect();
    for blocker in &blockers {
        blocker.wait_started();
    }
    assert_eq!(pool.stats().workers, 3);
    for blocker in blockers {
        blocker.release().result().unwrap();
    }
    pool.shutdown(true, false);
    assert!(eventually(Duration::from_secs(10), || pool.stats().workers == 0), "{:?}", pool.stats());
}

fn stats_through_pointers() {
    fn through<E: Executor>(executor: E) -> PoolStats {
        executor.map(|x: u8| x, 0..10).for_each(drop);
        executor.stats()
    }
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    assert_eq!(through(&*pool).completed, 10);
    assert_eq!(through(Arc::clone(&pool)).completed, 20);
}

/// A pool of `workers` held busy, with `cap` tasks queued behind them: the queue is full.
fn full_pool(
    workers: usize,
    cap: usize,
) -> (Arc<ThreadPoolExecutor>, Vec<Blocker>, Vec<concurrent_futures::Future<usize>>) {
    let pool = Arc::new(ThreadPoolExecutor::builder().max_workers(workers).max_queued(cap).build().unwrap());
    let blockers: Vec<_> = (0..workers).map(|_| Blocker::spawn(&pool)).collect();
    for blocker in &blockers {
        blocker.wait_started();
    }
    let queued: Vec<_> = (0..cap).map(|i| pool.spawn(move || i)).collect();
    assert_eq!(pool.stats().queued, cap);
    (pool, blockers, queued)
}

/// Submits one more task on a thread of its own; the flag turns true when the submit returns.
fn submit_aside(
    pool: &Arc<ThreadPoolExecutor>,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<concurrent_futures::Future<usize>>) {
    let returned = Arc::new(AtomicBool::new(false));
    let (about_tx, about) = channel();
    let (pool, flag) = (Arc::clone(pool), Arc::clone(&returned));
    let submitter = std::thread::spawn(move || {
        about_tx.send(()).unwrap();
        let future = pool.submit(|x: usize| x, 99);
        flag.store(true, Ordering::SeqCst);
        future
    });
    about.recv_timeout(common::PATIENCE).unwrap();
    (returned, submitter)
}

fn max_queued_waits_for_room() {
    for (workers, cap) in [(1, 1), (2, 3)] {
        step(format!("{workers} workers, max_queued({cap})"));
        let (pool, blockers, queued) = full_pool(workers, cap);
        let (returned, submitter) = submit_aside(&pool);
        // A submit that went over the limit would return at once: give it the chance.
        assert!(
            !eventually(Duration::from_millis(200), || returned.load(Ordering::SeqCst)),
            "the submit did not wait"
        );
        assert_eq!(pool.stats().queued, cap, "nothing went over the limit");
        // One task starts (a blocker ends, a queued task takes its thread): room for one.
        let mut blockers = blockers.into_iter();
        blockers.next().unwrap().release().result().unwrap();
        assert_eq!(submitter.join().unwrap().result(), Ok(99));
        assert!(returned.load(Ordering::SeqCst));
        for blocker in blockers {
            blocker.release().result().unwrap();
        }
        for (i, future) in queued.into_iter().enumerate() {
            assert_eq!(future.result(), Ok(i));
        }
        // Many more than the limit, from several threads, all run.
        let sums: Vec<_> = (0..3)
            .map(|_| {
                let pool = Arc::clone(&pool);
                std::thread::spawn(move || {
                    let futures: Vec<_> = (0..300usize).map(|i| pool.submit(|x: usize| x, i)).collect();
                    let mapped: usize =
                        pool.map(|x: usize| x, 0..300usize).chunksize(2).map(Result::unwrap).sum();
                    futures.into_iter().map(|f| f.result().unwrap()).sum::<usize>() + mapped
                })
            })
            .collect();
        for sum in sums {
            assert_eq!(sum.join().unwrap(), 2 * 44_850);
        }
        assert_eq!(settled(&pool).completed, (workers + cap + 1 + 3 * 600) as u64);
    }
}

fn waiting_submit_and_shutdown() {
    let (pool, blockers, queued) = full_pool(1, 2);
    let (_returned, submitter) = submit_aside(&pool);
    pool.shutdown(false, true);
    assert_eq!(submitter.join().unwrap().result(), Err(TaskError::Shutdown));
    for blocker in blockers {
        blocker.release().result().unwrap();
    }
    for future in queued {
        assert_eq!(future.result(), Err(TaskError::Cancelled));
    }
    pool.shutdown(true, false);
    let stats = settled(&pool);
    assert_eq!((stats.completed, stats.failed, stats.cancelled), (1, 1, 2), "{stats:?}");
}

fn max_queued_zero() {
    let built = ThreadPoolExecutor::builder().max_queued(0).build();
    assert_eq!(built.unwrap_err(), BuildError::ZeroMaxQueued);
}
