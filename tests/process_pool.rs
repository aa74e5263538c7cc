//! `ProcessPoolExecutor`, as a user calls it. A worker is this test binary re-executed, so
//! `main` calls `init()` first and runs the checks itself (`harness = false`).

mod common;

use common::{Check, PATIENCE, StartMark, eventually};
use concurrent_futures::{Executor, ProcessPoolExecutor, SharedMap, TaskError, as_completed};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// Set in the environment of a child copy of this binary that plays a parent to be killed.
const DOOMED_PARENT_ENV: &str = "CONCURRENT_FUTURES_TEST_DOOMED_PARENT";

fn main() {
    concurrent_futures::init();
    if std::env::var_os(DOOMED_PARENT_ENV).is_some() {
        return doomed_parent();
    }
    let checks: &[Check] = &[
        ("submit_and_map", submit_and_map),
        ("idle_workers_each_take_a_task", idle_workers_each_take_a_task),
        ("mixed_stress_loses_nothing", mixed_stress_loses_nothing),
        ("a_panic_gives_message_and_location", a_panic_gives_message_and_location),
        ("exit_in_a_task_fails_only_that_task", exit_in_a_task_fails_only_that_task),
        ("abort_in_a_task_fails_only_that_task", abort_in_a_task_fails_only_that_task),
        ("kill_9_of_a_busy_worker", kill_9_of_a_busy_worker),
        ("serialization_failures_fail_one_future", serialization_failures_fail_one_future),
        ("a_failing_initializer_breaks_the_pool", a_failing_initializer_breaks_the_pool),
        ("an_initializer_that_exits_breaks_the_pool_saying_how", an_initializer_that_exits),
        ("max_tasks_per_child_replaces_workers_and_loses_nothing", max_tasks_per_child),
        ("shutdown_semantics", shutdown_semantics),
        ("payloads_of_64_mib_both_ways", payloads_of_64_mib_both_ways),
        ("large_chunks_and_killed_large_tasks", large_chunks_and_killed_large_tasks),
        ("pools_in_a_loop_leak_no_process_or_fd", pools_in_a_loop_leak_nothing),
        ("futures_mix_with_thread_pools", futures_mix_with_thread_pools),
        ("workers_die_with_a_parent_killed_by_sigkill", workers_die_with_their_parent),
        ("shared_map_is_live_and_atomic_across_processes", shared_map_across_processes),
        ("a_shared_map_lives_as_long_as_its_task", shared_map_lives_as_long_as_its_task),
        ("tasks_submitted_one_at_a_time_reuse_one_idle_worker", one_at_a_time_reuses_one_worker),
        ("generic_code_takes_a_shared_pool_by_reference_or_arc", generic_code_takes_shared_pools),
        ("initializer_with_gives_every_worker_its_argument", initializer_with_configures_every_worker),
        ("a_failing_or_unencodable_initializer_with_is_reported", initializer_with_failures),
        ("a_function_chosen_at_run_time_runs_as_a_pointer", functions_chosen_at_run_time),
        ("a_map_timeout_kills_its_running_items", a_map_timeout_kills_its_running_items),
    ];
    common::run_checks(checks);
}

fn square(x: u64) -> u64 {
    x * x
}

fn submit_and_map() {
    let pool = ProcessPoolExecutor::new(2);
    assert_eq!(pool.submit(square, 12).result(), Ok(144));
    assert_eq!(pool.submit(|s: String| s.to_uppercase(), "abc".into()).result(), Ok("ABC".to_string()));
    for chunksize in [1, 3, 64] {
        let results: Vec<_> = pool
            .map(|x: u64| if x % 5 == 0 { panic!("bad {x}") } else { x }, 0..40)
            .chunksize(chunksize)
            .collect();
        for (x, r) in (0..40u64).zip(results) {
            if x % 5 == 0 {
                assert!(
                    matches!(r, Err(TaskError::Panicked(ref m)) if m.contains(&format!("bad {x}"))),
                    "{r:?}"
                );
            } else {
                assert_eq!(r, Ok(x));
            }
        }
    }
}

/// Joins the rendezvous in `map` and waits until `n` tasks have joined it; false if they never
/// did (the tasks were not running at the same time).
fn rendezvous((map, round, n): (SharedMap<u32, u32>, u32, u32)) -> bool {
    map.update(round, count_u32);
    eventually(PATIENCE, || map.get(&round) == Some(n))
}

