//! [`merge_results`]: the lock-free alternative to a shared map. Depends on `future` and
//! `error` only.

use crate::error::TaskError;
use crate::future::Future;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A task result that is a set of key-value pairs, for [`merge_results`].
///
/// Implemented for `(K, V)`, `Option<(K, V)>`, `Vec<(K, V)>`, `HashMap<K, V>` and
/// `BTreeMap<K, V>`.
///
/// # Examples
///
/// ```
/// use concurrent_futures::IntoPairs;
///
/// let pairs: Vec<(u8, char)> = Some((1, 'a')).into_pairs().into_iter().collect();
/// assert_eq!(pairs, [(1, 'a')]);
/// ```
pub trait IntoPairs<K, V> {
    /// The pairs, as an iterable.
    type Pairs: IntoIterator<Item = (K, V)>;
    /// Turns the result into its pairs.
    fn into_pairs(self) -> Self::Pairs;
}

impl<K, V> IntoPairs<K, V> for (K, V) {
    type Pairs = Option<(K, V)>;
    fn into_pairs(self) -> Self::Pairs {
        Some(self)
    }
}

impl<K, V> IntoPairs<K, V> for Option<(K, V)> {
    type Pairs = Self;
    fn into_pairs(self) -> Self {
        self
    }
}

impl<K, V> IntoPairs<K, V> for Vec<(K, V)> {
    type Pairs = Self;
    fn into_pairs(self) -> Self {
        self
    }
}

impl<K, V, S> IntoPairs<K, V> for HashMap<K, V, S> {
    type Pairs = Self;
    fn into_pairs(self) -> Self {
        self
    }
}

impl<K, V> IntoPairs<K, V> for BTreeMap<K, V> {
    type Pairs = Self;
    fn into_pairs(self) -> Self {
        self
    }
}

/// Waits for every future and merges the pairs they return into one map.
///
/// The futures are read in the order given, and a later key overwrites an earlier one. No lock
/// is shared while the tasks run, which makes this the cheap way to build a map in parallel when
/// each task produces its own keys.
///
/// # Errors
///
/// The error of the first future (in the order given) that failed; the futures after it are
/// dropped unread (their tasks still run).
///
/// # Examples
///
/// ```
/// use concurrent_futures::{merge_results, Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(4);
/// let futures: Vec<_> = (0..10u32).map(|i| pool.submit(|i: u32| (i, i * i), i)).collect();
/// let squares = merge_results(futures).unwrap();
/// assert_eq!(squares[&7], 49);
/// ```
pub fn merge_results<K, V, P>(
    futures: impl IntoIterator<Item = Future<P>>,
) -> Result<HashMap<K, V>, TaskError>
where
    K: Eq + Hash,
    P: IntoPairs<K, V>,
{
    let mut merged = HashMap::new();
    for future in futures {
        merged.extend(future.result()?.into_pairs());
    }
    Ok(merged)
}
