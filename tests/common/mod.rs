//! Helpers shared by the behaviour tests.

#![allow(dead_code)]

use concurrent_futures::{Future, ThreadPoolExecutor};
use std::backtrace::Backtrace;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Long enough that a correct program never hits it, short enough that a hang fails the test.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// Checks `condition` every millisecond until it holds or `within` has passed; whether it held.
pub(crate) fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let give_up = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > give_up {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A task that signals when it starts, then waits until the test opens its gate.
pub(crate) struct Blocker {
    pub(crate) future: Future<()>,
    started: Receiver<()>,
    gate: Sender<()>,
}

impl Blocker {
    pub(crate) fn spawn(pool: &ThreadPoolExecutor) -> Blocker {
        let (started_tx, started) = channel();
        let (gate, gate_rx) = channel::<()>();
        let future = pool.spawn(move || {
            let _ = started_tx.send(());
            let _ = gate_rx.recv_timeout(PATIENCE);
        });
        Blocker { future, started, gate }
    }

    /// Blocks until the task is running on a worker.
    pub(crate) fn wait_started(&self) {
        self.started.recv_timeout(PATIENCE).expect("the blocking task never started");
    }

    pub(crate) fn release(self) -> Future<()> {
        let _ = self.gate.send(());
        self.future
    }
}

/// A file a process task creates once it has started in its worker, so a test can wait for
/// that state: a process task's future counts as running once the task is sent, and a kill that
/// reaches the worker before the task starts skips it without ending the worker.
pub(crate) struct StartMark(std::path::PathBuf);

impl StartMark {
    pub(crate) fn new() -> StartMark {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Relaxed);
        let name = format!("concurrent-futures-test-started-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        StartMark(path)
    }

    /// The path to give the task, which calls [`mark_started`] with it.
    pub(crate) fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    /// Blocks, with a bound, until the task has called [`mark_started`].
    pub(crate) fn wait(&self) {
        assert!(eventually(PATIENCE, || self.0.exists()), "the task never started in its worker");
    }
}

impl Drop for StartMark {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Called by a task when it starts: creates the file of a [`StartMark`].
pub(crate) fn mark_started(path: &str) {
    let _ = std::fs::write(path, b"");
}

/// A named check of a `harness = false` test target.
pub(crate) type Check = (&'static str, fn());

/// How long a check may take unless it asks for longer with [`deadline`]: past it, the check
/// fails as a hang.
pub(crate) const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// What the runner knows of the check that runs now: its deadline (from its start), the step
/// it last named with [`step`], and the panics reported while it ran (shown only if it fails).
struct Running {
    name: &'static str,
    deadline: Duration,
    step: String,
    panics: Vec<String>,
}

static RUNNING: Mutex<Running> =
    Mutex::new(Running { name: "", deadline: DEFAULT_DEADLINE, step: String::new(), panics: Vec::new() });

/// The checks of this run that passed and failed so far.
static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

fn running() -> MutexGuard<'static, Running> {
    RUNNING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Gives the check that runs now `limit` (from its start) instead of [`DEFAULT_DEADLINE`].
pub(crate) fn deadline(limit: Duration) {
    running().deadline = limit;
}

/// Names what the running check does now: a check that hangs is reported with the last step
/// it named, so a hang in a check that covers many cases names its case.
pub(crate) fn step(what: impl Into<String>) {
    running().step = what.into();
}

/// Fails the running check at once as a hang (`what` did not answer), and the process with it:
/// for a check that finds a hang before its deadline and must not go on (a property-based
/// check would otherwise shrink a hang, one deadline after another).
pub(crate) fn hangs(what: &str) -> ! {
    let name = running().name;
    println!("test {name} ... FAILED ({what}: it hangs)");
    report_failure(name);
    println!("{} passed, {} failed", PASSED.load(Relaxed), FAILED.load(Relaxed) + 1);
    std::process::exit(1);
}

/// Keeps panics out of the output while checks run: each is recorded with its thread and
/// place, and printed only if its check fails (deliberate panics, e.g. a thread-pool task
/// that fails on purpose, stay out of a passing run's output).
fn record_panics() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let place = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("Box<dyn Any>");
        let mut report =
            format!("thread '{}' panicked{place}:\n{message}", thread.name().unwrap_or("<unnamed>"));
        match std::env::var("RUST_BACKTRACE").as_deref() {
            Ok("full") => report.push_str(&format!("\n{}", Backtrace::force_capture())),
            Ok(v) if v != "0" => report.push_str(&format!("\n{}", short(&Backtrace::force_capture()))),
            _ => {}
        }
        running().panics.push(report);
    }));
}

