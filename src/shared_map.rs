//! [`SharedMap`]: one locked map shared by every worker, Python's `Manager().dict()`.
//!
//! A handle is an `Arc` to the map. Passed to a task by value it stays the same map: within this
//! process a serialised handle is an id in a process-wide registry of live maps (entries hold only
//! weak references and are removed when the map is dropped), and deserialising it finds the map
//! again. The id is what a worker process will use to reach the parent's map.

use crate::executor::Payload;
use parking_lot::Mutex;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

type Registry = Mutex<HashMap<u64, Weak<dyn Any + Send + Sync>>>;

/// The live maps of this process that have been serialised at least once, by id.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

struct Inner<K, V> {
    map: Mutex<HashMap<K, V>>,
    /// Set the first time the handle is serialised.
    id: OnceLock<u64>,
}

impl<K, V> Drop for Inner<K, V> {
    fn drop(&mut self) {
        if let Some(id) = self.id.get() {
            registry().lock().remove(id);
        }
    }
}

/// A map shared by threads (and, through a process pool, by worker processes).
///
/// Every call is atomic: it takes the map's lock for its own duration. Cloning the handle is
/// cheap and gives another handle to the same map. For read-modify-write use
/// [`update`](Self::update), which runs the whole step under the lock.
///
/// When every task produces its own keys, returning the pairs and merging them at the end with
/// [`merge_results`](crate::merge_results) is cheaper: no lock at all.
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
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for SharedMap<K, V> {
    fn clone(&self) -> Self {
        SharedMap { inner: Arc::clone(&self.inner) }
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
        SharedMap { inner: Arc::new(Inner { map: Mutex::new(HashMap::new()), id: OnceLock::new() }) }
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
        self.inner.map.lock().insert(k, v)
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
        self.inner.map.lock().extend(pairs);
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
        self.inner.map.lock().get(k).cloned()
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
        self.inner.map.lock().remove(k)
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
        self.inner.map.lock().contains_key(k)
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
        self.inner.map.lock().len()
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
        self.inner.map.lock().is_empty()
    }

    /// Replaces the value of `k` with `f(old value)` atomically, and returns the new value.
    ///
    /// `f` runs under the map's lock, so concurrent updates never lose a write. Keep it short.
    /// `f` must be `Copy` and capture nothing a worker process could not rebuild (a function
    /// item or a non-capturing closure) so that the same call works from a process pool.
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
        F: Fn(Option<V>) -> V + Copy + Send + Sync + 'static,
        V: Clone,
    {
        let mut map = self.inner.map.lock();
        let new = f(map.get(&k).cloned());
        map.insert(k, new.clone());
        new
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
        self.inner.map.lock().clone()
    }
}

impl<K, V> fmt::Debug for SharedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMap").field("len", &self.inner.map.lock().len()).finish()
    }
}

/// The wire form of a handle: the map's id in the process that owns it.
#[derive(Serialize, Deserialize)]
struct Wire {
    owner_pid: u32,
    id: u64,
}

impl<K: Payload + Eq + Hash, V: Payload> Serialize for SharedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = *self.inner.id.get_or_init(|| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(&self.inner) as Weak<_>;
            registry().lock().insert(id, weak);
            id
        });
        Wire { owner_pid: std::process::id(), id }.serialize(serializer)
    }
}

impl<'de, K: Payload + Eq + Hash, V: Payload> Deserialize<'de> for SharedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        if wire.owner_pid != std::process::id() {
            return Err(D::Error::custom(format!(
                "SharedMap {} belongs to process {}: a map reaches other processes only as a task \
                 argument of that process's ProcessPoolExecutor",
                wire.id, wire.owner_pid
            )));
        }
        let found = registry().lock().get(&wire.id).and_then(Weak::upgrade);
        let Some(found) = found else {
            return Err(D::Error::custom(format!(
                "SharedMap {} no longer exists: every handle to it was dropped",
                wire.id
            )));
        };
        match found.downcast::<Inner<K, V>>() {
            Ok(inner) => Ok(SharedMap { inner }),
            Err(_) => Err(D::Error::custom(format!(
                "SharedMap {} has other key or value types than SharedMap<{}, {}>",
                wire.id,
                std::any::type_name::<K>(),
                std::any::type_name::<V>()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
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
        let id = *map.inner.id.get().unwrap();
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
