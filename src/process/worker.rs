//! The loop a re-executed worker process runs: handshake, setup, then tasks, item by item,
//! until the parent closes the channel (or the worker retires).

use super::launch::{self, Role, SECRET_LEN};
use super::pieces::{self, Missed};
use super::protocol::{
    Batch, DETACH_AT, FromWorker, Hello, MEMORY_EXIT_CODE, Setup, TaskFrame, ToWorker, decode,
};
use super::service;
use super::watchdog::{self, Running};
use crate::error::{TaskError, panic_message};
use crate::remote::build::Build;
use crate::remote::items::ItemHooks;
use crate::remote::outcomes::Outcomes;
use crate::remote::panics::{in_task, report_task_panics_through_futures, with_panic_location};
use crate::remote::trampoline;
use crate::sys;
use ipc_channel::ipc::{IpcBytesSender, IpcSender, bytes_channel, channel};
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// What `init()` asks the process transport: if this process is one of its workers, it serves
/// its parent here and exits (never returns). Returns true the first time `init()` runs in a
/// process that is not a worker, false when it ran before.
pub(crate) fn on_init() -> bool {
    match launch::role_at_init() {
        Role::Again => false,
        Role::Program => true,
        Role::Worker { server, parent } => run(&server, parent),
    }
}

/// Runs the worker and exits the process.
fn run(server: &str, parent: u32) -> ! {
    if !sys::tie_to_parent(parent) {
        std::process::exit(0);
    }
    sys::leave_interrupts_to_the_parent();
    report_task_panics_through_futures();
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
    sys::detach_stdin().map_err(|e| format!("cannot detach stdin: {e}"))?;
    let build = Build::this_file().map_err(|e| format!("cannot identify this program's file: {e}"))?;
    let no_channel = |e: std::io::Error| format!("cannot make a channel: {e}");
    let (tasks_tx, tasks) = bytes_channel().map_err(no_channel)?;
    let (control_tx, control) = bytes_channel().map_err(no_channel)?;
    let (results, results_rx) = channel::<FromWorker>().map_err(no_channel)?;
    let (payloads, payloads_rx) = bytes_channel().map_err(no_channel)?;
    let (service_requests, service_requests_rx) = bytes_channel().map_err(no_channel)?;
    let (service_replies_tx, service_replies) = bytes_channel().map_err(no_channel)?;
    service::install_client(service_requests, service_replies);
    let running = Arc::new(Running::default());
    watchdog::start(control, Arc::clone(&running)).map_err(|e| format!("cannot start the watchdog: {e}"))?;
    let hello = Hello::Worker {
        secret,
        build,
        pid: std::process::id(),
        tasks: tasks_tx,
        control: control_tx,
        results: results_rx,
        payloads: payloads_rx,
        service_requests: service_requests_rx,
        service_replies: service_replies_tx,
    };
    let connection = IpcSender::<Hello>::connect(server.to_owned())
        .map_err(|e| format!("cannot reach the parent: {e}"))?;
    // Nothing of this worker (its channels, the secret) goes to a server that is not its parent's.
    launch::confirm_server_is_the_parent_s(server);
    connection.send(hello).map_err(|e| format!("cannot greet the parent: {e:?}"))?;
    #[cfg(feature = "tracing")]
    super::events::install(&results);

    let mut setup = Setup::default();
    let mut done: u64 = 0;
    // The parent closing the channel is the normal way to stop.
    while let Ok(bytes) = tasks.recv() {
        match decode::<ToWorker>(&bytes).map_err(|e| e.to_string())? {
            ToWorker::Setup(given) => {
                setup = given;
                if let Err(message) = set_up(&setup) {
                    send(&results, FromWorker::InitFailed(message))?;
                    return Ok(());
                }
                send(&results, FromWorker::Ready)?;
            }
            ToWorker::Tasks(mut frames) => {
                // Detached arguments follow the frame, in pieces, in order.
                for frame in frames.iter_mut().filter(|frame| frame.detached) {
                    let mut next = || tasks.recv().map_err(|e| format!("the parent is gone: {e:?}"));
                    let received = match pieces::receive(&frame.args, &mut next) {
                        Ok(received) => received,
                        Err(Missed::NoMemory(layout)) => {
                            // Read all the same, so that the parent's writer completes and counts
                            // the task as delivered: it fails with this worker's death (named by
                            // the memory limit, if one is set) instead of going to a new worker,
                            // which would fail the same way, again and again.
                            pieces::skip(&frame.args, &mut next)?;
                            std::alloc::handle_alloc_error(layout)
                        }
                        Err(Missed::Broken(why)) => return Err(why),
                    };
                    if !frame.args.attach(received.main, received.segments, received.intact) {
                        return Err("the parent sent detached arguments that do not fit their task".into());
                    }
                }
                let out = Out { results: &results, payloads: &payloads };
                for frame in frames {
                    run_task(frame, out, setup.item_by_item, &running)?;
                    done += 1;
                    if setup.max_tasks.is_some_and(|limit| done >= limit) {
                        send(&results, FromWorker::Retiring)?;
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Runs the initializer and applies the memory limit; the error says what failed.
fn set_up(setup: &Setup) -> Result<(), String> {
    if let Some(offset) = setup.initializer {
        // SAFETY: the offset comes from the parent, which runs the same executable (checked at
        // the handshake) and computed it with `offset_of_init`.
        let initializer = unsafe { trampoline::init_at(offset) };
        catch_unwind(AssertUnwindSafe(|| in_task(initializer)))
            .map_err(|payload| with_panic_location(panic_message(payload.as_ref())))?;
    }
    if let Some(with) = &setup.initializer_with {
        // SAFETY: as above, with `offset_of_init_call` for the trampoline; the target is the
        // offset of the `fn(A)` that trampoline was made for (`initializer_with`).
        let call = unsafe { trampoline::init_call_at(with.call) };
        let target = trampoline::address_at(with.target);
        let arg = with.arg.0.clone();
        match catch_unwind(AssertUnwindSafe(|| in_task(|| call(target, arg)))) {
            Ok(outcome) => outcome?,
            Err(payload) => return Err(with_panic_location(panic_message(payload.as_ref()))),
        }
    }
    // Last, once the worker's own threads and buffers exist: the limit is for the tasks.
    if let Some(bytes) = setup.memory_limit {
        sys::limit_memory(bytes, MEMORY_EXIT_CODE)
            .map_err(|e| format!("cannot set the memory limit: {e}"))?;
    }
    Ok(())
}

/// Runs every item of one task and reports their outcomes: item by item, or all at the end.
/// Where a worker's answers go: frames, and the detached bytes of large results.
#[derive(Clone, Copy)]
struct Out<'a> {
    results: &'a IpcSender<FromWorker>,
    payloads: &'a IpcBytesSender,
}

fn run_task(frame: TaskFrame, out: Out<'_>, item_by_item: bool, running: &Running) -> Result<(), String> {
    // SAFETY: as for the initializer in `set_up`, with `offset_of` for a task's trampoline.
    let call = unsafe { trampoline::call_at(frame.call) };
    // Item by item (a task timeout), the watchdog must know each item, to stop just the one
    // that overran; otherwise only whole tasks are stopped, and marking the task once is enough.
    let started = item_by_item || running.start(frame.id, 0);
    let mut around = Reporter {
        id: frame.id,
        out,
        running,
        item_by_item,
        started,
        outcomes: Outcomes::with_capacity(frame.args.len() * 8),
        seen: 0,
    };
    let total = frame.args.len();
    let target = frame.target.map_or(0, trampoline::address_at);
    #[cfg(feature = "tracing")]
    super::events::running(Some(frame.id));
    call(frame.args, target, &mut around)?;
    #[cfg(feature = "tracing")]
    super::events::running(None);
    if started && !item_by_item {
        running.stop();
    }
    // A malformed batch ends its items early: the rest still need an answer.
    for index in around.seen..total {
        let malformed = TaskError::Serialization("the parent sent a malformed task".into());
        ItemHooks::after(&mut around, index, Err(malformed))?;
    }
    around.report()?;
    running.forget(frame.id);
    Ok(())
}

/// The worker's duties around each item of a task: the watchdog's marks, and the outcomes,
/// reported item by item or together.
struct Reporter<'a> {
    id: u64,
    out: Out<'a>,
    running: &'a Running,
    item_by_item: bool,
    /// False if the task was killed before it started (all its items are skipped).
    started: bool,
    /// The outcomes not reported yet.
    outcomes: Outcomes,
    /// Items the trampoline has answered.
    seen: usize,
}

impl Reporter<'_> {
    /// Sends the outcomes gathered so far, if any.
    fn report(&mut self) -> Result<(), String> {
        if self.outcomes.answered() == 0 {
            return Ok(());
        }
        let (mut values, failures) = self.outcomes.take();
        let detached = values.data_len() >= DETACH_AT;
        // Taken out as it is: a vector of numbers a task returned is sent from its own memory.
        let data = detached.then(|| values.detach());
        let frame = FromWorker::Items { id: self.id, values, failures, detached };
        send(self.out.results, frame)?;
        // The bytes go after the frame: a large message is written only as fast as it is read,
        // and the parent reads it once the frame has told it to.
        if let Some(data) = data {
            let mut send = |bytes: &[u8]| pieces::send(self.out.payloads, bytes);
            data.send(&mut send).map_err(|e| format!("the parent is gone: {e}"))?;
        }
        Ok(())
    }
}

impl ItemHooks for Reporter<'_> {
    fn item_by_item(&self) -> bool {
        self.item_by_item
    }

    fn succeeded(&mut self, first: usize, count: usize) -> Result<(), String> {
        if self.item_by_item {
            return (first..first + count).try_for_each(|index| self.after(index, Ok(())));
        }
        self.outcomes.succeeded(count);
        self.seen += count;
        Ok(())
    }

    fn before(&mut self, index: usize) -> bool {
        if self.item_by_item { self.running.start(self.id, index as u32) } else { self.started }
    }

    fn out(&mut self) -> &mut Batch {
        self.outcomes.values()
    }

    fn after(&mut self, _index: usize, outcome: Result<(), TaskError>) -> Result<(), String> {
        self.outcomes.record(outcome);
        self.seen += 1;
        if self.item_by_item {
            self.running.stop();
            self.report()?;
        }
        Ok(())
    }
}

fn send(results: &IpcSender<FromWorker>, frame: FromWorker) -> Result<(), String> {
    results.send(frame).map_err(|e| format!("the parent is gone: {e:?}"))
}
