//! Vectors of plain numbers through the codec (see `numbers`).

use super::codec::{decode, decode_owned, encode_into};
use super::numbers::Owned;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Encodes `value` after a byte that must stay, checks its size is exactly `bytes`, and
/// decodes it back (borrowed and owned).
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug + 'static>(value: T, bytes: usize) {
    let mut out = vec![9];
    encode_into(&value, &mut out).unwrap();
    assert_eq!(out.len() - 1, bytes, "{value:?} travels as its bytes and nothing else");
    assert_eq!(decode::<T>(&out[1..]).unwrap(), value);
    assert_eq!(decode_owned::<T>(Owned::Bytes(out[1..].to_vec())).unwrap(), value);
}

#[test]
fn every_number_type_travels_as_its_bytes() {
    round_trip(vec![0u8, 1, 255], 3);
    round_trip(vec![u16::MAX, 0, 7], 6);
    round_trip(vec![u32::MAX, 1], 8);
    round_trip(vec![u64::MAX, 1 << 40], 16);
    round_trip(vec![i8::MIN, -1, i8::MAX], 3);
    round_trip(vec![i16::MIN, -1], 4);
    round_trip(vec![i32::MIN, -1], 8);
    round_trip(vec![i64::MIN, -1, 0], 24);
    round_trip(vec![1.5f32, -0.0, f32::INFINITY], 12);
    round_trip(vec![1.5f64, -0.0, f64::NEG_INFINITY, f64::MIN_POSITIVE], 32);
    round_trip(Vec::<f64>::new(), 0);
    round_trip(vec![1u32, 2, 3].into_boxed_slice(), 12);
    let mut out = Vec::new();
    encode_into(&vec![1u32, 0x0203_0405], &mut out).unwrap();
    assert_eq!(out, [1, 0, 0, 0, 5, 4, 3, 2], "little-endian, one after another");
}

#[test]
fn floats_come_back_bit_for_bit() {
    let odd = [f64::NAN, -f64::NAN, f64::from_bits(0x7ff0_0000_0000_0001), -0.0, 0.0, f64::INFINITY];
    let mut out = Vec::new();
    encode_into(&odd.to_vec(), &mut out).unwrap();
    let back: Vec<f64> = decode(&out).unwrap();
    assert_eq!(back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(), odd.map(f64::to_bits));
    let odd = [f32::NAN, f32::from_bits(0xffc0_0001), -0.0];
    let mut out = Vec::new();
    encode_into(&odd.to_vec(), &mut out).unwrap();
    let back: Vec<f32> = decode(&out).unwrap();
    assert_eq!(back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(), odd.map(f32::to_bits));
}

#[test]
fn arrays_of_numbers_travel_as_their_bytes() {
    round_trip(vec![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]], 24);
    round_trip(vec![[1u8, 2], [3, 4]], 4);
    round_trip(vec![[-1i64; 4]; 3], 96);
    round_trip(vec![[0.5f64; 16]].into_boxed_slice(), 128);
    round_trip(Vec::<[i16; 9]>::new(), 0);
}

#[test]
fn other_vectors_keep_their_own_form() {
    // usize (64 bits on the wire, checked on the way in), 128-bit numbers, nested vectors
    // and options go through the general format as before.
    let mut out = Vec::new();
    encode_into(&vec![1usize, 2], &mut out).unwrap();
    assert_ne!(out.len(), 16);
    for value in [vec![u128::MAX], vec![7]] {
        let mut out = Vec::new();
        encode_into(&value, &mut out).unwrap();
        assert_eq!(decode::<Vec<u128>>(&out).unwrap(), value);
    }
    let nested = vec![vec![1u32, 2], vec![], vec![3]];
    let mut out = Vec::new();
    encode_into(&nested, &mut out).unwrap();
    assert_eq!(decode::<Vec<Vec<u32>>>(&out).unwrap(), nested);
    let maybe = Some(vec![-1i16, 2]);
    let mut out = Vec::new();
    encode_into(&maybe, &mut out).unwrap();
    assert_eq!(decode::<Option<Vec<i16>>>(&out).unwrap(), maybe);
}

