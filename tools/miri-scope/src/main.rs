//! Runs `ThreadPoolExecutor::scope` through the paths of its one `unsafe` block (a scoped task's
//! lifetime erased so that the pool can queue it) under Miri: tasks that borrow the caller's
//! data and finish, panic, are cancelled before they run, or are refused by a shut-down pool,
//! each followed by the caller freeing what they borrowed. Miri fails the run if any pool
//! thread still uses that data (even as an argument of a call not yet returned) once `scope`
//! has returned. `cargo +nightly miri run --manifest-path tools/miri-scope/Cargo.toml`; under
//! plain `cargo run` it is a quick smoke test.

use concurrent_futures::{TaskError, ThreadPoolExecutor};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Reads the caller's counter when dropped: a drop after `scope` returned reads freed memory.
struct CountsDrop<'a>(&'a AtomicUsize);

impl Drop for CountsDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn borrowed_slices_and_a_shared_counter(workers: usize) {
    let pool = ThreadPoolExecutor::new(workers);
    let numbers: Vec<u64> = (1..=64).collect();
    let seen = Mutex::new(Vec::new());
    let total = pool.scope(|s| {
        let parts: Vec<_> = numbers
            .chunks(10)
            .map(|part| {
                let seen = &seen;
                s.spawn(move || {
                    seen.lock().unwrap().push(part.len());
                    part.iter().sum::<u64>()
                })
            })
            .collect();
        parts.into_iter().map(|part| part.result().unwrap()).sum::<u64>()
    });
    assert_eq!(total, 64 * 65 / 2);
    assert_eq!(seen.into_inner().unwrap().iter().sum::<usize>(), 64);
}

fn a_scoped_map_over_a_borrowed_slice(workers: usize) {
    let pool = ThreadPoolExecutor::new(workers);
    let words: Vec<String> = ["alpha", "be", "gamma", "d"].iter().map(|w| w.to_string()).collect();
    let lengths: Vec<usize> =
        pool.scope(|s| s.map(|w: &String| w.len(), &words).chunksize(1).map(Result::unwrap).collect());
    assert_eq!(lengths, [5, 2, 5, 1]);
}

fn a_panicking_task_and_a_panicking_closure() {
    let pool = ThreadPoolExecutor::new(2);
    let text = String::from("borrowed");
    let ended = AtomicUsize::new(0);
    // The two panics are expected: keep them out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.scope(|s| {
            let bad = s.spawn(|| -> usize { panic!("task failed on {text}") });
            s.spawn(|| ended.fetch_add(text.len(), Ordering::SeqCst));
            assert!(matches!(bad.result(), Err(TaskError::Panicked(_))));
            panic!("the closure's own panic");
        })
    }));
    std::panic::set_hook(hook);
    assert!(outcome.is_err());
    assert_eq!(ended.load(Ordering::SeqCst), 8);
}

fn cancelled_chunks_drop_their_borrows_before_scope_returns() {
    let pool = ThreadPoolExecutor::new(1);
    let dropped = AtomicUsize::new(0);
    let (release_tx, release) = std::sync::mpsc::channel::<()>();
    let release = Mutex::new(release);
    pool.scope(|s| {
        // Bounded: if a check below failed before the release, scope() would wait for it.
        let blocker = s.spawn(|| release.lock().unwrap().recv_timeout(Duration::from_secs(60)).is_ok());
        let guard = CountsDrop(&dropped);
        let mut map = s
            .map(
                move |x: u32| {
                    let _whole = &guard;
                    x
                },
                0..3,
            )
            .chunksize(1)
            .timeout(Duration::from_millis(1));
        assert_eq!(map.next(), Some(Err(TaskError::Timeout)));
        drop(map);
        release_tx.send(()).unwrap();
        assert_eq!(blocker.result(), Ok(true));
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

fn tasks_refused_by_a_shut_down_pool() {
    use concurrent_futures::Executor;
    let pool = ThreadPoolExecutor::new(1);
    pool.shutdown(true, false);
    let dropped = AtomicUsize::new(0);
    pool.scope(|s| {
        let guard = CountsDrop(&dropped);
        let task = s.spawn(move || {
            let _whole = &guard;
        });
        assert_eq!(task.result(), Err(TaskError::Shutdown));
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

fn main() {
    for workers in [1, 2, 3] {
        borrowed_slices_and_a_shared_counter(workers);
        a_scoped_map_over_a_borrowed_slice(workers);
    }
    a_panicking_task_and_a_panicking_closure();
    cancelled_chunks_drop_their_borrows_before_scope_returns();
    tasks_refused_by_a_shut_down_pool();
    println!("scope under test: every scenario passed");
}
