//! Payloads in flight both ways, and every wait of the process pool that could hang, as a user
//! calls the pool: a matrix of item sizes × bursts of submits and maps × workers × task timeout
//! (every result compared byte for byte), the hangs of issue 16 one by one (large items both
//! ways, a spinning item under a task timeout, an initializer that never returns, a stopped
//! worker, two concurrent shutdowns), and a property-based stress over all of them with kills.
//! Each check has a deadline (tests/common): a hang fails its check and names its last step.
//! A worker is this binary re-executed, so `main` calls `init()` first (`harness = false`).
//! Linux (workers are watched through `/proc`).

mod common;
mod procs;

use common::{Check, PATIENCE, deadline, eventually, step};
use concurrent_futures::{Executor, Future, ProcessPoolExecutor, TaskError};
use procs::{
    BOUND, KillIfLeft, assert_no_new_children, assert_same, children, echo, pattern, pid, signal, spin,
    wait_running, within,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn main() {
    concurrent_futures::init();
    let checks: &[Check] = &[
        ("payload_matrix_0_b", || matrix(0, 48)),
        ("payload_matrix_1_kib", || matrix(KIB, 48)),
        ("payload_matrix_64_kib", || matrix(64 * KIB, 24)),
        ("payload_matrix_256_kib", || matrix(256 * KIB, 32)),
        ("payload_matrix_600_kib", || matrix(600 * KIB, 24)),
        ("payload_matrix_1_mib", || matrix(MIB, 20)),
        ("payload_matrix_4_mib", || matrix(4 * MIB, 6)),
        ("payload_matrix_16_mib", || matrix(16 * MIB, 2)),
        ("map_of_20_items_of_1_mib_on_2_workers", map_of_20_items_of_1_mib_on_2_workers),
        ("twenty_submits_of_512_kib_on_1_worker", twenty_submits_of_512_kib_on_1_worker),
        ("map_of_40_items_of_600_kib_with_a_task_timeout", map_of_40_items_of_600_kib_with_a_task_timeout),
        ("a_spinning_item_among_1_mib_items_is_timed_out_alone", a_spinning_item_among_1_mib_items),
        ("kill_workers_with_an_initializer_that_never_returns", kill_workers_with_a_stuck_initializer),
        (
            "terminate_workers_with_an_initializer_that_never_returns",
            terminate_workers_with_a_stuck_initializer,
        ),
        ("shutdown_cancel_with_an_initializer_that_never_returns", shutdown_with_a_stuck_initializer),
        ("kill_of_a_task_whose_worker_is_stopped", kill_of_a_task_whose_worker_is_stopped),
        ("two_concurrent_shutdowns_both_wait_for_the_running_task", two_concurrent_shutdowns),
        ("property_payloads_timeouts_and_kills", property_stress),
    ];
    common::run_checks(checks);
}

/// A pool of `workers`, with a task timeout if given.
fn pool(workers: usize, task_timeout: Option<Duration>) -> ProcessPoolExecutor {
    let builder = ProcessPoolExecutor::builder().max_workers(workers);
    match task_timeout {
        Some(limit) => builder.task_timeout(limit),
        None => builder,
    }
    .build()
    .expect("a process pool")
}

/// How the items of a case reach the pool.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// One submit per item, all of them before the first result is read.
    Burst,
    /// A map with this chunksize.
    Map(usize),
}

/// Echoes `count` items of `size` bytes through `pool` as `mode` says; the results in order.
fn echo_all(
    pool: &ProcessPoolExecutor,
    mode: Mode,
    size: usize,
    count: usize,
) -> Vec<Result<Vec<u8>, TaskError>> {
    match mode {
        Mode::Burst => {
            let futures: Vec<_> = (0..count).map(|i| pool.submit(echo, pattern(i, size))).collect();
            futures.into_iter().map(Future::result).collect()
        }
        Mode::Map(chunksize) => {
            pool.map(echo, (0..count).map(|i| pattern(i, size))).chunksize(chunksize).collect()
        }
    }
}

