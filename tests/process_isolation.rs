//! Stopping runaway work and trusting no worker, as a user calls it: `Future::kill`, the task
//! timeout (per item in a map), `kill_workers`/`terminate_workers`, Ctrl-C,
//! nested pools, and what the pool's workers pass on to the programs their tasks start.
//! A worker is this binary re-executed, so `main` calls `init()` first (`harness = false`).

mod common;

use common::{Check, PATIENCE, StartMark, eventually};
use concurrent_futures::{Future, ProcessPoolExecutor, TaskError, ThreadPoolExecutor};
use std::time::{Duration, Instant};

fn main() {
    concurrent_futures::init();
    let checks: &[Check] = &[
        ("kill_stops_a_running_task_and_the_pool_goes_on", kill_stops_a_running_task),
        ("kill_cancels_a_pending_task", kill_cancels_a_pending_task),
        ("kill_of_a_done_task_or_a_thread_task_is_false", kill_of_done_or_thread_task),
        ("kill_storm_loses_nothing_else", kill_storm),
        ("task_timeout_kills_only_the_task_that_overran", task_timeout_single),
        ("task_timeout_in_a_map_is_per_item", task_timeout_per_item),
        ("dropping_a_pool_with_a_hung_task_returns_after_the_timeout", drop_with_hung_task),
        ("kill_workers_kills_running_cancels_pending_refuses_later", kill_workers),
        ("terminate_workers_reaps_every_worker", terminate_workers),
        ("workers_leave_sigint_to_the_parent", sigint_is_the_parent_s),
        ("a_task_may_use_its_own_process_pool", nested_pool),
        ("programs_a_task_starts_see_no_worker_setup", nothing_leaks_to_grandchildren),
        ("workers_get_the_program_s_arguments_on_any_thread", workers_get_program_arguments),
    ];
    common::run_checks(checks);
}

/// Waits, with a bound, until `future` runs on a worker.
fn wait_running<T>(future: &Future<T>) {
    assert!(eventually(PATIENCE, || future.is_running() || future.is_done()), "the task never started");
    assert!(future.is_running(), "the task finished before it could be stopped");
}

fn spin(_: ()) -> u32 {
    loop {
        std::hint::spin_loop();
    }
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// The pids of this process's children that are still there.
fn children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit(')').next().map(|rest| rest.split_whitespace().nth(1) == Some(&me))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Marks its start, then spins until it is stopped.
fn spin_marked(path: String) -> u32 {
    common::mark_started(&path);
    spin(())
}

fn kill_stops_a_running_task() {
    let pool = ProcessPoolExecutor::new(1);
    let first = pool.submit(pid, ()).result().unwrap();
    let mark = StartMark::new();
    let runaway = pool.submit(spin_marked, mark.path());
    // Started in the worker, so the kill must end the worker (a kill that arrives earlier
    // skips the task and leaves the worker be).
    mark.wait();
    let asked = Instant::now();
    assert!(runaway.kill());
    let failed_after = asked.elapsed();
    assert!(runaway.is_done(), "kill fails the future at once");
    match runaway.result() {
        Err(TaskError::Killed(why)) => assert!(why.contains("Future::kill"), "{why}"),
        other => panic!("expected Killed, got {other:?}"),
    }
    // The replacement answers.
    let second = pool.submit(pid, ()).result().unwrap();
    assert_ne!(first, second, "the worker that ran the task was replaced");
    eprintln!("kill: future failed after {failed_after:?}, replacement answered after {:?}", asked.elapsed());
}

fn kill_cancels_a_pending_task() {
    let pool = ProcessPoolExecutor::new(1);
    let busy = pool.submit(spin, ());
    wait_running(&busy);
    let queued = pool.submit(nap, 0);
    assert!(queued.kill());
    assert!(queued.is_cancelled());
    assert_eq!(queued.result(), Err(TaskError::Cancelled));
    assert!(busy.kill());
}

fn kill_of_done_or_thread_task() {
    let pool = ProcessPoolExecutor::new(1);
    let done = pool.submit(nap, 0);
    done.wait();
    assert!(!done.kill(), "a finished task cannot be killed");
    assert_eq!(done.result(), Ok(0));

    let threads = ThreadPoolExecutor::new(1);
    let (started_tx, started) = std::sync::mpsc::channel();
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let running = threads.spawn(move || {
        started_tx.send(()).unwrap();
        gate_rx.recv_timeout(PATIENCE).is_ok()
    });
    started.recv_timeout(PATIENCE).unwrap();
    assert!(!running.kill(), "a thread cannot be stopped");
    gate.send(()).unwrap();
    assert_eq!(running.result(), Ok(true), "released by the gate, not by its patience running out");
}

fn square(x: u64) -> u64 {
    x * x
}

fn kill_storm() {
    let pool = ProcessPoolExecutor::new(2);
    let mut others = Vec::new();
    for round in 0..100u64 {
        let runaway = pool.submit(spin, ());
        others.push((round, pool.submit(square, round)));
        wait_running(&runaway);
        assert!(runaway.kill(), "round {round}");
        assert!(matches!(runaway.result(), Err(TaskError::Killed(_))), "round {round}");
        others.push((round + 1000, pool.submit(square, round + 1000)));
    }
    for (x, future) in others {
        assert_eq!(future.result(), Ok(x * x), "task {x} lost its result");
    }
    drop(pool);
    assert_eq!(children(), Vec::<u32>::new(), "a worker outlived its pool");
}

fn timeout_pool(workers: usize, timeout: Duration) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder().max_workers(workers).task_timeout(timeout).build().unwrap()
}

