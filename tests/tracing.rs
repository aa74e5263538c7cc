//! Feature `tracing`, as a program that installs its own subscriber sees it: every task runs in
//! a `task` span (fields `pool`, `id`) whose parent is the span current at submit, and a process
//! worker's events (and `log` records) reach the parent's subscriber inside that span, with the
//! worker's pid, in order, even from a worker that dies right after.
//!
//! Its own runner (`harness = false`): the process pool re-executes this binary as workers.

mod common;

use common::{Check, PATIENCE, run_checks};
use concurrent_futures::{ProcessPoolExecutor, TaskError, ThreadPoolExecutor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::span::Current;

fn main() {
    concurrent_futures::init();
    // Before any pool: a worker captures the events its parent's subscribers want when it starts.
    tracing::subscriber::set_global_default(Collector).expect("no other subscriber");
    let checks: &[Check] = &[
        ("a_thread_task_runs_in_a_child_of_the_submit_span", thread_task_span),
        ("map_chunks_and_scoped_tasks_run_in_task_spans", map_and_scope_spans),
        ("a_process_task_s_events_arrive_in_its_span_with_the_worker_pid", process_task_events),
        ("a_worker_s_events_arrive_in_order", events_in_order),
        ("events_of_a_worker_that_aborts_right_after_are_delivered", events_before_abort),
        ("a_worker_s_log_records_arrive_as_events", log_records),
    ];
    run_checks(checks);
}

// ---- A subscriber that remembers every span and event.

#[derive(Debug, Clone)]
struct SpanSeen {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
    metadata: &'static Metadata<'static>,
}

#[derive(Debug, Clone)]
struct EventSeen {
    level: Level,
    fields: HashMap<String, String>,
    /// The span it was emitted in (explicit parent or the current one).
    span: Option<u64>,
}

#[derive(Default)]
struct Seen {
    next_id: u64,
    spans: HashMap<u64, SpanSeen>,
    events: Vec<EventSeen>,
}

fn seen() -> MutexGuard<'static, Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn innermost() -> Option<u64> {
    ENTERED.with(|entered| entered.borrow().last().copied())
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct Collector;

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        let parent = if let Some(parent) = attributes.parent() {
            Some(parent.into_u64())
        } else if attributes.is_contextual() {
            innermost()
        } else {
            None
        };
        let mut seen = seen();
        seen.next_id += 1;
        let id = seen.next_id;
        let metadata = attributes.metadata();
        seen.spans.insert(id, SpanSeen { name: metadata.name(), fields: fields.0, parent, metadata });
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span = if let Some(parent) = event.parent() {
            Some(parent.into_u64())
        } else if event.is_contextual() {
            innermost()
        } else {
            None
        };
        seen().events.push(EventSeen { level: *event.metadata().level(), fields: fields.0, span });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(at) = entered.iter().rposition(|id| *id == span.into_u64()) {
                entered.remove(at);
            }
        });
    }

    fn current_span(&self) -> Current {
        match innermost().and_then(|id| seen().spans.get(&id).map(|span| (id, span.metadata))) {
            Some((id, metadata)) => Current::new(Id::from_u64(id), metadata),
            None => Current::none(),
        }
    }
}

/// The events marked `marker`: by their field `marker`, or, replayed from a worker, by
/// `marker=...` in their text (a worker's fields travel as text).
fn events_marked(marker: &str) -> Vec<EventSeen> {
    let in_text = format!("marker={marker}");
    let marked = |e: &&EventSeen| {
        e.fields.get("marker").is_some_and(|m| m == marker)
            || e.fields.get("message").is_some_and(|m| m.split(' ').any(|word| word == in_text))
    };
    seen().events.iter().filter(marked).cloned().collect()
}

