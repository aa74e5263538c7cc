//! A live dashboard of a process pool: its counts, redrawn ten times a second while it works.
//!
//! A batch of jobs goes to a `ProcessPoolExecutor` with a per-task timeout and a bounded queue.
//! One job in ten is a bug that would run for ever: the task timeout kills its worker, the job
//! fails with `TaskError::Killed`, and the pool starts a replacement, so `failed` and
//! `workers_replaced` grow while the rest of the batch goes on. Meanwhile `max_queued` keeps the
//! submitting thread at most a few jobs ahead of the workers.
//!
//! ```text
//! cargo run --release --example dashboard            # a batch of 120 jobs, about 4 s
//! cargo run --release --example dashboard -- 20      # a batch of 20
//! ```
//!
//! On a terminal the counts are one line, redrawn in place; piped into a file or a test, a
//! plain line is printed each time they change. At the end it prints a summary and checks that
//! the counts add up.

use concurrent_futures::{Executor, PoolStats, ProcessPoolExecutor, TaskError};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// A job that runs longer than this is killed, and its worker replaced.
const TASK_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the dashboard reads `pool.stats()` (cheap: a few atomic loads).
const REFRESH: Duration = Duration::from_millis(100);

/// Runs in a worker process: "works" for 40 to 120 ms, except that job 3, 13, 23... never ends.
fn job(n: u64) -> u64 {
    let work = if n % 10 == 3 { Duration::from_secs(3600) } else { Duration::from_millis(40 + n % 5 * 20) };
    std::thread::sleep(work);
    n * n
}

/// One line of counts, with a bar of the tasks that have ended.
fn status_line(stats: &PoolStats, batch: u64) -> String {
    let ended = stats.completed + stats.failed + stats.cancelled;
    let filled = (ended * 20).checked_div(batch).unwrap_or(20) as usize;
    let width = batch.to_string().len(); // so that the line keeps its length as `ended` grows
    format!(
        "[{:<20}] {ended:>width$}/{batch}  workers {}/{}  busy {}  queued {:>2}  completed {}  failed {}  \
         cancelled {}  replaced {}",
        "#".repeat(filled),
        stats.workers,
        stats.max_workers,
        stats.busy,
        stats.queued,
        stats.completed,
        stats.failed,
        stats.cancelled,
        stats.workers_replaced,
    )
}

/// Every task of the batch has ended, and nothing waits or runs any more.
fn settled(stats: &PoolStats, batch: u64) -> bool {
    stats.completed + stats.failed + stats.cancelled == batch && stats.queued == 0 && stats.busy == 0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    concurrent_futures::init(); // first: in a worker process, this runs the worker instead

    let batch: u64 = match std::env::args().nth(1).map(|arg| arg.parse()) {
        None => 120,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: dashboard [BATCH]    (BATCH: how many jobs to run, 120 by default)");
            std::process::exit(2);
        }
    };
    let pool = ProcessPoolExecutor::builder()
        .max_workers(4)
        .task_timeout(TASK_TIMEOUT) // a runaway job is killed after this long
        .max_queued(8) // `submit` waits while 8 jobs wait to start
        .build()?;

    let terminal = std::io::stdout().is_terminal();
    let started = Instant::now();
    let futures = std::thread::scope(|scope| {
        // Another thread submits the batch: with `max_queued`, its `submit` calls wait for room,
        // so the main thread stays free to draw.
        let submitter = scope.spawn(|| (0..batch).map(|n| pool.submit(job, n)).collect::<Vec<_>>());

        let mut last_line = String::new();
        loop {
            let stats = pool.stats();
            let line = status_line(&stats, batch);
            if terminal {
                // `\r` goes back to the start of the line, `\x1b[K` erases what was left of it.
                print!("\r{line}\x1b[K");
                let _ = std::io::stdout().flush();
            } else if line != last_line {
                println!("{line}");
            }
            last_line = line;
            if settled(&stats, batch) {
                break;
            }
            std::thread::sleep(REFRESH);
        }
        if terminal {
            println!();
        }
        submitter.join().map_err(|_| "the submitting thread panicked")
    })?;

    // What the futures say, to compare with the pool's counts.
    let (mut completed, mut killed, mut other) = (0u64, 0u64, 0u64);
    for future in futures {
        match future.result() {
            Ok(_) => completed += 1,
            Err(TaskError::Killed(_)) => killed += 1,
            Err(error) => {
                other += 1;
                eprintln!("unexpected: {error}");
            }
        }
    }
    let stats = pool.stats();
    println!(
        "{batch} tasks in {:.1} s: {completed} completed, {killed} killed by the task timeout, \
         {other} other errors; {} workers replaced",
        started.elapsed().as_secs_f64(),
        stats.workers_replaced,
    );

    // The pool's counts agree with the futures, and nothing is left waiting or running.
    if stats.completed + stats.failed != batch
        || (stats.completed, stats.failed) != (completed, killed + other)
        || stats.queued != 0
        || stats.busy != 0
    {
        return Err(format!("the counts do not add up: {stats:?}").into());
    }
    println!("the counts add up: completed + failed == {batch}, queued == 0, busy == 0");
    Ok(())
}
