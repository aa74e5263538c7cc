//! What `chunksize` buys, on both executors (2 workers each), for the guide's advice:
//!
//! - `tiny`: 100k trivial items (`x * 2`): the per-task cost is everything, so bigger chunks
//!   win until the cost is amortised.
//! - `uneven`: 2,000 items of real work whose first tenth is 25× slower than the rest (about
//!   136 ms of work in all): big chunks leave one worker with the slow block while the other
//!   idles.
//!
//! Run with `cargo bench --bench chunksize`; numbers go into `docs/PERFORMANCE.md` and the guide.

use concurrent_futures::{Executor, ProcessPoolExecutor, ThreadPoolExecutor};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use std::hint::black_box;
use std::time::Duration;

const TINY_ITEMS: u64 = 100_000;
const UNEVEN_ITEMS: u64 = 2_000;

fn main() {
    concurrent_futures::init();
    let mut c = Criterion::default().configure_from_args();
    let threads = ThreadPoolExecutor::new(2);
    let processes = ProcessPoolExecutor::new(2);
    tiny(&mut c, &threads, &processes);
    uneven(&mut c, &threads, &processes);
    c.final_summary();
}

fn double(x: u64) -> u64 {
    x * 2
}

/// About `micros` µs of arithmetic (calibrated on the benchmark machine).
fn spin(micros: u64) -> u64 {
    let mut x = micros | 1;
    for _ in 0..micros * 800 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// The first tenth of the items costs 500 µs each, the rest 20 µs.
fn uneven_item(i: u64) -> u64 {
    spin(if i < UNEVEN_ITEMS / 10 { 500 } else { 20 })
}

/// `f` is a type parameter, not a `fn` pointer: a process pool takes only functions that
/// capture nothing, and a pointer is data.
fn run<E: Executor, F: Fn(u64) -> u64 + Copy + Send + Sync + 'static>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    executor: &E,
    f: F,
    items: u64,
    chunksize: usize,
) {
    group.bench_function(format!("{name}_chunksize_{chunksize}"), |b| {
        b.iter(|| {
            executor.map(f, 0..black_box(items)).chunksize(chunksize).map(|r| r.unwrap_or(0)).sum::<u64>()
        })
    });
}

fn tiny(c: &mut Criterion, threads: &ThreadPoolExecutor, processes: &ProcessPoolExecutor) {
    let mut group = c.benchmark_group("chunksize_tiny_100k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    group.throughput(criterion::Throughput::Elements(TINY_ITEMS));
    for chunksize in [1, 16, 256, 4096] {
        run(&mut group, "threads", threads, double, TINY_ITEMS, chunksize);
        run(&mut group, "processes", processes, double, TINY_ITEMS, chunksize);
    }
    group.finish();
}

fn uneven(c: &mut Criterion, threads: &ThreadPoolExecutor, processes: &ProcessPoolExecutor) {
    let mut group = c.benchmark_group("chunksize_uneven_2k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("sequential", |b| {
        b.iter(|| (0..black_box(UNEVEN_ITEMS)).map(uneven_item).sum::<u64>())
    });
    for chunksize in [1, 10, 100, 1000] {
        run(&mut group, "threads", threads, uneven_item, UNEVEN_ITEMS, chunksize);
        run(&mut group, "processes", processes, uneven_item, UNEVEN_ITEMS, chunksize);
    }
    group.finish();
}
