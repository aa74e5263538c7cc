//! Tests of segments through a batch, as the process transport moves them: a value with large
//! vectors inside, its frame, what follows the frame, and the value decoded at the other end.

use super::Batch;
use crate::remote::block::Block;
use crate::remote::codec::decode_owned;
use crate::remote::segments::{Kept, MAX_SEGMENTS, Rewrite, SEGMENT_FROM, Segment, Sink, check};
use serde::{Deserialize, Deserializer, Serialize};
use std::cell::Cell;
use std::time::Duration;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Signal {
    name: String,
    samples: Vec<f64>,
    small: Vec<u32>,
    points: Box<[[f32; 3]]>,
    bytes: Vec<u8>,
}

fn signal(len: usize) -> Signal {
    Signal {
        name: "mic".into(),
        samples: (0..len).map(|i| i as f64 * 0.5).collect(),
        small: vec![1, 2, 3],
        points: (0..len).map(|i| [i as f32, 0.5, -1.0]).collect(),
        bytes: (0..len * 8 + 1).map(|i| i as u8).collect(),
    }
}

/// `batch` sent detached and received: its frame through postcard, then what follows it, each
/// run of bytes as the receiver's pieces would fill blocks.
fn travel(batch: &Batch) -> Batch {
    travel_into_blocks(batch).0
}

/// The runs of bytes `batch` sends after its frame, in order.
fn sent_after_the_frame(batch: &Batch) -> Vec<Vec<u8>> {
    let mut runs = Vec::new();
    batch
        .send_detached(&mut |bytes: &[u8]| {
            runs.push(bytes.to_vec());
            Ok(())
        })
        .unwrap();
    runs
}

/// As [`travel`], with the addresses of the segments' blocks.
fn travel_into_blocks(batch: &Batch) -> (Batch, Vec<usize>) {
    let mut back: Batch = postcard::from_bytes(&postcard::to_allocvec(&batch.wire(true)).unwrap()).unwrap();
    let mut runs = sent_after_the_frame(batch).into_iter();
    let main = Block::copy_of(&runs.next().unwrap(), back.align()).unwrap();
    // A segment's bytes may come in several runs (zeros standing in for one are).
    let mut segment_of = |len: u64| {
        let mut bytes = Vec::new();
        while (bytes.len() as u64) < len {
            bytes.extend(runs.next().expect("a segment's bytes"));
        }
        bytes
    };
    let segments: Vec<Block> = back
        .segments()
        .iter()
        .map(|segment| Block::copy_of(&segment_of(segment.len), usize::from(segment.align)).unwrap())
        .collect();
    let intact = if segments.is_empty() { true } else { runs.next().unwrap() == [1] };
    assert!(runs.next().is_none(), "nothing more follows");
    let addresses = segments.iter().map(|block| block.bytes().as_ptr() as usize).collect();
    assert!(back.attach(main, segments, intact));
    (back, addresses)
}

#[test]
fn large_vectors_inside_a_value_travel_as_segments_and_become_the_fields() {
    let value = signal(SEGMENT_FROM / 8 + 3);
    let batch = Batch::single_owned(value.clone()).unwrap();
    let lens: Vec<u64> = batch.segments().iter().map(|segment| segment.len).collect();
    let expected = [value.samples.len() * 8, value.points.len() * 12, value.bytes.len()];
    assert_eq!(lens, expected.map(|len| len as u64), "the three large vectors, not the small one");
    assert!(batch.data().len() < 100, "the other bytes only: {}", batch.data().len());
    let (back, blocks) = travel_into_blocks(&batch);
    let decoded: Signal = decode_owned(back.into_single().unwrap()).unwrap();
    assert_eq!(decoded, value);
    let fields = [
        decoded.samples.as_ptr() as usize,
        decoded.points.as_ptr() as usize,
        decoded.bytes.as_ptr() as usize,
    ];
    assert_eq!(fields.to_vec(), blocks, "each block became its field, not copied");
}

#[test]
fn a_small_value_has_no_segments_and_a_flat_batch_reads_the_same() {
    let small = signal(1000);
    assert!(Batch::single_owned(small.clone()).unwrap().segments().is_empty());
    // A transport without segments (MPI) gets the value whole, in one batch of one item.
    let large = signal(SEGMENT_FROM / 4);
    let batch = Batch::single_owned(large.clone()).unwrap();
    let whole: Batch = postcard::from_bytes(&postcard::to_allocvec(&batch).unwrap()).unwrap();
    assert!(whole.segments().is_empty());
    assert_eq!(decode_owned::<Signal>(whole.into_single().unwrap()).unwrap(), large);
    // A batch that grows takes the value's segments inline first.
    let mut grown = Batch::single_owned(large.clone()).unwrap();
    grown.push_owned(small.clone()).unwrap();
    let items: Vec<Signal> =
        grown.items().map(|item| crate::remote::codec::decode(item.unwrap()).unwrap()).collect();
    assert_eq!(items, [large, small]);
}

/// A vector read through a visitor of its own, not serde's `Vec` visitor.
fn doubled<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Halved>::deserialize(deserializer)?.into_iter().map(|h| h.0 * 2.0).collect())
}

#[derive(Deserialize)]
struct Halved(f64);

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Custom {
    #[serde(deserialize_with = "doubled")]
    values: Vec<f64>,
    after: String,
}

