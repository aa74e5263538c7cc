use super::{read, write};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

fn bytes_of<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out).unwrap();
    out
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
    let bytes = bytes_of(&value);
    assert_eq!(read::<T>(&bytes).unwrap(), value);
    // Every strict prefix is short input, and one byte more is left over: errors, no panic.
    for cut in 0..bytes.len() {
        assert!(read::<T>(&bytes[..cut]).is_err(), "{value:?} cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(read::<T>(&longer).unwrap_err().0.contains("left over"));
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Signal {
    name: String,
    rate: f64,
    samples: Vec<f64>,
    marks: Vec<u32>,
    points: Vec<[f32; 3]>,
    nested: Vec<Vec<u32>>,
    maybe: Option<Vec<i16>>,
    flag: bool,
    letter: char,
    unit: (),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Shape {
    Empty,
    Circle(f64),
    Rect { w: u16, h: u16 },
    Pair(i8, Vec<i64>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Meters(f32);

fn signal() -> Signal {
    Signal {
        name: "mic ☃".into(),
        rate: 48e3,
        samples: vec![0.5, -0.0, f64::INFINITY],
        marks: vec![1, u32::MAX],
        points: vec![[1.0, 2.0, 3.0]],
        nested: vec![vec![1], vec![], vec![2, 3]],
        maybe: Some(vec![-1, 1]),
        flag: true,
        letter: 'λ',
        unit: (),
    }
}

#[test]
fn numbers_are_fixed_width_little_endian() {
    assert_eq!(bytes_of(&1u32), [1, 0, 0, 0]);
    assert_eq!(bytes_of(&-2i16), [0xfe, 0xff]);
    assert_eq!(bytes_of(&7usize), 7u64.to_le_bytes());
    assert_eq!(bytes_of(&vec![1u16, 2]), [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0]);
    round_trip(u128::MAX);
    round_trip(i128::MIN);
    round_trip(isize::MIN);
    round_trip(vec![u64::MAX, 0]);
    round_trip(vec![usize::MAX]);
    let odd = vec![f64::NAN, -f64::NAN, f64::from_bits(1), -0.0];
    let back: Vec<f64> = read(&bytes_of(&odd)).unwrap();
    assert_eq!(
        back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
        odd.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn structs_enums_and_containers_come_back() {
    round_trip(signal());
    round_trip(Shape::Empty);
    round_trip(Shape::Circle(2.5));
    round_trip(Shape::Rect { w: 3, h: 4 });
    round_trip(Shape::Pair(-1, vec![i64::MIN]));
    round_trip(Meters(1.5));
    round_trip((1u8, String::from("x"), vec![1u8], Some(()), None::<u8>));
    round_trip(vec![Some(1u32), None]);
    round_trip(BTreeMap::from([(1u32, "a".to_owned()), (2, "b".to_owned())]));
    round_trip(HashMap::from([("k".to_owned(), vec![1.5f32])]));
    round_trip(Vec::<Vec<u32>>::new());
    round_trip(String::new());
    round_trip(vec![String::from("ab"), String::new()]);
    round_trip(Some(vec![-3i16, 3]));
    round_trip(Box::<[u32]>::from([1, 2]));
}

#[test]
fn bad_input_is_an_error_never_a_panic_or_a_big_allocation() {
    // A count far beyond the bytes left, for a sequence, a string and a map.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend([0; 16]);
    assert!(read::<Vec<u64>>(&huge).unwrap_err().0.contains("length of"));
    assert!(read::<String>(&huge).is_err());
    assert!(read::<BTreeMap<u8, u8>>(&huge).is_err());
    let mut nine = 9u64.to_le_bytes().to_vec();
    nine.extend([0; 8]);
    assert!(read::<Vec<u8>>(&nine).is_err(), "9 bytes declared, 8 there");
    assert!(read::<Vec<u32>>(&nine).is_err(), "9 u32 declared, 8 bytes there");
    assert!(read::<bool>(&[2]).is_err());
    assert!(read::<Option<u8>>(&[2, 0]).is_err());
    assert!(read::<char>(&0xd800u32.to_le_bytes()).is_err());
    let mut not_utf8 = 2u64.to_le_bytes().to_vec();
    not_utf8.extend([0xff, 0xfe]);
    assert!(read::<String>(&not_utf8).unwrap_err().0.contains("UTF-8"));
    assert!(read::<Shape>(&9u32.to_le_bytes()).is_err(), "no variant 9");
    assert!(read::<u32>(&[1, 2, 3]).is_err());
}

#[test]
fn values_that_take_no_bytes_cannot_pile_up() {
    // A count is bounded by the bytes left, so a sequence of units is refused when written,
    // not only when read.
    assert!(write(&vec![(); 3], &mut Vec::new()).is_err());
    assert_eq!(read::<Vec<()>>(&0u64.to_le_bytes()).unwrap(), Vec::<()>::new());
    let mut many_units = u64::MAX.to_le_bytes().to_vec();
    many_units.extend([0; 8]);
    assert!(read::<Vec<()>>(&many_units).is_err());
}

#[test]
fn types_that_need_a_self_describing_format_fail_cleanly() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum Either {
        A(u32),
        B(String),
    }
    let bytes = bytes_of(&Either::A(1));
    assert!(read::<Either>(&bytes).unwrap_err().0.contains("self-describing"));
}

#[test]
fn arbitrary_values_come_back_and_every_cut_or_flip_is_handled() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    type Value = (Vec<f64>, Vec<u32>, Vec<[i16; 3]>, Option<Vec<i8>>, Vec<Vec<u64>>, String, bool);
    let strategy = (
        prop::collection::vec(any::<f64>(), 0..40),
        prop::collection::vec(any::<u32>(), 0..40),
        prop::collection::vec(any::<[i16; 3]>(), 0..10),
        prop::option::of(prop::collection::vec(any::<i8>(), 0..10)),
        prop::collection::vec(prop::collection::vec(any::<u64>(), 0..5), 0..5),
        ".{0,12}",
        any::<bool>(),
        any::<usize>(),
    );
    let mut runner = TestRunner::new(Config { cases: 128, ..Config::default() });
    runner
        .run(&strategy, |(floats, words, points, small, nested, text, flag, flip)| {
            let value: Value = (floats, words, points, small, nested, text, flag);
            let bytes = bytes_of(&value);
            let back: Value = read(&bytes).unwrap();
            // Floats bit for bit (NaN is not equal to itself).
            prop_assert_eq!(bytes_of(&back), bytes.clone());
            let cut = flip % bytes.len();
            prop_assert!(read::<Value>(&bytes[..cut]).is_err());
            let mut flipped = bytes.clone();
            flipped[cut] ^= 0x80;
            let _ = read::<Value>(&flipped);
            Ok(())
        })
        .unwrap();
}
