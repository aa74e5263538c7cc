//! Hardening of the process pool, as a program sees it: the memory limit is named as such under
//! every `RUST_BACKTRACE`; worker mode is refused with elevated privileges, without a parent, or
//! over a channel that does not lead to the parent; a program a task starts is never taken for a
//! worker; and SIGPIPE at its default never kills the pool's process.
//!
//! Several checks run this binary again as a child process in a scenario (`--scenario NAME`),
//! with the environment or the signal disposition the scenario needs: a child gets its own
//! environment from `Command`, so no check changes this process's. A worker is this binary
//! re-executed, so `main` calls `init()` first (`harness = false`).

mod common;

use common::{Check, PATIENCE};
use concurrent_futures::{Executor, ProcessPoolExecutor, TaskError};
use std::io::{BufRead, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// The variables a pool starts its workers with (see `src/process/entry.rs`).
const WORKER_ENV: &str = "CONCURRENT_FUTURES_WORKER";
const PARENT_PID_ENV: &str = "CONCURRENT_FUTURES_PARENT_PID";
/// The exit code of a process that refuses to serve as a worker.
const REFUSED_EXIT_CODE: i32 = 89;
/// How long a scenario waits for one answer (its process is killed past [`PATIENCE`]).
const SCENARIO_PATIENCE: Duration = Duration::from_secs(20);
/// The scenario whose workers die as they start, before `init()`.
const DIES_AT_START: &str = "sigpipe_worker_dies_at_start";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scenario = (args.get(1).map(String::as_str) == Some("--scenario")).then(|| args.get(2)).flatten();
    if scenario.is_some_and(|s| s == DIES_AT_START) && std::env::var_os(WORKER_ENV).is_some() {
        // A worker of that scenario: gone before it reads its secret.
        std::process::exit(3);
    }
    concurrent_futures::init();
    if let Some(name) = scenario {
        let outcome = match name.as_str() {
            "memory_limit" => memory_limit_scenario(),
            "report_start" => {
                println!("normal start, worker variables set: {}", std::env::var_os(WORKER_ENV).is_some());
                Ok(())
            }
            "report_ids" => {
                println!("{}", status_line("Uid:"));
                Ok(())
            }
            "listen" => listen_scenario(),
            DIES_AT_START => worker_dies_at_start_scenario(),
            "sigpipe_worker_killed_while_tasks_are_sent" => worker_killed_while_sending_scenario(),
            other => Err(format!("no scenario {other}")),
        };
        if let Err(why) = outcome {
            eprintln!("scenario {name} failed: {why}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    let checks: &[Check] = &[
        ("memory_limit_is_named_with_rust_backtrace_unset", || memory_limit_with(None)),
        ("memory_limit_is_named_with_rust_backtrace_0", || memory_limit_with(Some("0"))),
        ("memory_limit_is_named_with_rust_backtrace_1", || memory_limit_with(Some("1"))),
        ("memory_limit_is_named_with_rust_backtrace_full", || memory_limit_with(Some("full"))),
        ("a_program_a_task_starts_is_not_taken_for_a_worker", descendant_starts_normally),
        ("a_worker_whose_parent_is_gone_refuses", orphan_refuses),
        ("a_worker_refuses_a_channel_that_does_not_lead_to_its_parent", foreign_server_is_refused),
        ("a_privileged_process_refuses_worker_mode", privileged_process_refuses),
        ("sigpipe_at_its_default_survives_workers_that_die_at_start", || {
            run_scenario_ok(DIES_AT_START, Some(("RUST_BACKTRACE", "0")))
        }),
        ("sigpipe_at_its_default_survives_a_worker_killed_while_tasks_are_sent", || {
            run_scenario_ok("sigpipe_worker_killed_while_tasks_are_sent", None)
        }),
    ];
    common::run_checks(checks);
}

/// What a child process left: how it ended, and its output.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `command` to its end with its output captured, killing it past [`PATIENCE`].
fn run(mut command: Command) -> Ran {
    let mut child =
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cannot start a child");
    let pid = child.id().to_string();
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read_all(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = read_all(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let (status_tx, status) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = status_tx.send(child.wait());
    });
    let status = match status.recv_timeout(PATIENCE) {
        Ok(status) => status.expect("cannot wait for a child"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the child process {pid} did not end within {PATIENCE:?}");
        }
    };
    let (stdout, stderr) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    Ran { status, stdout, stderr }
}

/// This binary in scenario `name`.
fn scenario(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("no path to this test binary"));
    command.args(["--scenario", name]).stdin(Stdio::null());
    command
}

fn run_scenario_ok(name: &str, env: Option<(&str, &str)>) {
    let mut command = scenario(name);
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    let ran = run(command);
    assert!(ran.status.success(), "scenario {name} {:?}:\n{}\n{}", ran.status, ran.stdout, ran.stderr);
}

// ---- The memory limit, under every RUST_BACKTRACE.

fn allocate(mib: usize) -> usize {
    let block = vec![1u8; mib << 20];
    std::hint::black_box(&block).iter().step_by(4096).count()
}

/// Allocates `mib` MiB one MiB at a time: the limit is hit close to it, not by one large block.
fn allocate_in_steps(mib: usize) -> usize {
    let blocks: Vec<Vec<u8>> = (0..mib).map(|_| vec![1u8; 1 << 20]).collect();
    std::hint::black_box(&blocks).len()
}

fn length(v: Vec<u8>) -> usize {
    v.len()
}

fn sum_samples(s: (String, Vec<f64>)) -> usize {
    s.1.len()
}

fn abort(_: ()) -> u32 {
    std::process::abort()
}

fn memory_limit_scenario() -> Result<(), String> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_memory_per_worker(200 << 20)
        .build()
        .map_err(|e| e.to_string())?;
    let patience = |what: &str, result: Result<usize, TaskError>| match result {
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{what}: {e:?}")),
    };
    patience("8 MiB", pool.submit(allocate, 8).result_timeout(SCENARIO_PATIENCE))?;
    for (what, result) in [
        ("one block of 1 GiB", pool.submit(allocate, 1024).result_timeout(SCENARIO_PATIENCE)),
        ("1 GiB in 1 MiB blocks", pool.submit(allocate_in_steps, 1024).result_timeout(SCENARIO_PATIENCE)),
    ] {
        match result {
            Err(TaskError::Killed(why)) if why.contains("memory limit of 209715200 bytes") => {}
            other => return Err(format!("{what}: expected Killed by the memory limit, got {other:?}")),
        }
    }
    // An argument larger than the limit: the worker cannot receive it. It must fail as the
    // task's own out-of-memory death, once, not go to worker after worker.
    let replaced = pool.stats().workers_replaced;
    let huge = vec![7u8; 256 << 20];
    for (what, result) in [
        ("a Vec<u8> argument of 256 MiB", pool.submit(length, huge).result_timeout(SCENARIO_PATIENCE)),
        (
            "a struct argument holding 256 MiB of f64",
            pool.submit(sum_samples, ("x".to_owned(), vec![0.5; 32 << 20])).result_timeout(SCENARIO_PATIENCE),
        ),
    ] {
        match result {
            Err(TaskError::Killed(why)) if why.contains("memory limit of 209715200 bytes") => {}
            other => return Err(format!("{what}: expected Killed by the memory limit, got {other:?}")),
        }
    }
    let replaced = pool.stats().workers_replaced - replaced;
    if replaced > 2 {
        return Err(format!("{replaced} workers were replaced for two tasks"));
    }
    match pool.submit(abort, ()).result_timeout(SCENARIO_PATIENCE) {
        Err(TaskError::WorkerDied(why)) if why.contains("SIGABRT") => {}
        other => return Err(format!("a plain abort: expected WorkerDied (SIGABRT), got {other:?}")),
    }
    patience("8 MiB after", pool.submit(allocate, 8).result_timeout(SCENARIO_PATIENCE)).map(drop)
}

