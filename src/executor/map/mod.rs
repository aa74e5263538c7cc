//! [`Map`]: the lazy, chunked, bounded parallel map behind every pool's `map`.
//!
//! Items are gathered into chunks on the consuming thread, and each chunk is one task handed to
//! the map's [`MapSource`] (so the same code serves threads, processes and scopes). At most
//! `buffered` chunks are in flight; each `next()` tops the window up again, so an endless input
//! runs in bounded memory. A panicking item becomes its own `Err` inside its chunk; a chunk that
//! fails as a whole (cancelled, worker died, ...) yields that error once for each of its items.

mod ahead;
mod chunk;
mod flight;
mod progress;
mod source;

pub(crate) use self::chunk::{ChunkOutput, run_chunk, tally_chunk};
pub use self::source::MapSource;
pub(crate) use self::source::sealed as sealed_source;

#[cfg(fuzzing)]
use self::chunk::ChunkResults;
use self::flight::{Feed, Flight};
#[cfg(feature = "progress")]
use self::progress::Progress;
use crate::error::TaskError;
use std::marker::PhantomData;
use std::time::Duration;

/// Decodes `data` as a chunk's output and reads it back as a map would (for the fuzz target).
#[cfg(fuzzing)]
pub(crate) fn fuzz_decode(data: &[u8]) {
    if let Ok(output) = postcard::from_bytes::<ChunkOutput<u64>>(data) {
        let len = data.len().min(1 << 12);
        ChunkResults::from_outcome(len, Ok(output)).for_each(drop);
    }
}

/// The iterator returned by [`Executor::map`](crate::Executor::map), by
/// [`ThreadPoolExecutor::map`](crate::ThreadPoolExecutor::map) and by
/// [`Scope::map`](crate::Scope::map): `Result<R, TaskError>` for each item.
///
/// Results come in input order (or completion order after [`unordered`](Self::unordered)). It is
/// lazy: nothing is submitted before the first `next()`. Configure it before iterating:
///
/// | method | meaning | default |
/// |---|---|---|
/// | [`chunksize(n)`](Self::chunksize) | items per task message | an input of known length: about 16 chunks per worker; otherwise 1 |
/// | [`buffered(n)`](Self::buffered) | chunks in flight at most | 4 × `max_workers` not finished yet, and up to 64 × `max_workers` held (finished, in order) behind a slow one |
/// | [`timeout(d)`](Self::timeout) | deadline for the whole map, from the first `next()` | none |
/// | [`unordered()`](Self::unordered) | yield in completion order | input order |
/// | [`on_progress(f)`](Self::on_progress) | `f(n)` as each chunk of `n` items finishes (feature `progress`) | none |
///
/// Dropping the iterator cancels the chunks that have not started.
///
/// Every item runs on the pool's workers, like every other task: never more than `max_workers`
/// at once (on a thread pool, each on a pool thread, under its name, after its initializer);
/// the thread that consumes the map only hands out chunks and reads results.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, TaskError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(4);
/// let results: Vec<Result<u32, TaskError>> = pool
///     .map(|x: u32| if x == 3 { panic!("three") } else { x * 10 }, 1..=5)
///     .chunksize(2)
///     .collect();
/// assert_eq!(results[1], Ok(20));
/// assert!(matches!(&results[2], Err(TaskError::Panicked(m)) if m.contains("three")));
/// assert_eq!(results[4], Ok(50));
/// ```
#[must_use = "a map is lazy: nothing runs until it is iterated"]
pub struct Map<'a, E: ?Sized, F, A, R, I> {
    executor: &'a E,
    f: F,
    items: Option<I>,
    flight: Flight<R>,
    _arg: PhantomData<fn(A)>,
}

