//! Inside a worker: which task item runs right now, and the thread that stops it when the
//! parent asks. The worker itself decides, under one lock with the task loop, so a kill meant
//! for one item can never stop the next one.

use super::protocol::{Control, KILLED_EXIT_CODE, decode};
use crate::sync::plain::Mutex;
use crate::sys;
use ipc_channel::ipc::IpcBytesReceiver;
use std::collections::VecDeque;
use std::sync::Arc;

/// Whole-task kills remembered for tasks that have not started (a bounded list: a kill for a
/// task that never comes is forgotten eventually).
const REMEMBERED_KILLS: usize = 1024;

#[derive(Default)]
struct State {
    /// The task and item running now.
    current: Option<(u64, u32)>,
    /// Tasks killed before they started: skipped when they come.
    killed: VecDeque<u64>,
}

/// What the task loop runs, as the watchdog sees it.
#[derive(Default)]
pub(crate) struct Running(Mutex<State>);

impl Running {
    /// Item `item` of task `id` starts now; false if the task was killed before it started.
    pub(crate) fn start(&self, id: u64, item: u32) -> bool {
        let mut state = self.0.lock();
        if state.killed.contains(&id) {
            return false;
        }
        state.current = Some((id, item));
        true
    }

    /// The item that ran is over.
    pub(crate) fn stop(&self) {
        self.0.lock().current = None;
    }

    /// Task `id` is over: forget any kill meant for it.
    pub(crate) fn forget(&self, id: u64) {
        let mut state = self.0.lock();
        if !state.killed.is_empty() {
            state.killed.retain(|&k| k != id);
        }
    }

    /// The parent asks to stop task `id` (at `item`, or at any item): if it runs that now, the
    /// process exits at once, still holding the lock, so the task loop cannot move on first.
    /// (Without a task timeout the loop marks only a task's start, as item 0, and item kills
    /// are never asked for.)
    fn kill(&self, id: u64, item: Option<u32>) {
        let mut state = self.0.lock();
        match state.current {
            Some((running, at)) if running == id && item.is_none_or(|item| item == at) => {
                sys::exit_now(KILLED_EXIT_CODE)
            }
            _ if item.is_none() => {
                if state.killed.len() == REMEMBERED_KILLS {
                    state.killed.pop_front();
                }
                state.killed.push_back(id);
            }
            // That item is over: leave the worker alone.
            _ => {}
        }
    }
}

/// Starts the watchdog thread: it acts on the parent's control frames, and ends the process
/// when the control channel closes, which is also how a worker notices that its parent is gone
/// (on every Unix, whatever killed the parent).
pub(crate) fn start(control: IpcBytesReceiver, running: Arc<Running>) -> std::io::Result<()> {
    std::thread::Builder::new().name("concurrent-futures-watchdog".to_owned()).spawn(move || {
        loop {
            match control.recv() {
                Ok(bytes) => match decode::<Control>(&bytes) {
                    Ok(Control::Kill { id, item }) => running.kill(id, item),
                    // Only the parent writes here; a frame it did not mean is ignored.
                    Err(_) => {}
                },
                Err(_) => sys::exit_now(0),
            }
        }
    })?;
    Ok(())
}
