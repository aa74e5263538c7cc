//! Helpers shared by the behaviour tests.

#![allow(dead_code)]

use concurrent_futures::{Future, ThreadPoolExecutor};
use std::sync::mpsc::{Receiver, Sender, channel};
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

/// A named check of a `harness = false` test target.
pub(crate) type Check = (&'static str, fn());

/// Runs the checks a `harness = false` target selects on its command line, speaking enough of
/// libtest's for cargo test and cargo-nextest (`--list`, `--exact NAME`, filters), and exits
/// with a failure if any failed. Panics inside checks are reported as failures.
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
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks {
        let selected = filter.is_empty()
            || filter.iter().any(|f| if exact { name == f } else { name.contains(f.as_str()) });
        if !selected {
            continue;
        }
        match std::panic::catch_unwind(check) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
