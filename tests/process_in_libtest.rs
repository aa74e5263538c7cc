//! Process pools inside ordinary `#[test]` functions (libtest or nextest): each test that uses
//! a process pool calls `concurrent_futures::init()` as its first line. Its workers re-run just
//! that test, where `init()` turns them into workers.

use concurrent_futures::{ProcessPoolExecutor, TaskError};

fn triple(x: u32) -> u32 {
    x * 3
}

#[test]
fn a_process_pool_works_inside_a_test() {
    concurrent_futures::init();
    let pool = ProcessPoolExecutor::new(2);
    let results: Vec<u32> = pool.map(triple, 0..20).chunksize(3).map(Result::unwrap).collect();
    assert_eq!(results, (0..20).map(|x| x * 3).collect::<Vec<_>>());
}

#[test]
fn workers_are_other_processes() {
    concurrent_futures::init();
    let pool = ProcessPoolExecutor::new(1);
    let pid = pool.submit(|()| std::process::id(), ()).result().unwrap();
    assert_ne!(pid, std::process::id());
}

#[test]
fn a_crash_in_a_test_worker_is_contained() {
    concurrent_futures::init();
    let pool = ProcessPoolExecutor::new(1);
    let crashed = pool.submit(|()| -> u32 { std::process::abort() }, ());
    assert!(matches!(crashed.result(), Err(TaskError::WorkerDied(_))));
    assert_eq!(pool.submit(triple, 2).result(), Ok(6));
}

#[test]
fn thread_pool_tests_beside_it_are_unaffected() {
    let pool = concurrent_futures::ThreadPoolExecutor::new(2);
    assert_eq!(pool.submit(triple, 5).result(), Ok(15));
}
