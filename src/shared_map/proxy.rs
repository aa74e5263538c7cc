//! A `SharedMap` across processes (feature `process`): the map as a parent service, and the
//! proxy a worker's handle becomes. Depends on `process::service` only.
//!
//! The parent's map answers a fixed set of operations ([`Op`]) with code the parent compiled
//! for the map's own key and value types; a worker names only the map (by the id the parent
//! gave it, and only a map that was sent to that worker) and the operation. A worker's
//! `update(k, f)` runs `f` in the worker and commits with a compare-and-swap on the encoded
//! old value, retried when another write came first: atomic, and no code of the worker's
//! choosing ever runs in the parent.

use super::local::Inner;
use crate::executor::Payload;
use crate::process::service;
use crate::remote::service::{self as exposing, Service};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::hash::Hash;
use std::sync::Arc;

/// What a worker may ask of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    Insert = 0,
    Extend = 1,
    Get = 2,
    Remove = 3,
    ContainsKey = 4,
    Len = 5,
    Snapshot = 6,
    /// `(key, expected encoded Option<V>, new encoded V)`: sets the value if the current one
    /// encodes as expected; answers `None` then, or the current encoding.
    CompareAndSet = 7,
}

impl Op {
    fn from_u8(op: u8) -> Option<Op> {
        [
            Op::Insert,
            Op::Extend,
            Op::Get,
            Op::Remove,
            Op::ContainsKey,
            Op::Len,
            Op::Snapshot,
            Op::CompareAndSet,
        ]
        .into_iter()
        .find(|o| *o as u8 == op)
    }
}

fn operands<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("cannot decode the call: {e}"))
}

fn answer<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(value).map_err(|e| format!("cannot encode the answer: {e}"))
}

/// Bytes that travel as one block.
#[derive(Serialize, Deserialize)]
struct Raw(#[serde(with = "raw_bytes")] Vec<u8>);

mod raw_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        <&[u8]>::deserialize(deserializer).map(<[u8]>::to_vec)
    }
}

impl<K: Payload + Eq + Hash, V: Payload> Service for Inner<K, V> {
    fn call(&self, op: u8, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let op = Op::from_u8(op).ok_or_else(|| format!("has no operation {op}"))?;
        match op {
            Op::Insert => {
                let (k, v): (K, V) = operands(bytes)?;
                answer(&self.map.lock().insert(k, v))
            }
            Op::Extend => {
                let pairs: Vec<(K, V)> = operands(bytes)?;
                self.map.lock().extend(pairs);
                answer(&())
            }
            Op::Get => {
                let k: K = operands(bytes)?;
                answer(&self.map.lock().get(&k))
            }
            Op::Remove => {
                let k: K = operands(bytes)?;
                answer(&self.map.lock().remove(&k))
            }
            Op::ContainsKey => {
                let k: K = operands(bytes)?;
                answer(&self.map.lock().contains_key(&k))
            }
            Op::Len => answer(&self.map.lock().len()),
            Op::Snapshot => answer(&*self.map.lock()),
            Op::CompareAndSet => {
                let (k, expected, new): (K, Raw, Raw) = operands(bytes)?;
                let new: V = operands(&new.0)?;
                let mut map = self.map.lock();
                let current = answer(&map.get(&k))?;
                if current == expected.0 {
                    map.insert(k, new);
                    answer(&None::<Raw>)
                } else {
                    answer(&Some(Raw(current)))
                }
            }
        }
    }
}

/// Runs `op` on map `id` in the parent and decodes its answer.
///
/// # Panics
///
/// If the parent is gone or the map no longer exists there: the panic fails the task that made
/// the call, with a message that says which.
pub(super) fn call<T: DeserializeOwned>(id: u64, op: Op, operands: &impl Serialize) -> T {
    let reply = call_encoded(id, op, operands);
    postcard::from_bytes(&reply).unwrap_or_else(|e| panic!("SharedMap {id}: cannot decode the answer: {e}"))
}