#[test]
fn a_segment_read_element_by_element_reads_its_block() {
    let value = Custom { values: vec![1.5; SEGMENT_FROM / 8], after: "end".into() };
    let batch = Batch::single_owned(value).unwrap();
    assert_eq!(batch.segments().len(), 1);
    let back: Custom = decode_owned(travel(&batch).into_single().unwrap()).unwrap();
    assert!(back.values.iter().all(|&x| x == 3.0));
    assert_eq!((back.values.len(), &back.after[..]), (SEGMENT_FROM / 8, "end"));
}

/// A value whose `Serialize` behaves otherwise from its second call on (interior mutability):
/// it writes how many times it was called after its vector, and fails instead if `fails`.
struct Fickle {
    values: Vec<u16>,
    fails: bool,
    calls: Cell<u16>,
}

impl Fickle {
    fn new(fails: bool) -> Fickle {
        Fickle { values: vec![7; SEGMENT_FROM], fails, calls: Cell::new(0) }
    }
}

impl Serialize for Fickle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.calls.set(self.calls.get() + 1);
        if self.fails && self.calls.get() > 1 {
            return Err(serde::ser::Error::custom("only once"));
        }
        (&self.values, self.calls.get()).serialize(serializer)
    }
}

#[test]
fn a_value_that_writes_other_bytes_the_second_time_fails_to_decode() {
    let batch = Batch::single_owned(Fickle::new(false)).unwrap();
    assert_eq!(batch.segments().len(), 1);
    let back = travel(&batch);
    let error = decode_owned::<(Vec<u16>, u16)>(back.into_single().unwrap()).unwrap_err();
    assert!(error.contains("the same bytes"), "{error}");
}

#[test]
fn segments_a_peer_announces_out_of_place_are_refused() {
    let at = |at, len| Segment { at, len, align: 8 };
    assert!(check(&[at(8, 16), at(16, 8)], 16).is_ok());
    assert!(check(&[at(16, 8), at(8, 16)], 16).is_err(), "out of order");
    assert!(check(&[at(8, 16), at(8, 16)], 16).is_err(), "two at one place");
    assert!(check(&[at(8, 0)], 16).is_err(), "empty");
    assert!(check(&[at(17, 8)], 16).is_err(), "past the other bytes");
    let many: Vec<Segment> = (0..=MAX_SEGMENTS as u64).map(|i| at(i + 1, 8)).collect();
    assert!(check(&many, 1000).is_err(), "too many");
}

#[test]
fn segments_that_do_not_fit_their_value_are_errors_not_panics() {
    let value = signal(SEGMENT_FROM / 8);
    let batch = Batch::single_owned(value).unwrap();
    let frame = postcard::to_allocvec(&batch.wire(true)).unwrap();
    let runs = sent_after_the_frame(&batch);
    // The right blocks in the wrong places, or of the wrong lengths.
    let mut shifted: Batch = postcard::from_bytes(&frame).unwrap();
    let blocks = |runs: &[Vec<u8>]| -> Vec<Block> {
        runs[1..4].iter().map(|run| Block::copy_of(run, 1).unwrap()).collect()
    };
    let main = Block::copy_of(&runs[0], 1).unwrap();
    assert!(!shifted.attach(main.clone(), blocks(&runs)[..2].to_vec(), true), "a segment missing");
    let mut swapped = blocks(&runs);
    swapped.swap(0, 2);
    assert!(!shifted.attach(main.clone(), swapped, true), "lengths that differ from the frame's");
    // Blocks of the right lengths whose places were moved: decoding refuses the value.
    let mut moved: Batch = postcard::from_bytes(&frame).unwrap();
    moved.shift_segments_for_test(-8);
    if moved.attach(main, blocks(&runs), true) {
        assert!(decode_owned::<Signal>(moved.into_single().unwrap()).is_err());
    }
}

#[test]
fn a_value_that_cannot_be_written_again_is_an_error_wherever_it_goes_flat() {
    let once = || Batch::single_owned(Fickle::new(true)).unwrap();
    assert!(postcard::to_allocvec(&once()).is_err(), "a transport without segments");
    assert!(once().push(&5u8).unwrap_err().contains("only once"), "a batch that grows");
    let back = travel(&once());
    let error = decode_owned::<(Vec<u16>, u16)>(back.into_single().unwrap()).unwrap_err();
    assert!(error.contains("the same way"), "{error}");
}

/// Writes one byte, the first time only once it is told to go (after saying it started).
struct Held {
    started: std::sync::mpsc::SyncSender<()>,
    go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Rewrite for Held {
    fn rewrite(&self, out: &mut Vec<u8>, _: &mut dyn Sink) -> Result<(), String> {
        let _ = self.started.try_send(());
        let go = self.go.lock().unwrap();
        go.recv_timeout(Duration::from_secs(30)).map_err(|_| "never told to go".to_owned())?;
        out.push(7);
        Ok(())
    }
}

#[test]
fn a_second_sender_of_a_kept_value_waits_until_the_first_gives_it_back() {
    let (started_tx, started) = std::sync::mpsc::sync_channel(1);
    let (go, go_rx) = std::sync::mpsc::channel();
    let kept = Kept::new(Box::new(Held { started: started_tx, go: std::sync::Mutex::new(go_rx) }));
    let first = {
        let kept = kept.clone();
        std::thread::spawn(move || kept.flat())
    };
    started.recv_timeout(Duration::from_secs(30)).expect("the first sender has the value out");
    let second = {
        let kept = kept.clone();
        std::thread::spawn(move || kept.flat())
    };
    go.send(()).unwrap();
    go.send(()).unwrap();
    assert_eq!(first.join().unwrap(), Ok(vec![7]));
    assert_eq!(second.join().unwrap(), Ok(vec![7]), "the value came back to it");
}
