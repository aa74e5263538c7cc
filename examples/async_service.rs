//! An async service that offloads its heavy work to worker processes, with a deadline per
//! request.
//!
//! A tokio program receives a burst of requests (simulated: no network). Each request hands a
//! CPU-heavy job to a `ProcessPoolExecutor` and awaits it under a per-request deadline. Some
//! jobs are bugs: one in 25 never finishes and one in 40 crashes its process. With
//! `kill_on_drop`, a request that runs out of time takes its job with it: a job still waiting
//! is cancelled, a running one is killed and its worker replaced, so a runaway job costs one
//! deadline, not a worker for ever. A crash fails only its own request.
//!
//! ```text
//! cargo run --release --example async_service [--requests N] [--deadline-ms MS] [--gap-ms MS]
//! ```
//!
//! It runs the burst twice: with `kill_on_drop`, and with a plain `.await`, whose timed-out
//! runaway jobs keep their workers busy for ever (so the service starves; `kill_workers` ends
//! them at the end). For each it prints how the requests ended and the latency of those
//! answered.
//!
//! Last, the same deadline on a `ThreadPoolExecutor` of one thread: a thread cannot be killed,
//! but a job that checks `concurrent_futures::stop_requested()` returns as soon as its request
//! gives up on it, so the next request finds the thread free.

use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError, ThreadPoolExecutor, stop_requested};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a request asks the pool to do.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
enum Job {
    /// Count the primes below this number (a few milliseconds of CPU).
    CountPrimes(u64),
    /// A bug: never finishes.
    Runaway,
    /// A bug: the process aborts.
    Crash,
}

impl Job {
    fn for_request(i: u64) -> Job {
        match i {
            i if i % 25 == 24 => Job::Runaway,
            i if i % 40 == 39 => Job::Crash,
            i => Job::CountPrimes(10_000 + (i % 7) * 2_000),
        }
    }
}

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

/// Runs in a worker process.
fn handle(job: Job) -> u64 {
    match job {
        Job::CountPrimes(below) => (0..below).filter(|&n| is_prime(std::hint::black_box(n))).count() as u64,
        Job::Runaway => loop {
            std::hint::spin_loop();
        },
        Job::Crash => std::process::abort(),
    }
}

/// Runs on a thread-pool thread: counts the primes below `below`, stopping early (with `None`)
/// once the request that waits for it has given up. Nothing can stop a thread from outside, so
/// the job checks now and then whether it was asked to (`stop_requested()` is a cheap load).
fn count_primes_on_a_thread(below: u64) -> Option<u64> {
    let mut count = 0;
    for n in 0..below {
        if n % 1024 == 0 && stop_requested() {
            return None;
        }
        count += u64::from(is_prime(n));
    }
    Some(count)
}

/// A request for a job far too long for the deadline, on a pool of one thread, then a quick
/// one: with `kill_on_drop`, the timeout asks the long job to stop, it returns, and the quick
/// request is answered at once instead of waiting behind it for ever.
fn thread_pool_deadline(deadline: Duration) {
    let pool = ThreadPoolExecutor::new(1);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a tokio runtime");
    runtime.block_on(async {
        let long_job = pool.submit(count_primes_on_a_thread, u64::MAX).kill_on_drop();
        let missed = tokio::time::timeout(deadline, long_job).await.is_err();
        assert!(missed, "the long job cannot finish in time");

        // The timeout dropped the long job, which asked it to stop: the one thread is free.
        let asked = Instant::now();
        let quick_job = pool.submit(count_primes_on_a_thread, 100).kill_on_drop();
        let answer = tokio::time::timeout(deadline, quick_job).await;
        assert_eq!(answer, Ok(Ok(Some(25))), "the next request finds the thread free");
        println!(
            "thread pool of 1 thread: the long job missed its {} ms deadline and stopped itself \
             (stop_requested); the next request was answered in {:.1} ms",
            deadline.as_millis(),
            asked.elapsed().as_secs_f64() * 1e3,
        );
    });
    let stats = pool.stats();
    assert_eq!((stats.busy, stats.queued, stats.completed), (0, 0, 2), "{stats:?}");
}

/// How one request ended.
enum Outcome {
    Answered(Duration),
    /// The deadline passed: the job was cancelled or killed.
    DeadlinePassed,
    /// The job's worker died (a crash), or another error.
    Failed(TaskError),
}

struct Settings {
    requests: u64,
    deadline: Duration,
    gap: Duration,
}

