//! What [`as_completed`](crate::as_completed) and [`wait`](crate::wait) wait on: futures, or
//! futures tied to keys of the caller's (Python's `{executor.submit(load, url): url ...}`).

use crate::future::Future;
use std::marker::PhantomData;

/// What [`as_completed`](crate::as_completed) and [`wait`](crate::wait) take: a [`Future<T>`],
/// or a `(key, Future<T>)` pair, given back with its key so that each result stays tied to its
/// input. Implemented for those two only.
///
/// # Examples
///
/// ```
/// use concurrent_futures::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures: Vec<_> = ["a", "bb"].into_iter().map(|w| (w, pool.spawn(move || w.len()))).collect();
/// for (word, future) in as_completed(futures) {
///     assert_eq!(future.result(), Ok(word.len()));
/// }
/// ```
pub trait Waitable: sealed::Waitable {}

impl<W: sealed::Waitable> Waitable for W {}

/// How waited-on futures come back: on their own ([`Unkeyed`]) or with their keys
/// ([`Keyed`]). Implemented for those two only.
pub trait Keys: sealed::Keys {}

impl<K: sealed::Keys> Keys for K {}

/// Futures given without keys come back as they were: `Future<T>`.
#[derive(Debug)]
pub enum Unkeyed {}

/// Futures given as `(key, future)` pairs come back as pairs.
#[derive(Debug)]
pub struct Keyed<K>(PhantomData<fn() -> K>);

pub(crate) mod sealed {
    use crate::future::Future;

    /// The crate's side of [`Waitable`](super::Waitable). Public in a private module, so that
    /// nothing outside the crate can implement it (the sealed-trait pattern).
    #[allow(unreachable_pub)]
    pub trait Waitable {
        /// The value type of the future.
        type Output;
        /// How it comes back.
        type Keys: Keys;
        /// The future, to wait on.
        fn future(&self) -> &Future<Self::Output>;
        /// Itself, as what comes back.
        fn into_item(self) -> <Self::Keys as Keys>::Item<Self::Output>;
    }

    /// The crate's side of [`Keys`](super::Keys).
    #[allow(unreachable_pub)]
    pub trait Keys {
        /// What comes back for a future of `T`.
        type Item<T>;
        /// The future inside what comes back.
        fn future_of<T>(item: &Self::Item<T>) -> &Future<T>;
    }
}

impl<T> sealed::Waitable for Future<T> {
    type Output = T;
    type Keys = Unkeyed;

    fn future(&self) -> &Future<T> {
        self
    }

    fn into_item(self) -> Future<T> {
        self
    }
}

impl<K, T> sealed::Waitable for (K, Future<T>) {
    type Output = T;
    type Keys = Keyed<K>;

    fn future(&self) -> &Future<T> {
        &self.1
    }

    fn into_item(self) -> (K, Future<T>) {
        self
    }
}

impl sealed::Keys for Unkeyed {
    type Item<T> = Future<T>;

    fn future_of<T>(item: &Future<T>) -> &Future<T> {
        item
    }
}

impl<K> sealed::Keys for Keyed<K> {
    type Item<T> = (K, Future<T>);

    fn future_of<T>(item: &(K, Future<T>)) -> &Future<T> {
        &item.1
    }
}

/// What comes back for a `W`.
pub(crate) type ItemOf<W> =
    <<W as sealed::Waitable>::Keys as sealed::Keys>::Item<<W as sealed::Waitable>::Output>;
