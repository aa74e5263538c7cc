//! Chaos: a long map while another thread SIGKILLs, and SIGSTOPs then SIGCONTs, random workers.
//! Every item is accounted for exactly once (its value, or `WorkerDied`/`Killed`), nothing is
//! lost or duplicated, and no process is left behind. Each check has a deadline (tests/common).
//! A worker is this binary re-executed, so `main` calls `init()` first (`harness = false`).
//! Linux (workers are found through `/proc`). `CHAOS_SEED=n` replays a run's signals' choices.

mod common;
mod procs;

use common::{Check, step};
use concurrent_futures::{ProcessPoolExecutor, TaskError};
use procs::{Rng, assert_no_new_children, children, signal};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ITEMS: u64 = 2_000;

fn main() {
    concurrent_futures::init();
    let checks: &[Check] = &[
        ("chaos_map_chunksize_1_on_3_workers", || chaos(3, 1, false)),
        ("chaos_map_chunksize_4_on_2_workers", || chaos(2, 4, false)),
        ("chaos_unordered_map_chunksize_4_on_3_workers", || chaos(3, 4, true)),
        ("chaos_structs_holding_megabytes_both_ways", chaos_with_segments),
    ];
    common::run_checks(checks);
}

/// A short task: its input's value, after a little work (so that signals find items running).
fn work(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    x * 3 + 1
}

/// What the signalling thread did.
#[derive(Debug, Default)]
struct Signals {
    kills: u32,
    stops: u32,
}

/// SIGKILLs, or SIGSTOPs then SIGCONTs, a random new child every few milliseconds until `stop`.
fn signal_workers(before: Vec<u32>, stop: Arc<AtomicBool>, mut rng: Rng) -> Signals {
    let mut done = Signals::default();
    while !stop.load(Ordering::Relaxed) {
        let workers: Vec<u32> = children().into_iter().filter(|pid| !before.contains(pid)).collect();
        if !workers.is_empty() {
            let worker = workers[rng.below(workers.len() as u64) as usize];
            if rng.below(3) == 0 {
                if signal(worker, libc::SIGKILL) {
                    done.kills += 1;
                }
            } else if signal(worker, libc::SIGSTOP) {
                // Stopped for a while (a pause, not a synchronisation), then always continued.
                std::thread::sleep(Duration::from_millis(1 + rng.below(20)));
                signal(worker, libc::SIGCONT);
                done.stops += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5 + rng.below(25)));
    }
    done
}

fn chaos(workers: usize, chunksize: usize, unordered: bool) {
    common::deadline(Duration::from_secs(120));
    let seed = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok());
    let rng = Rng::new(seed);
    eprintln!("chaos: CHAOS_SEED={}", rng.seed());
    let before = children();
    let pool = ProcessPoolExecutor::new(workers);
    let stop = Arc::new(AtomicBool::new(false));
    let signaller = {
        let (before, stop) = (before.clone(), Arc::clone(&stop));
        std::thread::spawn(move || signal_workers(before, stop, rng))
    };
    step("the map, under signals");
    let map = pool.map(work, 0..ITEMS).chunksize(chunksize);
    let results: Vec<Result<u64, TaskError>> =
        if unordered { map.unordered().collect() } else { map.collect() };
    stop.store(true, Ordering::Relaxed);
    let signals = signaller.join().expect("the signalling thread");

    assert_eq!(results.len() as u64, ITEMS, "one result per item");
    let (mut values, mut died, mut killed) = (0u64, 0u64, 0u64);
    let mut seen = HashSet::new();
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(value) => {
                assert_eq!(value % 3, 1, "result {i}: {value} is no item's value");
                let x = value / 3;
                assert!(x < ITEMS, "result {i}: {value} is no item's value");
                if !unordered {
                    assert_eq!(x, i as u64, "result {i} is item {x}'s");
                }
                assert!(seen.insert(x), "item {x} came back twice");
                values += 1;
            }
            Err(TaskError::WorkerDied(_)) => died += 1,
            Err(TaskError::Killed(_)) => killed += 1,
            Err(other) => panic!("result {i}: {other:?} (only a value, WorkerDied or Killed may come back)"),
        }
    }
    assert_eq!(values + died + killed, ITEMS);
    eprintln!("chaos: {signals:?}; {values} values, {died} WorkerDied, {killed} Killed");
    assert!(signals.kills > 0 && signals.stops > 0, "the map ended before any signal: {signals:?}");
    step("a task after the chaos");
    assert_eq!(pool.submit(work, 7).result(), Ok(22), "the pool goes on");
    step("dropping the pool");
    drop(pool);
    assert_no_new_children(&before, "after the pool was dropped");
}