impl<'a, E, F, A, R, I> Map<'a, E, F, A, R, I>
where
    E: MapSource<F, A, R> + ?Sized,
    I: Iterator<Item = A>,
{
    pub(crate) fn new(executor: &'a E, f: F, items: I) -> Self {
        Map { executor, f, items: Some(items), flight: Flight::new(), _arg: PhantomData }
    }

    /// Sends `n` items per task message. Larger chunks cut the per-task cost for many small
    /// items; smaller ones balance uneven work better.
    ///
    /// Without it, an input whose length is known (a range, a `Vec`, a slice: an exact
    /// `size_hint`) is cut into about 16 chunks per worker, the guide's rule (`items / (16 ×
    /// workers)`, at least 1), and any other input goes item by item, as in Python.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let sum: u64 = pool.map(|x: u64| x, 0..10_000).chunksize(512).map(Result::unwrap).sum();
    /// assert_eq!(sum, 49_995_000);
    /// ```
    pub fn chunksize(mut self, n: usize) -> Self {
        assert!(n > 0, "Map::chunksize must be at least 1 (1 sends every item as its own task)");
        self.flight.chunksize = Some(n);
        self
    }

    /// Keeps at most `n` chunks in flight, so the input is read only as fast as results are
    /// consumed and an endless input works.
    ///
    /// Without it, an ordered map keeps 4 × the executor's `max_workers` chunks waiting to run
    /// or running, and while the oldest one is slow it lets the others run ahead, holding up to
    /// 64 × `max_workers` finished chunks until the slow one is done: a worker never idles
    /// behind one long item, and memory stays bounded.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// // An endless input: only a few chunks are ever queued.
    /// let first: Vec<u64> = pool.map(|x: u64| x * 2, 0..).buffered(4).take(3).map(Result::unwrap).collect();
    /// assert_eq!(first, [0, 2, 4]);
    /// ```
    pub fn buffered(mut self, n: usize) -> Self {
        assert!(n > 0, "Map::buffered must be at least 1 chunk in flight");
        self.flight.buffered = Some(n);
        self
    }

    /// Gives the whole map a deadline, counted from the first `next()` (like Python's
    /// `map(timeout=...)`). When it passes, the map yields one `Err(TaskError::Timeout)`, cancels
    /// the chunks that have not started, stops those still running (their results can no
    /// longer be yielded: on a process pool their workers are killed, so dropping the pool
    /// right after does not wait for them; on a thread pool their items are asked to stop, see
    /// [`stop_requested`](crate::stop_requested)), and ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, TaskError, ThreadPoolExecutor};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let nap = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    /// let results: Vec<_> = pool.map(nap, [0, 500]).timeout(Duration::from_millis(100)).collect();
    /// assert_eq!(results, [Ok(()), Err(TaskError::Timeout)]);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.flight.set_timeout(timeout);
        self
    }

    /// Yields results in completion order instead of input order (like multiprocessing's
    /// `imap_unordered`); the items of one chunk stay together and in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let mut all: Vec<u8> = pool.map(|x: u8| x, 0..10).unordered().map(Result::unwrap).collect();
    /// all.sort();
    /// assert_eq!(all, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn unordered(mut self) -> Self {
        if !self.flight.started() {
            self.flight.unordered = true;
        }
        self
    }

    /// The current chunk is used up: move on to the next one (see [`Flight`]).
    #[cold]
    #[inline(never)]
    fn next_from_new_chunk(&mut self) -> Option<Result<R, TaskError>> {
        let mut feed = Feed { source: self.executor, f: &self.f, items: &mut self.items };
        self.flight.next_from_new_chunk(&mut feed)
    }
}

impl<E, F, A, R, I> Iterator for Map<'_, E, F, A, R, I>
where
    E: MapSource<F, A, R> + ?Sized,
    I: Iterator<Item = A>,
{
    type Item = Result<R, TaskError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self.flight.current.next() {
            Some(item) => Some(item),
            None => self.next_from_new_chunk(),
        }
    }

    /// Chunk at a time: `sum`, `for_each`, `count` and the like run one tight loop per chunk.
    fn fold<B, G>(mut self, init: B, mut g: G) -> B
    where
        G: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            acc = self.flight.current.fold_into(acc, &mut g);
            match self.next_from_new_chunk() {
                Some(item) => acc = g(acc, item),
                None => return acc,
            }
        }
    }

    /// A lower bound only: every item read or still to read yields exactly one result, unless a
    /// timeout can end the map early.
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.flight.size_hint(self.items.as_ref().map_or(0, |items| items.size_hint().0))
    }
}

impl<E: ?Sized, F, A, R, I> Drop for Map<'_, E, F, A, R, I> {
    /// Cancels the chunks that have not started; running ones finish and are dropped.
    fn drop(&mut self) {
        self.flight.cancel();
    }
}

#[cfg(feature = "progress")]
impl<E: ?Sized, F, A, R, I> Map<'_, E, F, A, R, I> {
    /// Calls `report(n)` each time a chunk of `n` items finishes (its items succeeded or
    /// failed), to drive a progress bar. Requires the cargo feature `progress` (on by default).
    ///
    /// `report` runs on the thread that finished the chunk (a pool worker, or the thread that
    /// reads a process pool's results) as soon as the chunk is done, before its results reach
    /// the iterator: in an ordered map the count moves on while the consumer still waits for
    /// a slow earlier item. Keep it quick. Cancelled chunks (the map was dropped or timed out)
    /// are not reported, so the counts add up to the items the map yields a result for.
    ///
    /// With [indicatif](https://docs.rs/indicatif): `.on_progress(move |n| bar.inc(n as u64))`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPoolExecutor};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&done);
    /// let squares: Vec<u64> = pool
    ///     .map(|x: u64| x * x, 0..1000)
    ///     .chunksize(64)
    ///     .on_progress(move |n| {
    ///         counter.fetch_add(n, Ordering::Relaxed);
    ///     })
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(squares.len(), 1000);
    /// assert_eq!(done.load(Ordering::Relaxed), 1000);
    /// ```
    pub fn on_progress(mut self, report: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.flight.progress = Progress::reporting(std::sync::Arc::new(report));
        self
    }
}