/// As [`call`], but the answer stays encoded.
fn call_encoded(id: u64, op: Op, operands: &impl Serialize) -> Vec<u8> {
    let fail = |why: String| -> ! { panic!("SharedMap {id}: {why}") };
    let operands =
        postcard::to_allocvec(operands).unwrap_or_else(|e| fail(format!("cannot encode the call: {e}")));
    service::call(id, op as u8, operands).unwrap_or_else(|why| fail(why))
}

/// `update` from a worker: `f` runs here, and the new value is committed only if nobody wrote
/// the key since it was read; otherwise `f` runs again on the value that is there now.
pub(super) fn update<K, V, F>(id: u64, k: K, f: F) -> V
where
    K: Payload,
    V: Payload,
    F: Fn(Option<V>) -> V,
{
    let encode =
        |v: &V| postcard::to_allocvec(v).unwrap_or_else(|e| panic!("SharedMap {id}: cannot encode: {e}"));
    // `Get` answers with the encoded `Option<V>`: exactly what the compare-and-set compares.
    let mut current = call_encoded(id, Op::Get, &k);
    loop {
        let old: Option<V> = postcard::from_bytes(&current)
            .unwrap_or_else(|e| panic!("SharedMap {id}: cannot decode the value: {e}"));
        let new = f(old);
        let swapped: Option<Raw> = call(id, Op::CompareAndSet, &(&k, Raw(current), Raw(encode(&new))));
        match swapped {
            None => return new,
            Some(now) => current = now.0,
        }
    }
}

/// Offers the map `inner`, registered as `id`, to the worker the task being sent goes to.
pub(super) fn expose<K: Payload + Eq + Hash, V: Payload>(id: u64, inner: &Arc<Inner<K, V>>) {
    exposing::expose(id, Arc::clone(inner) as Arc<dyn Service>);
}

/// In a worker: the pid of the parent whose maps it may call.
pub(super) fn parent() -> Option<u32> {
    service::parent()
}

/// True if this process is a worker of `owner`, which can call its maps.
pub(super) fn can_reach(owner: u32) -> bool {
    service::can_reach(owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_map::{Backend, SharedMap};

    #[test]
    fn the_parent_answers_each_operation_for_the_map_s_own_types() {
        let map: SharedMap<u32, String> = SharedMap::new();
        let Backend::Local(inner) = &map.backend else { unreachable!() };
        let call = |op: Op, operands: Vec<u8>| inner.call(op as u8, &operands);
        let ok = |bytes: Result<Vec<u8>, String>| bytes.unwrap();
        ok(call(Op::Insert, postcard::to_allocvec(&(1u32, "a".to_owned())).unwrap()));
        let got: Option<String> =
            postcard::from_bytes(&ok(call(Op::Get, postcard::to_allocvec(&1u32).unwrap()))).unwrap();
        assert_eq!(got.as_deref(), Some("a"));
        assert!(
            call(Op::Get, vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err(),
            "bad operands are an error"
        );
        assert!(inner.call(200, &[]).is_err(), "an unknown operation is an error");
    }

    #[test]
    fn compare_and_set_commits_only_over_the_value_it_read() {
        let map: SharedMap<u32, u32> = SharedMap::new();
        map.insert(1, 10);
        let Backend::Local(inner) = &map.backend else { unreachable!() };
        let encoded = |v: Option<u32>| postcard::to_allocvec(&v).unwrap();
        let cas = |expected: Option<u32>, new: u32| -> Option<Raw> {
            let operands = postcard::to_allocvec(&(
                1u32,
                Raw(encoded(expected)),
                Raw(postcard::to_allocvec(&new).unwrap()),
            ))
            .unwrap();
            postcard::from_bytes(&inner.call(Op::CompareAndSet as u8, &operands).unwrap()).unwrap()
        };
        let conflict = cas(Some(9), 11).expect("a stale read must not commit");
        assert_eq!(conflict.0, encoded(Some(10)));
        assert!(cas(Some(10), 11).is_none());
        assert_eq!(map.get(&1), Some(11));
    }
}