/// The scenario with `RUST_BACKTRACE` as given (removed for `None`): its workers inherit it.
/// Its output (the out-of-memory messages and backtraces of its workers) is shown only if it
/// fails.
fn memory_limit_with(backtrace: Option<&str>) {
    let mut command = scenario("memory_limit");
    match backtrace {
        Some(value) => command.env("RUST_BACKTRACE", value),
        None => command.env_remove("RUST_BACKTRACE"),
    };
    let ran = run(command);
    assert!(ran.status.success(), "RUST_BACKTRACE={backtrace:?}: {:?}\n{}", ran.status, ran.stderr);
}

// ---- Who is a worker.

/// Starts this binary again from a task (a program the task starts, which inherits the worker's
/// environment), and returns how it ended and what it printed.
fn start_this_binary(_: ()) -> (Option<i32>, String) {
    match scenario("report_start").stderr(Stdio::null()).output() {
        Ok(out) => (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) => (None, e.to_string()),
    }
}

fn descendant_starts_normally() {
    let pool = ProcessPoolExecutor::new(1);
    let (code, printed) = pool.submit(start_this_binary, ()).result().unwrap();
    // The worker's variables may be inherited; they have no effect there.
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.starts_with("normal start"), "{printed}");
}

/// This binary started as if by a pool, with `parent` as its parent's pid and the server at
/// `server`, and 32 bytes of secret on its stdin.
fn as_worker(server: &str, parent: u32) -> Ran {
    let mut command = Command::new(std::env::current_exe().expect("no path to this test binary"));
    command.env(WORKER_ENV, server).env(PARENT_PID_ENV, parent.to_string()).stdin(Stdio::piped());
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cannot start");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&[7; 32]);
    }
    let pid = child.id().to_string();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done.recv_timeout(PATIENCE) {
        Ok(Ok(out)) => Ran {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        _ => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the would-be worker {pid} did not end within {PATIENCE:?}");
        }
    }
}

fn assert_refused(ran: &Ran, because: &str) {
    assert_eq!(ran.status.code(), Some(REFUSED_EXIT_CODE), "{:?}: {}", ran.status, ran.stderr);
    assert!(
        ran.stderr.contains("refuses to run as a worker") && ran.stderr.contains(because),
        "{}",
        ran.stderr
    );
}