#[test]
fn bytes_that_are_not_whole_numbers_are_an_error() {
    assert!(decode::<Vec<u32>>(&[1, 2, 3, 4, 5]).unwrap_err().contains("whole number"));
    assert!(decode::<Vec<f64>>(&[0; 7]).unwrap_err().contains("7 bytes"));
    assert!(decode::<Vec<[f32; 3]>>(&[0; 16]).is_err());
    assert!(decode::<Box<[i16]>>(&[0; 3]).is_err());
    assert_eq!(decode::<Vec<u16>>(&[]).unwrap(), Vec::<u16>::new());
    assert!(decode_owned::<Vec<u64>>(Owned::Bytes(vec![0; 9])).is_err());
}

#[test]
fn a_corrupt_item_in_a_batch_fails_alone() {
    use super::batch::Batch;
    let mut batch = Batch::default();
    batch.push(&vec![1u32, 2]).unwrap();
    batch.push_encoded(&[1, 2, 3, 4, 5]);
    batch.push(&vec![3u32]).unwrap();
    let decoded: Vec<Result<Vec<u32>, String>> = batch.items().map(|item| decode(item.unwrap())).collect();
    assert_eq!(decoded[0], Ok(vec![1, 2]));
    assert!(decoded[1].as_ref().unwrap_err().contains("5 bytes"));
    assert_eq!(decoded[2], Ok(vec![3]));
}

#[test]
fn vectors_of_numbers_inside_a_struct_travel_at_fixed_width() {
    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Samples {
        name: String,
        values: Vec<f64>,
        counts: Vec<u32>,
    }
    let value = Samples { name: "ab".into(), values: vec![0.5; 100], counts: vec![u32::MAX; 100] };
    // name: 8 + 2; values: 8 + 800; counts: 8 + 400 (a varint would take 5 bytes each).
    round_trip(value, 10 + 808 + 408);
    let mut truncated = Vec::new();
    encode_into(&Samples { name: String::new(), values: vec![1.0], counts: vec![] }, &mut truncated).unwrap();
    truncated.truncate(truncated.len() - 1);
    assert!(decode::<Samples>(&truncated).is_err());
}

#[test]
fn a_vector_given_to_a_batch_is_sent_from_its_own_memory() {
    use super::batch::Batch;
    let values: Vec<f64> = (0..1000).map(f64::from).collect();
    let sent = values.clone();
    let address = sent.as_ptr().cast::<u8>();
    let batch = Batch::single_owned(sent).unwrap();
    assert_eq!(batch.data().as_ptr(), address, "the batch's bytes are the vector's memory");
    assert_eq!(batch.data_len(), 8000);
    let mut copy = batch.clone();
    assert_eq!(copy, batch);
    let back: Vec<f64> = decode(batch.items().next().unwrap().unwrap()).unwrap();
    assert_eq!(back, values);
    // Framed whole, or detached and attached again, it reads the same.
    let whole: Batch = postcard::from_bytes(&postcard::to_allocvec(&batch).unwrap()).unwrap();
    assert_eq!(decode::<Vec<f64>>(whole.into_single().unwrap().bytes()).unwrap(), values);
    let data = copy.take_storage();
    let mut detached: Batch =
        postcard::from_bytes(&postcard::to_allocvec(&copy.wire(true)).unwrap()).unwrap();
    assert_eq!((detached.expected_len(), detached.align()), (Some(8000), 8), "the frame gives both");
    let block = super::block::Block::copy_of(data.bytes(), detached.align()).unwrap();
    let address = block.bytes().as_ptr();
    assert!(detached.attach(block, Vec::new(), true));
    let back: Vec<f64> = decode_owned(detached.into_single().unwrap()).unwrap();
    assert_eq!(back, values);
    assert_eq!(back.as_ptr().cast::<u8>(), address, "the block it arrived in became the vector");
    // A second item after an adopted vector: the batch copies it into a buffer of its own.
    let mut two = Batch::default();
    two.push_owned(vec![1u32, 2]).unwrap();
    two.push_owned(vec![3u32]).unwrap();
    let items: Vec<Vec<u32>> = two.items().map(|i| decode(i.unwrap()).unwrap()).collect();
    assert_eq!(items, [vec![1, 2], vec![3]]);
    let boxed: Box<[i16]> = Box::new([1, -1]);
    let batch = Batch::single_owned(boxed).unwrap();
    assert_eq!(batch.data(), [1, 0, 0xff, 0xff]);
}
