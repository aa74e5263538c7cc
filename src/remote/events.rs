//! A worker's `tracing` event on its way to the parent (cargo feature `tracing`): its level,
//! target and text, and the task it came from. The worker formats it (`capture`), the parent
//! emits it again inside that task's span (`replay`); the transport carries it in order with
//! the task's outcomes, before them.
//!
//! Nothing in it is trusted: the level is one of five variants (anything else fails to
//! decode, like any garbage frame), the task id only picks a span among the tasks the parent
//! sent to that worker, and the strings are cut to [`MAX_TARGET`] and [`MAX_MESSAGE`] bytes on
//! both sides.

use serde::{Deserialize, Serialize};
use tracing::Level;

/// The most bytes of an event's target that travel (a module path is far shorter).
pub(crate) const MAX_TARGET: usize = 256;
/// The most bytes of an event's text (its message and fields) that travel: an event stays a
/// small frame.
pub(crate) const MAX_MESSAGE: usize = 16 << 10;

/// One event a worker emitted.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerEvent {
    /// The task the worker was running, if any (its initializer, or between tasks: none).
    pub(crate) task: Option<u64>,
    pub(crate) level: WireLevel,
    /// Where it was emitted (the module path by default, or a `log` record's target).
    pub(crate) target: String,
    /// Its message, then its other fields as ` name=value`.
    pub(crate) message: String,
}

/// A [`Level`] on the wire.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl WireLevel {
    pub(crate) fn of(level: &Level) -> WireLevel {
        match *level {
            Level::ERROR => WireLevel::Error,
            Level::WARN => WireLevel::Warn,
            Level::INFO => WireLevel::Info,
            Level::DEBUG => WireLevel::Debug,
            _ => WireLevel::Trace,
        }
    }
}

impl WorkerEvent {
    /// Cuts the target and the text to their limits (at a character boundary).
    pub(crate) fn bounded(mut self) -> WorkerEvent {
        cut(&mut self.target, MAX_TARGET);
        cut(&mut self.message, MAX_MESSAGE);
        self
    }
}

/// Cuts `text` to at most `max` bytes, at a character boundary, marking the cut with `…`.
fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_are_cut_at_a_char_boundary() {
        let event = WorkerEvent {
            task: Some(1),
            level: WireLevel::Info,
            target: "é".repeat(MAX_TARGET),
            message: "x".repeat(MAX_MESSAGE + 1),
        }
        .bounded();
        assert!(event.target.len() <= MAX_TARGET && event.target.ends_with('…'));
        assert!(event.message.len() <= MAX_MESSAGE && event.message.ends_with('…'));
        let short =
            WorkerEvent { task: None, level: WireLevel::Warn, target: "t".into(), message: "m".into() };
        assert_eq!(short.clone().bounded(), short);
    }

    #[test]
    fn an_unknown_level_does_not_decode() {
        let mut bytes = postcard::to_allocvec(&WireLevel::Trace).unwrap();
        bytes[0] = 5;
        assert!(postcard::from_bytes::<WireLevel>(&bytes).is_err());
    }
}
