//! `ThreadPoolExecutor::scope`: tasks that borrow from the caller, all ended when it returns.

mod common;

use common::PATIENCE;
use concurrent_futures::{Executor, TaskError, ThreadPoolExecutor};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::time::Duration;

/// Runs `check` on a thread of its own and fails if it has not finished within the patience:
/// a hang fails this test instead of stalling the suite.
fn bounded(check: impl FnOnce() + Send + 'static) {
    let (done_tx, done) = channel();
    let runner = std::thread::spawn(move || {
        check();
        let _ = done_tx.send(());
    });
    match done.recv_timeout(PATIENCE) {
        Ok(()) => runner.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("no answer within {PATIENCE:?}: it hangs"),
    }
}

/// A client a task borrows, as `&Client`, instead of cloning it into an `Arc`.
struct Client {
    base: String,
    calls: AtomicUsize,
}

impl Client {
    fn get(&self, path: &str) -> Result<usize, std::io::Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if path.contains("missing") {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, path.to_string()));
        }
        Ok(self.base.len() + path.len())
    }
}

#[test]
fn tasks_borrow_slices_clients_and_counters_of_the_caller() {
    bounded(|| {
        for workers in [1, 2, 5] {
            let pool = ThreadPoolExecutor::new(workers);
            let numbers: Vec<u64> = (1..=10_000).collect();
            let client = Client { base: "http://host".into(), calls: AtomicUsize::new(0) };
            let seen = Mutex::new(Vec::new());
            let paths = ["/a", "/missing", "/bcd"];
            let (sum, answers) = pool.scope(|s| {
                let parts: Vec<_> =
                    numbers.chunks(999).map(|part| s.spawn(move || part.iter().sum::<u64>())).collect();
                let answers: Vec<_> = paths
                    .iter()
                    .map(|path| {
                        let (client, seen) = (&client, &seen);
                        s.spawn(move || {
                            seen.lock().unwrap().push(*path);
                            client.get(path)
                        })
                    })
                    .collect();
                let sum: u64 = parts.into_iter().map(|part| part.result().unwrap()).sum();
                let answers: Vec<Result<usize, std::io::Error>> =
                    answers.into_iter().map(|answer| answer.result().unwrap()).collect();
                (sum, answers)
            });
            assert_eq!(sum, 50_005_000);
            assert_eq!(answers[0].as_ref().unwrap(), &13);
            assert_eq!(answers[1].as_ref().unwrap_err().kind(), std::io::ErrorKind::NotFound);
            assert_eq!(client.calls.load(Ordering::SeqCst), 3);
            assert_eq!(seen.into_inner().unwrap().len(), 3);
        }
    });
}

