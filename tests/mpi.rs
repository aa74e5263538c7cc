//! `MpiPoolExecutor` under a real `mpirun -n 3 --oversubscribe` (feature `mpi`). This binary is
//! both the test runner and the MPI program: the runner starts `mpirun` on itself with a
//! scenario name, always under a timeout shorter than the check's deadline (an MPI failure
//! shows as a hang), and checks what rank 0 printed and that every rank exited 0. Rank 0's
//! own waits in the scenarios are bounded too ([`PATIENCE`]). With the argument `silent-rank`
//! the binary is a rank that starts MPI and never says hello.

mod common;

use concurrent_futures::{BuildError, Executor, MpiPoolExecutor, SharedMap, TaskError, merge_results};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The most rank 0 waits for one result (or one map) in a scenario: far more than a correct run
/// takes, less than the runner's timeout of the whole job.
const PATIENCE: Duration = Duration::from_secs(30);

/// The runner's bound on a whole `mpirun` job, under the check's own deadline.
const JOB_SECONDS: &str = "50";
/// The bound on a job that rank 0 leaves unfinalized on purpose: Open MPI's mpirun (4.1) now
/// and then hangs after reporting such an end, with every rank gone; the checks then rely on
/// what rank 0 printed, not on mpirun's exit.
const UNFINALIZED_JOB_SECONDS: &str = "20";

fn main() {
    if std::env::args().any(|a| a == "silent-rank") {
        return silent_rank();
    }
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
        ("two_live_pools_interleave_1_mib_maps_and_submits_over_the_ranks", || expect_ok("two_pools")),
        ("a_pool_made_after_one_was_dropped_runs_its_tasks", || expect_ok("one_after_another")),
        (
            "a_rank_that_never_says_hello_fails_new_naming_it",
            a_rank_that_never_says_hello_fails_new_naming_it,
        ),
        (
            "rank_0_exit_gives_up_on_a_busy_rank_after_its_bound",
            rank_0_exit_gives_up_on_a_busy_rank_after_its_bound,
        ),
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

/// Runs `mpirun` with `ranks` (each `-n k program args...`) and `env` for every rank, under a
/// timeout of `seconds`; returns what the job printed on stdout and on stderr, and whether every rank exited 0.
fn mpirun(ranks: &[(u32, PathBuf, &str)], env: &[(&str, &str)], seconds: &str) -> (String, String, bool) {
    let mut command = Command::new("timeout");
    command.args(["--kill-after=5", seconds, "mpirun", "--oversubscribe", "--allow-run-as-root"]);
    for (name, value) in env {
        command.env(name, value).arg("-x").arg(name);
    }
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
    let (stdout, stderr, success) = mpirun(&[(3, me, &arg)], &[], JOB_SECONDS);
    assert!(success, "mpirun failed or timed out:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{scenario}: ok")), "rank 0 did not finish the scenario: {stdout}");
}

fn a_rank_running_another_build_is_refused() {
    let me = std::env::current_exe().expect("own path");
    let other = example("mpi_primes");
    assert!(other.exists(), "{} is built by `cargo test --features mpi`", other.display());
    let (stdout, stderr, success) =
        mpirun(&[(1, me, "scenario=mismatch"), (2, other, "--as-worker")], &[], JOB_SECONDS);
    assert!(success, "every rank exits 0, the refused ones too:\n{stdout}\n{stderr}");
    assert!(stderr.contains("runs another build"), "the refused ranks say why: {stderr}");
    assert!(stdout.contains("mismatch: ok"), "{stdout}");
}

fn a_crashing_rank_ends_the_job_instead_of_hanging_it() {
    let me = std::env::current_exe().expect("own path");
    // Its output (the aborting rank's report, mpirun's notice) is expected, and not shown.
    let (stdout, stderr, success) = mpirun(&[(3, me, "scenario=crash")], &[], JOB_SECONDS);
    assert!(!success, "mpirun reports the crash: {stdout}");
    assert!(stderr.contains("rank 1") || stderr.contains("rank 2"), "mpirun names the rank: {stderr}");
    assert!(!stdout.contains("crash: ok"), "rank 0 did not go on as if nothing happened");
    assert!(stdout.contains("crash: submitted"), "rank 0 got as far as the crash: {stdout}");
}

