//! `.await` on this crate's futures from async code, `kill_on_drop`, and functions that capture,
//! as a user writes them. Process pools re-execute this binary, so `main` calls `init()` first
//! and runs the checks itself (`harness = false`).

mod common;

use common::{Check, PATIENCE, StartMark, run_checks};
use concurrent_futures::{Executor, ProcessPoolExecutor, SharedMap, ThreadPoolExecutor};
use futures::stream::{FuturesUnordered, StreamExt};
use std::future::{Future as _, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

fn main() {
    concurrent_futures::init();
    let checks: &[Check] = &[
        ("await_on_a_current_thread_runtime_leaves_it_running", current_thread_runtime_keeps_running),
        ("hundreds_of_futures_from_both_pools_on_a_multi_thread_runtime", many_futures_on_multi_thread),
        ("block_on_from_the_futures_crate", futures_block_on),
        ("a_dropped_await_leaves_no_waker_behind", dropped_await_leaves_no_waker),
        ("a_repoll_wakes_only_the_newest_waker", repoll_wakes_only_the_newest_waker),
        ("a_done_future_is_ready_at_the_first_poll", done_future_ready_at_first_poll),
        ("kill_on_drop_frees_the_worker_of_a_timed_out_await", kill_on_drop_frees_the_worker),
        ("kill_on_drop_awaited_to_the_end_gives_the_result", kill_on_drop_awaited_to_the_end),
        ("kill_on_drop_on_threads_cancels_pending_and_leaves_running", kill_on_drop_on_threads),
        ("as_completed_for_async_code_with_futures_unordered_and_joinset", async_as_completed),
        ("thread_pools_run_functions_that_capture", capturing_functions_on_threads),
    ];
    run_checks(checks);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a tokio runtime")
}

fn current_thread_runtime_keeps_running() {
    let pool = ThreadPoolExecutor::new(1);
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    // The task finishes only once the runtime has run another task of its own ten times.
    let task = pool.spawn(move || gate_rx.recv_timeout(PATIENCE).is_ok());
    let ticks = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ticks);
    let outcome = runtime().block_on(async move {
        tokio::spawn(async move {
            for _ in 0..10 {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
            let _ = gate.send(());
        });
        tokio::time::timeout(PATIENCE, task).await
    });
    assert_eq!(outcome.expect("the await blocked the runtime"), Ok(true));
    assert_eq!(ticks.load(Ordering::SeqCst), 10);
}

fn cube(x: u64) -> u64 {
    x * x * x
}

fn many_futures_on_multi_thread() {
    let threads = ThreadPoolExecutor::new(4);
    let processes = ProcessPoolExecutor::new(2);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("a runtime");
    let total: u64 = runtime.block_on(async {
        let mut handles = Vec::new();
        for x in 0..300u64 {
            let future = if x % 2 == 0 { threads.submit(cube, x) } else { processes.submit(cube, x) };
            handles.push(tokio::spawn(async move { future.await }));
        }
        let mut total = 0;
        for handle in handles {
            total += handle.await.expect("the tokio task").expect("the pool task");
        }
        total
    });
    assert_eq!(total, (0..300u64).map(cube).sum::<u64>());
}

fn futures_block_on() {
    let pool = ThreadPoolExecutor::new(2);
    let future = pool.submit(cube, 3);
    // Combinators take std futures: `.into_future()` (or `.kill_on_drop()`) makes one.
    assert_eq!(futures::executor::block_on(future.into_future()), Ok(27));
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter::default());
    (Arc::clone(&counter), Waker::from(Arc::clone(&counter)))
}

/// A task that runs until the returned sender says go.
fn gated(pool: &ThreadPoolExecutor) -> (concurrent_futures::Future<u32>, std::sync::mpsc::Sender<()>) {
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    (pool.spawn(move || if gate_rx.recv_timeout(PATIENCE).is_ok() { 7 } else { 0 }), gate)
}

fn dropped_await_leaves_no_waker() {
    let pool = ThreadPoolExecutor::new(1);
    let (future, gate) = gated(&pool);
    let (counter, waker) = counting_waker();
    let mut awaiting = future.into_future();
    assert!(Pin::new(&mut awaiting).poll(&mut Context::from_waker(&waker)).is_pending());
    drop(waker);
    assert_eq!(Arc::strong_count(&counter), 2, "the future holds the waker while pending");
    drop(awaiting);
    assert_eq!(Arc::strong_count(&counter), 1, "dropping the await released its waker");
    gate.send(()).unwrap();
    pool.shutdown(true, false);
    assert_eq!(counter.0.load(Ordering::SeqCst), 0, "nobody woke a dropped await");
}

fn repoll_wakes_only_the_newest_waker() {
    let pool = ThreadPoolExecutor::new(1);
    let (future, gate) = gated(&pool);
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    let mut awaiting = future.into_future();
    assert!(Pin::new(&mut awaiting).poll(&mut Context::from_waker(&first_waker)).is_pending());
    assert!(Pin::new(&mut awaiting).poll(&mut Context::from_waker(&second_waker)).is_pending());
    assert_eq!(Arc::strong_count(&first), 2, "the first waker was replaced, not kept");
    gate.send(()).unwrap();
    assert!(
        common::eventually(PATIENCE, || second.0.load(Ordering::SeqCst) == 1),
        "the newest waker was woken"
    );
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    let ready = Pin::new(&mut awaiting).poll(&mut Context::from_waker(&second_waker));
    assert_eq!(ready, Poll::Ready(Ok(7)));
}

