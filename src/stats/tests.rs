//! Unit tests of the counts: how a task moves through them, shards, `try_submit`.

use super::*;

#[test]
fn a_task_moves_from_queued_to_busy_to_an_outcome() {
    let counters = Counters::default();
    counters.submitted(1);
    counters.submitted(5);
    assert_eq!(counters.snapshot(2, 1).queued, 6);
    counters.started(5);
    let busy = counters.snapshot(2, 1);
    assert_eq!((busy.queued, busy.busy), (1, 1));
    counters.finished(4, 1);
    counters.dropped(1, true);
    let done = counters.snapshot(2, 1);
    assert_eq!((done.queued, done.busy, done.completed, done.failed, done.cancelled), (0, 0, 4, 1, 1));
}

#[test]
fn a_worker_s_shard_adds_to_the_shared_counts_and_stays_after_it_ends() {
    let counters = Counters::default();
    counters.submitted(4);
    let shard = counters.shard();
    let own = shard.recorder();
    own.started(3);
    assert_eq!((counters.snapshot(1, 1).busy, counters.snapshot(1, 1).queued), (1, 1));
    own.finished(2, 1);
    drop(shard);
    assert!(counters.shards.lock().is_empty(), "an ended worker's shard leaves the list");
    counters.shared().started(1);
    counters.shared().finished(1, 0);
    let done = counters.snapshot(1, 0);
    assert_eq!((done.queued, done.busy, done.completed, done.failed), (0, 0, 3, 1));
}

#[test]
fn with_max_queued_a_shard_s_starts_make_room_for_submits() {
    let counters = Counters::new(true);
    assert!(counters.try_submit(2, 2));
    assert!(!counters.try_submit(1, 2), "the queue is full");
    let shard = counters.shard();
    shard.recorder().started(1);
    assert!(counters.try_submit(1, 2), "a start made room");
    assert_eq!(counters.snapshot(1, 1).queued, 2);
}

#[test]
fn a_start_seen_before_its_submit_reads_as_nothing_queued() {
    let counters = Counters::default();
    counters.started(1);
    assert_eq!(counters.snapshot(1, 1).queued, 0);
    counters.submitted(1);
    assert_eq!(counters.snapshot(1, 1).queued, 0);
}

#[test]
fn refused_tasks_count_as_failed_and_replacements_are_counted() {
    let counters = Counters::default();
    counters.submitted(3);
    counters.dropped(3, false);
    counters.replaced();
    let stats = counters.snapshot(4, 0);
    assert_eq!((stats.queued, stats.failed, stats.workers_replaced, stats.max_workers), (0, 3, 1, 4));
}

#[test]
fn try_submit_keeps_the_queue_within_its_cap_but_lets_a_big_chunk_into_an_empty_one() {
    let counters = Counters::default();
    assert!(counters.try_submit(2, 3));
    assert!(counters.try_submit(1, 3));
    assert!(!counters.try_submit(1, 3), "full");
    counters.started(1);
    assert!(!counters.try_submit(2, 3), "one free place, two asked");
    assert!(counters.try_submit(1, 3));
    counters.started(3);
    assert!(counters.try_submit(10, 3), "an empty queue takes a chunk bigger than its cap");
    assert_eq!(counters.snapshot(1, 1).queued, 10);
}
