//! The Python docs' `ProcessPoolExecutor` example, with threads (Rust has no GIL).
//!
//! 1. Checks the docs' six `PRIMES` with `map`, printing `N is prime: true/false`.
//! 2. Sums the primes below 2,000,000 sequentially and on a thread pool, and prints the times
//!    and the speedup.
//!
//! Run: `cargo run --release --example prime_checker`

use concurrent_futures::{Executor, ThreadPoolExecutor};
use std::time::Instant;

/// The numbers of the Python documentation's example (the last one is not prime).
const PRIMES: [u64; 6] =
    [112272535095293, 112582705942171, 112272535095293, 115280095190773, 115797848077099, 1099726899285419];

const LIMIT: u64 = 2_000_000;

/// Trial division, as in the Python docs.
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n % 2 == 0 {
        return false;
    }
    let sqrt_n = n.isqrt();
    (3..=sqrt_n).step_by(2).all(|i| n % i != 0)
}

fn prime_or_zero(n: u64) -> u64 {
    if is_prime(n) { n } else { 0 }
}

fn main() {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = ThreadPoolExecutor::new(workers);

    for (number, prime) in PRIMES.iter().zip(pool.map(is_prime, PRIMES)) {
        match prime {
            Ok(prime) => println!("{number} is prime: {prime}"),
            Err(error) => println!("{number} could not be checked: {error}"),
        }
    }

    println!("\nSum of the primes below {LIMIT}:");
    let start = Instant::now();
    let sequential: u64 = (0..LIMIT).map(prime_or_zero).sum();
    let sequential_time = start.elapsed();
    println!("  sequential          {sequential}  in {:>8.1} ms", sequential_time.as_secs_f64() * 1e3);

    let start = Instant::now();
    let threaded: u64 = pool.map(prime_or_zero, 0..LIMIT).chunksize(10_000).map(|r| r.unwrap_or(0)).sum();
    let threaded_time = start.elapsed();
    println!(
        "  {workers} threads           {threaded}  in {:>8.1} ms  (speedup {:.2}x)",
        threaded_time.as_secs_f64() * 1e3,
        sequential_time.as_secs_f64() / threaded_time.as_secs_f64()
    );
    assert_eq!(sequential, threaded, "both ways must find the same primes");
}