/// Every item came back, in order, byte for byte.
#[track_caller]
fn assert_echoed(case: &str, size: usize, count: usize, results: Vec<Result<Vec<u8>, TaskError>>) {
    assert_eq!(results.len(), count, "{case}: as many results as items");
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(bytes) => assert_same(&format!("{case}, item {i}"), &bytes, &pattern(i, size)),
            Err(e) => panic!("{case}, item {i}: {e:?}"),
        }
    }
}

/// Items of `size` bytes, `count` per case, through every mode × 1 and 2 workers × without and
/// with a task timeout (60 s: it never fires); each pool is dropped at the end of its case.
fn matrix(size: usize, count: usize) {
    let before = children();
    for mode in [Mode::Burst, Mode::Map(1), Mode::Map(4)] {
        for workers in [1, 2] {
            for timeout in [None, Some(Duration::from_secs(60))] {
                let case = format!(
                    "{count} items of {size} B, {mode:?}, {workers} workers, task_timeout {timeout:?}"
                );
                step(&case);
                let pool = pool(workers, timeout);
                let results = echo_all(&pool, mode, size, count);
                assert_echoed(&case, size, count, results);
                step(format!("{case}: dropping the pool"));
                drop(pool);
            }
        }
    }
    assert_no_new_children(&before, "after the matrix");
}

fn map_of_20_items_of_1_mib_on_2_workers() {
    let pool = ProcessPoolExecutor::new(2);
    step("the map");
    let results: Vec<_> = pool.map(echo, (0..20).map(|i| pattern(i, MIB))).collect();
    assert_echoed("map of 20 × 1 MiB", MIB, 20, results);
    step("dropping the pool");
    drop(pool);
}

fn twenty_submits_of_512_kib_on_1_worker() {
    let pool = ProcessPoolExecutor::new(1);
    step("the submits");
    let futures: Vec<_> = (0..20).map(|_| pool.submit(echo, vec![1u8; 512 << 10])).collect();
    step("the results");
    for (i, future) in futures.into_iter().enumerate() {
        assert_same(&format!("submit {i}"), &future.result().unwrap(), &[1u8; 512 << 10]);
    }
    step("dropping the pool");
    drop(pool);
}

fn map_of_40_items_of_600_kib_with_a_task_timeout() {
    let pool = pool(2, Some(Duration::from_secs(60)));
    step("the map");
    let results: Vec<_> = pool.map(echo, (0..40).map(|i| pattern(i, 600 * KIB))).collect();
    assert_echoed("map of 40 × 600 KiB with a task timeout", 600 * KIB, 40, results);
    step("dropping the pool");
    drop(pool);
}

/// Echoes its bytes, or spins forever if told to.
fn echo_or_spin((spins, bytes): (bool, Vec<u8>)) -> Vec<u8> {
    if spins {
        spin(());
    }
    bytes
}

fn a_spinning_item_among_1_mib_items() {
    const SPINNER: usize = 5;
    let pool = pool(2, Some(Duration::from_millis(800)));
    step("the map");
    let items = (0..12).map(|i| (i == SPINNER, pattern(i, MIB)));
    let results: Vec<_> = pool.map(echo_or_spin, items).collect();
    assert_eq!(results.len(), 12);
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(bytes) if i != SPINNER => assert_same(&format!("item {i}"), &bytes, &pattern(i, MIB)),
            Err(TaskError::Killed(why)) if i == SPINNER => assert!(why.contains("timeout"), "{why}"),
            other => panic!("item {i}: {:?}", other.map(|bytes| bytes.len())),
        }
    }
    step("dropping the pool");
    drop(pool);
}

/// Where the initializer of a pool of this process tagged `tag` says it runs (`/tmp`).
fn initializer_flag(tag: u32, parent: u32) -> PathBuf {
    std::env::temp_dir().join(format!("concurrent-futures-test-stuck-initializer-{parent}-{tag}"))
}