fn count_u32(n: Option<u32>) -> u32 {
    n.unwrap_or(0) + 1
}

fn idle_workers_each_take_a_task() {
    // Four tasks on four workers must run at once, on starting workers (round 0) and on idle
    // ones (round 1): none may be lined up behind another on a busy worker.
    let pool = ProcessPoolExecutor::new(4);
    let map: SharedMap<u32, u32> = SharedMap::new();
    for round in 0..2 {
        let futures: Vec<_> = (0..4).map(|_| pool.submit(rendezvous, (map.clone(), round, 4))).collect();
        for future in futures {
            assert_eq!(future.result(), Ok(true), "round {round}: the four tasks never ran together");
        }
    }
}

/// Task `i` of the mixed stress: exits its worker, panics, naps (a long task), or doubles `i`.
fn mixed(i: u32) -> u32 {
    if i % 97 == 96 {
        std::process::exit(7);
    }
    if i % 101 == 100 {
        panic!("task {i} panicked");
    }
    if i % 50 == 0 {
        std::thread::sleep(Duration::from_millis(3));
    }
    i * 2
}

fn mixed_stress_loses_nothing() {
    // Worker deaths, retirements, panics, long and short tasks and cancellations at once: every
    // future must end, with exactly the outcome its task calls for.
    let pool = ProcessPoolExecutor::builder().max_workers(3).max_tasks_per_child(40).build().unwrap();
    let futures: Vec<_> = (0..3000u32).map(|i| pool.submit(mixed, i)).collect();
    let cancelled: Vec<bool> = futures.iter().enumerate().map(|(i, f)| i % 7 == 3 && f.cancel()).collect();
    assert!(cancelled.iter().any(|&c| c), "some queued task could be cancelled");
    for ((i, future), was_cancelled) in (0u32..).zip(futures).zip(cancelled) {
        let outcome = future.result();
        if was_cancelled {
            assert_eq!(outcome, Err(TaskError::Cancelled), "task {i}");
        } else if i % 97 == 96 {
            assert!(
                matches!(outcome, Err(TaskError::WorkerDied(ref how)) if how.contains("exited with code 7")),
                "task {i}: {outcome:?}"
            );
        } else if i % 101 == 100 {
            assert!(matches!(outcome, Err(TaskError::Panicked(ref m)) if m.contains("panicked")), "task {i}");
        } else {
            assert_eq!(outcome, Ok(i * 2), "task {i}");
        }
    }
}

fn a_panic_gives_message_and_location() {
    let pool = ProcessPoolExecutor::new(1);
    let err = pool.submit(|x: u32| -> u32 { panic!("worker failed on {x}") }, 7).result().unwrap_err();
    let TaskError::Panicked(message) = err else { panic!("expected Panicked, got {err:?}") };
    assert!(message.contains("worker failed on 7"), "{message}");
    assert!(message.contains("process_pool.rs:"), "the location is included: {message}");
    assert_eq!(pool.submit(square, 3).result(), Ok(9), "the worker goes on");
}

fn exit_in_a_task_fails_only_that_task() {
    let pool = ProcessPoolExecutor::new(2);
    let before: Vec<_> = (0..10).map(|i| pool.submit(square, i)).collect();
    let dying = pool.submit(|code: i32| -> u32 { std::process::exit(code) }, 3);
    let after: Vec<_> = (0..10).map(|i| pool.submit(square, i)).collect();
    match dying.result() {
        Err(TaskError::WorkerDied(how)) => assert!(how.contains("exited with code 3"), "{how}"),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    for (i, f) in before.into_iter().chain(after).enumerate() {
        assert_eq!(f.result(), Ok((i as u64 % 10).pow(2)));
    }
}

fn abort_in_a_task_fails_only_that_task() {
    let pool = ProcessPoolExecutor::new(1);
    let dying = pool.submit(|()| -> u32 { std::process::abort() }, ());
    let next = pool.submit(square, 5);
    match dying.result() {
        Err(TaskError::WorkerDied(how)) => assert!(how.contains("signal 6"), "{how}"),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(next.result(), Ok(25), "the task queued behind it runs on the replacement");
}

fn kill_9_of_a_busy_worker() {
    let pool = ProcessPoolExecutor::new(1);
    let pid = pool.submit(|()| std::process::id(), ()).result().unwrap();
    let mark = StartMark::new();
    let busy = pool.submit(
        |path: String| {
            common::mark_started(&path);
            std::thread::sleep(PATIENCE);
        },
        mark.path(),
    );
    let queued = pool.submit(square, 6);
    mark.wait();
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    match busy.result() {
        Err(TaskError::WorkerDied(how)) => assert!(how.contains("signal 9"), "{how}"),
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert_eq!(queued.result(), Ok(36));
    let new_pid = pool.submit(|()| std::process::id(), ()).result().unwrap();
    assert_ne!(new_pid, pid, "a replacement worker runs");
}

/// Serializes fine, but fails to deserialize: a result the parent cannot read.
#[derive(Debug)]
struct Unreadable;
impl Serialize for Unreadable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}
impl<'de> Deserialize<'de> for Unreadable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("Unreadable cannot be decoded"))
    }
}

