//! Two ways to build one dictionary of 500 results from a process pool, as in the Python
//! article that compares `Manager().dict()` with returning results:
//!
//! 1. Every task writes its result into a `SharedMap` (the `Manager().dict()` way).
//! 2. Every task returns its pair, and `merge_results` builds the map at the end.
//!
//! Prints both times. Run: `cargo run --release --example shared_dict`

use concurrent_futures::{ProcessPoolExecutor, SharedMap, merge_results};
use std::collections::HashMap;
use std::time::Instant;

const TASKS: u64 = 500;

/// A small piece of work: the number of steps of the Collatz sequence from `n`.
fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// Way 1: write the result into the shared map (a round trip to the parent).
fn write_into((map, n): (SharedMap<u64, u64>, u64)) {
    map.insert(n, collatz_steps(n));
}

/// Way 2: return the pair.
fn pair_of(n: u64) -> (u64, u64) {
    (n, collatz_steps(n))
}

fn main() {
    concurrent_futures::init();
    let pool = ProcessPoolExecutor::default();
    pool.submit(pair_of, 1).result().expect("the workers start"); // start-up out of the timing

    let start = Instant::now();
    let shared = SharedMap::new();
    let futures: Vec<_> = (1..=TASKS).map(|n| pool.submit(write_into, (shared.clone(), n))).collect();
    for future in futures {
        future.result().expect("a task failed");
    }
    let from_shared: HashMap<u64, u64> = shared.snapshot();
    let shared_time = start.elapsed();

    let start = Instant::now();
    let futures: Vec<_> = (1..=TASKS).map(|n| pool.submit(pair_of, n)).collect();
    let merged: HashMap<u64, u64> = merge_results(futures).expect("a task failed");
    let merge_time = start.elapsed();

    assert_eq!(from_shared, merged, "both ways build the same dictionary");
    println!(
        "{} entries; the longest Collatz run below {TASKS}: {:?}",
        merged.len(),
        merged.iter().max_by_key(|(_, s)| **s)
    );
    println!("  SharedMap written by the workers: {:>7.2} ms", shared_time.as_secs_f64() * 1e3);
    println!("  merge_results at the end:         {:>7.2} ms", merge_time.as_secs_f64() * 1e3);
}
