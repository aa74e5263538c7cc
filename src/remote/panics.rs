//! A task's panic, as a process that runs tasks for another reports it: through the task's
//! future, with its message and location, not on the worker's stderr.

use std::cell::{Cell, RefCell};

thread_local! {
    /// Where the last panic on this thread happened (set by the worker's panic hook).
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    /// True while a task's own code runs: its panics are reported through its future only.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

/// `message`, followed by the location of the panic if the worker's hook recorded one.
pub(crate) fn with_panic_location(message: String) -> String {
    match PANIC_LOCATION.with(|l| l.borrow_mut().take()) {
        Some(location) => format!("{message} (at {location})"),
        None => message,
    }
}

/// Runs a task's code, marked as such for the panic hook (also while it unwinds).
pub(crate) fn in_task<T>(f: impl FnOnce() -> T) -> T {
    struct Mark;
    impl Drop for Mark {
        fn drop(&mut self) {
            IN_TASK.with(|t| t.set(false));
        }
    }
    IN_TASK.with(|t| t.set(true));
    let _mark = Mark;
    f()
}

/// Installs the panic hook of a process that runs tasks for another: it records where a panic
/// happened (for [`with_panic_location`]), and prints only panics outside a task's own code,
/// since a task's panic travels to its future with its message and location.
pub(crate) fn report_task_panics_through_futures() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(location) = info.location() {
            let location = format!("{}:{}:{}", location.file(), location.line(), location.column());
            PANIC_LOCATION.with(|l| *l.borrow_mut() = Some(location));
        }
        if !IN_TASK.with(Cell::get) {
            default_hook(info);
        }
    }));
}
