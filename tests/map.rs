//! `Executor::map`: order, chunks, failures in place, bounded in-flight work, timeout, unordered.

mod common;

use common::PATIENCE;
use concurrent_futures::{Executor, TaskError, ThreadPoolExecutor};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn fails_on_multiples_of_7(x: u32) -> u32 {
    if x % 7 == 0 {
        panic!("item {x} failed");
    }
    x * 2
}

#[test]
fn every_chunksize_keeps_order_and_failures_in_place() {
    let pool = ThreadPoolExecutor::new(3);
    let n = 50u32;
    for chunksize in 1..=(n as usize + 1) {
        let results: Vec<_> = pool.map(fails_on_multiples_of_7, 0..n).chunksize(chunksize).collect();
        assert_eq!(results.len(), n as usize, "chunksize {chunksize}");
        for (x, result) in (0..n).zip(&results) {
            if x % 7 == 0 {
                let expected = format!("item {x} failed");
                assert!(
                    matches!(result, Err(TaskError::Panicked(m)) if *m == expected),
                    "chunksize {chunksize}, item {x}: {result:?}"
                );
            } else {
                assert_eq!(*result, Ok(x * 2), "chunksize {chunksize}, item {x}");
            }
        }
    }
}

#[test]
fn empty_input_gives_empty_output() {
    let pool = ThreadPoolExecutor::new(2);
    assert_eq!(pool.map(|x: u8| x, Vec::new()).count(), 0);
}

#[test]
fn nothing_runs_before_the_first_next() {
    static RAN: AtomicUsize = AtomicUsize::new(0);
    let pool = ThreadPoolExecutor::new(2);
    let mut map = pool.map(
        |x: u32| {
            RAN.fetch_add(1, Ordering::SeqCst);
            x
        },
        0..10,
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(RAN.load(Ordering::SeqCst), 0, "map is lazy");
    assert_eq!(map.next(), Some(Ok(0)));
}

#[test]
fn buffered_bounds_what_is_read_from_an_endless_input() {
    static READ: AtomicUsize = AtomicUsize::new(0);
    let pool = ThreadPoolExecutor::new(2);
    let endless = (0u64..).inspect(|_| {
        READ.fetch_add(1, Ordering::SeqCst);
    });
    let first: Vec<u64> =
        pool.map(|x: u64| x + 1, endless).chunksize(5).buffered(3).take(12).map(Result::unwrap).collect();
    assert_eq!(first, (1..=12).collect::<Vec<_>>());
    // 12 items consumed; at most 3 chunks of 5 beyond the current one were ever read ahead.
    assert!(READ.load(Ordering::SeqCst) <= 12 + 4 * 5, "read {}", READ.load(Ordering::SeqCst));
}

#[test]
fn default_window_also_bounds_an_endless_input() {
    static READ: AtomicUsize = AtomicUsize::new(0);
    let pool = ThreadPoolExecutor::new(2);
    let endless = (0u64..).inspect(|_| {
        READ.fetch_add(1, Ordering::SeqCst);
    });
    let total: u64 = pool.map(|x: u64| x, endless).take(1000).map(Result::unwrap).sum();
    assert_eq!(total, 499_500);
    assert!(READ.load(Ordering::SeqCst) < 1100, "read {}", READ.load(Ordering::SeqCst));
}

#[test]
fn timeout_yields_one_error_then_ends_and_cancels_the_rest() {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let pool = ThreadPoolExecutor::new(1);
    let slow = |ms: u64| {
        STARTED.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(ms));
        ms
    };
    let results: Vec<_> = pool.map(slow, [0, 400, 0, 0, 0, 0]).timeout(Duration::from_millis(100)).collect();
    assert_eq!(results, [Ok(0), Err(TaskError::Timeout)]);
    pool.shutdown(true, false);
    assert_eq!(STARTED.load(Ordering::SeqCst), 2, "the chunks behind the timeout were cancelled");
}

#[test]
fn unordered_yields_every_item_once() {
    let pool = ThreadPoolExecutor::new(4);
    let mut results: Vec<u32> =
        pool.map(|x: u32| x, 0..1000).chunksize(7).unordered().map(Result::unwrap).collect();
    results.sort_unstable();
    assert_eq!(results, (0..1000).collect::<Vec<_>>());
}

#[test]
fn unordered_yields_in_completion_order() {
    let pool = ThreadPoolExecutor::new(2);
    let nap = |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    };
    let first = pool.map(nap, [300, 0]).unordered().next();
    assert_eq!(first, Some(Ok(0)));
}