/// The frames of `backtrace` between the panic machinery and the thread's start, as the
/// default panic hook prints them unless `RUST_BACKTRACE=full`.
fn short(backtrace: &Backtrace) -> String {
    let full = backtrace.to_string();
    let lines: Vec<&str> = full.lines().collect();
    let frame = |marker: &str| lines.iter().position(|l| l.contains(marker));
    let from = frame("__rust_end_short_backtrace").map_or(0, |i| i + 1);
    let to = frame("__rust_begin_short_backtrace").unwrap_or(lines.len());
    // Skip the location line of the end marker's frame.
    let from =
        if lines.get(from).is_some_and(|l| l.trim_start().starts_with("at ")) { from + 1 } else { from };
    if from < to { lines[from..to].join("\n") } else { full }
}

/// Prints what a failed check left: its last step and the panics of its run.
fn report_failure(name: &str) {
    let mut running = running();
    if !running.step.is_empty() {
        eprintln!("---- {name}: its last step: {}", running.step);
    }
    for panic in running.panics.drain(..) {
        eprintln!("---- {name}: {panic}");
    }
}

/// Runs the checks a `harness = false` target selects on its command line, speaking enough of
/// libtest's for cargo test and cargo-nextest (`--list`, `--exact NAME`, filters), and exits
/// with a failure if any failed. Panics inside checks are reported as failures, and their
/// messages are printed only then.
///
/// Each check runs on a thread of its own, named after it, with a deadline: [`DEFAULT_DEADLINE`]
/// unless the check calls [`deadline`]. A check still running past its deadline is reported as a
/// hang, and the process exits at once with a failure (a hung thread cannot be stopped; the
/// workers of its pools die with this process).
pub(crate) fn run_checks(checks: &[Check]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in checks {
                println!("{name}: test");
            }
        }
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    record_panics();
    for &(name, check) in checks {
        let selected = filter.is_empty()
            || filter.iter().any(|f| if exact { name == f.as_str() } else { name.contains(f.as_str()) });
        if !selected {
            continue;
        }
        *running() = Running { name, deadline: DEFAULT_DEADLINE, step: String::new(), panics: Vec::new() };
        let started = Instant::now();
        let (done_tx, done) = channel();
        let spawned = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let outcome = std::panic::catch_unwind(check);
            let _ = done_tx.send(outcome.is_ok());
        });
        let ok = match spawned {
            Ok(_) => loop {
                // The deadline may have been moved by the check since the last look.
                let limit = running().deadline;
                match done.recv_timeout(limit.saturating_sub(started.elapsed())) {
                    Ok(ok) => break ok,
                    Err(RecvTimeoutError::Disconnected) => break false,
                    Err(RecvTimeoutError::Timeout) if started.elapsed() < running().deadline => continue,
                    Err(RecvTimeoutError::Timeout) => {
                        println!("test {name} ... FAILED (no answer within {}s: it hangs)", limit.as_secs());
                        report_failure(name);
                        println!("{} passed, {} failed", PASSED.load(Relaxed), FAILED.load(Relaxed) + 1);
                        std::process::exit(1);
                    }
                }
            },
            Err(e) => {
                eprintln!("---- {name}: cannot start its thread: {e}");
                false
            }
        };
        if ok {
            println!("test {name} ... ok");
            PASSED.fetch_add(1, Relaxed);
        } else {
            println!("test {name} ... FAILED");
            report_failure(name);
            FAILED.fetch_add(1, Relaxed);
        }
    }
    println!("{} passed, {} failed", PASSED.load(Relaxed), FAILED.load(Relaxed));
    if FAILED.load(Relaxed) > 0 {
        std::process::exit(1);
    }
}
