//! `ThreadPoolExecutor`: workers, names, initializer, shutdown and drop, as Python defines them.

mod common;

use common::{Blocker, PATIENCE};
use concurrent_futures::{BuildError, Executor, TaskError, ThreadPoolExecutor};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier, Mutex};

#[test]
fn default_is_min_32_cpus_plus_4() {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    assert_eq!(ThreadPoolExecutor::default().max_workers(), (cpus + 4).min(32));
}

#[test]
#[should_panic(expected = "at least 1 worker")]
fn new_zero_panics_with_a_clear_message() {
    let _ = ThreadPoolExecutor::new(0);
}

#[test]
fn builder_zero_is_an_error_value() {
    let err = ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
    assert_eq!(err, BuildError::ZeroWorkers);
    assert!(err.to_string().contains("max_workers"));
}

#[test]
fn threads_start_lazily_and_are_reused() {
    let pool = ThreadPoolExecutor::builder().max_workers(8).thread_name_prefix("lazy").build().unwrap();
    let names = Arc::new(Mutex::new(HashSet::new()));
    for _ in 0..50 {
        let names = Arc::clone(&names);
        pool.spawn(move || {
            names.lock().unwrap().insert(std::thread::current().name().unwrap().to_owned());
        })
        .result()
        .unwrap();
    }
    // One task at a time: the first worker is idle again for every later submit.
    assert_eq!(names.lock().unwrap().len(), 1);
    assert!(format!("{pool:?}").contains("threads: 1"));
}

#[test]
fn concurrent_tasks_get_up_to_max_workers_threads() {
    let pool = ThreadPoolExecutor::builder().max_workers(4).thread_name_prefix("wide").build().unwrap();
    let barrier = Arc::new(Barrier::new(4));
    let futures: Vec<_> = (0..4)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.spawn(move || {
                barrier.wait(); // only returns if all four run at once
                std::thread::current().name().unwrap().to_owned()
            })
        })
        .collect();
    let names: HashSet<String> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    let expected: HashSet<String> = (0..4).map(|i| format!("wide_{i}")).collect();
    assert_eq!(names, expected);
}

#[test]
fn default_thread_names_count_pools_like_python() {
    let pool = ThreadPoolExecutor::new(1);
    let name = pool.spawn(|| std::thread::current().name().unwrap().to_owned()).result().unwrap();
    let (prefix, index) = name.rsplit_once('_').unwrap();
    assert!(prefix.starts_with("ThreadPoolExecutor-"), "{name}");
    assert!(prefix["ThreadPoolExecutor-".len()..].parse::<usize>().is_ok(), "{name}");
    assert_eq!(index, "0");
}

#[test]
fn initializer_runs_once_per_worker_before_its_first_task() {
    let inits = Arc::new(AtomicUsize::new(0));
    let inits2 = Arc::clone(&inits);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            inits2.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let futures: Vec<_> = (0..2)
        .map(|_| {
            let (barrier, inits) = (Arc::clone(&barrier), Arc::clone(&inits));
            pool.spawn(move || {
                barrier.wait();
                inits.load(Ordering::SeqCst)
            })
        })
        .collect();
    for f in futures {
        assert_eq!(f.result(), Ok(2), "both initializers ran before the tasks");
    }
    for _ in 0..10 {
        pool.spawn(|| ()).result().unwrap();
    }
    assert_eq!(inits.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failing_initializer_breaks_the_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("cannot connect"))
        .build()
        .unwrap();
    let futures: Vec<_> = (0..5).map(|i| pool.spawn(move || i)).collect();
    for f in futures {
        match f.result() {
            Err(TaskError::BrokenPool(message)) => assert!(message.contains("cannot connect"), "{message}"),
            other => panic!("expected BrokenPool, got {other:?}"),
        }
    }
    assert!(matches!(pool.spawn(|| 1).result(), Err(TaskError::BrokenPool(_))), "later submits fail too");
}

