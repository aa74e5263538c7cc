//! Parent services: objects of the parent that a worker's tasks may call while they run (a
//! `SharedMap` is one). The remote-task layer knows nothing of what a service does: a service
//! registers itself when a task argument that names it is encoded, and the task carries it
//! (its transport answers requests made of an operation number and encoded operands: see
//! `process::service`).

use std::cell::RefCell;
use std::sync::Arc;

/// Something of the parent's that workers may call.
pub(crate) trait Service: Send + Sync + 'static {
    /// Answers one request: operation `op` with its encoded operands. An `Err` is sent back to
    /// the caller as its error.
    fn call(&self, op: u8, operands: &[u8]) -> Result<Vec<u8>, String>;
}

/// Services a task argument names, by the ids the parent gave them.
pub(crate) type Exposed = Vec<(u64, Arc<dyn Service>)>;

thread_local! {
    /// While a process pool encodes a task's argument: the services the argument names.
    static EXPOSED: RefCell<Option<Exposed>> = const { RefCell::new(None) };
}

/// Called by a service's `Serialize`: if a process pool is encoding a task argument on this
/// thread, the task will carry `service` (keeping it alive until it is done) and grant the
/// worker that runs it the use of `id`. Elsewhere it does nothing.
pub(crate) fn expose(id: u64, service: Arc<dyn Service>) {
    EXPOSED.with(|exposed| {
        if let Some(list) = exposed.borrow_mut().as_mut() {
            list.push((id, service));
        }
    });
}

/// Runs `encode` and returns what it made, with the services it exposed. The collector is
/// put back as it was even if `encode` panics (a user's `Serialize` may).
pub(crate) fn collecting<T>(encode: impl FnOnce() -> T) -> (T, Exposed) {
    struct Restore(Option<Option<Exposed>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                EXPOSED.with(|exposed| *exposed.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(EXPOSED.with(|exposed| exposed.borrow_mut().replace(Vec::new()))));
    let made = encode();
    let outer = restore.0.take().unwrap_or_default();
    let exposed = EXPOSED.with(|exposed| std::mem::replace(&mut *exposed.borrow_mut(), outer));
    (made, exposed.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Service for Echo {
        fn call(&self, op: u8, operands: &[u8]) -> Result<Vec<u8>, String> {
            Ok([&[op][..], operands].concat())
        }
    }

    #[test]
    fn only_services_encoded_inside_collecting_are_collected() {
        expose(1, Arc::new(Echo));
        let ((), inner) = collecting(|| expose(2, Arc::new(Echo)));
        assert_eq!(inner.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [2]);
        // An encoder that panics leaves no collector behind.
        let _ = std::panic::catch_unwind(|| collecting(|| panic!("a Serialize impl panicked")));
        assert!(EXPOSED.with(|exposed| exposed.borrow().is_none()));
    }
}
