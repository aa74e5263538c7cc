//! Locks without poisoning, and the synchronisation primitives of the future core, which are
//! swapped for loom's models under `cfg(loom)`.
//!
//! [`plain`] wraps std's locks (a panic while a lock is held does not poison it for everyone
//! else): every lock of the crate is one of these. Only the state machine of [`crate::future`]
//! and the [`crate::future::waiter`] go through the swapped ones: they are what the loom tests
//! check exhaustively. [`spin_then_park`] is the crate's one wait that looks before it blocks.
//! Depends on nothing of the crate.

use std::time::{Duration, Instant};

pub(crate) mod plain {
    use std::sync::PoisonError;
    use std::time::Instant;

    /// std's mutex, without poisoning: a panic under the lock leaves the data as it was left.
    #[derive(Default)]
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    /// Its guard; the `Option` lets [`Condvar`] hand the inner guard to std and back.
    pub(crate) struct MutexGuard<'a, T>(Option<std::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_deref().unwrap_or_else(|| unreachable!("a guard is empty only inside Condvar::wait"))
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0
                .as_deref_mut()
                .unwrap_or_else(|| unreachable!("a guard is empty only inside Condvar::wait"))
        }
    }

    /// std's reader-writer lock, without poisoning.
    pub(crate) struct RwLock<T>(std::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// std's condition variable, for [`MutexGuard`].
    #[derive(Default)]
    pub(crate) struct Condvar(std::sync::Condvar);

    impl Condvar {
        #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // the process pool's
        pub(crate) const fn new() -> Self {
            Self(std::sync::Condvar::new())
        }

        #[cfg_attr(loom, allow(dead_code))] // loom's own is used there
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            if let Some(inner) = guard.0.take() {
                guard.0 = Some(self.0.wait(inner).unwrap_or_else(PoisonError::into_inner));
            }
        }

        /// Returns true when the deadline passed.
        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> bool {
            let Some(inner) = guard.0.take() else { return false };
            let timeout = deadline.saturating_duration_since(Instant::now());
            let (inner, result) = self.0.wait_timeout(inner, timeout).unwrap_or_else(PoisonError::into_inner);
            guard.0 = Some(inner);
            result.timed_out()
        }

        #[cfg_attr(loom, allow(dead_code))] // loom's own is used there
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))] // the process pool's
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(not(loom))]
mod imp {
    pub(crate) use super::plain::{Condvar, Mutex};
    pub(crate) use std::sync::atomic::{AtomicU8, Ordering};

    /// An `UnsafeCell` with loom's closure-based access API.
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
    use std::time::Instant;

    /// loom's mutex behind the API of [`super::plain::Mutex`] (no poisoning).
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// Its guard; the `Option` lets `Condvar::wait` hand the inner guard to loom and back.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Self::new(T::default())
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_deref().unwrap_or_else(|| unreachable!("guard is only empty inside wait"))
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_deref_mut().unwrap_or_else(|| unreachable!("guard is only empty inside wait"))
        }
    }

    #[derive(Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            if let Some(inner) = guard.0.take() {
                guard.0 = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
            }
        }

        /// loom does not model time: a timed wait is an untimed one that may also time out.
        pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> bool {
            let Some(inner) = guard.0.take() else { return false };
            let timeout = deadline.saturating_duration_since(Instant::now());
            let (inner, result) = self.0.wait_timeout(inner, timeout).unwrap_or_else(|e| e.into_inner());
            guard.0 = Some(inner);
            result.timed_out()
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

pub(crate) use imp::*;

/// How long a waiter looks for what it waits for before it parks, unless it has a reason to
/// look longer: a park and wake-up costs about 20 µs across cores, and the window must outlast
/// a wake-up (if both sides of a round trip gave up sooner, each would wait for the other's
/// wake-up every time).
pub(crate) const SPIN_WINDOW: Duration = Duration::from_micros(50);

/// Rounds of spinning before a waiter yields: round `n` spins `2^n` times between two looks.
const SPIN_ROUNDS: u32 = 7;

/// Waits for what `poll` gives: looks at once, then between spins that double each round (for
/// [`SPIN_ROUNDS`] rounds), then between yields until `window` has passed since the call, and
/// then returns `park()`, the caller's blocking wait (which must not miss what came meanwhile:
/// a channel's `recv`, a condition variable checked under its lock). Under loom, which explores
/// every interleaving, it looks once and parks.
pub(crate) fn spin_then_park<T>(
    window: Duration,
    mut poll: impl FnMut() -> Option<T>,
    park: impl FnOnce() -> T,
) -> T {
    if let Some(found) = poll() {
        return found;
    }
    if cfg!(loom) {
        return park();
    }
    for round in 0..SPIN_ROUNDS {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
        if let Some(found) = poll() {
            return found;
        }
    }
    let start = Instant::now();
    while start.elapsed() < window {
        std::thread::yield_now();
        if let Some(found) = poll() {
            return found;
        }
    }
    park()
}

/// True once `done` is, looking for [`SPIN_WINDOW`] (see [`spin_then_park`]); false if it is
/// not by then (the caller parks).
pub(crate) fn spin_until(done: impl Fn() -> bool) -> bool {
    spin_then_park(SPIN_WINDOW, || done().then_some(true), &done)
}
