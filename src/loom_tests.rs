//! Model checks of the future core with loom: every interleaving (up to a preemption bound) of
//! running, cancelling, completing, waiting and adding callbacks.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_tests` (CI does).

use crate::error::TaskError;
use crate::future::Future;
use crate::stats::Counters;
use crate::thread_pool::job::task;
use crate::wait::{ReturnWhen, as_completed, wait};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A job for `f`, run on a new loom thread.
fn spawn_job<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> (Future<T>, thread::JoinHandle<()>) {
    let (future, job) = task(f);
    let worker = thread::spawn(move || job.run(Counters::default().shared(), &|| {}));
    (future, worker)
}

#[test]
fn cancel_and_run_have_exactly_one_winner() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let ran2 = Arc::clone(&ran);
        let (future, worker) = spawn_job(move || {
            ran2.fetch_add(1, Ordering::SeqCst);
            7
        });
        let cancelled = future.cancel();
        let result = future.result();
        worker.join().unwrap();
        if cancelled {
            assert_eq!(result, Err(TaskError::Cancelled));
            assert_eq!(ran.load(Ordering::SeqCst), 0);
        } else {
            assert_eq!(result, Ok(7));
            assert_eq!(ran.load(Ordering::SeqCst), 1);
        }
    });
}

#[test]
fn a_waiter_is_never_left_asleep() {
    model(|| {
        let (future, worker) = spawn_job(|| 1);
        assert_eq!(future.result(), Ok(1));
        worker.join().unwrap();
    });
}

#[test]
fn callbacks_race_completion_and_each_runs_once_before_result() {
    model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (future, worker) = spawn_job(|| 5);
        for _ in 0..2 {
            let calls = Arc::clone(&calls);
            future.add_done_callback(move |r| {
                assert_eq!(r.copied().map_err(Clone::clone), Ok(5));
                calls.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(future.result(), Ok(5));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "all callbacks ran before result returned");
        worker.join().unwrap();
    });
}

#[test]
fn cancel_from_another_thread_runs_callbacks_once() {
    model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (future, job) = task(|| 1);
        let calls2 = Arc::clone(&calls);
        future.add_done_callback(move |_| {
            calls2.fetch_add(1, Ordering::SeqCst);
        });
        let future = Arc::new(future);
        let canceller = {
            let future = Arc::clone(&future);
            thread::spawn(move || future.cancel())
        };
        let second = future.cancel();
        let first = canceller.join().unwrap();
        assert!(first && second, "cancelling a pending future twice reports true both times");
        job.run(Counters::default().shared(), &|| {});
        assert!(future.is_cancelled() && future.is_done());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn as_completed_sees_every_completion() {
    model(|| {
        let (a, worker_a) = spawn_job(|| 1);
        let (b, worker_b) = spawn_job(|| 2);
        let total: i32 = as_completed([a, b]).map(|f| f.result().unwrap_or(0)).sum();
        assert_eq!(total, 3);
        worker_a.join().unwrap();
        worker_b.join().unwrap();
    });
}

#[test]
fn wait_first_completed_wakes_on_a_completion_or_a_cancel() {
    model(|| {
        let (a, worker) = spawn_job(|| 1);
        let (b, job_b) = task(|| 2);
        let b_canceller = thread::spawn(move || {
            let cancelled = b.cancel();
            job_b.run(Counters::default().shared(), &|| {});
            (b, cancelled)
        });
        let result = wait([a], None, ReturnWhen::FirstCompleted);
        assert_eq!(result.done.len(), 1);
        let (b, cancelled) = b_canceller.join().unwrap();
        assert!(cancelled);
        assert_eq!(b.result(), Err(TaskError::Cancelled));
        worker.join().unwrap();
    });
}

#[test]
fn a_dropped_job_fails_its_future_instead_of_hanging() {
    model(|| {
        let (future, job) = task(|| 1);
        let dropper = thread::spawn(move || drop(job));
        assert!(matches!(future.result(), Err(TaskError::BrokenPool(_))));
        dropper.join().unwrap();
    });
}

#[test]
fn kill_and_complete_have_exactly_one_winner() {
    model(|| {
        let (future, promise) = Future::<u32>::pending();
        let killer_calls = Arc::new(AtomicUsize::new(0));
        let calls = Arc::clone(&killer_calls);
        assert!(promise.set_running_killable(Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
        })));
        let worker = thread::spawn(move || promise.complete(Ok(5)));
        let killed = future.kill();
        let result = future.result();
        worker.join().unwrap();
        if killed {
            assert!(matches!(result, Err(TaskError::Killed(_))));
            assert_eq!(killer_calls.load(Ordering::SeqCst), 1);
        } else {
            assert_eq!(result, Ok(5));
            assert_eq!(killer_calls.load(Ordering::SeqCst), 0);
        }
    });
}

#[test]
fn an_await_is_woken_when_its_task_completes() {
    model(|| {
        let (future, worker) = spawn_job(|| 3);
        let result = loom::future::block_on(std::future::IntoFuture::into_future(future));
        assert_eq!(result, Ok(3));
        worker.join().unwrap();
    });
}

#[test]
fn an_await_of_a_cancelled_future_is_woken() {
    model(|| {
        let (future, job) = task(|| 3);
        let awaiting = std::future::IntoFuture::into_future(future);
        let canceller = thread::spawn(move || job.reject(TaskError::Cancelled));
        assert_eq!(loom::future::block_on(awaiting), Err(TaskError::Cancelled));
        canceller.join().unwrap();
    });
}