fn orphan_refuses() {
    // No process has this pid (above Linux's largest), so the parent it names is gone.
    let ran = as_worker("/nonexistent/socket", 2_147_483_646);
    assert_refused(&ran, "which is gone");
}

/// Listens on a one-shot server of its own, prints its name, and takes one connection.
fn listen_scenario() -> Result<(), String> {
    let (server, name) = ipc_channel::ipc::IpcOneShotServer::<Vec<u8>>::new().map_err(|e| e.to_string())?;
    println!("{name}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let _ = server.accept();
    Ok(())
}

fn foreign_server_is_refused() {
    if cfg!(cf_portable_unix) || !cfg!(target_os = "linux") {
        println!("skipped: the portable check (the server's owner) passes a server of this user");
        return;
    }
    // A server of another process (a child of this one) that the would-be worker is sent to,
    // while its parent-pid variable names its real parent, this process.
    let mut listener = scenario("listen").stdout(Stdio::piped()).spawn().expect("cannot start the listener");
    let mut name = String::new();
    if let Some(out) = listener.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut name);
    }
    let ran = as_worker(name.trim(), std::process::id());
    let _ = listener.kill();
    let _ = listener.wait();
    assert_refused(&ran, "does not lead to its parent");
    assert!(ran.stderr.contains(&format!("belongs to process {}", listener.id())), "{}", ran.stderr);
}

/// The `key` line of this process's `/proc/self/status` ("Uid:\treal\teffective\t...").
fn status_line(key: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with(key)).unwrap_or_default().to_owned()
}

fn privileged_process_refuses() {
    use std::os::unix::fs::PermissionsExt;
    if status_line("Uid:").split_whitespace().nth(1) != Some("0") {
        println!("skipped: making a set-user-ID program of another user needs root");
        return;
    }
    // A set-user-ID copy of this binary owned by `nobody`: run by root, it runs as nobody.
    let dir = std::env::temp_dir().join(format!("concurrent-futures-setuid-{}", std::process::id()));
    let copy = dir.join("worker");
    let made = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::copy(std::env::current_exe()?, &copy))
        .and_then(|_| std::os::unix::fs::chown(&copy, Some(65534), Some(65534)))
        .and_then(|()| std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)));
    let ids = made.as_ref().ok().map(|()| {
        let mut command = Command::new(&copy);
        command.args(["--scenario", "report_ids"]).stdin(Stdio::null());
        run(command).stdout
    });
    let elevated = ids.as_deref().map(|ids| ids.split_whitespace().nth(2) == Some("65534"));
    if elevated == Some(true) {
        let mut command = Command::new(&copy);
        command.env(WORKER_ENV, "/nonexistent/socket").env(PARENT_PID_ENV, std::process::id().to_string());
        command.stdin(Stdio::null());
        let ran = run(command);
        let _ = std::fs::remove_dir_all(&dir);
        assert_refused(&ran, "elevated privileges");
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        println!("skipped: no set-user-ID program could be made here ({made:?}, ids {ids:?})");
    }
}

// ---- SIGPIPE at its default.

/// Sets SIGPIPE back to its default, as many command-line tools do: a write to a pipe whose
/// reader is gone then kills the process.
fn sigpipe_kills() {
    // SAFETY: signal only changes this process's disposition of SIGPIPE, which no code of this
    // scenario process relies on; it runs before the scenario starts any thread or pool.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn square(x: u64) -> u64 {
    x * x
}

/// Pools whose workers exit at once, before they read their secret: every start fails, and the
/// parent lives on, whether or not its write of the secret found the worker gone.
fn worker_dies_at_start_scenario() -> Result<(), String> {
    sigpipe_kills();
    for round in 0..20 {
        let pool = ProcessPoolExecutor::new(1);
        if let Ok(value) = pool.submit(square, 3).result_timeout(SCENARIO_PATIENCE) {
            return Err(format!("round {round}: a worker that died at start answered {value}"));
        }
    }
    Ok(())
}

fn echo(bytes: Vec<u8>) -> usize {
    bytes.len()
}

fn die(_: Vec<u8>) -> usize {
    std::process::exit(9)
}

/// A worker that dies while the parent sends it tasks of 1 MiB: the parent lives on, and every
/// future has an answer.
fn worker_killed_while_sending_scenario() -> Result<(), String> {
    sigpipe_kills();
    let pool = ProcessPoolExecutor::new(1);
    let futures: Vec<_> =
        (0..40)
            .map(|i| {
                if i % 10 == 5 { pool.submit(die, Vec::new()) } else { pool.submit(echo, vec![1u8; 1 << 20]) }
            })
            .collect();
    for (i, future) in futures.into_iter().enumerate() {
        // A task sent to the worker that died fails with it; the others run on its replacement.
        match future.result_timeout(SCENARIO_PATIENCE) {
            Ok(n) if n == 1 << 20 && i % 10 != 5 => {}
            Err(TaskError::WorkerDied(_)) => {}
            other => return Err(format!("task {i}: {other:?}")),
        }
    }
    Ok(())
}
