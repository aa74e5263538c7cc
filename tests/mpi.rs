//! `MpiPoolExecutor` under a real `mpirun -n 3 --oversubscribe` (feature `mpi`). This binary is
//! both the test runner and the MPI program: the runner starts `mpirun` on itself with a
//! scenario name, always under a timeout (an MPI failure shows as a hang), and checks what rank
//! 0 printed and that every rank exited 0.

mod common;

use concurrent_futures::{BuildError, Executor, MpiPoolExecutor, SharedMap, TaskError, merge_results};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn main() {
    concurrent_futures::init(); // ranks 1..N serve here
    let args: Vec<String> = std::env::args().collect();
    if let Some(scenario) = args.iter().find_map(|a| a.strip_prefix("scenario=")) {
        return run_scenario(scenario);
    }
    common::run_checks(&[
        ("outside_mpirun_new_is_an_error_naming_mpirun", outside_mpirun_new_is_an_error_naming_mpirun),
        ("results_match_sequential_and_tasks_run_on_every_worker_rank", || expect_ok("spread")),
        ("panics_and_encoding_errors_stay_on_their_futures", || expect_ok("failures")),
        ("map_options_work_over_ranks", || expect_ok("map_options")),
        ("shutdown_and_pools_one_after_another", || expect_ok("shutdown")),
        ("a_rank_running_another_build_is_refused", a_rank_running_another_build_is_refused),
        (
            "a_crashing_rank_ends_the_job_instead_of_hanging_it",
            a_crashing_rank_ends_the_job_instead_of_hanging_it,
        ),
    ]);
}

fn outside_mpirun_new_is_an_error_naming_mpirun() {
    match MpiPoolExecutor::new() {
        Err(BuildError::MpiUnavailable(why)) => assert!(why.contains("mpirun -n"), "{why}"),
        other => panic!("expected MpiUnavailable, got {other:?}"),
    }
}

/// Where cargo put the example `name` (built by `cargo test --features mpi`).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().expect("own path");
    deps.parent().and_then(|d| d.parent()).expect("target/<profile>").join("examples").join(name)
}

/// Runs `mpirun` with `ranks` (each `-n k program args...`), under a timeout; returns what the
/// job printed on stdout and on stderr, and whether every rank exited 0.
fn mpirun(ranks: &[(u32, PathBuf, &str)]) -> (String, String, bool) {
    let mut command = Command::new("timeout");
    command.args(["--kill-after=10", "120", "mpirun", "--oversubscribe", "--allow-run-as-root"]);
    for (i, (n, program, arg)) in ranks.iter().enumerate() {
        if i > 0 {
            command.arg(":");
        }
        command.arg("-n").arg(n.to_string()).arg(program).arg(arg);
    }
    let output = command
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .output()
        .expect("timeout and mpirun are installed (see the README)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (stdout, stderr, output.status.success())
}

fn expect_ok(scenario: &str) {
    let me = std::env::current_exe().expect("own path");
    let arg = format!("scenario={scenario}");
    let (stdout, stderr, success) = mpirun(&[(3, me, &arg)]);
    assert!(success, "mpirun failed or timed out:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{scenario}: ok")), "rank 0 did not finish the scenario: {stdout}");
}

fn a_rank_running_another_build_is_refused() {
    let me = std::env::current_exe().expect("own path");
    let other = example("mpi_primes");
    assert!(other.exists(), "{} is built by `cargo test --features mpi`", other.display());
    let (stdout, stderr, success) = mpirun(&[(1, me, "scenario=mismatch"), (2, other, "--as-worker")]);
    assert!(success, "every rank exits 0, the refused ones too:\n{stdout}\n{stderr}");
    assert!(stderr.contains("runs another build"), "the refused ranks say why: {stderr}");
    assert!(stdout.contains("mismatch: ok"), "{stdout}");
}

fn a_crashing_rank_ends_the_job_instead_of_hanging_it() {
    let me = std::env::current_exe().expect("own path");
    // Its output (the aborting rank's report, mpirun's notice) is expected, and not shown.
    let (stdout, stderr, success) = mpirun(&[(3, me, "scenario=crash")]);
    assert!(!success, "mpirun reports the crash: {stdout}");
    assert!(stderr.contains("rank 1") || stderr.contains("rank 2"), "mpirun names the rank: {stderr}");
    assert!(!stdout.contains("crash: ok"), "rank 0 did not go on as if nothing happened");
    assert!(stdout.contains("crash: submitted"), "rank 0 got as far as the crash: {stdout}");
}

// ---- what rank 0 runs ----

fn run_scenario(name: &str) {
    let pool = MpiPoolExecutor::new().expect("started by mpirun");
    assert_eq!(pool.max_workers(), 2);
    match name {
        "spread" => spread(&pool),
        "failures" => failures(&pool),
        "map_options" => map_options(&pool),
        "shutdown" => shutdown(pool),
        "mismatch" => mismatch(&pool),
        "crash" => crash(&pool),
        other => panic!("no scenario {other}"),
    }
    println!("{name}: ok");
}

fn prime_or_zero(n: u64) -> u64 {
    let prime = n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0);
    if prime { n } else { 0 }
}

