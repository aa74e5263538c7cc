//! `SharedMap` from many threads, and `merge_results`.

use concurrent_futures::{SharedMap, TaskError, ThreadPoolExecutor, merge_results};
use std::collections::{BTreeMap, HashMap};

fn bump(n: Option<u64>) -> u64 {
    n.unwrap_or(0) + 1
}

#[test]
fn concurrent_updates_lose_nothing() {
    let map: SharedMap<u32, u64> = SharedMap::new();
    let pool = ThreadPoolExecutor::new(8);
    let futures: Vec<_> = (0..8_000u32)
        .map(|i| {
            let map = map.clone();
            pool.spawn(move || map.update(i % 10, bump))
        })
        .collect();
    for f in futures {
        f.result().unwrap();
    }
    assert_eq!(map.len(), 10);
    assert!(map.snapshot().values().all(|&n| n == 800));
}

#[test]
fn the_handle_passed_through_submit_is_the_same_map() {
    let map: SharedMap<String, usize> = SharedMap::new();
    let pool = ThreadPoolExecutor::new(4);
    let futures: Vec<_> = ["a", "bb", "ccc"]
        .into_iter()
        .map(|w| {
            pool.submit(
                |(map, w): (SharedMap<String, usize>, String)| map.insert(w.clone(), w.len()),
                (map.clone(), w.to_string()),
            )
        })
        .collect();
    for f in futures {
        assert_eq!(f.result(), Ok(None));
    }
    assert_eq!(map.get(&"ccc".to_string()), Some(3));
    assert_eq!(map.len(), 3);
}

#[test]
fn every_call_works() {
    let map = SharedMap::new();
    assert!(map.is_empty());
    assert_eq!(map.insert(1, "one".to_string()), None);
    assert_eq!(map.insert(1, "uno".to_string()), Some("one".to_string()));
    assert!(map.contains_key(&1));
    assert_eq!(map.get(&1).as_deref(), Some("uno"));
    map.extend([(2, "two".to_string()), (3, "three".to_string())]);
    assert_eq!(map.len(), 3);
    assert_eq!(map.remove(&2).as_deref(), Some("two"));
    assert!(!map.contains_key(&2));
    assert_eq!(map.update(3, |v| v.map_or(String::new(), |s| s.to_uppercase())), "THREE");
    assert_eq!(map.snapshot().len(), 2);
    let clone = map.clone();
    clone.insert(9, "nine".into());
    assert_eq!(map.len(), 3, "a clone is the same map");
}

#[test]
fn merge_results_merges_in_order_later_keys_win() {
    let pool = ThreadPoolExecutor::new(4);
    let futures: Vec<_> = (0..100u32).map(|i| pool.submit(|i: u32| vec![(i % 10, i)], i)).collect();
    let merged = merge_results(futures).unwrap();
    assert_eq!(merged.len(), 10);
    for k in 0..10 {
        assert_eq!(merged[&k], 90 + k, "the last future's value wins");
    }
}

#[test]
fn merge_results_accepts_every_pair_shape() {
    let pool = ThreadPoolExecutor::new(2);
    let pair = merge_results(vec![pool.spawn(|| (1, 'a'))]).unwrap();
    let option = merge_results(vec![pool.spawn(|| Some((1, 'a'))), pool.spawn(|| None)]).unwrap();
    let hash = merge_results(vec![pool.spawn(|| HashMap::from([(1, 'a')]))]).unwrap();
    let btree = merge_results(vec![pool.spawn(|| BTreeMap::from([(1, 'a')]))]).unwrap();
    for merged in [pair, option, hash, btree] {
        assert_eq!(merged, HashMap::from([(1, 'a')]));
    }
}

#[test]
fn merge_results_returns_the_first_error() {
    let pool = ThreadPoolExecutor::new(2);
    let futures = vec![
        pool.spawn(|| (1, 1)),
        pool.spawn(|| -> (i32, i32) { panic!("first") }),
        pool.spawn(|| -> (i32, i32) { panic!("second") }),
    ];
    assert_eq!(merge_results(futures), Err(TaskError::Panicked("first".into())));
}
