//! `Future<T>`: states, cancellation, timeouts and done callbacks, as a user sees them.

mod common;

use common::{Blocker, PATIENCE};
use concurrent_futures::{Future, TaskError, ThreadPoolExecutor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn result_returns_the_value() {
    let pool = ThreadPoolExecutor::new(2);
    assert_eq!(pool.spawn(|| String::from("hi")).result(), Ok("hi".to_string()));
}

#[test]
fn states_follow_pending_running_finished() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    assert!(blocker.future.is_running());
    assert!(!blocker.future.is_done());

    let queued = pool.spawn(|| 5);
    assert!(!queued.is_running(), "a queued task is pending, not running");
    assert!(!queued.is_done());
    assert!(!queued.is_cancelled());

    let running = blocker.release();
    running.wait();
    assert!(running.is_done());
    assert!(!running.is_running());
    assert_eq!(queued.result(), Ok(5));
}

#[test]
fn cancel_succeeds_only_while_pending() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let queued = pool.spawn(|| 1);

    assert!(!blocker.future.cancel(), "a running task cannot be cancelled");
    assert!(queued.cancel(), "a pending task can be cancelled");
    assert!(queued.cancel(), "cancelling twice still reports cancelled");
    assert!(queued.is_cancelled());
    assert!(queued.is_done());

    let finished = blocker.release();
    finished.wait();
    assert!(!finished.cancel(), "a finished task cannot be cancelled");
    assert_eq!(finished.result(), Ok(()));
    assert_eq!(queued.result(), Err(TaskError::Cancelled));
}

#[test]
fn a_cancelled_task_never_runs() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let futures: Vec<_> = (0..10)
        .map(|_| {
            let ran = Arc::clone(&ran);
            pool.spawn(move || ran.fetch_add(1, Ordering::SeqCst))
        })
        .collect();
    for f in &futures {
        assert!(f.cancel());
    }
    blocker.release().result().unwrap();
    drop(pool); // joins the worker, which has seen every queued job by now
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn result_timeout_gives_timeout_and_the_task_goes_on() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let (tx, rx) = channel();
    let slow = pool.spawn(move || tx.send("ran").unwrap());
    assert_eq!(slow.result_timeout(Duration::from_millis(20)), Err(TaskError::Timeout));
    blocker.release();
    assert_eq!(rx.recv_timeout(PATIENCE), Ok("ran"), "a timed-out wait does not stop the task");
}

#[test]
fn wait_timeout_reports_whether_done() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    assert!(!blocker.future.wait_timeout(Duration::from_millis(10)));
    assert!(!blocker.future.wait_timeout(Duration::ZERO));
    let future = blocker.release();
    assert!(future.wait_timeout(PATIENCE));
    assert!(future.wait_timeout(Duration::ZERO));
}

#[test]
fn a_huge_timeout_does_not_overflow() {
    let pool = ThreadPoolExecutor::new(1);
    assert_eq!(pool.spawn(|| 3).result_timeout(Duration::MAX), Ok(3));
}

#[test]
fn a_panicking_task_gives_its_message_and_the_pool_goes_on() {
    let pool = ThreadPoolExecutor::new(1);
    let failed = pool.spawn(|| -> u8 { panic!("boom {}", 42) });
    assert_eq!(failed.result(), Err(TaskError::Panicked("boom 42".into())));
    assert_eq!(pool.spawn(|| 7).result(), Ok(7));
}

#[test]
fn callbacks_run_in_order_on_the_completing_thread() {
    let pool = ThreadPoolExecutor::builder().max_workers(1).thread_name_prefix("cb").build().unwrap();
    let blocker = Blocker::spawn(&pool);
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let log = Arc::clone(&log);
        blocker.future.add_done_callback(move |r| {
            assert!(r.is_ok());
            let thread = std::thread::current().name().map(str::to_owned);
            log.lock().unwrap().push((i, thread));
        });
    }
    assert!(log.lock().unwrap().is_empty(), "no callback runs before the task is done");
    blocker.release().result().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert!(log.iter().all(|(_, t)| t.as_deref() == Some("cb_0")));
}

#[test]
fn callbacks_have_all_run_when_result_returns() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let count = Arc::clone(&count);
        blocker.future.add_done_callback(move |_| {
            std::thread::sleep(Duration::from_millis(5));
            count.fetch_add(1, Ordering::SeqCst);
        });
    }
    blocker.release().result().unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn callback_on_a_done_future_runs_at_once_on_this_thread() {
    let pool = ThreadPoolExecutor::new(1);
    let future = pool.spawn(|| 9);
    future.wait();
    let me = std::thread::current().id();
    let seen = Arc::new(Mutex::new(None));
    let seen2 = Arc::clone(&seen);
    future.add_done_callback(move |r| {
        *seen2.lock().unwrap() = Some((r.copied().map_err(Clone::clone), std::thread::current().id()));
    });
    assert_eq!(*seen.lock().unwrap(), Some((Ok(9), me)));
}

#[test]
fn a_panicking_callback_does_not_stop_the_next_ones() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    let after = Arc::new(AtomicUsize::new(0));
    blocker.future.add_done_callback(|_| panic!("callback failure"));
    let after2 = Arc::clone(&after);
    blocker.future.add_done_callback(move |_| {
        after2.fetch_add(1, Ordering::SeqCst);
    });
    let future = blocker.release();
    assert_eq!(future.result(), Ok(()), "a callback's panic never reaches the result");
    assert_eq!(after.load(Ordering::SeqCst), 1);
    // And on an already-done future, on this thread.
    let done = pool.spawn(|| 1);
    done.wait();
    done.add_done_callback(|_| panic!("immediate callback failure"));
    assert_eq!(done.result(), Ok(1));
}

#[test]
fn cancel_runs_callbacks_with_cancelled() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let queued = pool.spawn(|| 1);
    let seen = Arc::new(Mutex::new(None));
    let seen2 = Arc::clone(&seen);
    queued.add_done_callback(move |r| *seen2.lock().unwrap() = Some(r.map_err(Clone::clone).copied()));
    assert!(queued.cancel());
    assert_eq!(*seen.lock().unwrap(), Some(Err(TaskError::Cancelled)));
    blocker.release();
}

#[test]
fn callbacks_get_the_error_of_a_failed_task() {
    let pool = ThreadPoolExecutor::new(1);
    let future = pool.spawn(|| -> u8 { panic!("bad") });
    let (tx, rx) = channel();
    future.add_done_callback(move |r| tx.send(r.map_err(Clone::clone).copied()).unwrap());
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Err(TaskError::Panicked("bad".into())));
}

#[test]
fn futures_are_send_and_wait_on_other_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Future<Vec<u8>>>();
    let pool = ThreadPoolExecutor::new(1);
    let future = pool.spawn(|| vec![1u8, 2]);
    let joined = std::thread::spawn(move || future.result()).join().unwrap();
    assert_eq!(joined, Ok(vec![1, 2]));
}

#[test]
fn debug_names_the_state() {
    let pool = ThreadPoolExecutor::new(1);
    let future = pool.spawn(|| 1);
    future.wait();
    assert_eq!(format!("{future:?}"), "Future { state: \"finished\" }");
}
