//! `as_completed` and `wait`: order, timeouts, return conditions, and mixing executors.

mod common;

use common::{Blocker, PATIENCE};
use concurrent_futures::{Future, ReturnWhen, TaskError, ThreadPoolExecutor, as_completed, wait};
use std::sync::mpsc::channel;
use std::time::Duration;

/// A future that finishes with `value` once the returned sender sends.
fn gated<T: Send + 'static>(pool: &ThreadPoolExecutor, value: T) -> (Future<T>, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = channel::<()>();
    let future = pool.spawn(move || {
        let _ = rx.recv_timeout(PATIENCE);
        value
    });
    (future, tx)
}

#[test]
fn as_completed_yields_done_futures_first_in_the_given_order() {
    let pool = ThreadPoolExecutor::new(2);
    let (pending, gate) = gated(&pool, 99);
    let done: Vec<Future<u32>> = (0..5).map(|i| pool.spawn(move || i)).collect();
    for f in &done {
        f.wait();
    }
    let mut it = as_completed(std::iter::once(pending).chain(done));
    let first: Vec<u32> = (0..5).map(|_| it.next().unwrap().result().unwrap()).collect();
    assert_eq!(first, [0, 1, 2, 3, 4]);
    gate.send(()).unwrap();
    assert_eq!(it.next().unwrap().result(), Ok(99));
    assert!(it.next().is_none());
}

#[test]
fn as_completed_follows_completion_order() {
    let pool = ThreadPoolExecutor::new(3);
    let (a, gate_a) = gated(&pool, "a");
    let (b, gate_b) = gated(&pool, "b");
    let mut it = as_completed([a, b]);
    gate_b.send(()).unwrap();
    assert_eq!(it.next().unwrap().result(), Ok("b"));
    gate_a.send(()).unwrap();
    assert_eq!(it.next().unwrap().result(), Ok("a"));
    assert!(it.next().is_none());
}