/// The one event marked `marker`, and the span it was emitted in.
fn the_event(marker: &str) -> (EventSeen, SpanSeen) {
    let events = events_marked(marker);
    assert_eq!(events.len(), 1, "events marked {marker}: {events:?}");
    let event = events.into_iter().next().unwrap();
    let span = event.span.and_then(|id| seen().spans.get(&id).cloned());
    let span = span.unwrap_or_else(|| panic!("the event marked {marker} has no span: {event:?}"));
    (event, span)
}

/// A span of its own for one check, entered while `f` submits.
fn under_a_span_of_its_own<T>(case: &str, f: impl FnOnce(u64) -> T) -> T {
    let outer = tracing::info_span!("outer", case);
    let id = outer.id().expect("the collector records spans").into_u64();
    outer.in_scope(|| f(id))
}

fn assert_task_span(span: &SpanSeen, pool: &str, parent: u64) {
    assert_eq!(span.name, "task", "{span:?}");
    assert_eq!(span.fields.get("pool").map(String::as_str), Some(pool), "{span:?}");
    assert!(span.fields.get("id").is_some_and(|id| id.parse::<u64>().is_ok()), "{span:?}");
    assert_eq!(span.parent, Some(parent), "the task span's parent is the span at submit: {span:?}");
}

// ---- Thread pools.

fn thread_task_span() {
    let pool = ThreadPoolExecutor::builder().max_workers(2).thread_name_prefix("traced").build().unwrap();
    let outer = under_a_span_of_its_own("thread", |outer| {
        let spawned = pool.spawn(|| tracing::info!(marker = "thread-spawn"));
        let submitted = pool.submit(|x: u32| tracing::info!(marker = "thread-submit", x), 1);
        assert_eq!(spawned.result_timeout(PATIENCE), Ok(()));
        assert_eq!(submitted.result_timeout(PATIENCE), Ok(()));
        outer
    });
    let (_, spawned) = the_event("thread-spawn");
    let (_, submitted) = the_event("thread-submit");
    assert_task_span(&spawned, "traced", outer);
    assert_task_span(&submitted, "traced", outer);
    assert_ne!(spawned.fields.get("id"), submitted.fields.get("id"), "each task has its own id");
    // A task submitted with no span entered is a root's child: its span has no parent.
    pool.spawn(|| tracing::info!(marker = "thread-root")).result_timeout(PATIENCE).unwrap();
    let (_, root) = the_event("thread-root");
    assert_eq!((root.name, root.parent), ("task", None));
}

fn map_and_scope_spans() {
    let pool = ThreadPoolExecutor::builder().max_workers(2).thread_name_prefix("mapped").build().unwrap();
    let outer = under_a_span_of_its_own("map", |outer| {
        let mapped: Vec<u32> = pool
            .map(
                |x: u32| {
                    tracing::info!(marker = "map-item", x);
                    x
                },
                0..6,
            )
            .chunksize(2)
            .map(Result::unwrap)
            .collect();
        assert_eq!(mapped, [0, 1, 2, 3, 4, 5]);
        let words = ["a", "bb"];
        pool.scope(|s| {
            let len = s.spawn(|| {
                tracing::info!(marker = "scoped");
                words[1].len()
            });
            assert_eq!(len.result_timeout(PATIENCE), Ok(2));
        });
        outer
    });
    let items = events_marked("map-item");
    assert_eq!(items.len(), 6);
    let mut chunk_spans: Vec<u64> = items.iter().map(|e| e.span.expect("in a span")).collect();
    chunk_spans.dedup();
    for id in &chunk_spans {
        let span = seen().spans[id].clone();
        assert_task_span(&span, "mapped", outer);
    }
    let (_, scoped) = the_event("scoped");
    assert_task_span(&scoped, "mapped", outer);
}

// ---- Process pools: what the workers run.

fn emit_and_tell_pid(n: u32) -> u32 {
    tracing::info!(marker = "process-event", n, "from the worker");
    std::process::id()
}

fn emit_a_sequence(item: u32) -> u32 {
    for seq in 0..20u32 {
        tracing::debug!(marker = "sequence", item, seq);
    }
    std::process::id()
}

