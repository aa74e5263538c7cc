//! `MpiPoolExecutor` over 2 worker ranks, side by side with a 2-process `ProcessPoolExecutor` in
//! the same run (both driven from rank 0):
//!
//! - `mpi_latency`: one `submit(..).result()` at a time;
//! - `mpi_bulk_2k`: 2,000 trivial tasks submitted, then collected;
//! - `mpi_primes_below_2M`: the sum of the primes below 2M in 100 ranges, and sequentially.
//!
//! Run with `cargo bench --features mpi --bench mpi`: started alone, the bench starts itself
//! again under `mpirun -n 3 --oversubscribe` (3 ranks on this 2-core machine: rank 0 and 2
//! workers). Numbers go into `docs/PERFORMANCE.md`.

mod common;

use common::prime_or_zero;
use concurrent_futures::{MpiPoolExecutor, ProcessPoolExecutor};
use criterion::Criterion;
use std::hint::black_box;
use std::time::Duration;

const BULK: u64 = 2_000;
const PRIMES_BELOW: u64 = 2_000_000;

fn main() {
    concurrent_futures::init(); // the worker ranks (and the process pool's workers) serve here
    let Ok(ranks) = MpiPoolExecutor::new() else {
        return start_under_mpirun();
    };
    let processes = ProcessPoolExecutor::new(2);
    let mut c = Criterion::default().configure_from_args();
    latency(&mut c, &ranks, &processes);
    bulk(&mut c, &ranks, &processes);
    primes(&mut c, &ranks, &processes);
    c.final_summary();
}

/// Runs this bench again as rank 0 of a 3-rank job, with the same arguments.
fn start_under_mpirun() {
    let me = std::env::current_exe().expect("own path");
    let status = std::process::Command::new("mpirun")
        .args(["-n", "3", "--oversubscribe"])
        .arg(me)
        .args(std::env::args().skip(1))
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .status()
        .expect("mpirun is installed (see the README)");
    std::process::exit(status.code().unwrap_or(1));
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn latency(c: &mut Criterion, ranks: &MpiPoolExecutor, processes: &ProcessPoolExecutor) {
    let mut group = c.benchmark_group("mpi_latency");
    group.bench_function("mpi_2_ranks", |b| b.iter(|| ranks.submit(inc, black_box(1)).result()));
    group.bench_function("process_pool_2_workers", |b| {
        b.iter(|| processes.submit(inc, black_box(1)).result())
    });
    group.finish();
}

fn bulk(c: &mut Criterion, ranks: &MpiPoolExecutor, processes: &ProcessPoolExecutor) {
    let mut group = c.benchmark_group("mpi_bulk_2k");
    group.sample_size(20);
    group.bench_function("mpi_2_ranks", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..BULK).map(|x| ranks.submit(inc, black_box(x))).collect();
            futures.into_iter().map(|f| f.result().unwrap_or(0)).sum::<u64>()
        })
    });
    group.bench_function("process_pool_2_workers", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..BULK).map(|x| processes.submit(inc, black_box(x))).collect();
            futures.into_iter().map(|f| f.result().unwrap_or(0)).sum::<u64>()
        })
    });
    group.finish();
}

/// The sum of the primes in `start..end`: one small message per range.
fn sum_range((start, end): (u64, u64)) -> u64 {
    (start..end).map(prime_or_zero).sum()
}

fn ranges() -> impl Iterator<Item = (u64, u64)> {
    (0..PRIMES_BELOW).step_by(20_000).map(|s| (s, (s + 20_000).min(PRIMES_BELOW)))
}

fn primes(c: &mut Criterion, ranks: &MpiPoolExecutor, processes: &ProcessPoolExecutor) {
    let mut group = c.benchmark_group("mpi_primes_below_2M");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("sequential", |b| b.iter(|| sum_range(black_box((0, PRIMES_BELOW)))));
    group.bench_function("mpi_2_ranks_ranges", |b| {
        b.iter(|| ranks.map(sum_range, ranges()).map(|r| r.unwrap_or(0)).sum::<u64>())
    });
    group.bench_function("process_pool_2_workers_ranges", |b| {
        b.iter(|| processes.map(sum_range, ranges()).map(|r| r.unwrap_or(0)).sum::<u64>())
    });
    group.finish();
}