fn settings() -> Settings {
    let mut settings =
        Settings { requests: 200, deadline: Duration::from_millis(250), gap: Duration::from_millis(4) };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--requests", Some(n)) => settings.requests = n,
            ("--deadline-ms", Some(ms)) => settings.deadline = Duration::from_millis(ms),
            ("--gap-ms", Some(ms)) => settings.gap = Duration::from_millis(ms),
            _ => {
                eprintln!("usage: async_service [--requests N] [--deadline-ms MS] [--gap-ms MS]");
                std::process::exit(2);
            }
        }
    }
    settings
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// How one burst went.
struct Report {
    wall: Duration,
    latencies: Vec<Duration>,
    runaways_stopped: usize,
    others_late: usize,
    crashed: usize,
    other_errors: usize,
}

/// Sends the burst of requests to `pool`, each under the deadline; `kill` chooses between
/// `kill_on_drop` and a plain await.
fn burst(pool: &Arc<ProcessPoolExecutor>, settings: &Settings, kill: bool) -> Report {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let started = Instant::now();
    let outcomes: Vec<(Job, Outcome)> = runtime.block_on(async {
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..settings.requests {
            let job = Job::for_request(i);
            let pool = Arc::clone(pool);
            let deadline = settings.deadline;
            requests.spawn(async move {
                let arrived = Instant::now();
                let future = pool.submit(handle, job);
                let answer = if kill {
                    tokio::time::timeout(deadline, future.kill_on_drop()).await
                } else {
                    tokio::time::timeout(deadline, future.into_future()).await
                };
                let outcome = match answer {
                    Ok(Ok(_primes)) => Outcome::Answered(arrived.elapsed()),
                    Ok(Err(error)) => Outcome::Failed(error),
                    Err(_elapsed) => Outcome::DeadlinePassed,
                };
                (job, outcome)
            });
            tokio::time::sleep(settings.gap).await;
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = requests.join_next().await {
            outcomes.push(joined.expect("a request task"));
        }
        outcomes
    });
    let mut report = Report {
        wall: started.elapsed(),
        latencies: Vec::new(),
        runaways_stopped: 0,
        others_late: 0,
        crashed: 0,
        other_errors: 0,
    };
    for (job, outcome) in &outcomes {
        match (job, outcome) {
            (_, Outcome::Answered(latency)) => report.latencies.push(*latency),
            (Job::Runaway, Outcome::DeadlinePassed) => report.runaways_stopped += 1,
            (_, Outcome::DeadlinePassed) => report.others_late += 1,
            (_, Outcome::Failed(TaskError::WorkerDied(_))) => report.crashed += 1,
            (_, Outcome::Failed(error)) => {
                report.other_errors += 1;
                eprintln!("{job:?}: {error}");
            }
        }
    }
    report.latencies.sort();
    report
}

fn main() {
    concurrent_futures::init();
    let settings = settings();
    println!(
        "{} requests, one every {} ms, deadline {} ms, 2 worker processes; 1 job in 25 never \
         finishes, 1 in 40 crashes",
        settings.requests,
        settings.gap.as_millis(),
        settings.deadline.as_millis()
    );
    println!();
    println!("| await | wall | answered | p50 | p99 | past the deadline (runaway / other) | crashed |");
    println!("|---|---|---|---|---|---|---|");
    for kill in [true, false] {
        let pool = Arc::new(ProcessPoolExecutor::new(2));
        // Start the workers before the burst.
        for result in pool.map(handle, [Job::CountPrimes(10), Job::CountPrimes(10)]) {
            result.expect("the warm-up job");
        }
        let report = burst(&pool, &settings, kill);
        println!(
            "| {} | {:.2} s | {} | {:.1} ms | {:.1} ms | {} / {} | {} |",
            if kill { "`kill_on_drop()`" } else { "plain `.await`" },
            report.wall.as_secs_f64(),
            report.latencies.len(),
            percentile(&report.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&report.latencies, 0.99).as_secs_f64() * 1e3,
            report.runaways_stopped,
            report.others_late,
            report.crashed,
        );
        if report.other_errors > 0 {
            eprintln!("{} requests failed otherwise", report.other_errors);
        }
        if kill {
            // Every worker that was killed or crashed was replaced: the pool still answers.
            assert_eq!(pool.submit(handle, Job::CountPrimes(100)).result(), Ok(25), "the pool answers");
        } else {
            // The runaways still hold their workers; dropping the pool would wait for them.
            pool.kill_workers();
        }
    }
    println!();
    thread_pool_deadline(settings.deadline);
}
