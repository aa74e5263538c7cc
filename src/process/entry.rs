//! The worker side: [`init`], and the loop a re-executed worker process runs.

use super::os;
use super::protocol::{FromWorker, Hello, Identity, ToWorker, decode, encode};
use super::trampoline;
use crate::error::panic_message;
use ipc_channel::ipc::{IpcBytesSender, IpcSender, bytes_channel};
use std::cell::RefCell;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a worker's environment: the name of the parent's one-shot server.
pub(crate) const WORKER_ENV: &str = "CONCURRENT_FUTURES_WORKER";
/// Set in a worker's environment: the parent's pid.
pub(crate) const PARENT_PID_ENV: &str = "CONCURRENT_FUTURES_PARENT_PID";
/// The exit code of a worker whose `main` did not call `init()` first.
pub(crate) const FORGOT_INIT_EXIT_CODE: i32 = 86;
/// The length of the handshake secret.
pub(crate) const SECRET_LEN: usize = 32;

/// True once `init()` ran in a normal start: this process is a parent, not a worker.
static INIT_RAN: AtomicBool = AtomicBool::new(false);

/// The entry point for process pools: call it as the first line of `main`.
///
/// In a normal start it returns at once. In a worker process (the program re-executed by a
/// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor)) it runs the worker loop and never
/// returns, so nothing of `main` runs twice.
///
/// A program that creates a process pool without calling `init()` first gets no hang and no
/// runaway process tree: its workers stop as soon as they reach the pool, and the parent's
/// futures fail with [`TaskError::BrokenPool`](crate::TaskError::BrokenPool), whose message
/// says to call `init()`.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, ProcessPoolExecutor};
///
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// fn main() {
///     concurrent_futures::init(); // first: in a worker, this never returns
///     let pool = ProcessPoolExecutor::new(2);
///     assert_eq!(pool.submit(double, 21).result(), Ok(42));
/// }
/// ```
pub fn init() {
    match std::env::var(WORKER_ENV) {
        Ok(server) => run_worker(&server),
        Err(_) => INIT_RAN.store(true, Ordering::Relaxed),
    }
}

/// Called when a process pool is created. In a worker whose `main` did not start with `init()`,
/// this is where the re-executed `main` reaches the pool: stop here instead of starting a pool
/// of its own (which would grow a process tree without end).
pub(crate) fn refuse_pool_in_uninitialised_worker() {
    if std::env::var_os(WORKER_ENV).is_some() && !INIT_RAN.load(Ordering::Relaxed) {
        eprintln!(
            "concurrent_futures: this worker process ran the program's main() up to a \
             ProcessPoolExecutor; call concurrent_futures::init() as the first line of main()"
        );
        std::process::exit(FORGOT_INIT_EXIT_CODE);
    }
}

/// In a worker: the pid of the parent that started it.
pub(crate) fn parent_pid() -> Option<u32> {
    std::env::var(PARENT_PID_ENV).ok()?.parse().ok()
}

thread_local! {
    /// Where the last panic on this thread happened (set by the worker's panic hook).
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// `message`, followed by the location of the panic if the worker's hook recorded one.
pub(crate) fn with_panic_location(message: String) -> String {
    match PANIC_LOCATION.with(|l| l.borrow_mut().take()) {
        Some(location) => format!("{message} (at {location})"),
        None => message,
    }
}

fn run_worker(server: &str) -> ! {
    let parent: u32 = std::env::var(PARENT_PID_ENV).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    if !os::die_with_parent(parent) {
        std::process::exit(0);
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(location) = info.location() {
            let location = format!("{}:{}:{}", location.file(), location.line(), location.column());
            PANIC_LOCATION.with(|l| *l.borrow_mut() = Some(location));
        }
        default_hook(info);
    }));
    match serve(server) {
        Ok(()) => std::process::exit(0),
        Err(why) => {
            eprintln!("concurrent_futures worker {}: {why}", std::process::id());
            std::process::exit(1);
        }
    }
}

/// Handshake, setup, then tasks until the parent closes the channel.
fn serve(server: &str) -> Result<(), String> {
    let mut secret = vec![0u8; SECRET_LEN];
    std::io::stdin().read_exact(&mut secret).map_err(|e| format!("no handshake secret on stdin: {e}"))?;
    let identity = Identity::of_this_process().map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
    let (tasks_tx, tasks) = bytes_channel().map_err(|e| format!("cannot make a channel: {e}"))?;
    let (results, results_rx) = bytes_channel().map_err(|e| format!("cannot make a channel: {e}"))?;
    let (map_requests, map_requests_rx) =
        bytes_channel().map_err(|e| format!("cannot make a channel: {e}"))?;
    let (map_replies_tx, map_replies) = bytes_channel().map_err(|e| format!("cannot make a channel: {e}"))?;
    crate::shared_map::install_client(map_requests, map_replies);
    let hello = Hello::Worker {
        secret,
        identity,
        pid: std::process::id(),
        tasks: tasks_tx,
        results: results_rx,
        map_requests: map_requests_rx,
        map_replies: map_replies_tx,
    };
    let connection = IpcSender::<Hello>::connect(server.to_owned())
        .map_err(|e| format!("cannot reach the parent: {e}"))?;
    connection.send(hello).map_err(|e| format!("cannot greet the parent: {e}"))?;

    let mut max_tasks = None;
    let mut done: u64 = 0;
    // The parent closing the channel is the normal way to stop.
    while let Ok(bytes) = tasks.recv() {
        match decode::<ToWorker>(&bytes).map_err(|e| e.to_string())? {
            ToWorker::Setup { initializer, max_tasks: limit } => {
                max_tasks = limit;
                if let Some(offset) = initializer {
                    // SAFETY: the offset comes from the parent, which runs the same executable
                    // (checked at the handshake).
                    let initializer = unsafe { trampoline::init_at(offset) };
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(initializer)) {
                        let message = with_panic_location(panic_message(payload.as_ref()));
                        send(&results, &FromWorker::InitFailed(message))?;
                        return Ok(());
                    }
                }
                send(&results, &FromWorker::Ready)?;
            }
            ToWorker::Tasks(frames) => {
                for frame in frames {
                    // SAFETY: as above.
                    let call = unsafe { trampoline::call_at(frame.call) };
                    let outcome = call(&frame.arg);
                    send(&results, &FromWorker::Done { id: frame.id, outcome })?;
                    done += 1;
                    if max_tasks.is_some_and(|limit| done >= limit) {
                        send(&results, &FromWorker::Retiring)?;
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

fn send(results: &IpcBytesSender, frame: &FromWorker) -> Result<(), String> {
    let bytes = match encode(frame) {
        Ok(bytes) => bytes,
        // A result frame that cannot be encoded still answers its task.
        Err(error) => match frame {
            FromWorker::Done { id, .. } => encode(&FromWorker::Done { id: *id, outcome: Err(error) })
                .map_err(|e| format!("cannot encode a frame: {e}"))?,
            _ => return Err(format!("cannot encode a frame: {error}")),
        },
    };
    results.send(&bytes).map_err(|e| format!("the parent is gone: {e}"))
}
