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