#[test]
fn unordered_keeps_failures() {
    let pool = ThreadPoolExecutor::new(2);
    let results: Vec<_> = pool.map(fails_on_multiples_of_7, 0..30).chunksize(4).unordered().collect();
    assert_eq!(results.len(), 30);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
}

#[test]
fn dropping_the_map_cancels_what_has_not_started() {
    static RAN: AtomicUsize = AtomicUsize::new(0);
    let pool = ThreadPoolExecutor::new(1);
    let mut map = pool
        .map(
            |ms: u64| {
                RAN.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(ms));
            },
            [50; 8],
        )
        .buffered(8);
    assert_eq!(map.next(), Some(Ok(())));
    drop(map);
    pool.shutdown(true, false);
    // The first item ran, the second may have started meanwhile; the rest never start.
    assert!(RAN.load(Ordering::SeqCst) <= 3, "ran {}", RAN.load(Ordering::SeqCst));
}

#[test]
#[should_panic(expected = "chunksize must be at least 1")]
fn chunksize_zero_panics_clearly() {
    let pool = ThreadPoolExecutor::new(1);
    let _ = pool.map(|x: u8| x, [1]).chunksize(0);
}

#[test]
#[should_panic(expected = "buffered must be at least 1")]
fn buffered_zero_panics_clearly() {
    let pool = ThreadPoolExecutor::new(1);
    let _ = pool.map(|x: u8| x, [1]).buffered(0);
}

#[test]
fn map_after_shutdown_yields_shutdown_for_every_item() {
    let pool = ThreadPoolExecutor::new(1);
    pool.shutdown(true, false);
    let results: Vec<_> = pool.map(|x: u8| x, 0..5).chunksize(2).collect();
    assert_eq!(results, vec![Err(TaskError::Shutdown); 5]);
}

#[test]
fn map_works_through_a_generic_executor() {
    fn lengths<E: Executor>(e: &E, words: Vec<String>) -> Vec<usize> {
        e.map(|w: String| w.len(), words).map(Result::unwrap).collect()
    }
    let pool = ThreadPoolExecutor::new(2);
    assert_eq!(lengths(&pool, vec!["a".into(), "bcd".into()]), [1, 3]);
}

#[test]
fn sum_and_collect_agree_on_a_large_map() {
    let pool = ThreadPoolExecutor::new(2);
    let n = 200_000u64;
    let sum: u64 = pool.map(|x: u64| x * 3, 0..n).chunksize(1024).map(|r| r.unwrap()).sum();
    let collected: Vec<u64> =
        pool.map(|x: u64| x * 3, 0..n).chunksize(1000).collect::<Result<_, _>>().unwrap();
    assert_eq!(sum, 3 * n * (n - 1) / 2);
    assert_eq!(collected.iter().sum::<u64>(), sum);
    assert!(collected.windows(2).all(|w| w[0] < w[1]), "in input order");
}

#[test]
fn size_hint_is_a_true_lower_bound() {
    let pool = ThreadPoolExecutor::new(2);
    let mut map = pool.map(|x: u32| x, 0..100).chunksize(8);
    let mut left = 100;
    loop {
        let (low, high) = map.size_hint();
        assert!(low <= left, "lower bound {low} > {left} left");
        assert!(high.is_none_or(|h| h >= left));
        if map.next().is_none() {
            break;
        }
        left -= 1;
    }
    assert_eq!(left, 0);
    let _ = PATIENCE;
}

#[test]
fn with_an_initializer_every_item_runs_on_a_pool_thread() {
    use std::cell::Cell;
    thread_local! {
        static SET_UP: Cell<bool> = const { Cell::new(false) };
    }
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| SET_UP.with(|s| s.set(true)))
        .build()
        .unwrap();
    let all_set_up = pool
        .map(|x: u64| SET_UP.with(Cell::get).then_some(x), 0..20_000)
        .chunksize(16)
        .all(|r| r.is_ok_and(|v| v.is_some()));
    assert!(all_set_up, "an item ran on a thread the initializer never ran on");
}

