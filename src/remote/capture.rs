//! The worker's side of feature `tracing`: a minimal `tracing` subscriber that formats every
//! event a worker emits (and, through `tracing-log`, every `log` record) into a
//! [`WorkerEvent`] and hands it at once to the transport's sink, which sends it to the parent on
//! the channel the task's outcome takes later. Sent as soon as emitted, an event is already on
//! its way if the worker dies right after.
//!
//! Spans are not recorded (the parent gives each event its task's span); events above the level
//! the parent's subscribers want (given at the worker's start) are not even formatted.

use super::events::{WireLevel, WorkerEvent};
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_log::{AsLog, NormalizeEvent};

/// Where the worker's events go: the transport's sender.
pub(crate) type Sink = Box<dyn Fn(WorkerEvent) + Send + Sync>;

/// The task the worker runs now (`NO_TASK`: none).
static TASK: AtomicU64 = AtomicU64::new(NO_TASK);
const NO_TASK: u64 = u64::MAX;

thread_local! {
    /// True while this thread hands an event to the sink: an event the sink itself causes is
    /// dropped instead of sent from inside the send.
    static SENDING: Cell<bool> = const { Cell::new(false) };
}

/// The events emitted from now on belong to task `id` (to none for `None`).
pub(crate) fn set_task(id: Option<u64>) {
    TASK.store(id.unwrap_or(NO_TASK), Ordering::Relaxed);
}

/// Makes the capture this process's subscriber for events up to `max` (and `log` records,
/// unless a logger is set already); nothing for `LevelFilter::OFF`. False if another subscriber
/// was set first.
pub(crate) fn install(max: LevelFilter, sink: Sink) -> bool {
    if max == LevelFilter::OFF {
        return true;
    }
    let installed = tracing::subscriber::set_global_default(Capture { max, sink }).is_ok();
    if installed {
        // A worker runs no `main`, so no logger is set here unless a task set one.
        let _ = tracing_log::LogTracer::builder().with_max_level(max.as_log()).init();
    }
    installed
}

/// The worker's subscriber.
struct Capture {
    max: LevelFilter,
    sink: Sink,
}

impl Capture {
    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && *metadata.level() <= self.max
    }
}

impl Subscriber for Capture {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wants(metadata) { Interest::always() } else { Interest::never() }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.wants(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        // Never called: no span is enabled. An id must not be 0.
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if SENDING.with(Cell::get) {
            return;
        }
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut text = Text::default();
        event.record(&mut text);
        let task = TASK.load(Ordering::Relaxed);
        let captured = WorkerEvent {
            task: (task != NO_TASK).then_some(task),
            level: WireLevel::of(metadata.level()),
            target: metadata.target().to_owned(),
            message: text.into_string(),
        }
        .bounded();
        SENDING.with(|sending| sending.set(true));
        (self.sink)(captured);
        SENDING.with(|sending| sending.set(false));
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// An event's fields as text: the message first, then ` name=value` for the others (a `log`
/// record's own `log.*` fields left out: its target is the event's).
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn into_string(mut self) -> String {
        if self.message.is_empty() {
            self.fields.drain(..self.fields.len().min(1));
        }
        self.message.push_str(&self.fields);
        self.message
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name == "message" {
            let _ = write!(self.message, "{value:?}");
        } else if !name.starts_with("log.") {
            let _ = write!(self.fields, " {name}={value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn events_are_formatted_with_their_fields_and_task() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        let capture = Capture {
            max: LevelFilter::DEBUG,
            sink: Box::new(move |event| into.lock().unwrap().push(event)),
        };
        tracing::subscriber::with_default(capture, || {
            set_task(Some(4));
            tracing::warn!(answer = 42, name = "x", "hello {}", "there");
            set_task(None);
            tracing::debug!(only = true);
            tracing::trace!("too fine: not captured");
        });
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].task, Some(4));
        assert_eq!(seen[0].level, WireLevel::Warn);
        assert_eq!(seen[0].message, "hello there answer=42 name=x");
        assert!(seen[0].target.ends_with("capture::tests"), "{}", seen[0].target);
        assert_eq!(
            (seen[1].task, seen[1].level, seen[1].message.as_str()),
            (None, WireLevel::Debug, "only=true")
        );
    }
}
