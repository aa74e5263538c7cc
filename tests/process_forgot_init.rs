//! A program that uses a process pool but forgot `init()`: its re-executed workers must stop
//! at the pool (no process tree that grows), and its futures must fail with `BrokenPool`
//! naming `init()`, within seconds, never hang.

use concurrent_futures::{ProcessPoolExecutor, TaskError};
use std::time::{Duration, Instant};

const NAME: &str = "forgotten_init_breaks_the_pool_with_a_clear_message";

fn main() {
    // No `concurrent_futures::init()` here, on purpose.
    if std::env::args().any(|a| a == "--list") {
        if !std::env::args().any(|a| a == "--ignored") {
            println!("{NAME}: test");
        }
        return;
    }
    let start = Instant::now();
    let pool = ProcessPoolExecutor::new(2);
    let result = pool.submit(|x: u32| x + 1, 1).result_timeout(Duration::from_secs(60));
    let ok = match &result {
        Err(TaskError::BrokenPool(message)) => message.contains("init()"),
        _ => false,
    };
    println!("result after {:?}: {result:?}", start.elapsed());
    println!(
        "test forgotten_init_breaks_the_pool_with_a_clear_message ... {}",
        if ok { "ok" } else { "FAILED" }
    );
    println!("{} passed, {} failed", u8::from(ok), u8::from(!ok));
    std::process::exit(if ok { 0 } else { 1 });
}