/// How many structs of megabytes go through the pool under kills.
const FRAMES: u64 = 200;

/// A struct whose vector is large enough to travel apart from its other bytes, both ways.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Frame {
    id: u64,
    samples: Vec<f64>,
}

fn frame(id: u64) -> Frame {
    Frame { id, samples: (0..(3 << 17)).map(|i| (i + id) as f64).collect() }
}

/// Its samples doubled, after a little work.
fn doubled(mut frame: Frame) -> Frame {
    std::thread::sleep(Duration::from_millis(2));
    frame.samples.iter_mut().for_each(|x| *x *= 2.0);
    frame
}

/// Structs of 3 MiB submitted at once while workers are killed and stopped: each comes back
/// whole and right, or as `WorkerDied`/`Killed`; none is cut short, mixed up or stuck.
fn chaos_with_segments() {
    common::deadline(Duration::from_secs(120));
    let rng = Rng::new(std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()));
    eprintln!("chaos: CHAOS_SEED={}", rng.seed());
    let before = children();
    let pool = ProcessPoolExecutor::new(2);
    let stop = Arc::new(AtomicBool::new(false));
    let signaller = {
        let (before, stop) = (before.clone(), Arc::clone(&stop));
        std::thread::spawn(move || kill_settled_workers(before, stop, rng))
    };
    step("the submits, under SIGKILLs");
    let futures: Vec<_> = (0..FRAMES).map(|id| pool.submit(doubled, frame(id))).collect();
    let results: Vec<_> = futures.into_iter().map(|future| future.result()).collect();
    stop.store(true, Ordering::Relaxed);
    let signals = signaller.join().expect("the signalling thread");
    let mut values = 0;
    for (id, result) in (0..).zip(results) {
        match result {
            Ok(back) => {
                assert!(back == doubled(frame(id)), "frame {id} came back wrong");
                values += 1;
            }
            Err(TaskError::WorkerDied(_) | TaskError::Killed(_)) => {}
            Err(other) => panic!("frame {id}: {other:?} (only a value, WorkerDied or Killed may come back)"),
        }
    }
    eprintln!("chaos: {signals} kills; {values} of {FRAMES} frames came back");
    assert!(signals > 0, "the submits ended before any kill");
    step("a task after the chaos");
    assert!(pool.submit(doubled, frame(99)).result() == Ok(doubled(frame(99))), "the pool goes on");
    drop(pool);
    assert_no_new_children(&before, "after the pool was dropped");
}

/// SIGKILLs a random worker that has been alive for a while (so that it is past its start,
/// moving megabytes), every 20 to 80 ms until `stop`; returns how many it killed.
fn kill_settled_workers(before: Vec<u32>, stop: Arc<AtomicBool>, mut rng: Rng) -> u32 {
    let mut seen: Vec<(u32, std::time::Instant)> = Vec::new();
    let mut kills = 0;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        let workers: Vec<u32> = children().into_iter().filter(|pid| !before.contains(pid)).collect();
        seen.retain(|(pid, _)| workers.contains(pid));
        for pid in &workers {
            if !seen.iter().any(|(known, _)| known == pid) {
                seen.push((*pid, now));
            }
        }
        let settled: Vec<u32> = seen
            .iter()
            .filter(|(_, since)| now.duration_since(*since) > Duration::from_millis(150))
            .map(|(pid, _)| *pid)
            .collect();
        if !settled.is_empty() && signal(settled[rng.below(settled.len() as u64) as usize], libc::SIGKILL) {
            kills += 1;
        }
        // Pacing of the faults, not a synchronisation.
        std::thread::sleep(Duration::from_millis(20 + rng.below(60)));
    }
    kills
}
