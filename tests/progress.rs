//! `Map::on_progress` (cargo feature `progress`): every item that gets a result is reported
//! once, as its chunk finishes, and cancelled chunks are not reported.

#![cfg(feature = "progress")]

mod common;

use common::{PATIENCE, eventually};
#[cfg(feature = "process")]
use concurrent_futures::ProcessPoolExecutor;
use concurrent_futures::{Executor, TaskError, ThreadPoolExecutor};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn fails_on_multiples_of_7(x: u32) -> u32 {
    if x % 7 == 0 {
        panic!("item {x} failed");
    }
    x
}

/// A progress callback that adds up what it is told; and the total it has seen.
fn counter() -> (impl Fn(usize) + Send + Sync + 'static, Arc<AtomicUsize>) {
    let total = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&total);
    (
        move |n| {
            seen.fetch_add(n, Ordering::Relaxed);
        },
        total,
    )
}

#[test]
fn counts_add_up_to_the_items_failed_ones_included() {
    let pool = ThreadPoolExecutor::new(3);
    for chunksize in [1, 7, 64, 1000, 1001] {
        for unordered in [false, true] {
            let (report, total) = counter();
            let map = pool.map(fails_on_multiples_of_7, 0..1000).chunksize(chunksize).on_progress(report);
            let map = if unordered { map.unordered() } else { map };
            let failed = map.filter(Result::is_err).count();
            assert_eq!(failed, 143, "chunksize {chunksize}");
            // Every chunk's report ran before its results reached the iterator.
            assert_eq!(total.load(Ordering::Relaxed), 1000, "chunksize {chunksize}, unordered {unordered}");
        }
    }
}

static REPORTED_WHILE_FIRST_WAITS: AtomicUsize = AtomicUsize::new(0);

/// Item 0 waits until the other 19 items have been reported; true if they were.
fn first_waits_for_the_rest(x: u32) -> bool {
    if x > 0 {
        return true;
    }
    eventually(PATIENCE, || REPORTED_WHILE_FIRST_WAITS.load(Ordering::Acquire) >= 19)
}

#[test]
fn reports_come_at_completion_not_when_the_consumer_reads() {
    // An ordered map's consumer is stuck on item 0 while the other items finish: their reports
    // must arrive anyway (item 0 only finishes once it has seen them).
    let pool = ThreadPoolExecutor::new(2);
    let first = pool
        .map(first_waits_for_the_rest, 0..20)
        .buffered(20)
        .on_progress(|n| {
            REPORTED_WHILE_FIRST_WAITS.fetch_add(n, Ordering::Release);
        })
        .next();
    assert_eq!(first, Some(Ok(true)), "item 0 never saw the other items reported");
}

static GATE_OPEN: AtomicBool = AtomicBool::new(false);
static ITEMS_RUN: AtomicUsize = AtomicUsize::new(0);

fn counted_item_behind_gate(x: u32) -> u32 {
    ITEMS_RUN.fetch_add(1, Ordering::Relaxed);
    if x == 0 {
        eventually(PATIENCE, || GATE_OPEN.load(Ordering::Acquire));
    }
    x
}

#[test]
fn cancelled_chunks_are_not_reported() {
    // One worker, stuck in chunk 0 until the map has timed out: the chunks queued behind it are
    // cancelled and must not count.
    let pool = ThreadPoolExecutor::new(1);
    let (report, total) = counter();
    let results: Vec<_> = pool
        .map(counted_item_behind_gate, 0..40)
        .chunksize(10)
        .buffered(4)
        .timeout(Duration::from_millis(100))
        .on_progress(report)
        .collect();
    assert_eq!(results, [Err(TaskError::Timeout)]);
    GATE_OPEN.store(true, Ordering::Release);
    pool.shutdown(true, false);
    let run = ITEMS_RUN.load(Ordering::Relaxed);
    assert!(run < 40, "the queued chunks were not cancelled ({run} items ran)");
    assert_eq!(total.load(Ordering::Relaxed), run, "reported items must be exactly the items that ran");
}

#[test]
#[cfg(feature = "process")]
fn a_process_pool_map_reports_progress_in_the_parent() {
    concurrent_futures::init();
    let pool = ProcessPoolExecutor::new(2);
    let (report, total) = counter();
    let results: Vec<_> =
        pool.map(fails_on_multiples_of_7, 0..500).chunksize(16).on_progress(report).collect();
    assert_eq!(results.len(), 500);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 72);
    assert_eq!(total.load(Ordering::Relaxed), 500);
}
