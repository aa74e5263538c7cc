//! The wire form of a [`SharedMap`] handle: the map's id in the process that owns it. In the
//! owner it finds the same map again; in a worker of the owner it becomes a proxy (`proxy`).

use super::local::{Inner, lookup, registry};
use super::{Backend, SharedMap};
use crate::executor::Payload;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::any::{Any, type_name};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// The wire form of a handle: the map's id in the process that owns it.
#[derive(Serialize, Deserialize)]
struct Wire {
    owner_pid: u32,
    id: u64,
}

impl<K: Payload + Eq + Hash, V: Payload> Serialize for SharedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let wire = match &self.backend {
            Backend::Local(inner) => {
                let id = *inner.id.get_or_init(|| {
                    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                    let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(inner) as Weak<_>;
                    registry().lock().insert(id, weak);
                    id
                });
                // Sent to a worker as a task argument: the task keeps the map alive, and the
                // worker may call it.
                #[cfg(all(feature = "process", unix))]
                super::proxy::expose(id, inner);
                Wire { owner_pid: std::process::id(), id }
            }
            #[cfg(all(feature = "process", unix))]
            Backend::Proxy(id, _) => Wire { owner_pid: super::proxy::parent().unwrap_or_default(), id: *id },
        };
        wire.serialize(serializer)
    }
}

impl<'de, K: Payload + Eq + Hash, V: Payload> Deserialize<'de> for SharedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        #[cfg(all(feature = "process", unix))]
        if wire.owner_pid != std::process::id() && super::proxy::can_reach(wire.owner_pid) {
            return Ok(SharedMap { backend: Backend::Proxy(wire.id, std::marker::PhantomData) });
        }
        if wire.owner_pid != std::process::id() {
            return Err(D::Error::custom(format!(
                "SharedMap {} belongs to process {}: a map reaches other processes only as a task \
                 argument of that process's ProcessPoolExecutor",
                wire.id, wire.owner_pid
            )));
        }
        let Some(found) = lookup(wire.id) else {
            return Err(D::Error::custom(format!(
                "SharedMap {} no longer exists: every handle to it was dropped",
                wire.id
            )));
        };
        match found.downcast::<Inner<K, V>>() {
            Ok(inner) => Ok(SharedMap { backend: Backend::Local(inner) }),
            Err(_) => Err(D::Error::custom(format!(
                "SharedMap {} has other key or value types than SharedMap<{}, {}>",
                wire.id,
                type_name::<K>(),
                type_name::<V>()
            ))),
        }
    }
}
