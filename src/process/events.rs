//! How a worker's `tracing` events travel on the process transport (cargo feature `tracing`).
//!
//! The parent tells a worker at its start (an environment variable) the most verbose level its
//! own subscribers want; the worker captures events up to that level (`remote::capture`) and
//! sends each one at once as a [`FromWorker::Event`] frame on its results channel, the channel
//! and the order its task outcomes take. So an event reaches the parent before the outcome of
//! the task that emitted it, the events of one worker arrive in the order they were emitted,
//! and an event emitted right before the worker dies is already in the socket. The parent's
//! reader thread hands the frame to the slot like any other, which emits it again inside the
//! task's span (`Serving::replay`, `remote::replay`).
//!
//! A frame is a few hundred bytes at most (the text is cut at 16 KiB), and the worker sends it
//! as it sends its answers, while the parent's reader thread reads everything: the transport's
//! no-deadlock argument (`link`) holds unchanged.

use super::protocol::FromWorker;
use crate::remote::capture;
use crate::sync::plain::Mutex;
use ipc_channel::ipc::IpcSender;
use tracing::level_filters::LevelFilter;

/// The environment variable that gives a worker the level to capture events up to.
pub(crate) const LEVEL_ENV: &str = "CONCURRENT_FUTURES_TRACE_LEVEL";

/// The level the parent's subscribers want now, for a worker starting: `0` (none) to `5`
/// (`TRACE`).
pub(crate) fn level_for_a_worker() -> &'static str {
    match LevelFilter::current() {
        LevelFilter::ERROR => "1",
        LevelFilter::WARN => "2",
        LevelFilter::INFO => "3",
        LevelFilter::DEBUG => "4",
        LevelFilter::TRACE => "5",
        _ => "0",
    }
}

/// The level given by the parent (none when absent or unreadable).
fn level_from_the_parent() -> LevelFilter {
    match std::env::var(LEVEL_ENV).as_deref() {
        Ok("1") => LevelFilter::ERROR,
        Ok("2") => LevelFilter::WARN,
        Ok("3") => LevelFilter::INFO,
        Ok("4") => LevelFilter::DEBUG,
        Ok("5") => LevelFilter::TRACE,
        _ => LevelFilter::OFF,
    }
}

/// In a worker, once its channels reach the parent: captures its events (up to the level the
/// parent gave) and sends each at once on `results`. A send that fails (the parent is gone)
/// drops the event: the worker learns of it from its own next send.
pub(crate) fn install(results: &IpcSender<FromWorker>) {
    let results = Mutex::new(results.clone());
    capture::install(
        level_from_the_parent(),
        Box::new(move |event| {
            let _ = results.lock().send(FromWorker::Event(event));
        }),
    );
}

/// In a worker: the events emitted from now on belong to task `id` (to none for `None`).
pub(crate) fn running(id: Option<u64>) {
    capture::set_task(id);
}
