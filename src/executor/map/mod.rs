//! [`Map`]: the lazy, chunked, bounded parallel map behind every pool's `map`.
//!
//! Items are gathered into chunks on the consuming thread, and each chunk is one task handed to
//! the map's [`MapSource`] (so the same code serves threads, processes and scopes). At most
//! `buffered` chunks are in flight; each `next()` tops the window up again, so an endless input
//! runs in bounded memory. A panicking item becomes its own `Err` inside its chunk; a chunk that
//! fails as a whole (cancelled, worker died, ...) yields that error once for each of its items.

mod ahead;
mod chunk;
mod progress;
mod source;

pub(crate) use self::chunk::{ChunkOutput, run_chunk};
pub use self::source::MapSource;
pub(crate) use self::source::sealed as sealed_source;

use self::ahead::{Ahead, HELD_PER_WORKER};
use self::chunk::ChunkResults;
use self::progress::Progress;
use crate::error::TaskError;
use crate::future::{Future, deadline_after};
use crate::wait::{Keyed, WaitSet};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// Decodes `data` as a chunk's output and reads it back as a map would (for the fuzz target).
#[cfg(fuzzing)]
pub(crate) fn fuzz_decode(data: &[u8]) {
    if let Ok(output) = postcard::from_bytes::<ChunkOutput<u64>>(data) {
        let len = data.len().min(1 << 12);
        ChunkResults::from_outcome(len, Ok(output)).for_each(drop);
    }
}

/// Chunks per worker when no `chunksize` is set and the input's length is known.
const CHUNKS_PER_WORKER: usize = 16;

/// Chunks in flight per worker when `buffered` is not set: enough that the workers still have
/// work while the consumer sleeps through a wake-up (about 20 µs), few enough to bound memory.
const DEFAULT_WINDOW_PER_WORKER: usize = 4;

/// The workers of `source`, through its sealed side.
fn sealed_max_workers<S: MapSource<F, A, R> + ?Sized, F, A, R>(source: &S) -> usize {
    source::sealed::MapSource::max_workers(source)
}

/// A submitted chunk: how many items it holds, and the future of their results.
struct Chunk<R> {
    len: usize,
    future: Future<ChunkOutput<R>>,
}

enum InFlight<R> {
    Ordered(VecDeque<Chunk<R>>),
    /// Completion order: the chunk futures wait in a set, keyed by their lengths.
    Unordered(WaitSet<ChunkOutput<R>, Keyed<usize>>),
}

impl<R> InFlight<R> {
    fn len(&self) -> usize {
        match self {
            InFlight::Ordered(chunks) => chunks.len(),
            InFlight::Unordered(set) => set.len(),
        }
    }

    /// Cancels every chunk that has not started.
    fn cancel(&self) {
        match self {
            InFlight::Ordered(chunks) => {
                for chunk in chunks {
                    chunk.future.cancel();
                }
            }
            InFlight::Unordered(set) => set.cancel_all(),
        }
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
    /// `None` until set, or until the map starts (then chosen from the input's length).
    chunksize: Option<usize>,
    buffered: Option<usize>,
    timeout: Option<Duration>,
    unordered: bool,
    deadline: Option<Instant>,
    in_flight: Option<InFlight<R>>,
    /// An ordered map with the default window: what lets it read ahead of a slow chunk.
    ahead: Option<Ahead>,
    current: ChunkResults<R>,
    finished: bool,
    progress: Progress,
    _arg: PhantomData<fn(A)>,
}

impl<'a, E, F, A, R, I> Map<'a, E, F, A, R, I>
where
    E: MapSource<F, A, R> + ?Sized,
    I: Iterator<Item = A>,
{
    pub(crate) fn new(executor: &'a E, f: F, items: I) -> Self {
        Map {
            executor,
            f,
            items: Some(items),
            chunksize: None,
            buffered: None,
            timeout: None,
            unordered: false,
            deadline: None,
            in_flight: None,
            ahead: None,
            current: ChunkResults::empty(),
            finished: false,
            progress: Progress::default(),
            _arg: PhantomData,
        }
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
        self.chunksize = Some(n);
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
        self.buffered = Some(n);
        self
    }

    /// Gives the whole map a deadline, counted from the first `next()` (like Python's
    /// `map(timeout=...)`). When it passes, the map yields one `Err(TaskError::Timeout)`, cancels
    /// the chunks that have not started, and ends.
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
        self.timeout = Some(timeout);
        if self.in_flight.is_some() {
            self.deadline = Some(deadline_after(timeout));
        }
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
        if self.in_flight.is_none() {
            self.unordered = true;
        }
        self
    }

