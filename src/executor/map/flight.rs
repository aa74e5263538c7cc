//! [`Flight`]: the engine of a map. It reads the input in chunks, submits them, keeps the
//! window full, waits for the next chunk (reading ahead of a slow one: see `ahead`), and holds
//! the chunk whose results the map is yielding.

use super::ahead::{self, Ahead, HELD_PER_WORKER};
use super::chunk::{ChunkOutput, ChunkResults};
use super::progress::Progress;
use super::source::{self, MapSource};
use crate::error::TaskError;
use crate::future::{Future, deadline_after};
use crate::wait::{Keyed, WaitSet};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
pub(super) struct Chunk<R> {
    pub(super) len: usize,
    future: Future<ChunkOutput<R>>,
}

pub(super) enum InFlight<R> {
    Ordered(VecDeque<Chunk<R>>),
    /// Completion order: the chunk futures wait in a set, keyed by their lengths.
    Unordered(WaitSet<ChunkOutput<R>, Keyed<usize>>),
}

impl<R> InFlight<R> {
    pub(super) fn len(&self) -> usize {
        match self {
            InFlight::Ordered(chunks) => chunks.len(),
            InFlight::Unordered(set) => set.len(),
        }
    }

    /// Calls `act` on every chunk's future.
    fn each(&self, act: impl FnMut(&Future<ChunkOutput<R>>)) {
        match self {
            InFlight::Ordered(chunks) => chunks.iter().map(|chunk| &chunk.future).for_each(act),
            InFlight::Unordered(set) => set.futures().for_each(act),
        }
    }

    /// Cancels every chunk that has not started.
    pub(super) fn cancel(&self) {
        self.each(|future| {
            future.cancel();
        });
    }

    /// Kills every chunk: cancels those that have not started, and stops those that run (a
    /// process pool's worker is killed; a thread-pool task is asked to, see `stop_requested`).
    fn kill(&self) {
        self.each(|future| {
            future.kill();
        });
    }
}

/// What a [`Flight`] works from, borrowed from its map for one call: where chunks run, the
/// function, and the input (`None` once it has run out).
pub(super) struct Feed<'m, E: ?Sized, F, I> {
    pub(super) source: &'m E,
    pub(super) f: &'m F,
    pub(super) items: &'m mut Option<I>,
}

/// A map's settings and the state of its chunks.
pub(super) struct Flight<R> {
    /// `None` until set, or until the map starts (then chosen from the input's length).
    pub(super) chunksize: Option<usize>,
    pub(super) buffered: Option<usize>,
    pub(super) timeout: Option<Duration>,
    pub(super) unordered: bool,
    pub(super) progress: Progress,
    deadline: Option<Instant>,
    in_flight: Option<InFlight<R>>,
    /// An ordered map with the default window: what lets it read ahead of a slow chunk.
    ahead: Option<Ahead>,
    /// The chunk whose results are being yielded.
    pub(super) current: ChunkResults<R>,
    finished: bool,
}

impl<R> Flight<R> {
    pub(super) fn new() -> Self {
        Flight {
            chunksize: None,
            buffered: None,
            timeout: None,
            unordered: false,
            progress: Progress::default(),
            deadline: None,
            in_flight: None,
            ahead: None,
            current: ChunkResults::empty(),
            finished: false,
        }
    }

    /// True once the first chunk was asked for (settings that shape the start no longer apply).
    pub(super) fn started(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Sets the deadline; once started, it counts from now.
    pub(super) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
        if self.started() {
            self.deadline = Some(deadline_after(timeout));
        }
    }

    /// A lower bound of the results left, given `unread` items not read from the input yet.
    pub(super) fn size_hint(&self, unread: usize) -> (usize, Option<usize>) {
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
        (current.saturating_add(in_flight).saturating_add(unread), None)
    }

    /// Cancels the chunks that have not started.
    pub(super) fn cancel(&self) {
        if let Some(in_flight) = &self.in_flight {
            in_flight.cancel();
        }
    }
    fn start<E, F, A, I>(&mut self, feed: &mut Feed<'_, E, F, I>) -> &mut InFlight<R>
    where
        E: MapSource<F, A, R> + ?Sized,
        I: Iterator<Item = A>,
    {
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
            self.chunksize = Some(self.default_chunksize(feed));
        }
        self.in_flight.insert(in_flight)
    }