fn done_future_ready_at_first_poll() {
    let pool = ThreadPoolExecutor::new(1);
    let future = pool.submit(cube, 2);
    future.wait();
    let (counter, waker) = counting_waker();
    let ready = Pin::new(&mut future.into_future()).poll(&mut Context::from_waker(&waker));
    assert_eq!(ready, Poll::Ready(Ok(8)));
    assert_eq!(Arc::strong_count(&counter), 2, "no waker was stored");
}

fn spin(_: ()) -> u32 {
    loop {
        std::hint::spin_loop();
    }
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn kill_on_drop_frees_the_worker() {
    let pool = ProcessPoolExecutor::new(1);
    let before = pool.submit(pid, ()).result().unwrap();
    let mark = StartMark::new();
    let runaway = pool.submit(
        |path: String| {
            common::mark_started(&path);
            spin(())
        },
        mark.path(),
    );
    // Started in the worker, so the kill must end it (an earlier kill skips the task).
    mark.wait();
    let deadline = Duration::from_millis(100);
    let outcome = runtime().block_on(async { tokio::time::timeout(deadline, runaway.kill_on_drop()).await });
    assert!(outcome.is_err(), "the await timed out");
    // The pool's only worker was freed: the next task is answered (by a replacement).
    let after = pool.submit(pid, ()).result_timeout(PATIENCE).expect("the worker stayed busy");
    assert_ne!(before, after);
}

fn kill_on_drop_awaited_to_the_end() {
    let pool = ProcessPoolExecutor::new(1);
    let result = runtime().block_on(pool.submit(cube, 4).kill_on_drop());
    assert_eq!(result, Ok(64));
}

fn kill_on_drop_on_threads() {
    let pool = ThreadPoolExecutor::new(1);
    let (started_tx, started) = std::sync::mpsc::channel();
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let (finished_tx, finished) = std::sync::mpsc::channel();
    let running = pool.spawn(move || {
        started_tx.send(()).unwrap();
        let released = gate_rx.recv_timeout(PATIENCE).is_ok();
        finished_tx.send(released).unwrap();
    });
    started.recv_timeout(PATIENCE).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let pending = pool.spawn(move || counted.fetch_add(1, Ordering::SeqCst));
    drop(running.kill_on_drop()); // running on a thread: cannot be stopped, goes on
    drop(pending.kill_on_drop()); // pending: cancelled
    gate.send(()).unwrap();
    assert_eq!(finished.recv_timeout(PATIENCE), Ok(true), "the running task finished normally");
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the pending task never ran");
}

fn async_as_completed() {
    let pool = ThreadPoolExecutor::new(4);
    let processes = ProcessPoolExecutor::new(2);
    runtime().block_on(async {
        // futures' FuturesUnordered: results as they complete, from both pools at once.
        let mut unordered: FuturesUnordered<_> = (0..20u64)
            .map(|x| if x % 2 == 0 { pool.submit(cube, x) } else { processes.submit(cube, x) })
            .map(IntoFuture::into_future)
            .collect();
        let mut sum = 0;
        while let Some(result) = unordered.next().await {
            sum += result.unwrap();
        }
        assert_eq!(sum, (0..20u64).map(cube).sum::<u64>());

        // tokio's JoinSet: the same, with each await a tokio task.
        let mut set = tokio::task::JoinSet::new();
        for x in 0..20u64 {
            set.spawn(pool.submit(cube, x).into_future());
        }
        let mut sum = 0;
        while let Some(joined) = set.join_next().await {
            sum += joined.expect("the tokio task").expect("the pool task");
        }
        assert_eq!(sum, (0..20u64).map(cube).sum::<u64>());
    });
}

fn capturing_functions_on_threads() {
    let pool = ThreadPoolExecutor::new(2);
    let prefix = String::from("item-");
    let shared = Arc::new(vec![10u64, 20, 30]);
    let labelled = pool.submit(
        {
            let prefix = prefix.clone();
            move |i: usize| format!("{prefix}{i}")
        },
        3,
    );
    assert_eq!(labelled.result().unwrap(), "item-3");
    let looked_up: Vec<u64> = pool
        .map(
            {
                let shared = Arc::clone(&shared);
                move |i: usize| shared[i]
            },
            [2, 0, 1],
        )
        .chunksize(2)
        .map(Result::unwrap)
        .collect();
    assert_eq!(looked_up, [30, 10, 20]);
    let counts: SharedMap<String, u64> = SharedMap::new();
    let step = 5u64;
    assert_eq!(counts.update(prefix.clone(), move |n| n.unwrap_or(0) + step), 5);
    assert_eq!(counts.update(prefix, move |n| n.unwrap_or(0) + step), 10);
}