#[test]
fn submit_after_shutdown_fails_with_shutdown() {
    let pool = ThreadPoolExecutor::new(2);
    pool.shutdown(true, false);
    assert_eq!(pool.spawn(|| 1).result(), Err(TaskError::Shutdown));
    assert_eq!(pool.submit(|x: i32| x, 1).result(), Err(TaskError::Shutdown));
}

#[test]
fn shutdown_wait_finishes_queued_work() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let queued: Vec<_> = (0..20).map(|i| pool.spawn(move || i)).collect();
    let (done_tx, done_rx) = channel();
    let shutter = std::thread::spawn(move || {
        pool.shutdown(true, false);
        done_tx.send(()).unwrap();
        pool
    });
    let blocker_future = blocker.release();
    done_rx.recv_timeout(PATIENCE).expect("shutdown(wait) returned");
    for (i, f) in queued.into_iter().enumerate() {
        assert!(f.is_done(), "shutdown(wait=true) returns after the queue is drained");
        assert_eq!(f.result(), Ok(i));
    }
    blocker_future.result().unwrap();
    drop(shutter.join().unwrap());
}

#[test]
fn shutdown_cancel_futures_cancels_what_has_not_started() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let queued: Vec<_> = (0..20).map(|i| pool.spawn(move || i)).collect();
    pool.shutdown(false, true);
    for f in &queued {
        assert!(f.is_cancelled());
    }
    let running = blocker.release();
    assert_eq!(running.result(), Ok(()), "the running task is not cancelled");
    pool.shutdown(true, true); // idempotent; and now it waits
    for f in queued {
        assert_eq!(f.result(), Err(TaskError::Cancelled));
    }
}

#[test]
fn shutdown_without_wait_returns_while_work_runs() {
    let pool = ThreadPoolExecutor::new(1);
    let blocker = Blocker::spawn(&pool);
    blocker.wait_started();
    let queued = pool.spawn(|| 5);
    pool.shutdown(false, false);
    assert!(!blocker.future.is_done());
    blocker.release().result().unwrap();
    assert_eq!(queued.result(), Ok(5), "queued work still runs after shutdown(wait=false)");
}

#[test]
fn drop_waits_for_queued_work() {
    let pool = ThreadPoolExecutor::new(2);
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let count = Arc::clone(&count);
        drop(pool.spawn(move || count.fetch_add(1, Ordering::SeqCst)));
    }
    drop(pool);
    assert_eq!(count.load(Ordering::SeqCst), 100);
}

#[test]
fn dropping_the_last_handle_inside_a_task_neither_deadlocks_nor_panics() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let inner = Arc::clone(&pool);
    let (tx, rx) = channel();
    // The task holds the last handle once the test drops its own.
    let future = pool.spawn(move || {
        let _ = rx.recv_timeout(PATIENCE);
        drop(inner);
        "dropped"
    });
    let follow_up = pool.spawn(|| 2);
    drop(pool);
    tx.send(()).unwrap();
    assert_eq!(future.result(), Ok("dropped"));
    assert_eq!(follow_up.result(), Ok(2));
}

#[test]
fn a_callback_may_shut_the_pool_down() {
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let inner = Arc::clone(&pool);
    let future = pool.spawn(|| 1);
    future.add_done_callback(move |_| inner.shutdown(true, true));
    assert_eq!(future.result(), Ok(1));
    assert_eq!(pool.spawn(|| 2).result(), Err(TaskError::Shutdown));
}

#[test]
fn spawn_takes_any_closure_and_type() {
    struct NotSerde(std::rc::Rc<u8>);
    let pool = ThreadPoolExecutor::new(1);
    let captured = String::from("abc");
    let future = pool.spawn(move || captured.len());
    assert_eq!(future.result(), Ok(3));
    // A non-Send value can be made and dropped inside the task.
    assert_eq!(pool.spawn(|| *NotSerde(std::rc::Rc::new(4)).0).result(), Ok(4));
}
