//! profiling helper (not committed)
use concurrent_futures::{Executor, ProcessPoolExecutor};
fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n % 2 == 0 || n % 3 == 0 {
        return false;
    }
    let mut d = 5;
    while d * d <= n {
        if n % d == 0 || n % (d + 2) == 0 {
            return false;
        }
        d += 6;
    }
    true
}
fn prime_or_zero(n: u64) -> u64 {
    if is_prime(n) { n } else { 0 }
}
fn main() {
    concurrent_futures::init();
    let pool = ProcessPoolExecutor::new(2);
    let _ = pool.submit(prime_or_zero, 1).result();
    let start = std::time::Instant::now();
    let mut t = 0;
    for _ in 0..10 {
        t += pool.map(prime_or_zero, 0..2_000_000u64).chunksize(10_000).map(|r| r.unwrap_or(0)).sum::<u64>();
    }
    println!("{t} {:?} per map", start.elapsed() / 10);
    let start = std::time::Instant::now();
    let s: u64 = (0..2_000_000u64).map(prime_or_zero).sum();
    println!("{s} sequential {:?}", start.elapsed());
}
