//! [`SharedMap`]: one locked map shared by every worker, Python's `Manager().dict()`. Depends on
//! `executor` (for `Payload`) and `sync`, and, for its proxy only, on `remote::service` and
//! `process::service`.
//!
//! A handle is an `Arc` to the map. Serialised (as a task argument), a handle becomes an id in a
//! process-wide registry of live maps (weak references, removed when the map is dropped).
//! Deserialised in the same process, the id finds the map again; deserialised in a worker process
//! of the map's owner, it becomes a proxy whose every call runs in the owner (see [`proxy`]).

mod local;
#[cfg(all(feature = "process", unix))]
mod proxy;
mod wire;

use self::local::{Inner, update};
#[cfg(all(feature = "process", unix))]
use self::proxy::Op;
use crate::executor::Payload;
use crate::sync::plain::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};

/// A map shared by threads (and, through a process pool, by worker processes).
///
/// Every call is atomic: it takes the map's lock for its own duration. Cloning the handle is
/// cheap and gives another handle to the same map. For read-modify-write use
/// [`update`](Self::update), which runs the whole step under the lock.
///
/// When every task produces its own keys, returning the pairs and merging them at the end with
/// [`merge_results`](crate::merge_results) is cheaper: no lock at all.
///
/// **Across processes.** Passed to a [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) task as
/// (or inside) its argument, the handle becomes a live proxy in the worker: each call is sent to
/// the parent, which runs it under the map's lock (a thread per worker answers; no extra process
/// is started). The task keeps the map alive until it is done, so
/// `pool.submit(task, SharedMap::new())` works as on a thread pool. `update(k, f)` is atomic
/// across processes too: the worker runs `f` and commits with a compare-and-swap, running `f`
/// again if another write came first (so `f` should have no side effects). The parent runs only
/// its own code for the map, never code a worker names. Single calls cost one round trip each
/// (docs/PERFORMANCE.md, "SharedMap", has the numbers); [`extend`] writes a batch in one.
///
/// # Panics
///
/// In a worker process, a call panics (failing its task with a clear message) if the parent is
/// gone or every handle to the map in the parent was dropped.
///
/// [`extend`]: Self::extend
///
/// # Examples
///
/// ```
/// use concurrent_futures::{Executor, SharedMap, ThreadPoolExecutor};
///
/// let counts: SharedMap<String, u32> = SharedMap::new();
/// let pool = ThreadPoolExecutor::new(4);
/// let words = ["a", "b", "a", "c", "a"];
/// let futures: Vec<_> = words
///     .iter()
///     .map(|w| {
///         let counts = counts.clone();
///         let w = w.to_string();
///         pool.spawn(move || counts.update(w, |n| n.unwrap_or(0) + 1))
///     })
///     .collect();
/// for f in futures {
///     f.result().unwrap();
/// }
/// assert_eq!(counts.get(&"a".to_string()), Some(3));
/// assert_eq!(counts.len(), 3);
/// ```
pub struct SharedMap<K, V> {
    backend: Backend<K, V>,
}

enum Backend<K, V> {
    /// The map itself, in this process.
    Local(Arc<Inner<K, V>>),
    /// A proxy in a worker process: the id of the map in the parent's registry.
    #[cfg(all(feature = "process", unix))]
    Proxy(u64, std::marker::PhantomData<fn() -> (K, V)>),
}

impl<K, V> Clone for SharedMap<K, V> {
    fn clone(&self) -> Self {
        let backend = match &self.backend {
            Backend::Local(inner) => Backend::Local(Arc::clone(inner)),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => Backend::Proxy(*id, std::marker::PhantomData),
        };
        SharedMap { backend }
    }
}