#[test]
fn as_completed_on_100k_futures_yields_each_once() {
    let pool = ThreadPoolExecutor::new(4);
    let futures: Vec<_> = (0..100_000u64).map(|i| pool.submit(|x: u64| x, i)).collect();
    let it = as_completed(futures);
    assert_eq!(it.len(), 100_000);
    let mut seen = vec![false; 100_000];
    for f in it {
        let i = f.result().unwrap() as usize;
        assert!(!seen[i], "future {i} yielded twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|s| *s));
}

#[test]
fn as_completed_of_nothing_is_empty() {
    assert!(as_completed(Vec::<Future<u8>>::new()).next().is_none());
}

#[test]
fn as_completed_yields_cancelled_and_failed_futures_too() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let cancelled = pool.spawn(|| 1);
    assert!(cancelled.cancel());
    let failed = pool.spawn(|| -> i32 { panic!("x") });
    let mut it = as_completed([cancelled, failed]);
    assert_eq!(it.next().unwrap().result(), Err(TaskError::Cancelled));
    blocker.release();
    assert!(matches!(it.next().unwrap().result(), Err(TaskError::Panicked(_))));
}

#[test]
fn as_completed_timeout_yields_one_timeout_and_keeps_the_rest() {
    let pool = ThreadPoolExecutor::new(2);
    let quick = pool.spawn(|| 1);
    quick.wait();
    let (slow, gate) = gated(&pool, 2);
    let mut it = as_completed([quick, slow]).timeout(Duration::from_millis(30));
    assert_eq!(it.next().unwrap().unwrap().result(), Ok(1));
    assert_eq!(it.next().unwrap().unwrap_err(), TaskError::Timeout);
    assert!(it.next().is_none());
    assert!(it.next().is_none(), "the iterator stays ended");
    let rest = it.into_pending();
    assert_eq!(rest.len(), 1, "the unfinished future is handed back, not dropped");
    gate.send(()).unwrap();
    assert_eq!(rest.into_iter().next().unwrap().result(), Ok(2));
}

#[test]
fn as_completed_timeout_without_timeout_ends_normally() {
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<_> = (0..10).map(|i| pool.spawn(move || i)).collect();
    let results: Vec<_> = as_completed(futures).timeout(PATIENCE).collect();
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn as_completed_into_pending_returns_what_was_not_yielded() {
    let pool = ThreadPoolExecutor::new(2);
    let (a, gate_a) = gated(&pool, 1);
    let (b, gate_b) = gated(&pool, 2);
    let mut it = as_completed([a, b]);
    gate_b.send(()).unwrap();
    assert_eq!(it.next().unwrap().result(), Ok(2));
    let rest = it.into_pending();
    assert_eq!(rest.len(), 1);
    gate_a.send(()).unwrap();
    assert_eq!(rest.into_iter().next().unwrap().result(), Ok(1));
}

#[test]
fn wait_first_completed_returns_as_soon_as_one_is_done() {
    let pool = ThreadPoolExecutor::new(2);
    let (a, gate_a) = gated(&pool, 1);
    let (b, gate_b) = gated(&pool, 2);
    let waiter = std::thread::spawn(move || wait([a, b], None, ReturnWhen::FirstCompleted));
    gate_b.send(()).unwrap();
    let result = waiter.join().unwrap();
    assert_eq!(result.done.len(), 1);
    assert_eq!(result.not_done.len(), 1);
    gate_a.send(()).unwrap();
    assert_eq!(result.done.into_iter().next().unwrap().result(), Ok(2));
}

#[test]
fn wait_all_completed_waits_for_every_future() {
    let pool = ThreadPoolExecutor::new(4);
    let futures: Vec<_> = (0..50u64).map(|i| pool.submit(|x: u64| x * 2, i)).collect();
    let result = wait(futures, None, ReturnWhen::AllCompleted);
    assert_eq!(result.done.len(), 50);
    assert!(result.not_done.is_empty());
    let values: Vec<u64> = result.done.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(values, (0..50).map(|x| x * 2).collect::<Vec<_>>(), "done keeps the given order");
}

#[test]
fn wait_first_error_returns_on_a_failure_but_not_on_a_cancel() {
    let pool = ThreadPoolExecutor::new(2);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let (slow, gate) = gated(&pool, 0);
    let cancelled = pool.spawn(|| 0);
    assert!(cancelled.cancel());
    // Only a cancel so far: FirstError must not return before the timeout.
    let result = wait([slow, cancelled], Some(Duration::from_millis(30)), ReturnWhen::FirstError);
    assert_eq!(result.done.len(), 1);
    assert_eq!(result.not_done.len(), 1);

    blocker.release().result().unwrap();
    let mut futures = result.not_done;
    futures.push(pool.spawn(|| -> i32 { panic!("first error") }));
    let result = wait(futures, Some(PATIENCE), ReturnWhen::FirstError);
    assert_eq!(result.done.len(), 1, "returns at the failure while the slow task still runs");
    assert!(matches!(result.done.into_iter().next().unwrap().result(), Err(TaskError::Panicked(_))));
    gate.send(()).unwrap();
}

#[test]
fn wait_first_error_without_errors_is_all_completed() {
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<_> = (0..20).map(|i| pool.spawn(move || i)).collect();
    let result = wait(futures, None, ReturnWhen::FirstError);
    assert_eq!(result.done.len(), 20);
}

#[test]
fn wait_returns_immediately_when_already_satisfied() {
    let pool = ThreadPoolExecutor::new(1);
    let done = pool.spawn(|| 1);
    done.wait();
    let blocker = Blocker::spawn(&pool);
    let other = pool.spawn(|| 2);
    let result = wait([done, other], None, ReturnWhen::FirstCompleted);
    assert!(!result.done.is_empty());
    blocker.release();
}

#[test]
fn wait_timeout_splits_instead_of_failing() {
    let pool = ThreadPoolExecutor::new(2);
    let quick = pool.spawn(|| 1);
    quick.wait();
    let (slow, gate) = gated(&pool, 2);
    let result = wait([quick, slow], Some(Duration::from_millis(20)), ReturnWhen::AllCompleted);
    assert_eq!(result.done.len(), 1);
    assert_eq!(result.not_done.len(), 1);
    gate.send(()).unwrap();
}

#[test]
fn wait_on_nothing_returns_empty() {
    let result = wait(Vec::<Future<()>>::new(), None, ReturnWhen::AllCompleted);
    assert!(result.done.is_empty() && result.not_done.is_empty());
}

#[test]
fn futures_from_different_executors_mix() {
    let small = ThreadPoolExecutor::new(1);
    let big = ThreadPoolExecutor::builder().max_workers(3).thread_name_prefix("big").build().unwrap();
    let mut futures: Vec<Future<u32>> = (0..10).map(|i| small.submit(|x: u32| x, i)).collect();
    futures.extend((10..20).map(|i| big.submit(|x: u32| x, i)));
    let total: u32 = as_completed(futures).map(|f| f.result().unwrap()).sum();
    assert_eq!(total, (0..20).sum());

    let a = small.spawn(|| 1);
    let b = big.spawn(|| 2);
    let result = wait([a, b], None, ReturnWhen::AllCompleted);
    assert_eq!(result.done.len(), 2);
}

/// Python's `{executor.submit(load_url, url): url for url in urls}`: each future comes back with
/// its key, a failed one included, and nothing is lost or doubled.
#[test]
fn as_completed_over_pairs_gives_every_key_back_with_its_future() {
    let pool = ThreadPoolExecutor::new(3);
    for count in [0usize, 1, 7, 200] {
        let futures: Vec<(String, Future<usize>)> = (0..count)
            .map(|i| {
                let url = format!("http://host/{i}");
                let future = pool.submit(
                    |(i, url): (usize, String)| {
                        assert!(i % 5 != 3, "no route to {url}");
                        url.len()
                    },
                    (i, url.clone()),
                );
                (url, future)
            })
            .collect();
        let mut seen: Vec<String> = Vec::new();
        for (url, future) in as_completed(futures) {
            let i: usize = url.rsplit('/').next().unwrap().parse().unwrap();
            match future.result() {
                Ok(len) => assert_eq!(len, url.len()),
                Err(TaskError::Panicked(why)) => {
                    assert_eq!(i % 5, 3, "{url}: {why}");
                    assert!(why.contains(&url), "the panic names its own url: {why}");
                }
                Err(other) => panic!("{url}: {other:?}"),
            }
            seen.push(url);
        }
        seen.sort();
        let mut expected: Vec<String> = (0..count).map(|i| format!("http://host/{i}")).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }
}

#[test]
fn as_completed_over_pairs_with_a_timeout_keeps_the_unfinished_pairs() {
    let pool = ThreadPoolExecutor::new(2);
    let (slow, gate) = gated(&pool, 2);
    let quick = pool.spawn(|| 1);
    quick.wait();
    let mut it = as_completed([("quick", quick), ("slow", slow)]).timeout(Duration::from_millis(20));
    let (key, future) = it.next().unwrap().unwrap();
    assert_eq!((key, future.result()), ("quick", Ok(1)));
    assert_eq!(it.next().unwrap().unwrap_err(), TaskError::Timeout);
    assert!(it.next().is_none());
    let mut rest = it.into_pending();
    gate.send(()).unwrap();
    let (key, future) = rest.remove(0);
    assert_eq!((key, future.result()), ("slow", Ok(2)));
}

#[test]
fn wait_over_pairs_splits_the_pairs() {
    let pool = ThreadPoolExecutor::new(2);
    let (blocked, gate) = gated(&pool, 0u8);
    let done = pool.spawn(|| 7u8);
    done.wait();
    let result = wait([(10, blocked), (20, done)], Some(Duration::from_millis(20)), ReturnWhen::AllCompleted);
    let done_keys: Vec<i32> = result.done.iter().map(|(k, _)| *k).collect();
    let not_done_keys: Vec<i32> = result.not_done.iter().map(|(k, _)| *k).collect();
    assert_eq!((done_keys, not_done_keys), (vec![20], vec![10]));
    gate.send(()).unwrap();
    for (key, future) in result.not_done.into_iter().chain(result.done) {
        assert_eq!(future.result().unwrap(), if key == 10 { 0 } else { 7 });
    }
}