/// Fails to serialize: an argument or result that cannot be sent.
#[derive(Debug, Deserialize)]
struct Unsendable;
impl Serialize for Unsendable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unsendable cannot be encoded"))
    }
}

fn serialization_failures_fail_one_future() {
    let pool = ProcessPoolExecutor::new(1);
    let bad_arg = pool.submit(|_: Unsendable| 1, Unsendable).result();
    assert!(matches!(bad_arg, Err(TaskError::Serialization(ref m)) if m.contains("argument")), "{bad_arg:?}");
    let bad_result = pool.submit(|()| Unsendable, ()).result();
    assert!(
        matches!(bad_result, Err(TaskError::Serialization(ref m)) if m.contains("result")),
        "{bad_result:?}"
    );
    let unreadable = pool.submit(|()| Unreadable, ()).result();
    assert!(
        matches!(unreadable, Err(TaskError::Serialization(ref m)) if m.contains("decode")),
        "{unreadable:?}"
    );
    assert_eq!(pool.submit(square, 4).result(), Ok(16), "the pool goes on");
}

fn failing_initializer() {
    panic!("no database in the worker");
}

fn exiting_initializer() {
    std::process::exit(3);
}

fn an_initializer_that_exits() {
    let pool =
        ProcessPoolExecutor::builder().max_workers(1).initializer(exiting_initializer).build().unwrap();
    match pool.submit(square, 1).result() {
        Err(TaskError::BrokenPool(m)) => {
            assert!(m.contains("exited with code 3 while it started"), "{m}")
        }
        other => panic!("expected BrokenPool, got {other:?}"),
    }
}

fn a_failing_initializer_breaks_the_pool() {
    let pool =
        ProcessPoolExecutor::builder().max_workers(1).initializer(failing_initializer).build().unwrap();
    match pool.submit(square, 1).result() {
        Err(TaskError::BrokenPool(m)) => assert!(m.contains("no database in the worker"), "{m}"),
        other => panic!("expected BrokenPool, got {other:?}"),
    }
    assert!(matches!(pool.submit(square, 1).result(), Err(TaskError::BrokenPool(_))));
}

fn max_tasks_per_child() {
    let pool = ProcessPoolExecutor::builder().max_workers(2).max_tasks_per_child(1).build().unwrap();
    let futures: Vec<_> = (0..100).map(|_| pool.submit(|()| std::process::id(), ())).collect();
    let mut pids: Vec<u32> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 100, "every task ran in a fresh worker");
}

fn shutdown_semantics() {
    let pool = ProcessPoolExecutor::new(1);
    let running = pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 300);
    assert!(eventually(PATIENCE, || running.is_running()), "the first task never started");
    let queued: Vec<_> = (0..20).map(|i| pool.submit(square, i)).collect();
    pool.shutdown(false, true);
    assert_eq!(pool.submit(square, 1).result(), Err(TaskError::Shutdown));
    assert_eq!(running.result(), Ok(()), "the running task finishes");
    let cancelled = queued.into_iter().filter(|f| f.is_cancelled()).count();
    assert!(cancelled >= 15, "queued tasks were cancelled ({cancelled})");
    pool.shutdown(true, false);
}

