//! What `.await` on a pool's future costs an async program, side by side with the usual
//! workaround, `spawn_blocking(move || future.result())`, on the same tokio runtime.
//!
//! - `await_finished`: the task is already done; only the await is measured.
//! - `await_1us_task`: submit a task of about 1 µs to a thread pool of 2, then await it.
//! - `sequential_1us`: the same work on the calling thread (the floor).
//!
//! Run with `cargo bench --bench async_await`; the numbers go into `docs/PERFORMANCE.md`.

use concurrent_futures::ThreadPoolExecutor;
use criterion::{BatchSize, Criterion, criterion_main};
use std::future::IntoFuture;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Spins for about a microsecond.
fn one_microsecond(x: u64) -> u64 {
    let start = Instant::now();
    let mut acc = x;
    while start.elapsed() < Duration::from_micros(1) {
        acc = black_box(acc.wrapping_mul(31).wrapping_add(7));
    }
    acc
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime")
}

fn await_finished(c: &mut Criterion) {
    let pool = ThreadPoolExecutor::new(2);
    let rt = runtime();
    let mut group = c.benchmark_group("await_finished");
    let finished = || {
        let future = pool.submit(|x: u64| x + 1, black_box(1));
        future.wait();
        future
    };
    group.bench_function("await", |b| {
        b.iter_batched(finished, |future| rt.block_on(future.into_future()), BatchSize::SmallInput)
    });
    group.bench_function("spawn_blocking_result", |b| {
        b.iter_batched(
            finished,
            |future| rt.block_on(async { tokio::task::spawn_blocking(move || future.result()).await }),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn await_1us_task(c: &mut Criterion) {
    let pool = ThreadPoolExecutor::new(2);
    let rt = runtime();
    let mut group = c.benchmark_group("await_1us_task");
    group.bench_function("sequential_1us", |b| b.iter(|| one_microsecond(black_box(3))));
    group.bench_function("await", |b| {
        b.iter(|| rt.block_on(pool.submit(one_microsecond, black_box(3)).into_future()))
    });
    group.bench_function("spawn_blocking_result", |b| {
        b.iter(|| {
            let future = pool.submit(one_microsecond, black_box(3));
            rt.block_on(async { tokio::task::spawn_blocking(move || future.result()).await })
        })
    });
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(3));
    await_finished(&mut c);
    await_1us_task(&mut c);
}

criterion_main!(benches);