#[test]
fn every_task_has_ended_when_scope_returns_even_unawaited_ones() {
    bounded(|| {
        for workers in [1, 3] {
            let pool = ThreadPoolExecutor::new(workers);
            let finished = AtomicUsize::new(0);
            pool.scope(|s| {
                for i in 0..50u64 {
                    let finished = &finished;
                    s.spawn(move || {
                        // Some work, so that tasks are still queued when the closure returns.
                        let spin = std::time::Instant::now();
                        while spin.elapsed() < Duration::from_micros(200 + i) {
                            std::hint::spin_loop();
                        }
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
            assert_eq!(finished.load(Ordering::SeqCst), 50, "scope returned before its tasks ended");
        }
    });
}

#[test]
fn a_task_panic_fails_its_own_handle_only() {
    bounded(|| {
        let pool = ThreadPoolExecutor::new(2);
        let text = String::from("borrowed");
        pool.scope(|s| {
            let bad = s.spawn(|| -> usize { panic!("task failed on {text}") });
            let good = s.spawn(|| text.len());
            assert!(matches!(bad.result(), Err(TaskError::Panicked(why)) if why.contains("borrowed")));
            assert_eq!(good.result(), Ok(8));
        });
    });
}

#[test]
fn a_panic_of_the_closure_propagates_after_every_task_ended() {
    bounded(|| {
        let pool = ThreadPoolExecutor::new(2);
        let finished = AtomicUsize::new(0);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope(|s| {
                for _ in 0..20 {
                    s.spawn(|| {
                        std::thread::sleep(Duration::from_millis(2));
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
                panic!("the scope's own closure failed");
            })
        }));
        let payload = outcome.expect_err("the closure's panic propagates");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"the scope's own closure failed"));
        assert_eq!(finished.load(Ordering::SeqCst), 20, "the panic came out before the tasks ended");
        // The pool goes on.
        assert_eq!(pool.spawn(|| 1).result(), Ok(1));
    });
}

#[test]
fn scoped_tasks_run_on_the_pool_threads_within_max_workers() {
    bounded(|| {
        for workers in [1, 2, 4] {
            let pool = ThreadPoolExecutor::builder()
                .max_workers(workers)
                .thread_name_prefix("scoped")
                .build()
                .unwrap();
            let running = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            let off_pool = AtomicUsize::new(0);
            let task = |_: u32| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if !std::thread::current().name().is_some_and(|n| n.starts_with("scoped")) {
                    off_pool.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_micros(300));
                running.fetch_sub(1, Ordering::SeqCst);
            };
            pool.scope(|s| {
                let handles: Vec<_> = (0..40).map(|i| s.spawn(move || task(i))).collect();
                assert_eq!(s.map(task, 0..40).chunksize(3).filter(Result::is_ok).count(), 40);
                handles.into_iter().for_each(|h| h.result().unwrap());
            });
            assert_eq!(off_pool.load(Ordering::SeqCst), 0);
            assert!(
                most.load(Ordering::SeqCst) <= workers,
                "{} at once with {workers}",
                most.load(Ordering::SeqCst)
            );
        }
    });
}

#[test]
fn a_scoped_map_borrows_its_items_and_function() {
    bounded(|| {
        let pool = ThreadPoolExecutor::new(3);
        let data: Vec<u64> = (0..5_000).collect();
        let offset = 7u64;
        let add = |x: &u64| x + offset;
        for chunksize in [1, 16, 1000] {
            let out: Vec<u64> =
                pool.scope(|s| s.map(add, &data).chunksize(chunksize).map(Result::unwrap).collect());
            assert_eq!(out, data.iter().map(|x| x + offset).collect::<Vec<_>>());
            let sum: u64 = pool
                .scope(|s| s.map(|x: &u64| *x, data.iter()).chunksize(chunksize).map(Result::unwrap).sum());
            assert_eq!(sum, data.iter().sum::<u64>());
        }
        let words = vec!["alpha".to_string(), "be".to_string()];
        let lengths: Vec<usize> =
            pool.scope(|s| s.map(|w: &String| w.len(), &words).map(Result::unwrap).collect());
        assert_eq!(lengths, [5, 2]);
    });
}

#[test]
fn a_scope_inside_a_task_on_a_one_thread_pool_does_not_deadlock() {
    bounded(|| {
        let pool = std::sync::Arc::new(ThreadPoolExecutor::new(1));
        let inner = std::sync::Arc::clone(&pool);
        let total = pool
            .spawn(move || {
                let data = [1u32, 2, 3, 4];
                inner.scope(|s| {
                    let a = s.spawn(|| data[..2].iter().sum::<u32>());
                    let b = s.spawn(|| data[2..].iter().sum::<u32>());
                    a.result().unwrap() + b.result().unwrap()
                })
            })
            .result();
        assert_eq!(total, Ok(10));
    });
}

/// The same on fresh pools, over and over: the task lands on the pool's one thread right as it
/// starts, which must count as the pool's own from its first instruction (it once registered
/// only after `spawn` returned, and a scope in its first task could wait for itself).
#[test]
fn a_scope_in_the_first_task_of_a_fresh_one_thread_pool_does_not_deadlock() {
    bounded(|| {
        for round in 0..2000u32 {
            let pool = std::sync::Arc::new(ThreadPoolExecutor::new(1));
            let inner = std::sync::Arc::clone(&pool);
            let total = pool
                .spawn(move || {
                    inner.scope(|s| s.spawn(|| round + 1).result().unwrap() + s.spawn(|| 1).result().unwrap())
                })
                .result();
            assert_eq!(total, Ok(round + 2));
        }
    });
}

#[test]
fn a_scope_on_a_shut_down_pool_fails_its_tasks_and_returns() {
    bounded(|| {
        let pool = ThreadPoolExecutor::new(2);
        pool.shutdown(true, false);
        let data = [1, 2, 3];
        let outcome = pool.scope(|s| s.spawn(|| data.len()).result());
        assert_eq!(outcome, Err(TaskError::Shutdown));
    });
}

/// Counts its drop in a counter it borrows from the caller, slowly, so that a drop racing with
/// the end of the scope would be seen after `scope` returned.
struct SlowDrop<'a>(&'a AtomicUsize);

impl Drop for SlowDrop<'_> {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(30));
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn what_a_task_owns_is_dropped_before_scope_returns_even_when_it_never_ran() {
    bounded(|| {
        let pool = ThreadPoolExecutor::new(1);
        for round in 0..3 {
            let dropped = AtomicUsize::new(0);
            let (release_tx, release) = channel::<()>();
            let release = Mutex::new(release);
            pool.scope(|s| {
                // The pool's only thread waits, so the map's chunks stay queued...
                let blocker = s.spawn(|| release.lock().unwrap().recv_timeout(PATIENCE).is_ok());
                let guard = SlowDrop(&dropped);
                // (`&guard` takes the whole guard into the closure, not only its field.)
                let mut map = s
                    .map(
                        move |x: u32| {
                            let _whole = &guard;
                            x * 2
                        },
                        0..4,
                    )
                    .chunksize(1)
                    .timeout(Duration::from_millis(5));
                // ...until the map times out and cancels them; the last one to go drops `f`.
                assert_eq!(map.next(), Some(Err(TaskError::Timeout)), "round {round}");
                drop(map);
                release_tx.send(()).unwrap();
                assert_eq!(blocker.result(), Ok(true));
            });
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                1,
                "round {round}: a cancelled task was dropped after scope returned"
            );
        }
    });
}
