//! Tests of [`Batch`](super::Batch): items apart in one buffer, adopted vectors, detaching.

use super::*;

#[test]
fn batches_hold_items_apart_and_resend_their_tails() {
    let mut batch = Batch::default();
    for word in ["a", "bb", "", "dddd"] {
        batch.push(&word.to_owned()).unwrap();
    }
    let words: Vec<String> = batch.items().map(|item| codec::decode(item.unwrap()).unwrap()).collect();
    assert_eq!(words, ["a", "bb", "", "dddd"]);
    let tail: Vec<String> = batch.tail(2).items().map(|item| codec::decode(item.unwrap()).unwrap()).collect();
    assert_eq!(tail, ["", "dddd"]);
}

#[test]
fn numbers_need_no_ends_and_mixed_widths_switch_to_ends() {
    let mut numbers = Batch::default();
    for n in 0..100u64 {
        numbers.push(&n).unwrap();
    }
    assert_eq!(numbers.layout, Layout::Fixed { width: 8, count: 100 });
    let back: Vec<u64> = numbers.items().map(|i| codec::decode(i.unwrap()).unwrap()).collect();
    assert_eq!(back, (0..100).collect::<Vec<_>>());
    let mut mixed = Batch::default();
    for word in ["ab", "cd", "efg", "h"] {
        mixed.push(&word.to_owned()).unwrap();
    }
    assert!(matches!(mixed.layout, Layout::Ends(_)));
    let back: Vec<String> = mixed.items().map(|i| codec::decode(i.unwrap()).unwrap()).collect();
    assert_eq!(back, ["ab", "cd", "efg", "h"]);
    assert_eq!(mixed.tail(1).items().count(), 3);
}

#[test]
fn bytes_are_adopted_and_detached_without_a_copy() {
    let payload = vec![7u8; 1000];
    let address = payload.as_ptr();
    let mut batch = Batch::single_owned(payload).unwrap();
    assert_eq!(batch.data().as_ptr(), address, "the Vec<u8> became the buffer");
    let data = batch.take_storage();
    assert_eq!(data.bytes().as_ptr(), address, "taken out without a copy");
    let wire = postcard::to_allocvec(&batch.wire(true)).unwrap();
    let mut back: Batch = postcard::from_bytes(&wire).unwrap();
    assert_eq!((back.expected_len(), back.align()), (Some(1000), 1));
    let block = Block::copy_of(data.bytes(), back.align()).unwrap();
    let address = block.bytes().as_ptr();
    assert!(back.attach(block, Vec::new(), true), "the bytes fit the layout again");
    let whole = back.into_single().unwrap().into_vec::<u8>().unwrap();
    assert_eq!(whole.as_ptr(), address, "and came back out whole, the block itself");
    let mut wrong = Batch::single_owned(vec![1u8; 10]).unwrap();
    let _ = wrong.take_storage();
    assert!(
        !wrong.attach(Block::copy_of(&[1; 11], 1).unwrap(), Vec::new(), true),
        "bytes that do not fit the layout are refused"
    );
    let mut numbers = Batch::default();
    numbers.push_owned(5u64).unwrap();
    numbers.push_owned(6u64).unwrap();
    assert_eq!(numbers.len(), 2);
    assert!(numbers.into_single().is_none());
}

#[test]
fn each_item_visits_what_items_yields_and_stops_at_a_broken_bound() {
    let mut numbers = Batch::default();
    (0..5u32).for_each(|n| numbers.push(&n).unwrap());
    let mut mixed = Batch::default();
    ["a", "", "ccc"].iter().for_each(|w| mixed.push(&w.to_string()).unwrap());
    let bad = Batch { data: ByteBuf(vec![1, 2]), layout: Layout::Ends(vec![1, 9, 2]), ..Batch::default() };
    let short = Batch {
        data: ByteBuf(vec![1, 2, 3]),
        layout: Layout::Fixed { width: 2, count: 2 },
        ..Batch::default()
    };
    for batch in [numbers, mixed, bad, short] {
        let mut seen = Vec::new();
        let visited = batch.each_item(|item| seen.push(item.to_vec()));
        let expected: Vec<Vec<u8>> = batch.items().map_while(|i| i.map(<[u8]>::to_vec)).collect();
        assert_eq!((visited, seen), (expected.len(), expected));
    }
}

#[test]
fn a_batch_pointing_outside_its_buffer_is_caught() {
    let bad = Batch { data: ByteBuf(vec![1, 2]), layout: Layout::Ends(vec![1, 9, 2]), ..Batch::default() };
    assert!(!bad.is_well_formed());
    assert_eq!(bad.items().filter(Option::is_some).count(), 1);
    let backwards = Batch { data: ByteBuf(vec![1, 2]), layout: Layout::Ends(vec![2, 1]), ..Batch::default() };
    assert!(!backwards.is_well_formed());
    let too_many = Batch {
        data: ByteBuf(vec![1, 2, 3]),
        layout: Layout::Fixed { width: 2, count: 2 },
        ..Batch::default()
    };
    assert!(!too_many.is_well_formed());
    let huge = Batch {
        data: ByteBuf(vec![]),
        layout: Layout::Fixed { width: 0, count: u32::MAX },
        ..Batch::default()
    };
    assert!(huge.is_well_formed(), "zero-width items take no room, and checking them takes no walk");
}