impl<K: Payload + Eq + Hash, V: Payload> Default for SharedMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Payload + Eq + Hash, V: Payload> SharedMap<K, V> {
    /// An empty map.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map: SharedMap<u32, String> = SharedMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        SharedMap {
            backend: Backend::Local(Arc::new(Inner { map: Mutex::new(HashMap::new()), id: OnceLock::new() })),
        }
    }

    /// Inserts a pair; returns the value the key had before.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map = SharedMap::new();
    /// assert_eq!(map.insert(1, 'a'), None);
    /// assert_eq!(map.insert(1, 'b'), Some('a'));
    /// ```
    pub fn insert(&self, k: K, v: V) -> Option<V> {
        match &self.backend {
            Backend::Local(inner) => inner.map.lock().insert(k, v),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => proxy::call(*id, Op::Insert, &(k, v)),
        }
    }

    /// Inserts many pairs under one lock: the cheap way to write in bulk.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map = SharedMap::new();
    /// map.extend((0..100).map(|i| (i, i * i)));
    /// assert_eq!(map.len(), 100);
    /// ```
    pub fn extend(&self, pairs: impl IntoIterator<Item = (K, V)>) {
        match &self.backend {
            Backend::Local(inner) => inner.map.lock().extend(pairs),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => {
                let pairs: Vec<(K, V)> = pairs.into_iter().collect();
                proxy::call::<()>(*id, Op::Extend, &pairs);
            }
        }
    }

    /// A copy of the value for `k`.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map = SharedMap::new();
    /// map.insert("k".to_string(), 5);
    /// assert_eq!(map.get(&"k".to_string()), Some(5));
    /// assert_eq!(map.get(&"x".to_string()), None);
    /// ```
    pub fn get(&self, k: &K) -> Option<V>
    where
        V: Clone,
    {
        match &self.backend {
            Backend::Local(inner) => inner.map.lock().get(k).cloned(),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => proxy::call(*id, Op::Get, k),
        }
    }

    /// Removes `k`; returns its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map = SharedMap::new();
    /// map.insert(1, 'a');
    /// assert_eq!(map.remove(&1), Some('a'));
    /// assert!(map.is_empty());
    /// ```
    pub fn remove(&self, k: &K) -> Option<V> {
        match &self.backend {
            Backend::Local(inner) => inner.map.lock().remove(k),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => proxy::call(*id, Op::Remove, k),
        }
    }

    /// True if `k` has a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map = SharedMap::new();
    /// map.insert(1, ());
    /// assert!(map.contains_key(&1));
    /// ```
    pub fn contains_key(&self, k: &K) -> bool {
        match &self.backend {
            Backend::Local(inner) => inner.map.lock().contains_key(k),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => proxy::call(*id, Op::ContainsKey, k),
        }
    }

    /// The number of pairs.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map = SharedMap::new();
    /// map.insert(1, 1);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        match &self.backend {
            Backend::Local(inner) => inner.map.lock().len(),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => proxy::call(*id, Op::Len, &()),
        }
    }

    /// True if the map has no pairs.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// assert!(SharedMap::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the value of `k` with `f(old value)` atomically, and returns the new value.
    ///
    /// `f` runs under the map's lock, so concurrent updates never lose a write. Keep it short.
    /// From a worker process, `f` runs in the worker and the new value is committed with a
    /// compare-and-swap, retried (running `f` again) if another write to the map came first:
    /// keep `f` free of side effects. `f` may capture what it needs (it is `Clone`, like the
    /// functions of `submit` and `map`).
    ///
    /// # Panics
    ///
    /// If `f` panics, the panic propagates to the caller and the map is left as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let hits = SharedMap::new();
    /// hits.update("home".to_string(), |n: Option<u64>| n.unwrap_or(0) + 1);
    /// assert_eq!(hits.update("home".to_string(), |n| n.unwrap_or(0) + 1), 2);
    /// ```
    pub fn update<F>(&self, k: K, f: F) -> V
    where
        F: Fn(Option<V>) -> V + Clone + Send + Sync + 'static,
        V: Clone,
    {
        match &self.backend {
            Backend::Local(inner) => update(&mut inner.map.lock(), k, f),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => proxy::update(*id, k, f),
        }
    }

    /// A copy of the whole map.
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent_futures::SharedMap;
    ///
    /// let map = SharedMap::new();
    /// map.insert(1, 'a');
    /// let copy = map.snapshot();
    /// assert_eq!(copy[&1], 'a');
    /// ```
    pub fn snapshot(&self) -> HashMap<K, V>
    where
        K: Clone,
        V: Clone,
    {
        match &self.backend {
            Backend::Local(inner) => inner.map.lock().clone(),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => proxy::call(*id, Op::Snapshot, &()),
        }
    }
}

impl<K, V> fmt::Debug for SharedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::Local(inner) => {
                f.debug_struct("SharedMap").field("len", &inner.map.lock().len()).finish()
            }
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => f.debug_struct("SharedMap").field("proxy_of", id).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local::registry;
    use super::*;

    #[test]
    fn serialised_handle_is_the_same_map() {
        let map: SharedMap<u32, u32> = SharedMap::new();
        let bytes = postcard::to_allocvec(&map).unwrap();
        let again: SharedMap<u32, u32> = postcard::from_bytes(&bytes).unwrap();
        again.insert(1, 2);
        assert_eq!(map.get(&1), Some(2));
    }

    #[test]
    fn dropped_map_is_removed_from_the_registry_and_cannot_be_revived() {
        let map: SharedMap<u32, u32> = SharedMap::new();
        let bytes = postcard::to_allocvec(&map).unwrap();
        let id = match &map.backend {
            Backend::Local(inner) => *inner.id.get().unwrap(),
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(..) => unreachable!("a new map is local"),
        };
        drop(map);
        assert!(!registry().lock().contains_key(&id));
        let err = postcard::from_bytes::<SharedMap<u32, u32>>(&bytes).unwrap_err();
        assert!(matches!(err, postcard::Error::SerdeDeCustom));
    }

    #[test]
    fn wrong_types_are_refused() {
        let map: SharedMap<u32, u32> = SharedMap::new();
        let bytes = postcard::to_allocvec(&map).unwrap();
        assert!(postcard::from_bytes::<SharedMap<String, u32>>(&bytes).is_err());
    }

    #[test]
    fn update_that_panics_leaves_the_map_unchanged() {
        let map: SharedMap<u32, u32> = SharedMap::new();
        map.insert(1, 10);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.update(1, |_| panic!("no"));
        }));
        assert!(r.is_err());
        assert_eq!(map.get(&1), Some(10));
    }
}
