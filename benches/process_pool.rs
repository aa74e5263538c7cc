//! Process pool benchmarks, side by side with the raw IPC round trip and `procspawn::Pool`.
//!
//! - `latency`: one task at a time, vs a raw ipc-channel echo between the same two processes
//!   (the floor) and vs `procspawn::Pool`.
//! - `bulk`: 20k trivial tasks submitted, then collected; vs `procspawn::Pool`.
//! - `map`: 200k trivial items, `chunksize(256)`.
//! - `primes`: the sum of the primes below 2M, sequential vs a 2-process map.
//! - `startup`: a new pool to its first result.
//! - `shared_map`: 10k inserts into one `SharedMap` from 2 worker processes (one call each, and
//!   batched with `extend`), and from 2 threads.
//!
//! Run with `cargo bench --bench process_pool`; numbers go into `docs/PERFORMANCE.md`.

mod common;

use common::prime_or_zero;

use concurrent_futures::{Executor, ProcessPoolExecutor, SharedMap, ThreadPoolExecutor};
use criterion::Criterion;
use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender, bytes_channel};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ECHO_ENV: &str = "CONCURRENT_FUTURES_BENCH_ECHO";
const BULK: u64 = 20_000;
const MAP_ITEMS: u64 = 200_000;
const PRIMES_BELOW: u64 = 2_000_000;

fn main() {
    concurrent_futures::init();
    procspawn::init();
    if let Ok(server) = std::env::var(ECHO_ENV) {
        return echo(server);
    }
    let mut c = Criterion::default().configure_from_args();
    latency(&mut c);
    bulk(&mut c);
    map(&mut c);
    primes(&mut c);
    startup(&mut c);
    shared_map(&mut c);
    c.final_summary();
}

fn inc(x: u64) -> u64 {
    x + 1
}

/// The echo process of the raw round trip: hand over two channels, then echo every message.
fn echo(server: String) {
    let (to_echo, from_parent) = bytes_channel().expect("channel");
    let (to_parent, from_echo) = bytes_channel().expect("channel");
    let hello = IpcSender::<(IpcBytesSender, IpcBytesReceiver)>::connect(server).expect("connect");
    hello.send((to_echo, from_echo)).expect("hello");
    while let Ok(message) = from_parent.recv() {
        if to_parent.send(&message).is_err() {
            break;
        }
    }
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_latency");
    group.measurement_time(Duration::from_secs(5));

    let (server, name) = IpcOneShotServer::<(IpcBytesSender, IpcBytesReceiver)>::new().expect("server");
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(ECHO_ENV, name)
        .spawn()
        .expect("echo process");
    let (_, (to_echo, from_echo)) = server.accept().expect("accept");
    group.bench_function("raw_ipc_round_trip", |b| {
        b.iter(|| {
            to_echo.send(&black_box(7u64).to_le_bytes()).expect("send");
            from_echo.recv().expect("recv")
        })
    });
    // The same, with the parent spinning for the reply the way `Future::result` does first:
    // an idle vCPU of this VM takes tens of µs to wake, and spinning keeps it awake.
    group.bench_function("raw_ipc_round_trip_spinning_receiver", |b| {
        b.iter(|| {
            to_echo.send(&black_box(7u64).to_le_bytes()).expect("send");
            loop {
                if let Ok(reply) = from_echo.try_recv() {
                    break reply;
                }
                std::hint::spin_loop();
            }
        })
    });
    drop(to_echo);
    let _ = child.wait();

    let pool = ProcessPoolExecutor::new(2);
    pool.submit(inc, 0).result().expect("warm-up");
    group.bench_function("concurrent_futures", |b| b.iter(|| pool.submit(inc, black_box(1)).result()));

    let procspawn_pool = procspawn::Pool::new(2).expect("procspawn pool");
    group.bench_function("procspawn_pool", |b| {
        b.iter(|| procspawn_pool.spawn(black_box(1u64), |x| x + 1).join().expect("procspawn"))
    });
    group.finish();
}

