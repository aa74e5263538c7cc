//! The Python docs' `ProcessPoolExecutor` example, with processes and with threads (Rust has no
//! GIL, so threads speed up CPU-bound work too).
//!
//! 1. Checks the docs' six `PRIMES` with a process pool's `map`, printing `N is prime: ...`.
//! 2. Sums the primes below 2,000,000 sequentially, on a thread pool and on a process pool
//!    (the same code, through the `Executor` trait), and prints the times and speedups.
//!
//! Run: `cargo run --release --example prime_checker`

use concurrent_futures::{Executor, ProcessPoolExecutor, ThreadPoolExecutor};
use std::time::{Duration, Instant};

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

/// The sum of the primes below `LIMIT` on any executor, and how long it took.
fn sum_of_primes<E: Executor>(executor: &E) -> (u64, Duration) {
    let start = Instant::now();
    let sum = executor.map(prime_or_zero, 0..LIMIT).chunksize(10_000).map(|r| r.unwrap_or(0)).sum();
    (sum, start.elapsed())
}

fn main() {
    concurrent_futures::init(); // first: in a worker process, this runs the worker instead
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = ThreadPoolExecutor::new(workers);
    let processes = ProcessPoolExecutor::new(workers);

    for (number, prime) in PRIMES.iter().zip(processes.map(is_prime, PRIMES)) {
        match prime {
            Ok(prime) => println!("{number} is prime: {prime}"),
            Err(error) => println!("{number} could not be checked: {error}"),
        }
    }

    println!("\nSum of the primes below {LIMIT}:");
    let start = Instant::now();
    let sequential: u64 = (0..LIMIT).map(prime_or_zero).sum();
    let sequential_time = start.elapsed();
    println!("  sequential           {sequential}  in {:>8.1} ms", sequential_time.as_secs_f64() * 1e3);

    let runs = [
        (format!("{workers} threads"), sum_of_primes(&threads)),
        (format!("{workers} processes"), sum_of_primes(&processes)),
    ];
    for (name, (sum, time)) in runs {
        println!(
            "  {name:<20} {sum}  in {:>8.1} ms  (speedup {:.2}x)",
            time.as_secs_f64() * 1e3,
            sequential_time.as_secs_f64() / time.as_secs_f64()
        );
        assert_eq!(sum, sequential, "every way must find the same primes");
    }
}