fn a_rank_that_never_says_hello_fails_new_naming_it() {
    let me = std::env::current_exe().expect("own path");
    let bounds = [("CONCURRENT_FUTURES_MPI_HELLO_SECS", "1"), ("CONCURRENT_FUTURES_MPI_EXIT_SECS", "1")];
    let (stdout, stderr, success) = mpirun(
        &[(1, me.clone(), "scenario=silent"), (2, me, "silent-rank")],
        &bounds,
        UNFINALIZED_JOB_SECONDS,
    );
    assert!(stdout.contains("silent: ok"), "rank 0 got the error it should:\n{stdout}\n{stderr}");
    assert!(!success, "the launcher reports the ranks that never finished");
    // Rank 0 gives up on the silent ranks at exit too, and says so; the launcher ends the job.
    assert!(stderr.contains("did not say goodbye"), "{stderr}");
}

fn rank_0_exit_gives_up_on_a_busy_rank_after_its_bound() {
    let me = std::env::current_exe().expect("own path");
    let exit_bound = [("CONCURRENT_FUTURES_MPI_EXIT_SECS", "1")];
    let (stdout, stderr, success) =
        mpirun(&[(3, me, "scenario=busy_at_exit")], &exit_bound, UNFINALIZED_JOB_SECONDS);
    assert!(stdout.contains("busy_at_exit: ok"), "{stdout}\n{stderr}");
    assert!(!success, "rank 0 left MPI unfinalized: the launcher ends the job and says so");
    // The busy rank's task naps for BUSY, longer than the job may take: rank 0 gave up on it.
    assert!(stderr.contains("did not say goodbye"), "rank 0 says why it stops waiting: {stderr}");
}

// ---- what rank 0 runs ----