fn payloads_of_64_mib_both_ways() {
    let pool = ProcessPoolExecutor::new(2);
    let big = vec![7u8; 64 << 20];
    let futures: Vec<_> = (0..2)
        .map(|_| pool.submit(|v: Vec<u8>| v.iter().map(|&b| b ^ 1).collect::<Vec<u8>>(), big.clone()))
        .collect();
    for f in futures {
        let back = f.result().unwrap();
        assert_eq!(back.len(), 64 << 20);
        assert!(back.iter().all(|&b| b == 6));
    }
}

fn reversed(v: Vec<u8>) -> Vec<u8> {
    v.into_iter().rev().collect()
}

fn spin_on(v: Vec<u8>) -> usize {
    loop {
        std::hint::spin_loop();
        if v.is_empty() {
            return 0;
        }
    }
}

/// Chunks whose items add up to more than the size at which bytes travel apart from their
/// frame, both ways; and a task with such an argument killed while it runs.
fn large_chunks_and_killed_large_tasks() {
    let pool = ProcessPoolExecutor::new(2);
    let items: Vec<Vec<u8>> =
        (0..600u32).map(|i| (0..1024).map(|j| ((i + j) % 251) as u8).collect()).collect();
    let back: Vec<Vec<u8>> = pool.map(reversed, items.clone()).chunksize(300).map(Result::unwrap).collect();
    assert_eq!(back.len(), 600);
    for (item, back) in items.iter().zip(&back) {
        assert!(item.iter().rev().eq(back.iter()));
    }
    let runaway = pool.submit(spin_on, vec![1u8; 1 << 20]);
    assert!(eventually(PATIENCE, || runaway.is_running()));
    assert!(runaway.kill());
    assert!(matches!(runaway.result(), Err(TaskError::Killed(_))));
    assert_eq!(pool.submit(reversed, vec![1, 2, 3]).result(), Ok(vec![3, 2, 1]));
}

fn children_of_this_process() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)) == Some(me.as_str())
        })
        .count()
}

fn open_fds() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
            Some(format!("{} -> {target}", path.display()))
        })
        .collect()
}

fn pools_in_a_loop_leak_nothing() {
    let fds = open_fds();
    for i in 0..20u64 {
        let pool = ProcessPoolExecutor::new(2);
        let total: u64 =
            as_completed((0..10).map(|x| pool.submit(square, x + i))).map(|f| f.result().unwrap()).sum();
        assert!(total > 0);
        // Shut down while some of its workers are still starting: those starts are given up.
        let pool = ProcessPoolExecutor::new(4);
        let first = pool.submit(square, i);
        let _rest: Vec<_> = (0..3).map(|x| pool.submit(square, x)).collect();
        assert_eq!(first.result(), Ok(i * i));
        pool.shutdown(true, true);
    }
    assert_eq!(children_of_this_process(), 0, "every worker was reaped");
    // Exactly as many: the pool waits for every thread that holds a worker's channel to end.
    let after = open_fds();
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .collect();
    assert!(
        after.len() <= fds.len(),
        "file descriptors leaked: {fds:#?} before, {after:#?} after, with threads {threads:?}"
    );
}

fn futures_mix_with_thread_pools() {
    let processes = ProcessPoolExecutor::new(1);
    let threads = concurrent_futures::ThreadPoolExecutor::new(1);
    let futures = vec![processes.submit(square, 2), threads.submit(square, 3)];
    let total: u64 = as_completed(futures).map(|f| f.result().unwrap()).sum();
    assert_eq!(total, 13);
}

/// The doomed parent: starts two busy workers, prints their pids, and waits to be killed.
fn doomed_parent() {
    let pool = ProcessPoolExecutor::new(2);
    let barrier = pool.map(|()| std::process::id(), [(), ()]).map(Result::unwrap).collect::<Vec<_>>();
    let _busy: Vec<_> = (0..2)
        .map(|_| pool.submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 60_000))
        .collect();
    println!("workers {} {}", barrier[0], barrier[1]);
    std::thread::sleep(Duration::from_secs(120));
}

/// True while `pid` is a live process (a zombie is dead: it only waits to be reaped).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z")
    })
}