fn emit_then_abort(_: u32) -> u32 {
    tracing::warn!(marker = "before-abort", "about to abort");
    std::process::abort()
}

fn log_a_record(n: u32) -> u32 {
    log::warn!(target: "traced::log", "a log record {n}");
    std::process::id()
}

fn process_task_events() {
    let pool = ProcessPoolExecutor::new(1);
    let (outer, pid) = under_a_span_of_its_own("process", |outer| {
        let pid = pool.submit(emit_and_tell_pid, 7).result_timeout(PATIENCE).unwrap();
        (outer, pid)
    });
    let (event, span) = the_event("process-event");
    assert_eq!(event.level, Level::INFO);
    assert_eq!(event.fields.get("worker_pid"), Some(&pid.to_string()));
    assert!(event.fields.get("message").is_some_and(|m| m.contains("from the worker") && m.contains("n=7")));
    assert!(event.fields.get("worker_target").is_some_and(|t| t.starts_with("tracing")), "{event:?}");
    assert!(span.fields.get("pool").is_some_and(|pool| pool.starts_with("ProcessPoolExecutor-")), "{span:?}");
    assert_task_span(&span, span.fields["pool"].clone().as_str(), outer);
}

fn events_in_order() {
    let pool = ProcessPoolExecutor::new(2);
    let pids: Vec<u32> = pool.map(emit_a_sequence, 0..12).chunksize(3).map(Result::unwrap).collect();
    let mut by_worker: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    for event in events_marked("sequence") {
        assert_eq!(event.level, Level::DEBUG);
        let message = &event.fields["message"];
        let number = |name: &str| -> u32 {
            let at = message.find(&format!("{name}=")).expect("the field is in the text") + name.len() + 1;
            message[at..].split(' ').next().and_then(|n| n.parse().ok()).expect("a number")
        };
        by_worker
            .entry(event.fields["worker_pid"].clone())
            .or_default()
            .push((number("item"), number("seq")));
    }
    assert_eq!(by_worker.values().map(Vec::len).sum::<usize>(), 12 * 20, "every event arrived");
    for (pid, events) in &by_worker {
        assert!(pids.iter().any(|p| p.to_string() == *pid), "{pid} ran none of the items");
        assert!(events.windows(2).all(|pair| pair[0] < pair[1]), "worker {pid} out of order: {events:?}");
    }
}

fn events_before_abort() {
    let pool = ProcessPoolExecutor::new(1);
    let outer = under_a_span_of_its_own("abort", |outer| {
        let aborted = pool.submit(emit_then_abort, 1).result_timeout(PATIENCE);
        assert!(matches!(aborted, Err(TaskError::WorkerDied(_))), "{aborted:?}");
        outer
    });
    let (event, span) = the_event("before-abort");
    assert_eq!(event.level, Level::WARN);
    assert!(event.fields.get("worker_pid").is_some_and(|pid| pid.parse::<u32>().is_ok()), "{event:?}");
    assert_task_span(&span, span.fields["pool"].clone().as_str(), outer);
    // The pool goes on with a new worker.
    assert!(pool.submit(emit_and_tell_pid, 0).result_timeout(PATIENCE).is_ok());
}

fn log_records() {
    let pool = ProcessPoolExecutor::new(1);
    let pid = pool.submit(log_a_record, 3).result_timeout(PATIENCE).unwrap();
    let events: Vec<EventSeen> = seen()
        .events
        .iter()
        .filter(|e| e.fields.get("message").is_some_and(|m| m == "a log record 3"))
        .cloned()
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(events[0].fields.get("worker_target").map(String::as_str), Some("traced::log"));
    assert_eq!(events[0].fields.get("worker_pid"), Some(&pid.to_string()));
    let span = events[0].span.and_then(|id| seen().spans.get(&id).cloned());
    assert_eq!(span.map(|s| s.name), Some("task"));
}