fn task_timeout_single() {
    let pool = timeout_pool(1, Duration::from_millis(300));
    let hung = pool.submit(spin, ());
    let after = pool.submit(nap, 1);
    match hung.result() {
        Err(TaskError::Killed(why)) => assert!(why.contains("task timeout of 300ms"), "{why}"),
        other => panic!("expected Killed, got {other:?}"),
    }
    assert_eq!(after.result(), Ok(1), "the task behind it ran on the replacement");
}

fn hang_on_3(x: u64) -> u64 {
    if x == 3 {
        spin(());
    }
    x * 10
}

fn task_timeout_per_item() {
    let pool = timeout_pool(1, Duration::from_millis(300));
    let pid_before = pool.submit(pid, ()).result().unwrap();
    let results: Vec<Result<u64, TaskError>> = pool.map(hang_on_3, 0..8).chunksize(8).collect();
    for (x, result) in results.iter().enumerate() {
        if x == 3 {
            assert!(matches!(result, Err(TaskError::Killed(why)) if why.contains("timeout")), "{result:?}");
        } else {
            assert_eq!(*result, Ok(x as u64 * 10), "item {x}");
        }
    }
    assert_ne!(pool.submit(pid, ()).result().unwrap(), pid_before, "the worker was replaced");
}

fn drop_with_hung_task() {
    let (dropped_tx, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pool = timeout_pool(1, Duration::from_millis(200));
        let hung = pool.submit(spin, ());
        drop(pool);
        let _ = dropped_tx.send(hung.result());
    });
    match dropped.recv_timeout(PATIENCE) {
        Ok(Err(TaskError::Killed(_))) => {}
        Ok(other) => panic!("expected Killed, got {other:?}"),
        Err(_) => panic!("dropping the pool hung"),
    }
}

fn kill_workers() {
    let pool = ProcessPoolExecutor::new(2);
    let running: Vec<_> = (0..2).map(|_| pool.submit(spin, ())).collect();
    for future in &running {
        wait_running(future);
    }
    let queued = pool.submit(nap, 0);
    pool.kill_workers();
    for future in running {
        match future.result() {
            Err(TaskError::Killed(why)) => assert!(why.contains("kill_workers"), "{why}"),
            other => panic!("expected Killed, got {other:?}"),
        }
    }
    assert_eq!(queued.result(), Err(TaskError::Cancelled));
    assert_eq!(pool.submit(nap, 0).result(), Err(TaskError::Shutdown));
    assert_eq!(children(), Vec::<u32>::new(), "every worker is reaped");
}