/// An initializer that says it runs (its pid in a file), then never returns.
fn stuck_initializer<const TAG: u32>() {
    let _ = std::fs::write(
        initializer_flag(TAG, std::os::unix::process::parent_id()),
        std::process::id().to_string(),
    );
    loop {
        std::thread::park();
    }
}

/// A 1-worker pool whose worker is in an initializer that never returns, a task submitted to
/// it (pending: no worker can take it), and the worker's pid.
fn pool_with_a_stuck_worker<const TAG: u32>() -> (ProcessPoolExecutor, Future<u32>, KillIfLeft) {
    let flag = initializer_flag(TAG, std::process::id());
    let _ = std::fs::remove_file(&flag);
    step("building the pool");
    let pool =
        ProcessPoolExecutor::builder().max_workers(1).initializer(stuck_initializer::<TAG>).build().unwrap();
    step("submitting a task");
    let queued = pool.submit(pid, ());
    step("waiting for the worker to be in its initializer");
    let mut worker = None;
    let started = eventually(PATIENCE, || {
        worker = std::fs::read_to_string(&flag).ok().and_then(|s| s.parse::<u32>().ok());
        worker.is_some()
    });
    assert!(started, "the worker never ran its initializer");
    let _ = std::fs::remove_file(&flag);
    (pool, queued, KillIfLeft(worker.unwrap()))
}

/// The error of a task submitted before the pool was stopped while its only worker was starting.
#[track_caller]
fn assert_stopped_before_it_ran(queued: Future<u32>) {
    match queued.result_timeout(PATIENCE) {
        Err(TaskError::Cancelled | TaskError::Killed(_) | TaskError::BrokenPool(_)) => {}
        other => panic!(
            "a task waiting for a stuck worker: expected Cancelled, Killed or BrokenPool, got {other:?}"
        ),
    }
}

fn kill_workers_with_a_stuck_initializer() {
    let (pool, queued, worker) = pool_with_a_stuck_worker::<1>();
    step("kill_workers()");
    let pool = within("kill_workers() with a worker in its initializer", BOUND, move || {
        pool.kill_workers();
        pool
    });
    assert_stopped_before_it_ran(queued);
    assert_eq!(pool.submit(pid, ()).result_timeout(PATIENCE), Err(TaskError::Shutdown));
    step("dropping the pool");
    within("dropping the pool after kill_workers()", BOUND, move || drop(pool));
    assert!(!children().contains(&worker.0), "the worker outlived its pool");
}

fn terminate_workers_with_a_stuck_initializer() {
    let (pool, queued, worker) = pool_with_a_stuck_worker::<2>();
    step("terminate_workers()");
    let pool = within("terminate_workers() with a worker in its initializer", BOUND, move || {
        pool.terminate_workers();
        pool
    });
    assert_stopped_before_it_ran(queued);
    step("dropping the pool");
    within("dropping the pool after terminate_workers()", BOUND, move || drop(pool));
    assert!(!children().contains(&worker.0), "the worker outlived its pool");
}

fn shutdown_with_a_stuck_initializer() {
    let (pool, queued, worker) = pool_with_a_stuck_worker::<3>();
    step("shutdown(true, true)");
    let pool = within("shutdown(wait, cancel_futures) with a worker in its initializer", BOUND, move || {
        pool.shutdown(true, true);
        pool
    });
    assert_stopped_before_it_ran(queued);
    step("dropping the pool");
    within("dropping the pool after shutdown(true, true)", BOUND, move || drop(pool));
    assert!(!children().contains(&worker.0), "the worker outlived its pool");
}

