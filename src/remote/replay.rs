//! The parent's side of feature `tracing`: a worker's event emitted again, to the parent's own
//! subscriber, inside the span of the task it came from, so that one subscriber sees the whole
//! program as if the workers were threads.
//!
//! The event keeps its level; its text is the `message`, and `worker_pid` and `worker_target`
//! (where the worker emitted it) are fields of their own. Its target is this module's, since a
//! `tracing` event's target is fixed where it is written (a filter on the worker's target
//! reads `worker_target`).

use super::events::{WireLevel, WorkerEvent};
use tracing::Span;

/// Emits `event`, which worker `pid` sent, inside `span` (its task's, if the parent knows it).
/// Its strings are cut to their limits first.
pub(crate) fn emit(event: WorkerEvent, pid: u32, span: Option<&Span>) {
    let WorkerEvent { level, target, message, .. } = event.bounded();
    let emit = || match level {
        WireLevel::Error => {
            tracing::error!(worker_pid = pid, worker_target = %target, "{message}")
        }
        WireLevel::Warn => tracing::warn!(worker_pid = pid, worker_target = %target, "{message}"),
        WireLevel::Info => tracing::info!(worker_pid = pid, worker_target = %target, "{message}"),
        WireLevel::Debug => {
            tracing::debug!(worker_pid = pid, worker_target = %target, "{message}")
        }
        WireLevel::Trace => {
            tracing::trace!(worker_pid = pid, worker_target = %target, "{message}")
        }
    };
    match span {
        Some(span) => span.in_scope(emit),
        None => emit(),
    }
}