fn terminate_workers() {
    let pool = ProcessPoolExecutor::new(1);
    let running = pool.submit(nap, 60_000);
    wait_running(&running);
    pool.terminate_workers();
    match running.result() {
        Err(TaskError::Killed(why)) => assert!(why.contains("terminate_workers"), "{why}"),
        other => panic!("expected Killed, got {other:?}"),
    }
    assert_eq!(children(), Vec::<u32>::new(), "every worker is reaped");
}

/// Sends Ctrl-C's signal to the worker itself, then answers.
fn interrupt_myself(_: ()) -> bool {
    let me = std::process::id().to_string();
    std::process::Command::new("kill").args(["-INT", &me]).status().is_ok_and(|s| s.success())
}

fn sigint_is_the_parent_s() {
    let pool = ProcessPoolExecutor::new(1);
    let worker = pool.submit(pid, ()).result().unwrap();
    assert_eq!(pool.submit(interrupt_myself, ()).result(), Ok(true));
    assert_eq!(pool.submit(pid, ()).result(), Ok(worker), "the worker survived SIGINT");
}

fn sum_of_squares_in_a_pool(n: u64) -> u64 {
    let inner = ProcessPoolExecutor::new(2);
    inner.map(square, 0..n).map(Result::unwrap).sum()
}

fn nested_pool() {
    let pool = ProcessPoolExecutor::new(1);
    assert_eq!(pool.submit(sum_of_squares_in_a_pool, 10).result(), Ok(285));
}

/// What a program started by a task sees: its environment and its standard input.
fn start_a_program(_: ()) -> (String, String) {
    let env =
        std::process::Command::new("env").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let stdin = std::process::Command::new("cat")
        .stdin(std::process::Stdio::inherit())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    (env.unwrap_or_default(), stdin.unwrap_or_default())
}

/// The descriptors a program started from here has open (its own listing's included).
fn open_descriptors_of_a_program(_: ()) -> String {
    std::process::Command::new("ls")
        .arg("/proc/self/fd")
        .stdin(std::process::Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn nothing_leaks_to_grandchildren() {
    let pool = ProcessPoolExecutor::new(1);
    let (env, stdin) = pool.submit(start_a_program, ()).result().unwrap();
    assert!(env.contains("PATH="), "the program ran: {env}");
    // The worker's own variables may be inherited (`init()` leaves the environment alone), but
    // they have no effect there: the program's parent is the worker, not the process they name
    // (process_hardening's `a_program_a_task_starts_is_not_taken_for_a_worker` checks that).
    // (With feature `tracing`, the level the worker captures events up to, read in worker mode
    // only.)
    let inherited =
        ["CONCURRENT_FUTURES_WORKER=", "CONCURRENT_FUTURES_PARENT_PID=", "CONCURRENT_FUTURES_TRACE_LEVEL="];
    let mut leaked = env.lines().filter(|l| l.starts_with("CONCURRENT_FUTURES"));
    assert!(leaked.all(|l| inherited.iter().any(|v| l.starts_with(v))), "a variable leaked: {env}");
    assert_eq!(stdin, "", "the program's stdin is empty, not the worker's secret pipe");
    // The worker's channels and pipes stay with it: a program a task starts has the
    // descriptors one started by the parent has, and no more.
    let from_task = pool.submit(open_descriptors_of_a_program, ()).result().unwrap();
    assert_eq!(from_task, open_descriptors_of_a_program(()), "a descriptor leaked");
}

fn my_arguments(_: ()) -> Vec<String> {
    std::env::args().collect()
}

fn workers_get_program_arguments() {
    let ours: Vec<String> = std::env::args().collect();
    // A pool built on a named thread that is not a test (as a tokio worker is).
    let theirs = std::thread::Builder::new()
        .name("tokio-runtime-worker".into())
        .spawn(|| {
            let pool = ProcessPoolExecutor::new(1);
            pool.submit(my_arguments, ()).result()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(theirs, Ok(ours));
}
