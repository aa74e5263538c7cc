//! The map in the process that owns it: [`Inner`], the locked `HashMap` every handle of the
//! owner shares, and the registry that finds a live map again by the id it travelled as.

use crate::sync::plain::Mutex;
use std::any::Any;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, Weak};

type Registry = Mutex<HashMap<u64, Weak<dyn Any + Send + Sync>>>;

/// The live maps of this process that have been serialised at least once, by id.
pub(super) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// The live map registered under `id`, if any.
pub(super) fn lookup(id: u64) -> Option<Arc<dyn Any + Send + Sync>> {
    registry().lock().get(&id).and_then(Weak::upgrade)
}

pub(super) struct Inner<K, V> {
    pub(super) map: Mutex<HashMap<K, V>>,
    /// Set the first time the handle is serialised.
    pub(super) id: OnceLock<u64>,
}

impl<K, V> Drop for Inner<K, V> {
    fn drop(&mut self) {
        if let Some(id) = self.id.get() {
            registry().lock().remove(id);
        }
    }
}

/// `update` under the lock: the map is left as it was if `f` panics.
pub(super) fn update<K: Eq + Hash, V: Clone>(map: &mut HashMap<K, V>, k: K, f: impl Fn(Option<V>) -> V) -> V {
    let new = f(map.get(&k).cloned());
    map.insert(k, new.clone());
    new
}