fn workers_die_with_their_parent() {
    use std::io::BufRead;
    let mut parent = std::process::Command::new(std::env::current_exe().unwrap())
        .env(DOOMED_PARENT_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(parent.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pids: Vec<String> = line.split_whitespace().skip(1).map(str::to_owned).collect();
    assert!(!pids.is_empty(), "the doomed parent reported its workers: {line:?}");
    assert!(pids.iter().all(|p| alive(p)));
    parent.kill().unwrap(); // SIGKILL: no destructor, no shutdown runs in the parent
    parent.wait().unwrap();
    // The kernel kills the workers (PR_SET_PDEATHSIG); allow it a few seconds on a busy machine.
    let all_gone = eventually(Duration::from_secs(10), || !pids.iter().any(|p| alive(p)));
    assert!(all_gone, "workers outlived their killed parent: {pids:?}");
}

fn count(n: Option<u64>) -> u64 {
    n.unwrap_or(0) + 1
}

fn shared_map_across_processes() {
    let map: SharedMap<String, u64> = SharedMap::new();
    let pool = ProcessPoolExecutor::new(2);
    // 400 atomic increments of 4 keys from 2 worker processes: no lost update.
    let futures: Vec<_> = (0..400u64)
        .map(|i| {
            pool.submit(
                |(map, i): (SharedMap<String, u64>, u64)| map.update(format!("k{}", i % 4), count),
                (map.clone(), i),
            )
        })
        .collect();
    for f in futures {
        f.result().unwrap();
    }
    assert_eq!(map.len(), 4);
    assert!(map.snapshot().values().all(|&n| n == 100), "{:?}", map.snapshot());

    // Every call works from a worker, and sees the parent's writes.
    map.insert("parent".into(), 7);
    let seen = pool
        .submit(
            |map: SharedMap<String, u64>| {
                let before = map.get(&"parent".to_string());
                let had = map.contains_key(&"k0".to_string());
                let removed = map.remove(&"k1".to_string());
                map.insert("worker".into(), 1);
                map.extend((0..10).map(|i| (format!("bulk{i}"), i)));
                (before, had, removed, map.len(), map.is_empty(), map.snapshot().len())
            },
            map.clone(),
        )
        .result()
        .unwrap();
    assert_eq!(seen, (Some(7), true, Some(100), 15, false, 15));
    assert_eq!(map.get(&"worker".to_string()), Some(1));
    assert_eq!(map.get(&"bulk9".to_string()), Some(9));
}

fn shared_map_lives_as_long_as_its_task() {
    let pool = ProcessPoolExecutor::new(1);
    // The parent keeps no handle: the task's argument is the only one, as on a thread pool.
    let future = pool.submit(
        |map: SharedMap<u32, u32>| {
            map.insert(1, 10);
            map.update(1, |v| v.unwrap_or(0) + 1)
        },
        SharedMap::new(),
    );
    assert_eq!(future.result(), Ok(11));
}

fn pid_of_worker(_: u8) -> u32 {
    std::process::id()
}

/// CPython's test_idle_process_reuse_one / _multiple: a worker starts only when no started one
/// is idle.
fn one_at_a_time_reuses_one_worker() {
    for max_workers in [1, 2, 8] {
        let pool = ProcessPoolExecutor::new(max_workers);
        let pids: Vec<u32> = (0..6).map(|_| pool.submit(pid_of_worker, 0).result().unwrap()).collect();
        assert!(pids.iter().all(|pid| *pid == pids[0]), "one idle worker serves them all: {pids:?}");
        // Two tasks at once, one at a time again: at most two workers ever.
        let pair = [pool.submit(pid_of_worker, 0), pool.submit(pid_of_worker, 0)];
        let mut pids: Vec<u32> = pair.into_iter().map(|f| f.result().unwrap()).collect();
        pids.extend((0..4).map(|_| pool.submit(pid_of_worker, 0).result().unwrap()));
        pids.sort_unstable();
        pids.dedup();
        assert!(pids.len() <= 2.min(max_workers), "{max_workers} workers allowed, {pids:?} used");
    }
}

fn sum_of_squares<E: Executor>(executor: E, n: u64) -> u64 {
    executor.map(square, 1..=n).chunksize(3).map(Result::unwrap).sum::<u64>()
        + executor.submit(square, 0).result().unwrap()
}

fn generic_code_takes_shared_pools() {
    let pool = std::sync::Arc::new(ProcessPoolExecutor::new(2));
    assert_eq!(sum_of_squares(&*pool, 10), 385);
    assert_eq!(sum_of_squares(std::sync::Arc::clone(&pool), 10), 385);
    let shared = std::sync::Arc::clone(&pool);
    let from_a_thread = std::thread::spawn(move || sum_of_squares(&shared, 4));
    assert_eq!(from_a_thread.join().unwrap(), 30);
}

/// What `main` set up is not in the workers (they run `main` afresh): `initializer_with` hands
/// it to each.
static CONFIG: std::sync::OnceLock<(String, u64)> = std::sync::OnceLock::new();

fn configure(config: (String, u64)) {
    let _ = CONFIG.set(config);
}

fn configured(x: u64) -> (String, u64, u32) {
    let (name, factor) = CONFIG.get().cloned().unwrap_or_default();
    (name, x * factor, std::process::id())
}

fn initializer_with_configures_every_worker() {
    for (workers, tasks_per_child) in [(1, None), (2, None), (2, Some(3))] {
        let mut builder = ProcessPoolExecutor::builder()
            .max_workers(workers)
            .initializer_with(configure, ("scaled".to_string(), 7));
        if let Some(n) = tasks_per_child {
            builder = builder.max_tasks_per_child(n);
        }
        let pool = builder.build().unwrap();
        let results: Vec<(String, u64, u32)> =
            pool.map(configured, 0..40).chunksize(2).map(Result::unwrap).collect();
        for (x, (name, scaled, _)) in results.iter().enumerate() {
            assert_eq!((name.as_str(), *scaled), ("scaled", x as u64 * 7), "item {x}");
        }
        let mut pids: Vec<u32> = results.iter().map(|r| r.2).collect();
        pids.sort_unstable();
        pids.dedup();
        if tasks_per_child.is_some() {
            assert!(pids.len() > 1, "replacement workers were configured too: {pids:?}");
        }
    }
}

fn refuse(_: u64) {
    panic!("cannot connect to the database");
}

fn take_unsendable(_: Unsendable) {}

fn initializer_with_failures() {
    let pool = ProcessPoolExecutor::builder().max_workers(1).initializer_with(refuse, 5).build().unwrap();
    match pool.submit(square, 2).result() {
        Err(TaskError::BrokenPool(why)) => assert!(why.contains("cannot connect"), "{why}"),
        other => panic!("expected BrokenPool, got {other:?}"),
    }
    let built = ProcessPoolExecutor::builder().initializer_with(take_unsendable, Unsendable).build();
    match built {
        Err(error @ concurrent_futures::BuildError::InitializerArgument(_)) => {
            assert!(error.to_string().contains("initializer's argument"), "{error}")
        }
        other => panic!("expected InitializerArgument, got {other:?}"),
    }
}

fn cube(x: u64) -> u64 {
    x * x * x
}

fn functions_chosen_at_run_time() {
    let pool = ProcessPoolExecutor::new(2);
    for verbose in [false, true] {
        let op: fn(u64) -> u64 = if verbose { cube } else { square };
        let expected: Vec<u64> = (1..=20).map(op).collect();
        for chunksize in [1, 3, 20] {
            let got: Vec<u64> = pool.map(op, 1..=20).chunksize(chunksize).map(Result::unwrap).collect();
            assert_eq!(got, expected);
        }
        assert_eq!(pool.submit(op, 4).result(), Ok(op(4)));
    }
    let ops: [fn(u64) -> u64; 2] = [square, cube];
    let futures: Vec<_> = ops.iter().map(|op| pool.submit(*op, 3)).collect();
    assert_eq!(futures.into_iter().map(|f| f.result().unwrap()).collect::<Vec<_>>(), [9, 27]);
}

/// When a map's timeout gives up, its items still running can no longer be yielded: they are
/// killed, so a drop right after does not wait for them (here, a minute each).
fn a_map_timeout_kills_its_running_items() {
    common::deadline(Duration::from_secs(45));
    for (workers, chunksize) in [(1, 1), (2, 2)] {
        let pool = ProcessPoolExecutor::new(workers);
        let results: Vec<_> = pool
            .map(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), [60_000; 6])
            .chunksize(chunksize)
            .timeout(Duration::from_millis(300))
            .collect();
        assert_eq!(results, [Err(TaskError::Timeout)]);
        // Within the check's deadline, far less than the items' minute.
        drop(pool);
    }
}
