//! The prime checker over the ranks of an MPI job (feature `mpi`):
//!
//! ```sh
//! cargo build --release --features mpi --example mpi_primes
//! mpirun -n 3 --oversubscribe target/release/examples/mpi_primes
//! ```
//!
//! Rank 0 sums the primes below 2,000,000 on its own, then with `MpiPoolExecutor` over the
//! other ranks, and prints both times and the speedup. (As root in a container, add
//! `--allow-run-as-root`.)

use concurrent_futures::{Executor, MpiPoolExecutor};
use std::time::Instant;

const BELOW: u64 = 2_000_000;

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

/// The sum of the primes in `start..end`: one small message per range.
fn sum_range((start, end): (u64, u64)) -> u64 {
    (start..end).filter(|&n| is_prime(n)).sum()
}

fn main() {
    concurrent_futures::init(); // on ranks 1..N this serves rank 0 and never returns
    let pool = match MpiPoolExecutor::new() {
        Ok(pool) => pool,
        Err(why) => {
            eprintln!("{why}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let alone = sum_range((0, BELOW));
    let one_rank = start.elapsed();
    let start = Instant::now();
    let ranges = (0..BELOW).step_by(20_000).map(|s| (s, (s + 20_000).min(BELOW)));
    let over_ranks: u64 = pool.map(sum_range, ranges).map(|r| r.expect("a range")).sum();
    let spread = start.elapsed();
    assert_eq!(alone, over_ranks);
    println!("sum of the primes below {BELOW}: {over_ranks}");
    println!("  rank 0 alone        {:>8.1} ms", one_rank.as_secs_f64() * 1e3);
    println!(
        "  {} worker ranks      {:>8.1} ms  (speedup {:.2}x)",
        pool.max_workers(),
        spread.as_secs_f64() * 1e3,
        one_rank.as_secs_f64() / spread.as_secs_f64()
    );
}