fn pid_after_a_nap(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

fn spread(pool: &MpiPoolExecutor) {
    let over_ranks: Vec<u64> = pool.map(prime_or_zero, 0..5000).chunksize(100).map(Result::unwrap).collect();
    let sequential: Vec<u64> = (0..5000).map(prime_or_zero).collect();
    assert_eq!(over_ranks, sequential);
    assert_eq!(pool.submit(|s: String| s.len(), "four".to_owned()).result(), Ok(4));
    let futures: Vec<_> = (0..20).map(|_| pool.submit(pid_after_a_nap, 20)).collect();
    let pids: HashSet<u32> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(pids.len(), 2, "tasks ran on both worker ranks: {pids:?}");
    assert!(!pids.contains(&std::process::id()), "no task ran on rank 0");
    // Large messages both ways at once (sent without waiting on each other: no deadlock).
    let echoes: Vec<_> = (0..12u8).map(|i| pool.submit(|v: Vec<u8>| v, vec![i; 1 << 20])).collect();
    for (i, echo) in echoes.into_iter().enumerate() {
        assert_eq!(echo.result().unwrap(), vec![i as u8; 1 << 20]);
    }
    let pairs = (0..10u32).map(|k| pool.submit(|k: u32| (k, k * k), k));
    let merged: std::collections::HashMap<u32, u32> = merge_results(pairs).unwrap();
    assert_eq!(merged[&9], 81);
}

/// Cannot be encoded: its `Serialize` fails.
#[derive(Debug)]
struct Unsendable;

impl serde::Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unsendable cannot be sent"))
    }
}

impl<'de> serde::Deserialize<'de> for Unsendable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unsendable)
    }
}

fn panics_on_three(x: u32) -> u32 {
    assert!(x != 3, "three is not welcome");
    x
}

fn failures(pool: &MpiPoolExecutor) {
    match pool.submit(panics_on_three, 3).result() {
        Err(TaskError::Panicked(message)) => {
            assert!(message.contains("three is not welcome") && message.contains("mpi.rs"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let items: Vec<_> = pool.map(panics_on_three, 0..6).chunksize(4).collect();
    assert!(matches!(items[3], Err(TaskError::Panicked(_))));
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 5, "the other items of the chunk ran");
    assert!(matches!(
        pool.submit(|_: Unsendable| 1u8, Unsendable).result(),
        Err(TaskError::Serialization(_))
    ));
    assert!(matches!(pool.submit(|_: u8| Unsendable, 1).result(), Err(TaskError::Serialization(_))));
    let map: SharedMap<u32, u32> = SharedMap::new();
    match pool.submit(|m: SharedMap<u32, u32>| m.len(), map).result() {
        Err(TaskError::Serialization(why)) => assert!(why.contains("merge_results"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.submit(|x: u32| x + 1, 1).result(), Ok(2), "the pool goes on");
}

fn map_options(pool: &MpiPoolExecutor) {
    let mut unordered: Vec<u64> =
        pool.map(prime_or_zero, 0..300).chunksize(7).unordered().map(Result::unwrap).collect();
    unordered.sort_unstable();
    let mut sequential: Vec<u64> = (0..300).map(prime_or_zero).collect();
    sequential.sort_unstable();
    assert_eq!(unordered, sequential);
    let first: Vec<u64> = pool.map(|x: u64| x * 2, 0..).buffered(4).take(50).map(Result::unwrap).collect();
    assert_eq!(first, (0..50).map(|x| x * 2).collect::<Vec<_>>());
    let reported = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&reported);
    let count = pool
        .map(prime_or_zero, 0..100)
        .chunksize(10)
        .on_progress(move |n| {
            counter.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        })
        .count();
    assert_eq!((count, reported.load(std::sync::atomic::Ordering::SeqCst)), (100, 100));
    let timed: Vec<_> = pool.map(pid_after_a_nap, [0, 3000, 0]).timeout(Duration::from_millis(300)).collect();
    assert_eq!(timed.last(), Some(&Err(TaskError::Timeout)));
}

fn shutdown(pool: MpiPoolExecutor) {
    let late = pool.submit(pid_after_a_nap, 50);
    pool.shutdown(true, false);
    assert!(late.result().is_ok(), "shutdown(wait) let the running task finish");
    assert_eq!(pool.submit(|x: u8| x, 1).result(), Err(TaskError::Shutdown));
    drop(pool);
    let again = MpiPoolExecutor::new().expect("a second pool after the first");
    assert_eq!(again.submit(|x: u8| x + 1, 1).result(), Ok(2));
}

fn mismatch(pool: &MpiPoolExecutor) {
    match pool.submit(|x: u8| x, 1).result() {
        Err(TaskError::BrokenPool(why)) => assert!(why.contains("another build"), "{why}"),
        other => panic!("{other:?}"),
    }
}

fn abort_the_rank(_: ()) {
    std::process::abort();
}

/// A task that aborts its rank: MPI has no fault tolerance, so mpirun ends the job (and this
/// rank 0 with it) rather than leave it waiting; the runner checks that it ended, with a failure.
fn crash(pool: &MpiPoolExecutor) {
    let doomed = pool.submit(abort_the_rank, ());
    println!("crash: submitted");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = doomed.result();
    // Reaching here means the job outlived its crashed rank long enough for rank 0 to see an
    // answer, which MPI does not give: the runner treats "crash: ok" as a failure.
}