/// What CPython's semantics promise: never more threads than `max_workers`, each item on a
/// pool thread (named after the pool), never on the thread that consumes the map.
fn items_run_on_pool_threads_only<M>(max_workers: usize, chunksize: usize, map: M)
where
    M: FnOnce(&ThreadPoolExecutor, Arc<dyn Fn(u64) -> u64 + Send + Sync>) -> Vec<u64>,
{
    let pool =
        ThreadPoolExecutor::builder().max_workers(max_workers).thread_name_prefix("mapper").build().unwrap();
    let consumer = std::thread::current().id();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let outside = Arc::new(AtomicUsize::new(0));
    let (r, m, o) = (Arc::clone(&running), Arc::clone(&most), Arc::clone(&outside));
    let item = move |x: u64| {
        let now = r.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(now, Ordering::SeqCst);
        let me = std::thread::current();
        if me.id() == consumer || !me.name().is_some_and(|name| name.starts_with("mapper")) {
            o.fetch_add(1, Ordering::SeqCst);
        }
        // Long enough that the threads overlap, and the consumer has time to run items if it
        // did.
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
        r.fetch_sub(1, Ordering::SeqCst);
        x * 2
    };
    let results = map(&pool, Arc::new(item));
    assert_eq!(results, (0..200).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(outside.load(Ordering::SeqCst), 0, "items ran off the pool's threads");
    let most = most.load(Ordering::SeqCst);
    assert!(
        most <= max_workers,
        "{most} items ran at once with max_workers({max_workers}), chunksize {chunksize}"
    );
}

#[test]
fn a_map_runs_every_item_on_the_pool_threads_within_max_workers() {
    for max_workers in [1, 2, 3] {
        for chunksize in [1, 4, 64] {
            items_run_on_pool_threads_only(max_workers, chunksize, |pool, f| {
                pool.map(move |x: u64| f(x), 0..200).chunksize(chunksize).map(Result::unwrap).collect()
            });
            items_run_on_pool_threads_only(max_workers, chunksize, |pool, f| {
                Executor::map(pool, move |x: u64| f(x), 0..200)
                    .chunksize(chunksize)
                    .map(Result::unwrap)
                    .collect()
            });
            items_run_on_pool_threads_only(max_workers, chunksize, |pool, f| {
                let mut all: Vec<u64> = pool
                    .map(move |x: u64| f(x), 0..200)
                    .chunksize(chunksize)
                    .unordered()
                    .map(Result::unwrap)
                    .collect();
                all.sort_unstable();
                all
            });
        }
    }
}

/// An ordered map at its defaults does not leave a worker idle behind a slow first item: the
/// other workers read ahead (in bounded memory) until the slow one is done.
#[test]
fn a_slow_first_item_does_not_stop_the_other_workers_and_read_ahead_is_bounded() {
    for workers in [2, 3] {
        let pool = ThreadPoolExecutor::new(workers);
        let done = Arc::new(AtomicUsize::new(0));
        let read = Arc::new(AtomicUsize::new(0));
        let (d, r) = (Arc::clone(&done), Arc::clone(&read));
        // Item 0 waits until 100 others have finished: with a window of in-flight chunks
        // only (8 for 2 workers), they never could.
        let item = move |x: usize| {
            if x == 0 {
                let released = common::eventually(PATIENCE, || d.load(Ordering::SeqCst) >= 100);
                return (released, r.load(Ordering::SeqCst));
            }
            d.fetch_add(1, Ordering::SeqCst);
            (true, 0)
        };
        let counted = read.clone();
        let input = (0..1000usize).inspect(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let results: Vec<(bool, usize)> = pool.map(item, input).chunksize(1).map(Result::unwrap).collect();
        assert_eq!(results.len(), 1000);
        let (released, read_then) = results[0];
        assert!(released, "item 0 waited out its patience: the other workers stopped behind it");
        // Held at most 64 chunks per worker (of one item each), plus the one being read.
        assert!(read_then <= 64 * workers + 1, "read {read_then} items ahead with {workers} workers");
    }
}

/// With no `chunksize`, an input of known length is cut into about 16 chunks per worker (many
/// tiny items do not each pay for a task); one of unknown length goes item by item.
#[cfg(feature = "progress")]
#[test]
fn without_a_chunksize_known_lengths_are_cut_into_16_chunks_per_worker() {
    use std::sync::Mutex;
    for (workers, items) in [(1, 10usize), (2, 1000), (3, 100_000), (4, 50)] {
        let pool = ThreadPoolExecutor::new(workers);
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let sum: usize = pool
            .map(|x: usize| x, 0..items)
            .on_progress(move |n| seen.lock().unwrap().push(n))
            .map(Result::unwrap)
            .sum();
        assert_eq!(sum, items * (items - 1) / 2);
        let sizes = sizes.lock().unwrap().clone();
        let expected = (items / (16 * workers)).max(1);
        assert!(sizes.iter().all(|&n| n <= expected), "{workers} workers, {items} items: {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), items);
        // Unknown length (a filter): item by item.
        let counted = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&counted);
        let n = pool.map(|x: usize| x, (0..items).filter(|_| true)).on_progress(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(n.count(), items);
        assert_eq!(counted.load(Ordering::SeqCst), items);
    }
}
