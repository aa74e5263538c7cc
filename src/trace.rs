//! The `task` span every task runs in (cargo feature `tracing`), as each pool sees it: a
//! [`PoolTrace`] per pool numbers its tasks and captures, at submit, the span current on the
//! submitting thread; the task's span is made as that span's child when the task starts.
//!
//! Without the feature every type here is empty and every call does nothing, so the pools call
//! them without a `cfg`. With it but no subscriber interested in `INFO`, a submit costs one
//! relaxed load (the global `LevelFilter::current()`) and the task carries an empty `Option`.

// `Submitted` travels with a process pool's tasks; a thread pool's keep it in their closure.
#[cfg(feature = "tracing")]
#[cfg_attr(not(all(feature = "process", unix)), allow(unused_imports))]
pub(crate) use self::on::{PoolTrace, Submitted};

#[cfg(not(feature = "tracing"))]
#[cfg_attr(not(all(feature = "process", unix)), allow(unused_imports))]
pub(crate) use self::off::{PoolTrace, Submitted};

#[cfg(feature = "tracing")]
mod on {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    use tracing::{Level, Span};

    /// True if some subscriber may want `INFO` spans (what `tracing::level_enabled!` checks).
    #[inline(always)]
    fn interested() -> bool {
        Level::INFO <= STATIC_MAX_LEVEL && Level::INFO <= LevelFilter::current()
    }

    /// A pool's name, and the count of its tasks for their `id` where the pool has none;
    /// shared by the pool's handle and its scopes.
    #[derive(Clone)]
    pub(crate) struct PoolTrace(Arc<Named>);

    struct Named {
        name: Arc<str>,
        next_id: AtomicU64,
    }

    impl PoolTrace {
        pub(crate) fn new(name: &str) -> Self {
            PoolTrace(Arc::new(Named { name: name.into(), next_id: AtomicU64::new(0) }))
        }

        /// A pool named `{kind}-{n}`, with `n` counting the pools of this process so named
        /// (from 0, like the default thread name prefix `ThreadPoolExecutor-{n}`).
        #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))]
        pub(crate) fn numbered(kind: &str) -> Self {
            static POOLS: AtomicU64 = AtomicU64::new(0);
            Self::new(&format!("{kind}-{}", POOLS.fetch_add(1, Ordering::Relaxed)))
        }

        /// What a task submitted now takes along: the span current on this thread, the pool's
        /// name and `id` (numbered by this pool when `None`); nothing when no subscriber wants
        /// `INFO` spans.
        #[inline]
        pub(crate) fn submitted(&self, id: Option<u64>) -> Submitted {
            if !interested() {
                return Submitted(None);
            }
            self.capture(id)
        }

        /// [`Self::submitted`] when a subscriber may want the span: out of the submit's way.
        #[cold]
        #[inline(never)]
        fn capture(&self, id: Option<u64>) -> Submitted {
            let id = id.unwrap_or_else(|| self.0.next_id.fetch_add(1, Ordering::Relaxed));
            Submitted(Some(Box::new(Captured {
                parent: Span::current(),
                pool: Arc::clone(&self.0.name),
                id,
                span: None,
            })))
        }

        /// `f`, run inside its task's span once it runs (see [`Submitted::run`]).
        #[inline]
        pub(crate) fn wrap<T, F>(&self, f: F) -> impl FnOnce() -> T + Send + use<T, F>
        where
            F: FnOnce() -> T + Send,
        {
            let submitted = self.submitted(None);
            move || submitted.run(f)
        }
    }

    /// What a task captured at submit (boxed: a task that carries nothing stays small).
    struct Captured {
        parent: Span,
        pool: Arc<str>,
        id: u64,
        /// The task's own span, once it started (a process pool's task).
        #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))]
        span: Option<Span>,
    }

    /// A task's span context, from its submit to its end.
    #[derive(Default)]
    pub(crate) struct Submitted(Option<Box<Captured>>);

    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))]
    impl Submitted {
        /// Runs `f` inside a new `task` span, the child of the span current at submit.
        #[inline]
        pub(crate) fn run<T>(self, f: impl FnOnce() -> T) -> T {
            match self.0 {
                None => f(),
                Some(c) => {
                    tracing::info_span!(parent: &c.parent, "task", pool = &*c.pool, id = c.id).in_scope(f)
                }
            }
        }

        /// Makes the task's span (once): the task starts now. Its span, if any.
        pub(crate) fn start(&mut self) -> Option<&Span> {
            let captured = self.0.as_deref_mut()?;
            let Captured { parent, pool, id, span } = captured;
            Some(span.get_or_insert_with(
                || tracing::info_span!(parent: &*parent, "task", pool = &**pool, id = *id),
            ))
        }

        /// The task's span, once started.
        pub(crate) fn span(&self) -> Option<&Span> {
            self.0.as_ref()?.span.as_ref()
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod off {
    /// Nothing: the feature `tracing` is off.
    #[derive(Clone)]
    pub(crate) struct PoolTrace;

    impl PoolTrace {
        pub(crate) fn new(_name: &str) -> Self {
            PoolTrace
        }

        #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))]
        pub(crate) fn numbered(_kind: &str) -> Self {
            PoolTrace
        }

        #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))]
        pub(crate) fn submitted(&self, _id: Option<u64>) -> Submitted {
            Submitted
        }

        pub(crate) fn wrap<T, F>(&self, f: F) -> impl FnOnce() -> T + Send + use<T, F>
        where
            F: FnOnce() -> T + Send,
        {
            f
        }
    }

    /// Nothing: the feature `tracing` is off.
    #[derive(Default)]
    pub(crate) struct Submitted;

    #[cfg_attr(not(all(feature = "process", unix)), allow(dead_code))]
    impl Submitted {
        pub(crate) fn start(&mut self) {}
    }
}
