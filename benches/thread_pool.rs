//! Thread pool benchmarks, each side by side with its peers (rayon, threadpool) in one run.
//!
//! - `bulk`: submit 100k trivial tasks, then collect every result.
//! - `latency`: one task at a time, submit then wait for the result.
//! - `map`: a parallel map over 1M trivial items (chunksize 4096), collected into a Vec and
//!   summed, over a range and (a scoped map, rayon's `par_iter`) over a borrowed slice; the
//!   function is opaque to the optimiser for every contender, and a sequential row with the
//!   same function is the floor. Two `floor_handoff` rows give the least any ordered map
//!   consumed on one thread can cost: two threads compute the chunks and hand them over in
//!   order, with nothing else (no inputs, futures or window).
//! - `primes`: the sum of the primes below 2M, sequential vs pools (speedup on all cores).
//! - `skewed`: 12,000 items whose costs are heavy-tailed like file sizes (most take
//!   microseconds, a few take milliseconds), mapped at the map's defaults and collected in
//!   order, against rayon's `par_iter().map(f).collect()`.
//!
//! Run with `cargo bench --bench thread_pool`; the numbers go into `docs/PERFORMANCE.md`.

mod common;

use common::{is_prime, prime_or_zero};

use concurrent_futures::ThreadPoolExecutor;
use criterion::{Criterion, Throughput, criterion_main};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const BULK: u64 = 100_000;
const MAP_ITEMS: u64 = 1_000_000;
const PRIMES_BELOW: u64 = 2_000_000;

fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn rayon_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(workers()).build().expect("rayon pool")
}

fn bulk(c: &mut Criterion) {
    let mut group = c.benchmark_group("bulk");
    group.throughput(Throughput::Elements(BULK));
    group.sample_size(20);

    let pool = ThreadPoolExecutor::new(workers());
    group.bench_function("concurrent_futures", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..BULK).map(|i| pool.submit(|x: u64| x + 1, i)).collect();
            futures.into_iter().map(|f| f.result().unwrap_or(0)).sum::<u64>()
        })
    });

    let rayon = rayon_pool();
    group.bench_function("rayon_spawn_channel", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for i in 0..BULK {
                let tx = tx.clone();
                rayon.spawn(move || {
                    let _ = tx.send(i + 1);
                });
            }
            drop(tx);
            rx.iter().sum::<u64>()
        })
    });

    let tp = threadpool::ThreadPool::new(workers());
    group.bench_function("threadpool_channel", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for i in 0..BULK {
                let tx = tx.clone();
                tp.execute(move || {
                    let _ = tx.send(i + 1);
                });
            }
            drop(tx);
            rx.iter().sum::<u64>()
        })
    });
    group.finish();
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("latency");
    let pool = ThreadPoolExecutor::new(workers());
    group.bench_function("concurrent_futures", |b| {
        b.iter(|| pool.submit(|x: u64| x + 1, black_box(1)).result())
    });
    let rayon = rayon_pool();
    group.bench_function("rayon_spawn_channel", |b| {
        let (tx, rx) = crossbeam_channel::bounded(1);
        b.iter(|| {
            let tx = tx.clone();
            let x = black_box(1u64);
            rayon.spawn(move || {
                let _ = tx.send(x + 1);
            });
            rx.recv()
        })
    });
    let tp = threadpool::ThreadPool::new(workers());
    group.bench_function("threadpool_channel", |b| {
        let (tx, rx) = crossbeam_channel::bounded(1);
        b.iter(|| {
            let tx = tx.clone();
            let x = black_box(1u64);
            tp.execute(move || {
                let _ = tx.send(x + 1);
            });
            rx.recv()
        })
    });
    group.finish();
}

/// The mapped function: trivial, and hidden from the optimiser behind a function pointer that
/// went through `black_box`, so that no contender's loop is folded into a closed form or
/// vectorised away. Every row calls it once per item.
fn opaque_double() -> fn(u64) -> u64 {
    fn double(x: u64) -> u64 {
        x * 2
    }
    black_box(double as fn(u64) -> u64)
}

