//! Many threads, many tasks, and the races between running, cancelling and waiting.

use concurrent_futures::{Executor, ReturnWhen, ThreadPoolExecutor, as_completed, wait};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn two_hundred_thousand_tiny_tasks_from_eight_threads_lose_nothing() {
    let pool = Arc::new(ThreadPoolExecutor::new(8));
    let submitters: Vec<_> = (0..8u64)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let futures: Vec<_> =
                    (0..25_000u64).map(|i| pool.submit(|x: u64| x, t * 25_000 + i)).collect();
                futures.into_iter().map(|f| f.result().unwrap()).sum::<u64>()
            })
        })
        .collect();
    let total: u64 = submitters.into_iter().map(|s| s.join().unwrap()).sum();
    let n = 200_000u64;
    assert_eq!(total, n * (n - 1) / 2);
}

#[test]
fn cancel_racing_the_worker_has_exactly_one_winner() {
    let pool = ThreadPoolExecutor::new(4);
    for _ in 0..200 {
        let ran = Arc::new(AtomicUsize::new(0));
        let futures: Vec<_> = (0..100)
            .map(|_| {
                let ran = Arc::clone(&ran);
                pool.spawn(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let cancelled = futures.iter().filter(|f| f.cancel()).count();
        let mut ok = 0;
        for f in futures {
            match f.result() {
                Ok(()) => ok += 1,
                Err(e) => assert_eq!(e, concurrent_futures::TaskError::Cancelled),
            }
        }
        assert_eq!(ok + cancelled, 100);
        // A task that ran finished Ok (and counted itself first); a cancelled one never runs.
        assert_eq!(ran.load(Ordering::SeqCst), ok);
    }
}

#[test]
fn callbacks_added_while_tasks_complete_run_exactly_once() {
    let pool = ThreadPoolExecutor::new(4);
    let count = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..20_000u32).map(|i| pool.submit(|x: u32| x, i)).collect();
    for f in &futures {
        let count = Arc::clone(&count);
        f.add_done_callback(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        });
    }
    let result = wait(futures, None, ReturnWhen::AllCompleted);
    assert_eq!(result.done.len(), 20_000);
    assert_eq!(count.load(Ordering::SeqCst), 20_000);
}

#[test]
fn many_waiters_on_many_pools_at_once() {
    let pools: Vec<_> = (0..4).map(|_| Arc::new(ThreadPoolExecutor::new(3))).collect();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let pools = pools.clone();
            std::thread::spawn(move || {
                for round in 0..50u64 {
                    let futures: Vec<_> = (0..40u64)
                        .map(|i| pools[((t + i) % 4) as usize].submit(|x: u64| x, round + i))
                        .collect();
                    let sum: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
                    assert_eq!(sum, 40 * round + 780);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn pools_created_and_dropped_in_a_loop() {
    for i in 0..200u64 {
        let pool = ThreadPoolExecutor::new(4);
        let futures: Vec<_> = (0..20u64).map(|x| pool.submit(|x: u64| x + 1, x + i)).collect();
        drop(pool);
        let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, 20 * i + 210);
    }
}

/// Keeps the deliberate panics of threads named `prefix…` out of the test output; other panics
/// are reported as before.
fn quiet_panics_on_threads_named(prefix: &'static str) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !std::thread::current().name().is_some_and(|name| name.starts_with(prefix)) {
            previous(info);
        }
    }));
}

#[test]
fn submits_racing_a_pool_that_breaks_all_complete() {
    use concurrent_futures::TaskError;
    use std::sync::Barrier;
    use std::time::Duration;
    quiet_panics_on_threads_named("breaking-pool");
    for round in 0..20_000 {
        let gate = Arc::new(Barrier::new(3));
        let initializer_gate = Arc::clone(&gate);
        let pool = Arc::new(
            ThreadPoolExecutor::builder()
                .max_workers(1)
                .thread_name_prefix("breaking-pool")
                .initializer(move || {
                    initializer_gate.wait();
                    panic!("initializer fails on purpose");
                })
                .build()
                .unwrap(),
        );
        // The first submit starts the worker, whose initializer waits at the gate.
        let first = pool.submit(|x: u32| x, 0);
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                let gate = Arc::clone(&gate);
                std::thread::spawn(move || {
                    gate.wait();
                    (0..50).map(|i| pool.submit(|x: u32| x, i)).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut futures = vec![first];
        for submitter in submitters {
            futures.extend(submitter.join().unwrap());
        }
        for future in futures {
            assert!(future.wait_timeout(Duration::from_secs(30)), "round {round}: a future never completed");
            assert!(matches!(future.result(), Err(TaskError::BrokenPool(_))), "round {round}");
        }
    }
}
