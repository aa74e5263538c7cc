//! Tests of the link: detached bytes attached to their frame, and frames kept in order.

use super::*;
use crate::remote::block::Block;

fn detached(values: &Batch) -> FromWorker {
    let mut values = values.clone();
    values.take_storage();
    FromWorker::Items { id: 3, values, failures: Vec::new(), detached: true }
}

#[test]
fn detached_bytes_that_fit_make_the_frame_whole() {
    let values = Batch::single(&vec![7u8; 1000]).unwrap();
    match attach(detached(&values), Block::copy_of(values.data(), 1).unwrap().into()) {
        Event::Frame(FromWorker::Items { values: whole, detached: false, .. }) => {
            assert_eq!(whole, values)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn detached_bytes_that_do_not_fit_are_garbage() {
    let values = Batch::single(&vec![7u8; 1000]).unwrap();
    for wrong in [0, 1, 999, 1001, 1 << 16] {
        let event = attach(detached(&values), Block::copy_of(&vec![0; wrong], 1).unwrap().into());
        assert!(matches!(event, Event::Garbage(ref why) if why.contains("do not fit")), "{wrong}: {event:?}");
    }
}

/// Frames the slot writes itself and frames the writer sends arrive in the order sent.
#[test]
fn inline_and_written_frames_keep_their_order() {
    use ipc_channel::ipc::{bytes_channel, channel};
    let (tasks, tasks_rx) = bytes_channel().unwrap();
    let (control, _control_rx) = bytes_channel().unwrap();
    let (results_tx, results) = channel::<FromWorker>().unwrap();
    let (payloads_tx, payloads) = bytes_channel().unwrap();
    let mut link = Link::open(Channels { tasks, control, results, payloads }, 0).unwrap();
    let big = Arc::new(Batch::single(&vec![9u8; 512 << 10]).unwrap());
    let mut expected = Vec::new();
    for round in 0..3u8 {
        // A detached payload goes through the writer; the small frames after it wait for
        // it (the writer is busy, or the worker has not read it), then go either way.
        link.send(Outgoing { frame: vec![round, 0], detached: vec![Arc::clone(&big)] });
        expected.push(vec![round, 0]);
        expected.extend(big.data().chunks(pieces::piece_size()).map(<[u8]>::to_vec));
        for i in 1..20u8 {
            let number = link.send(Outgoing { frame: vec![round, i], detached: Vec::new() });
            expected.push(vec![round, i]);
            if i % 5 == 0 {
                // As if the worker answered: it has read up to here.
                link.read_up_to(number);
            }
        }
    }
    // Read on a thread of its own, so that a message that never comes fails the test.
    let count = expected.len();
    let (got_tx, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..count {
            let _ = got_tx.send(tasks_rx.recv());
        }
    });
    for want in expected {
        let message = got.recv_timeout(Duration::from_secs(30)).expect("a message never came");
        assert_eq!(message.unwrap(), want);
    }
    assert!(link.close(Duration::from_secs(5)));
    assert_eq!(link.delivered(), 60);
    // The worker is gone: its reader ends, and the link drops without waiting.
    drop((results_tx, payloads_tx));
}

#[test]
fn bytes_after_a_frame_that_has_none_are_garbage() {
    let event = attach(FromWorker::Ready, Block::copy_of(&[1, 2, 3], 1).unwrap().into());
    assert!(matches!(event, Event::Garbage(_)), "{event:?}");
}