fn map(c: &mut Criterion) {
    let mut group = c.benchmark_group("map_1M");
    group.throughput(Throughput::Elements(MAP_ITEMS));
    group.sample_size(20);
    let f = opaque_double();
    let pool = ThreadPoolExecutor::new(workers());
    group.bench_function("concurrent_futures_chunk4096_collect", |b| {
        b.iter(|| pool.map(f, 0..MAP_ITEMS).chunksize(4096).collect::<Result<Vec<u64>, _>>().map(|v| v.len()))
    });
    group.bench_function("concurrent_futures_chunk4096_sum", |b| {
        b.iter(|| pool.map(f, 0..MAP_ITEMS).chunksize(4096).map(|r| r.unwrap_or(0)).sum::<u64>())
    });
    // A scoped map over a borrowed slice, against rayon's `par_iter()` over the same slice.
    let data: Vec<u64> = (0..MAP_ITEMS).collect();
    group.bench_function("concurrent_futures_scoped_slice_collect", |b| {
        b.iter(|| {
            pool.scope(|s| {
                s.map(|x: &u64| f(*x), &data)
                    .chunksize(4096)
                    .collect::<Result<Vec<u64>, _>>()
                    .map(|v| v.len())
            })
        })
    });
    group.bench_function("concurrent_futures_scoped_slice_sum", |b| {
        b.iter(|| {
            pool.scope(|s| s.map(|x: &u64| f(*x), &data).chunksize(4096).map(|r| r.unwrap_or(0)).sum::<u64>())
        })
    });
    let rayon = rayon_pool();
    group.bench_function("rayon_par_iter_slice_collect", |b| {
        b.iter(|| rayon.install(|| data.par_iter().map(|x| f(*x)).collect::<Vec<u64>>().len()))
    });
    group.bench_function("rayon_par_iter_slice_sum", |b| {
        b.iter(|| rayon.install(|| data.par_iter().map(|x| f(*x)).sum::<u64>()))
    });
    group.bench_function("rayon_par_iter_collect", |b| {
        b.iter(|| rayon.install(|| (0..MAP_ITEMS).into_par_iter().map(f).collect::<Vec<u64>>().len()))
    });
    group.bench_function("rayon_par_iter_sum", |b| {
        b.iter(|| rayon.install(|| (0..MAP_ITEMS).into_par_iter().map(f).sum::<u64>()))
    });
    // The floor: the same calls on one thread.
    group.bench_function("sequential_collect", |b| {
        b.iter(|| (0..black_box(MAP_ITEMS)).map(f).collect::<Vec<u64>>().len())
    });
    group.bench_function("sequential_sum", |b| b.iter(|| (0..black_box(MAP_ITEMS)).map(f).sum::<u64>()));
    // The floor of any ordered map consumed on one thread: two pool threads compute the
    // 4096-item chunks (no input to send, no futures, no window) and hand them, in order, to
    // the calling thread, which sums or collects them. The results' trip from the workers'
    // caches to the consumer's is what rayon's `sum` and `collect` never pay.
    group.bench_function("floor_handoff_in_order_sum", |b| {
        b.iter(|| handoff_in_order(&rayon, f).map(|c| c.iter().sum::<u64>()).sum::<u64>())
    });
    group.bench_function("floor_handoff_in_order_collect", |b| {
        b.iter(|| {
            let chunks = handoff_in_order(&rayon, f);
            chunks.into_iter().flatten().map(Ok::<u64, ()>).collect::<Result<Vec<u64>, _>>().map(|v| v.len())
        })
    });
    group.finish();
}

/// `f` over `0..MAP_ITEMS` in 4096-item chunks computed on two threads of `pool` (even chunks on
/// one, odd on the other) and received in order by the calling thread. Returns a lazy iterator
/// over the chunks so that the caller consumes each as it arrives.
fn handoff_in_order(pool: &rayon::ThreadPool, f: fn(u64) -> u64) -> impl Iterator<Item = Vec<u64>> {
    const CHUNK: u64 = 4096;
    let chunks = MAP_ITEMS.div_ceil(CHUNK);
    let receivers: Vec<_> = (0..2u64)
        .map(|first| {
            let (tx, rx) = crossbeam_channel::bounded::<Vec<u64>>(8);
            pool.spawn(move || {
                for chunk in (first..chunks).step_by(2) {
                    let start = chunk * CHUNK;
                    let end = (start + CHUNK).min(MAP_ITEMS);
                    if tx.send((start..end).map(f).collect()).is_err() {
                        return;
                    }
                }
            });
            rx
        })
        .collect();
    (0..chunks).map_while(move |chunk| receivers[(chunk % 2) as usize].recv().ok())
}

fn primes(c: &mut Criterion) {
    let mut group = c.benchmark_group("primes_below_2M");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group
        .bench_function("sequential", |b| b.iter(|| (0..PRIMES_BELOW).filter(|&n| is_prime(n)).sum::<u64>()));
    let pool = ThreadPoolExecutor::new(workers());
    group.bench_function("concurrent_futures_map", |b| {
        b.iter(|| {
            pool.map(prime_or_zero, 0..PRIMES_BELOW).chunksize(10_000).map(|r| r.unwrap_or(0)).sum::<u64>()
        })
    });
    let rayon = rayon_pool();
    group.bench_function("rayon_par_iter", |b| {
        b.iter(|| rayon.install(|| (0..PRIMES_BELOW).into_par_iter().filter(|&n| is_prime(n)).sum::<u64>()))
    });
    group.finish();
}

/// CPU work of `rounds` steps of a xorshift, opaque to the optimiser.
fn spin(rounds: u64) -> u64 {
    let mut x = rounds | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
    }
    x
}

/// 12,000 item costs (in `spin` rounds) drawn from a Pareto distribution (alpha 1.1, like file
/// sizes), capped, from a fixed seed: the same input for every contender and every run.
fn skewed_costs() -> Vec<u64> {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    (0..12_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let uniform = ((state >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            (300.0 / uniform.powf(1.0 / 1.1)).min(3_000_000.0) as u64
        })
        .collect()
}

fn skewed(c: &mut Criterion) {
    let mut group = c.benchmark_group("skewed_12k");
    group.sample_size(10);
    let costs = skewed_costs();
    let f: fn(u64) -> u64 = black_box(spin);
    group
        .bench_function("sequential", |b| b.iter(|| costs.iter().map(|&c| f(c)).collect::<Vec<u64>>().len()));
    let pool = ThreadPoolExecutor::new(workers());
    group.bench_function("concurrent_futures_map_defaults", |b| {
        b.iter(|| pool.map(f, costs.iter().copied()).collect::<Result<Vec<u64>, _>>().map(|v| v.len()))
    });
    let rayon = rayon_pool();
    group.bench_function("rayon_par_iter", |b| {
        b.iter(|| rayon.install(|| costs.par_iter().map(|&c| f(c)).collect::<Vec<u64>>().len()))
    });
    group.finish();
}

/// criterion's generated group function carries no doc comment.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::bulk,
        super::latency,
        super::map,
        super::primes,
        super::skewed
    );
}
criterion_main!(group::benches);