fn kill_of_a_task_whose_worker_is_stopped() {
    let pool = ProcessPoolExecutor::new(1);
    let worker = pool.submit(pid, ()).result_timeout(PATIENCE).unwrap();
    let _cleanup = KillIfLeft(worker);
    let task = pool.submit(spin, ());
    wait_running(&task);
    step("stopping the worker");
    assert!(signal(worker, libc::SIGSTOP));
    assert!(eventually(PATIENCE, || procs::state(worker) == Some('T')), "the worker did not stop");
    step("Future::kill()");
    let (killed, task) =
        within("Future::kill() of a task on a stopped worker", BOUND, move || (task.kill(), task));
    assert!(killed, "kill() of a running task says it stopped it");
    match task.result_timeout(BOUND) {
        Err(TaskError::Killed(why)) => assert!(why.contains("Future::kill"), "{why}"),
        other => panic!("expected Killed, got {other:?}"),
    }
    step("the pool's next task");
    match pool.submit(pid, ()).result_timeout(BOUND) {
        Ok(replacement) => assert_ne!(replacement, worker, "the next task ran on the stopped worker"),
        Err(e) => panic!("the pool's next task did not run within {BOUND:?}: {e:?}"),
    }
    step("dropping the pool");
    drop(pool);
    assert!(!children().contains(&worker), "the stopped worker outlived its pool");
}

/// Blocks until a byte arrives on the named pipe `pipe`, then creates `done` and returns: the
/// flag is there once the task is about to end.
fn wait_for_the_pipe((pipe, done): (PathBuf, PathBuf)) -> bool {
    use std::io::Read;
    let mut byte = [0u8; 1];
    let read = std::fs::File::open(&pipe).and_then(|mut p| p.read_exact(&mut byte)).is_ok();
    std::fs::write(&done, b"done").is_ok() && read
}

fn two_concurrent_shutdowns() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("concurrent-futures-test-shutdowns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (pipe, done) = (dir.join("gate"), dir.join("done"));
    let path = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path, which lives across the call.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");

    let pool = Arc::new(ProcessPoolExecutor::new(1));
    let task = pool.submit(wait_for_the_pipe, (pipe.clone(), done.clone()));
    wait_running(&task);
    step("two threads call shutdown(true, false)");
    let (tids_tx, tids) = std::sync::mpsc::channel();
    let shutdowns: Vec<_> = (0..2)
        .map(|_| {
            let (pool, done, tids_tx) = (Arc::clone(&pool), done.clone(), tids_tx.clone());
            std::thread::spawn(move || {
                // SAFETY: gettid has no preconditions.
                tids_tx.send(unsafe { libc::gettid() }).unwrap();
                pool.shutdown(true, false);
                // Whether the task had ended when this shutdown returned.
                done.exists()
            })
        })
        .collect();
    let tids: Vec<i32> = (0..2).map(|_| tids.recv_timeout(PATIENCE).unwrap()).collect();
    // Both are inside shutdown (asleep there) or have already returned from it.
    let both_waiting = eventually(PATIENCE, || {
        shutdowns
            .iter()
            .zip(&tids)
            .all(|(thread, &tid)| thread.is_finished() || procs::thread_state(tid) == Some('S'))
    });
    assert!(both_waiting, "the shutdown calls neither waited nor returned");
    step("releasing the task");
    std::fs::OpenOptions::new().write(true).open(&pipe).and_then(|mut p| p.write_all(b"x")).unwrap();
    step("waiting for both shutdowns");
    for (i, thread) in shutdowns.into_iter().enumerate() {
        let waited = within("shutdown(true, false)", PATIENCE, move || thread.join().unwrap());
        assert!(waited, "shutdown call {i} returned before the running task had finished");
    }
    assert_eq!(task.result_timeout(PATIENCE), Ok(true));
    drop(pool);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One case of the property-based stress.
#[derive(Clone, Debug)]
struct Case {
    /// The size of each item.
    sizes: Vec<usize>,
    workers: usize,
    /// None: one submit per item; Some(n): a map with chunksize n.
    chunksize: Option<usize>,
    /// None, a task timeout that never fires, or a short one that stops the spinning items.
    timeout: Option<Duration>,
    /// Per item: whether it spins forever (kept only where a timeout or a kill stops it).
    spins: Vec<bool>,
    /// Per item: whether the test kills its future (submits only).
    kills: Vec<bool>,
}

fn cases() -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::prelude::*;
    let size = prop_oneof![
        Just(0usize),
        1..4 * KIB,
        Just(64 * KIB),
        200 * KIB..700 * KIB,
        Just(MIB),
        MIB..3 * MIB / 2,
    ];
    let timeout =
        prop_oneof![Just(None), Just(Some(Duration::from_secs(60))), Just(Some(Duration::from_millis(700)))];
    (
        proptest::collection::vec(size, 1..24),
        1..=3usize,
        proptest::option::of(1..=5usize),
        timeout,
        proptest::collection::vec(proptest::bool::weighted(0.1), 24),
        proptest::collection::vec(proptest::bool::weighted(0.25), 24),
    )
        .prop_map(|(sizes, workers, chunksize, timeout, spins, kills)| {
            let n = sizes.len();
            let short = timeout.is_some_and(|t| t < Duration::from_secs(1));
            let kills: Vec<bool> = kills[..n].iter().map(|&k| k && chunksize.is_none()).collect();
            let spins = (0..n).map(|i| spins[i] && (short || kills[i])).collect();
            Case { sizes, workers, chunksize, timeout, spins, kills }
        })
}

