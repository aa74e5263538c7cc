//! Large payloads to and from a worker process: a 64 MiB `Vec<u8>` argument, and the same
//! there and back, side by side with a plain copy of 64 MiB in this process (the floor); then
//! the same 64 MiB as plain numbers: a `Vec<f64>` one way, a `Vec<u32>` there and back, and a
//! struct holding a `Vec<f64>` one way.
//! Python's figures for the same work come from another run and are recorded in
//! `docs/PERFORMANCE.md`.
//!
//! Run with `cargo bench --bench payloads`.

use concurrent_futures::ProcessPoolExecutor;
use criterion::{BatchSize, Criterion};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::Duration;

const SIZE: usize = 64 << 20;

fn len(v: Vec<u8>) -> usize {
    v.len()
}

fn echo(v: Vec<u8>) -> Vec<u8> {
    v
}

fn len_f64(v: Vec<f64>) -> usize {
    v.len()
}

fn echo_u32(v: Vec<u32>) -> Vec<u32> {
    v
}

/// A struct argument whose bulk is a vector of numbers.
#[derive(Serialize, Deserialize, Clone)]
struct Samples {
    name: String,
    rate: f64,
    values: Vec<f64>,
}

fn samples_len(s: Samples) -> usize {
    s.values.len()
}

fn main() {
    concurrent_futures::init();
    let mut c =
        Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(10));
    let payload = vec![7u8; SIZE];
    let floats: Vec<f64> = (0..SIZE / 8).map(|i| i as f64 * 0.5).collect();
    let words: Vec<u32> = (0..SIZE / 4).map(|i| i as u32).collect();
    let samples = Samples { name: "sensor".into(), rate: 48e3, values: floats.clone() };
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
    group.bench_function("vec_f64_to_worker", |b| {
        b.iter_batched(
            || floats.clone(),
            |v| pool.submit(len_f64, black_box(v)).result(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("vec_u32_there_and_back", |b| {
        b.iter_batched(
            || words.clone(),
            |v| pool.submit(echo_u32, black_box(v)).result(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("struct_with_vec_f64_to_worker", |b| {
        b.iter_batched(
            || samples.clone(),
            |s| pool.submit(samples_len, black_box(s)).result(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    c.final_summary();
}