    fn start(&mut self) -> &mut InFlight<R> {
        self.deadline = self.timeout.map(deadline_after);
        let in_flight = if self.unordered {
            InFlight::Unordered(WaitSet::new())
        } else {
            InFlight::Ordered(VecDeque::new())
        };
        if !self.unordered && self.buffered.is_none() {
            self.ahead = Some(Ahead::new());
        }
        if self.chunksize.is_none() {
            self.chunksize = Some(self.default_chunksize());
        }
        self.in_flight.insert(in_flight)
    }

    /// The chunk size when none was set: for an input of known length, enough items that each
    /// worker gets about [`CHUNKS_PER_WORKER`] chunks (the guide's rule), so that many tiny
    /// items do not each pay for a task; otherwise 1.
    fn default_chunksize(&self) -> usize {
        match self.items.as_ref().map(Iterator::size_hint) {
            Some((known, Some(upper))) if known == upper => {
                (known / (CHUNKS_PER_WORKER * self.workers())).max(1)
            }
            _ => 1,
        }
    }

    fn workers(&self) -> usize {
        sealed_max_workers(self.executor).max(1)
    }

    /// The most chunks in flight: `buffered`, or 4 per worker (more while reading ahead of a
    /// slow chunk: see `Ahead`).
    fn window(&self) -> usize {
        self.buffered.unwrap_or_else(|| DEFAULT_WINDOW_PER_WORKER * self.workers())
    }

    /// The most chunks held (finished or not) while reading ahead of a slow one.
    fn most_held(&self) -> usize {
        HELD_PER_WORKER * self.workers()
    }

    /// True while the window has room for one more chunk. Reading ahead of a slow oldest
    /// chunk (see `Ahead`), finished chunks held behind it do not count, up to a larger bound.
    fn has_room(&self, reading_ahead: bool) -> bool {
        let held = self.in_flight.as_ref().map_or(0, InFlight::len);
        match &self.ahead {
            Some(ahead) if reading_ahead => {
                held < self.most_held() && ahead.not_finished(held) < self.window()
            }
            _ => held < self.window(),
        }
    }

    /// The next chunk of the input; `None` once it has run out.
    fn next_input_chunk(&mut self) -> Option<Vec<A>> {
        let items = self.items.as_mut()?;
        let chunksize = self.chunksize.unwrap_or(1);
        let chunk: Vec<A> = items.by_ref().take(chunksize).collect();
        if chunk.len() < chunksize {
            self.items = None;
        }
        (!chunk.is_empty()).then_some(chunk)
    }

    /// Submits chunks until the window is full or the input runs out.
    fn fill(&mut self) {
        self.fill_window(false);
    }

    /// Submits chunks until the window (read ahead, or not) is full or the input runs out.
    fn fill_window(&mut self, reading_ahead: bool) {
        loop {
            if !self.has_room(reading_ahead) {
                return;
            }
            let Some(chunk) = self.next_input_chunk() else { return };
            let len = chunk.len();
            let future = source::sealed::MapSource::submit_chunk(self.executor, &self.f, chunk);
            self.progress.watch(&future, len);
            if let Some(ahead) = &self.ahead {
                ahead.watch(&future);
            }
            match &mut self.in_flight {
                Some(InFlight::Ordered(chunks)) => chunks.push_back(Chunk { len, future }),
                Some(InFlight::Unordered(set)) => set.push((len, future)),
                None => return,
            }
        }
    }

    /// The current chunk is used up: start the map if need be, keep the window full, and move
    /// on to the next chunk.
    #[cold]
    #[inline(never)]
    fn next_from_new_chunk(&mut self) -> Option<Result<R, TaskError>> {
        loop {
            if self.finished {
                return None;
            }
            if self.in_flight.is_none() {
                self.start();
            }
            self.fill();
            if !self.next_chunk() {
                return None;
            }
            self.fill();
            if let Some(item) = self.current.next() {
                return Some(item);
            }
        }
    }