/// Runs one case; every property is asserted here.
fn run_case(case: &Case) {
    let before = children();
    let n = case.sizes.len();
    let pool = pool(case.workers, case.timeout);
    let items = || (0..n).map(|i| (case.spins[i], pattern(i, case.sizes[i])));
    // (the result, whether the test killed it and kill() said it stopped it)
    let results: Vec<(Result<Vec<u8>, TaskError>, bool)> = match case.chunksize {
        None => {
            let futures: Vec<Future<Vec<u8>>> = items().map(|item| pool.submit(echo_or_spin, item)).collect();
            let killed: Vec<bool> =
                futures.iter().zip(&case.kills).map(|(f, &kill)| kill && f.kill()).collect();
            futures
                .into_iter()
                .zip(killed)
                .enumerate()
                .map(|(i, (future, killed))| {
                    if !future.wait_timeout(PATIENCE) {
                        common::hangs(&format!("item {i} did not end within {PATIENCE:?}"));
                    }
                    (future.result(), killed)
                })
                .collect()
        }
        Some(chunksize) => pool
            .map(echo_or_spin, items())
            .chunksize(chunksize)
            .timeout(PATIENCE)
            .map(|r| match r {
                Err(TaskError::Timeout) => common::hangs(&format!("the map did not end within {PATIENCE:?}")),
                r => (r, false),
            })
            .collect(),
    };
    assert_eq!(results.len(), n, "a result per item");
    let (mut completed, mut failed, mut cancelled) = (0u64, 0u64, 0u64);
    for (i, (result, killed)) in results.into_iter().enumerate() {
        match result {
            Ok(bytes) => {
                assert!(!killed, "item {i}: kill() said it stopped it, yet it returned");
                assert!(!case.spins[i], "item {i}: a spinning item returned");
                assert_same(&format!("item {i}"), &bytes, &pattern(i, case.sizes[i]));
                completed += 1;
            }
            Err(TaskError::Cancelled) => {
                assert!(killed, "item {i}: cancelled, but nobody killed it");
                cancelled += 1;
            }
            Err(TaskError::Killed(why)) => {
                assert!(
                    killed || case.spins[i],
                    "item {i}: killed ({why}), but nobody killed it nor did it spin"
                );
                failed += 1;
            }
            Err(other) => panic!("item {i}: {other:?}"),
        }
    }
    assert_eq!(completed + failed + cancelled, n as u64);
    // (PoolStats would be checked against these counts here: `stats()` is not in the crate yet.)
    drop(pool);
    assert_no_new_children(&before, "after the case");
}

fn property_stress() {
    use proptest::test_runner::{Config, TestRunner};
    let count = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24);
    deadline(Duration::from_secs(60 + 10 * u64::from(count)));
    let config =
        Config { cases: count, failure_persistence: None, max_shrink_iters: 16, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&cases(), |case| {
        step(format!("{case:?}"));
        run_case(&case);
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
