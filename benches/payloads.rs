//! Large payloads to and from a worker process: a 64 MiB `Vec<u8>` argument, and the same
//! there and back, side by side with a plain copy of 64 MiB in this process (the floor).
//! Python's figures for the same work come from another run and are recorded in
//! `docs/PERFORMANCE.md`.
//!
//! Run with `cargo bench --bench payloads`.

use concurrent_futures::ProcessPoolExecutor;
use criterion::{BatchSize, Criterion};
use std::hint::black_box;
use std::time::Duration;

const SIZE: usize = 64 << 20;

fn len(v: Vec<u8>) -> usize {
    v.len()
}

fn echo(v: Vec<u8>) -> Vec<u8> {
    v
}

fn main() {
    concurrent_futures::init();
    let mut c =
        Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(10));
    let payload = vec![7u8; SIZE];
    let pool = ProcessPoolExecutor::new(1);
    // Start the worker first.
    let _ = pool.submit(len, Vec::new()).result();

    let mut group = c.benchmark_group("payload_64MiB");
    let mut warm = vec![0u8; SIZE];
    group.bench_function("memcpy_into_a_warm_buffer", |b| {
        b.iter(|| warm.copy_from_slice(black_box(&payload)))
    });
    group.bench_function("clone_into_fresh_memory", |b| b.iter(|| black_box(payload.clone())));
    group.bench_function("concurrent_futures_to_worker", |b| {
        b.iter_batched(
            || payload.clone(),
            |v| pool.submit(len, black_box(v)).result(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("concurrent_futures_there_and_back", |b| {
        b.iter_batched(
            || payload.clone(),
            |v| pool.submit(echo, black_box(v)).result(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    c.final_summary();
}
