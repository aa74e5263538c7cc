//! Smoke.
use concurrent_futures::*;
#[test]
fn smoke() {
    let pool = ThreadPoolExecutor::new(4);
    let f = pool.spawn(|| 1 + 1);
    assert_eq!(f.result(), Ok(2));
    let v: Vec<_> = pool.map(|x: u64| x * 2, 0..100).chunksize(7).collect();
    assert_eq!(v.len(), 100);
    let futs: Vec<_> = (0..1000u64).map(|i| pool.submit(|x: u64| x, i)).collect();
    let s: u64 = as_completed(futs).map(|f| f.result().unwrap()).sum();
    assert_eq!(s, 499500);
}
