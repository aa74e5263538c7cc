//! The CPU-bound work both benchmark files use.

/// Trial division by 6k ± 1.
pub(crate) fn is_prime(n: u64) -> bool {
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

/// `n` if it is prime, else 0: summed, the sum of the primes.
pub(crate) fn prime_or_zero(n: u64) -> u64 {
    if is_prime(n) { n } else { 0 }
}