    /// While the oldest chunk is not finished, submits more chunks each time another one
    /// finishes (see `Ahead`), until the oldest is done, the window is full or `deadline`
    /// passes.
    fn wait_for_head_reading_ahead(&mut self, deadline: Option<Instant>) {
        // Most heads are not slow: wait for the head alone first, and read ahead only when it
        // keeps the others waiting (each early finish would otherwise wake this thread).
        if let Some(InFlight::Ordered(chunks)) = &self.in_flight
            && let Some(head) = chunks.front()
        {
            let patience = Instant::now() + ahead::HEAD_PATIENCE;
            if head.future.wait_until(Some(deadline.map_or(patience, |d| d.min(patience)))) {
                return;
            }
        }
        loop {
            if self.head_is_done() {
                return;
            }
            self.fill_window(true);
            let held = self.in_flight.as_ref().map_or(0, InFlight::len);
            if self.head_is_done() || self.items.is_none() || held >= self.most_held() {
                // Nothing more to read ahead: wait for the oldest chunk itself.
                return;
            }
            if !self.ahead.as_ref().is_some_and(|ahead| ahead.wait(deadline)) {
                return;
            }
        }
    }

    /// True if the oldest chunk in flight (of an ordered map) is done, or there is none.
    fn head_is_done(&self) -> bool {
        match &self.in_flight {
            Some(InFlight::Ordered(chunks)) => chunks.front().is_none_or(|c| c.future.is_done()),
            _ => true,
        }
    }

    /// Waits for the next chunk and makes it current. False when the map is over.
    fn next_chunk(&mut self) -> bool {
        let deadline = self.deadline;
        if self.ahead.is_some() {
            self.wait_for_head_reading_ahead(deadline);
        }
        let outcome = match &mut self.in_flight {
            Some(InFlight::Ordered(chunks)) => match chunks.pop_front() {
                None => None,
                Some(chunk) if chunk.future.wait_until(deadline) => {
                    if let Some(ahead) = &mut self.ahead {
                        ahead.consumed_one();
                    }
                    Some(Ok(ChunkResults::from_outcome(chunk.len, chunk.future.result())))
                }
                Some(chunk) => {
                    chunks.push_front(chunk);
                    Some(Err(TaskError::Timeout))
                }
            },
            Some(InFlight::Unordered(set)) => match set.next(deadline) {
                Ok(None) => None,
                Ok(Some((len, future))) => Some(Ok(ChunkResults::from_outcome(len, future.result()))),
                Err(error) => Some(Err(error)),
            },
            None => None,
        };
        match outcome {
            None => {
                self.finished = true;
                false
            }
            Some(Ok(results)) => {
                self.current = results;
                true
            }
            Some(Err(error)) => {
                if let Some(in_flight) = self.in_flight.take() {
                    in_flight.cancel();
                }
                self.items = None;
                self.current = ChunkResults::single_error(error);
                self.finished = true;
                true
            }
        }
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
        match self.current.next() {
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
            acc = self.current.fold_into(acc, &mut g);
            match self.next_from_new_chunk() {
                Some(item) => acc = g(acc, item),
                None => return acc,
            }
        }
    }

    /// A lower bound only: every item read or still to read yields exactly one result, unless a
    /// timeout can end the map early.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let current = self.current.size_hint().0;
        if self.finished {
            return (current, Some(current));
        }
        if self.timeout.is_some() {
            return (current, None);
        }
        let in_flight = match &self.in_flight {
            Some(InFlight::Ordered(chunks)) => chunks.iter().map(|c| c.len).sum(),
            _ => 0,
        };
        let unread = self.items.as_ref().map_or(0, |items| items.size_hint().0);
        (current.saturating_add(in_flight).saturating_add(unread), None)
    }
}

impl<E: ?Sized, F, A, R, I> Drop for Map<'_, E, F, A, R, I> {
    /// Cancels the chunks that have not started; running ones finish and are dropped.
    fn drop(&mut self) {
        if let Some(in_flight) = &self.in_flight {
            in_flight.cancel();
        }
    }
}