    /// The chunk size when none was set: for an input of known length, enough items that each
    /// worker gets about [`CHUNKS_PER_WORKER`] chunks (the guide's rule), so that many tiny
    /// items do not each pay for a task; otherwise 1.
    fn default_chunksize<E, F, A, I>(&self, feed: &Feed<'_, E, F, I>) -> usize
    where
        E: MapSource<F, A, R> + ?Sized,
        I: Iterator<Item = A>,
    {
        match feed.items.as_ref().map(Iterator::size_hint) {
            Some((known, Some(upper))) if known == upper => {
                (known / (CHUNKS_PER_WORKER * Self::workers(feed))).max(1)
            }
            _ => 1,
        }
    }

    fn workers<E, F, A, I>(feed: &Feed<'_, E, F, I>) -> usize
    where
        E: MapSource<F, A, R> + ?Sized,
    {
        sealed_max_workers(feed.source).max(1)
    }

    /// The most chunks in flight: `buffered`, or 4 per worker (more while reading ahead of a
    /// slow chunk: see `Ahead`).
    fn window(&self, workers: usize) -> usize {
        self.buffered.unwrap_or(DEFAULT_WINDOW_PER_WORKER * workers)
    }

    /// The most chunks held (finished or not) while reading ahead of a slow one.
    fn most_held(workers: usize) -> usize {
        HELD_PER_WORKER * workers
    }

    /// True while the window has room for one more chunk. Reading ahead of a slow oldest
    /// chunk (see `Ahead`), finished chunks held behind it do not count, up to a larger bound.
    fn has_room(&self, workers: usize, reading_ahead: bool) -> bool {
        let held = self.in_flight.as_ref().map_or(0, InFlight::len);
        match &self.ahead {
            Some(ahead) if reading_ahead => {
                held < Self::most_held(workers) && ahead.not_finished(held) < self.window(workers)
            }
            _ => held < self.window(workers),
        }
    }

    /// The next chunk of the input; `None` once it has run out.
    fn next_input_chunk<A, I: Iterator<Item = A>>(&self, items: &mut Option<I>) -> Option<Vec<A>> {
        let source = items.as_mut()?;
        let chunksize = self.chunksize.unwrap_or(1);
        let chunk: Vec<A> = source.by_ref().take(chunksize).collect();
        if chunk.len() < chunksize {
            *items = None;
        }
        (!chunk.is_empty()).then_some(chunk)
    }

    /// Submits chunks until the window is full or the input runs out.
    fn fill<E, F, A, I>(&mut self, feed: &mut Feed<'_, E, F, I>)
    where
        E: MapSource<F, A, R> + ?Sized,
        I: Iterator<Item = A>,
    {
        self.fill_window(feed, false);
    }

    /// Submits chunks until the window (read ahead, or not) is full or the input runs out.
    fn fill_window<E, F, A, I>(&mut self, feed: &mut Feed<'_, E, F, I>, reading_ahead: bool)
    where
        E: MapSource<F, A, R> + ?Sized,
        I: Iterator<Item = A>,
    {
        loop {
            if !self.has_room(Self::workers(feed), reading_ahead) {
                return;
            }
            let Some(chunk) = self.next_input_chunk(feed.items) else { return };
            let len = chunk.len();
            let future = source::sealed::MapSource::submit_chunk(feed.source, feed.f, chunk);
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
    pub(super) fn next_from_new_chunk<E, F, A, I>(
        &mut self,
        feed: &mut Feed<'_, E, F, I>,
    ) -> Option<Result<R, TaskError>>
    where
        E: MapSource<F, A, R> + ?Sized,
        I: Iterator<Item = A>,
    {
        loop {
            if self.finished {
                return None;
            }
            if self.in_flight.is_none() {
                self.start(feed);
            }
            self.fill(feed);
            if !self.next_chunk(feed) {
                return None;
            }
            self.fill(feed);
            if let Some(item) = self.current.next() {
                return Some(item);
            }
        }
    }

    /// While the oldest chunk is not finished, submits more chunks each time another one
    /// finishes (see `Ahead`), until the oldest is done, the window is full or `deadline`
    /// passes.
    fn wait_for_head_reading_ahead<E, F, A, I>(
        &mut self,
        feed: &mut Feed<'_, E, F, I>,
        deadline: Option<Instant>,
    ) where
        E: MapSource<F, A, R> + ?Sized,
        I: Iterator<Item = A>,
    {
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
            self.fill_window(feed, true);
            let held = self.in_flight.as_ref().map_or(0, InFlight::len);
            if self.head_is_done() || feed.items.is_none() || held >= Self::most_held(Self::workers(feed)) {
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
    fn next_chunk<E, F, A, I>(&mut self, feed: &mut Feed<'_, E, F, I>) -> bool
    where
        E: MapSource<F, A, R> + ?Sized,
        I: Iterator<Item = A>,
    {
        let deadline = self.deadline;
        if self.ahead.is_some() {
            self.wait_for_head_reading_ahead(feed, deadline);
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
                // The map gives up on every chunk: their results can no longer be yielded, so
                // the running ones are stopped too, and a drop right after need not wait.
                if let Some(in_flight) = self.in_flight.take() {
                    in_flight.kill();
                }
                *feed.items = None;
                self.current = ChunkResults::single_error(error);
                self.finished = true;
                true
            }
        }
    }
}