fn bulk(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_bulk_20k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let pool = ProcessPoolExecutor::new(2);
    group.bench_function("concurrent_futures", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..BULK).map(|i| pool.submit(inc, i)).collect();
            futures.into_iter().map(|f| f.result().unwrap_or(0)).sum::<u64>()
        })
    });
    let procspawn_pool = procspawn::Pool::new(2).expect("procspawn pool");
    // procspawn opens two IPC channels (four file descriptors) per task, so 20k queued tasks
    // run out of descriptors: it gets windows of 256 tasks in flight.
    group.bench_function("procspawn_pool_windows_of_256", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for window in (0..BULK).collect::<Vec<_>>().chunks(256) {
                let handles: Vec<_> = window.iter().map(|&i| procspawn_pool.spawn(i, |x| x + 1)).collect();
                total += handles.into_iter().map(|h| h.join().unwrap_or(0)).sum::<u64>();
            }
            total
        })
    });
    group.finish();
}

fn map(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_map_200k");
    group.sample_size(10);
    let pool = ProcessPoolExecutor::new(2);
    group.bench_function("concurrent_futures_chunk256", |b| {
        b.iter(|| pool.map(inc, 0..MAP_ITEMS).chunksize(256).map(|r| r.unwrap_or(0)).sum::<u64>())
    });
    group.finish();
}

/// The sum of the primes in `start..end`: the process-friendly split, one small message a range.
fn sum_range((start, end): (u64, u64)) -> u64 {
    (start..end).map(prime_or_zero).sum()
}

fn primes(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_primes_below_2M");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("sequential", |b| b.iter(|| (0..PRIMES_BELOW).map(prime_or_zero).sum::<u64>()));
    let pool = ProcessPoolExecutor::new(2);
    group.bench_function("concurrent_futures_2_processes", |b| {
        b.iter(|| {
            pool.map(prime_or_zero, 0..PRIMES_BELOW).chunksize(10_000).map(|r| r.unwrap_or(0)).sum::<u64>()
        })
    });
    group.bench_function("concurrent_futures_2_processes_ranges", |b| {
        b.iter(|| {
            let ranges = (0..PRIMES_BELOW).step_by(20_000).map(|s| (s, (s + 20_000).min(PRIMES_BELOW)));
            pool.map(sum_range, ranges).map(|r| r.unwrap_or(0)).sum::<u64>()
        })
    });
    group.finish();
}

fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_startup");
    group.sample_size(20);
    group.bench_function("concurrent_futures_new_pool_to_first_result", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let start = Instant::now();
                let pool = ProcessPoolExecutor::new(2);
                black_box(pool.submit(inc, 1).result().expect("first result"));
                total += start.elapsed();
                drop(pool);
            }
            total
        })
    });
    group.finish();
}

const INSERTS: u64 = 10_000;

/// Inserts keys `start..start + INSERTS / 2` one call at a time.
fn insert_half((map, start): (SharedMap<u64, u64>, u64)) {
    for k in start..start + INSERTS / 2 {
        map.insert(k, k);
    }
}

/// The same keys in batches of 500 with `extend`.
fn extend_half((map, start): (SharedMap<u64, u64>, u64)) {
    let keys: Vec<u64> = (start..start + INSERTS / 2).collect();
    for batch in keys.chunks(500) {
        map.extend(batch.iter().map(|&k| (k, k)));
    }
}

/// Fills a new map with `INSERTS` keys, half from each of two tasks running `fill` on `executor`.
fn fill_with<E, F>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    executor: &E,
    fill: F,
) where
    E: Executor,
    F: Fn((SharedMap<u64, u64>, u64)) + Copy + Send + Sync + 'static,
{
    group.bench_function(name, |b| {
        b.iter(|| {
            let map = SharedMap::new();
            let halves = [(map.clone(), 0), (map.clone(), INSERTS / 2)];
            executor.map(fill, halves).for_each(|r| r.expect("inserts"));
            assert_eq!(map.len() as u64, INSERTS);
        })
    });
}

fn shared_map(c: &mut Criterion) {
    let mut group = c.benchmark_group("shared_map_10k_inserts");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(INSERTS));
    let processes = ProcessPoolExecutor::new(2);
    let threads = ThreadPoolExecutor::new(2);
    fill_with(&mut group, "2_processes_insert", &processes, insert_half);
    fill_with(&mut group, "2_processes_extend_500", &processes, extend_half);
    fill_with(&mut group, "2_threads_insert", &threads, insert_half);
    group.finish();
}