fn run_scenario(name: &str) {
    if name == "silent" {
        silent();
        return println!("{name}: ok");
    }
    let pool = MpiPoolExecutor::new().expect("started by mpirun");
    assert_eq!(pool.max_workers(), 2);
    match name {
        "spread" => spread(&pool),
        "failures" => failures(&pool),
        "map_options" => map_options(&pool),
        "shutdown" => shutdown(pool),
        "mismatch" => mismatch(&pool),
        "crash" => crash(&pool),
        "two_pools" => two_pools(pool),
        "one_after_another" => one_after_another(pool),
        "busy_at_exit" => busy_at_exit(pool),
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
    // Vectors of megabytes inside a value (which a process pool sends apart from the value's
    // other bytes) go whole over MPI, both ways.
    let samples: Vec<f64> = (0..(1 << 18)).map(f64::from).collect();
    let labelled = pool.submit(|v: (String, Vec<f64>)| v, ("label".to_owned(), samples.clone()));
    assert!(labelled.result().unwrap() == ("label".to_owned(), samples), "a 2 MiB vector in a tuple");
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
    // Every item above counted one task: 6 returned a value; the panics (2), the argument and
    // the result that could not be encoded, and the refused SharedMap failed. Each was counted
    // before its future completed, so the counts are settled.
    let stats = pool.stats();
    assert_eq!((stats.max_workers, stats.workers), (2, 2), "{stats:?}");
    assert_eq!((stats.queued, stats.busy), (0, 0), "{stats:?}");
    assert_eq!((stats.completed, stats.failed, stats.cancelled), (6, 5, 0), "{stats:?}");
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

fn square(x: u64) -> u64 {
    x * x
}

fn echo(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

/// Item `i` of pool `seed`'s map: 1 MiB, every byte depending on both and on its place.
fn mib(seed: u8, i: u8) -> Vec<u8> {
    (0..1usize << 20).map(|j| (j as u8).wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) ^ seed).collect()
}

/// Compares an echo with what was sent, byte for byte (without printing a MiB on failure).
fn same(got: Result<Vec<u8>, TaskError>, sent: &[u8], what: &str) {
    let got = got.unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let differs = got.iter().zip(sent).position(|(a, b)| a != b);
    let (back, len) = (got.len(), sent.len());
    assert!(
        back == len && differs.is_none(),
        "{what}: {back} bytes back for {len}, first difference at {differs:?}"
    );
}

/// Two pools alive at once over the same ranks: each runs a map of 1 MiB items and submits,
/// interleaved, from one thread and then from two; dropping one leaves the ranks to the other.
fn two_pools(a: MpiPoolExecutor) {
    let b = MpiPoolExecutor::new().expect("a second pool while the first is alive");
    assert_eq!(b.submit(square, 4).result_timeout(PATIENCE), Ok(16), "the second pool's tasks run");
    let mut from_a = a.map(echo, (0..12).map(|i| mib(1, i))).timeout(PATIENCE);
    let mut from_b = b.map(echo, (0..12).map(|i| mib(2, i))).timeout(PATIENCE);
    for i in 0..12u8 {
        let (small_a, small_b) = (a.submit(square, u64::from(i)), b.submit(square, u64::from(i) + 1));
        let echo_b = b.submit(echo, mib(3, i));
        same(from_a.next().expect("a's item"), &mib(1, i), &format!("pool a, map item {i}"));
        same(from_b.next().expect("b's item"), &mib(2, i), &format!("pool b, map item {i}"));
        same(echo_b.result_timeout(PATIENCE), &mib(3, i), &format!("pool b, submit {i}"));
        assert_eq!(small_a.result_timeout(PATIENCE), Ok(u64::from(i) * u64::from(i)));
        assert_eq!(small_b.result_timeout(PATIENCE), Ok((u64::from(i) + 1) * (u64::from(i) + 1)));
    }
    assert!(from_a.next().is_none() && from_b.next().is_none());
    drop((from_a, from_b));
    std::thread::scope(|scope| {
        for (pool, seed) in [(&a, 4u8), (&b, 5u8)] {
            scope.spawn(move || {
                let echoes = pool.map(echo, (0..6).map(|i| mib(seed, i))).chunksize(2).timeout(PATIENCE);
                for (i, echo) in (0u8..).zip(echoes) {
                    same(echo, &mib(seed, i), &format!("pool {seed}, map item {i}"));
                }
                let sums: u64 =
                    pool.map(square, 0..200).chunksize(7).timeout(PATIENCE).map(Result::unwrap).sum();
                assert_eq!(sums, (0..200).map(square).sum::<u64>());
            });
        }
    });
    let naps: Vec<_> =
        (0..8).flat_map(|_| [a.submit(pid_after_a_nap, 20), b.submit(pid_after_a_nap, 20)]).collect();
    let pids: HashSet<u32> = naps.into_iter().map(|nap| nap.result_timeout(PATIENCE).unwrap()).collect();
    assert_eq!(pids.len(), 2, "the tasks of both pools ran on both ranks: {pids:?}");
    // `b` has a task in flight while `a` is dropped; the ranks stay for `b`.
    let during = b.submit(pid_after_a_nap, 100);
    drop(a);
    assert!(during.result_timeout(PATIENCE).is_ok());
    same(b.submit(echo, mib(6, 0)).result_timeout(PATIENCE), &mib(6, 0), "pool b after a was dropped");
}

/// Pools one after another, and one coming and going while another lives.
fn one_after_another(first: MpiPoolExecutor) {
    assert_eq!(first.map(square, 0..10).timeout(PATIENCE).map(Result::unwrap).sum::<u64>(), 285);
    drop(first);
    let second = MpiPoolExecutor::new().expect("a pool after the first was dropped");
    assert_eq!(second.submit(square, 3).result_timeout(PATIENCE), Ok(9));
    for round in 0..3u64 {
        let passing = MpiPoolExecutor::new().expect("a pool while another lives");
        assert_eq!(passing.submit(square, round).result_timeout(PATIENCE), Ok(round * round));
        drop(passing);
        assert_eq!(second.submit(square, round + 1).result_timeout(PATIENCE), Ok((round + 1) * (round + 1)));
    }
    drop(second);
    let last = MpiPoolExecutor::new().expect("a pool after all others were dropped");
    same(last.submit(echo, mib(7, 1)).result_timeout(PATIENCE), &mib(7, 1), "the last pool");
}

/// How long the task left running at exit naps.
const BUSY: Duration = Duration::from_secs(40);

/// Leaves a task running on a rank and the pool leaked: at exit rank 0 waits for that rank's
/// goodbye only as long as its bound (1 s here), then exits.
fn busy_at_exit(pool: MpiPoolExecutor) {
    let running = pool.submit(pid_after_a_nap, BUSY.as_millis() as u64);
    assert!(common::eventually(PATIENCE, || running.is_running()), "the task reached a rank");
    std::mem::forget(pool);
}

/// Rank 0 with ranks that never say hello: `new()` fails within the hello bound, naming them.
fn silent() {
    let started = Instant::now();
    match MpiPoolExecutor::new() {
        Err(BuildError::MpiUnavailable(why)) => {
            assert!(why.contains("rank(s) 1, 2") && why.contains("init()"), "{why}");
        }
        other => panic!("expected MpiUnavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "new() gave up about its bound (1 s) later");
    match MpiPoolExecutor::new() {
        Err(BuildError::MpiUnavailable(why)) => assert!(why.contains("rank(s) 1, 2"), "{why}"),
        other => panic!("a later new() says the same: {other:?}"),
    }
}

/// A rank of this job that starts MPI itself and never says hello: it waits for a message that
/// never comes, until the launcher ends the job.
fn silent_rank() {
    use mpi::point_to_point::Source;
    use mpi::topology::Communicator;
    let Some(universe) = mpi::initialize() else { return };
    let world = universe.world();
    let _ = world.process_at_rank(0).matched_probe();
}
