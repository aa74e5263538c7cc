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

// Sequences of plain numbers: one copy each way (`bulk`), the same bytes as element by element.

/// A sequence written element by element (`serialize_seq`, never `collect_seq`): the reference.
struct PerElement<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for PerElement<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        self.0.iter().try_for_each(|element| seq.serialize_element(element))?;
        seq.end()
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Packed {
    name: String,
    samples: Vec<f64>,
    points: Vec<[f32; 3]>,
    small: Box<[i16]>,
    nested: Vec<Vec<u32>>,
    maybe: Option<Vec<u8>>,
    by_key: BTreeMap<u8, Vec<i64>>,
}

/// `Packed` with every sequence of numbers written element by element.
#[derive(Serialize)]
struct PackedReference<'a> {
    name: &'a str,
    samples: PerElement<'a, f64>,
    points: PerElement<'a, [f32; 3]>,
    small: PerElement<'a, i16>,
    nested: PerElement<'a, PerElement<'a, u32>>,
    maybe: Option<PerElement<'a, u8>>,
    by_key: BTreeMap<u8, PerElement<'a, i64>>,
}

/// The bytes of `value` written element by element (`nested` holds its inner references).
fn reference_bytes<'a>(value: &'a Packed, nested: &'a mut Vec<PerElement<'a, u32>>) -> Vec<u8> {
    nested.extend(value.nested.iter().map(|inner| PerElement(inner.as_slice())));
    bytes_of(&PackedReference {
        name: &value.name,
        samples: PerElement(&value.samples),
        points: PerElement(&value.points),
        small: PerElement(&value.small),
        nested: PerElement(nested),
        maybe: value.maybe.as_deref().map(PerElement),
        by_key: value.by_key.iter().map(|(k, v)| (*k, PerElement(v.as_slice()))).collect(),
    })
}

/// The sequences `bulk` wrote and read while `value` was written and read back.
fn one_copy_count<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) -> [usize; 2] {
    super::bulk::TAKEN.with(|taken| taken.set([0, 0]));
    assert_eq!(&read::<T>(&bytes_of(value)).unwrap(), value);
    super::bulk::TAKEN.with(|taken| taken.get())
}

fn packed() -> Packed {
    Packed {
        name: "probe".into(),
        samples: vec![0.5, -0.0, f64::MAX, f64::MIN_POSITIVE],
        points: vec![[1.0, -2.0, 3.5], [0.0; 3]],
        small: Box::new([i16::MIN, -1, 0, i16::MAX]),
        nested: vec![vec![1, 2], vec![], vec![u32::MAX]],
        maybe: Some(vec![0, 255]),
        by_key: BTreeMap::from([(1, vec![i64::MIN]), (2, vec![])]),
    }
}

#[test]
fn number_sequences_anywhere_in_a_value_take_one_copy_and_come_back() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Message {
        Stop,
        Values(Vec<u64>),
        Named { id: u32, values: Vec<u64> },
    }
    let empty = Packed {
        name: String::new(),
        samples: vec![],
        points: vec![],
        small: Box::new([]),
        nested: vec![vec![]],
        maybe: None,
        by_key: BTreeMap::new(),
    };
    for value in [packed(), empty] {
        round_trip(value.clone());
        let sequences = 3 + value.nested.len() + usize::from(value.maybe.is_some()) + value.by_key.len();
        assert_eq!(one_copy_count(&value), [sequences; 2], "{value:?}");
    }
    round_trip(Message::Values(vec![u64::MAX, 0]));
    assert_eq!(one_copy_count(&Message::Named { id: 7, values: vec![1, 2] }), [1, 1]);
    assert_eq!(one_copy_count(&Message::Stop), [0, 0]);
    assert_eq!(one_copy_count(&(vec![[1u8; 16]], Some(vec![-1i32]))), [2, 2]);
    // `usize` and `u128` are not plain, and a `VecDeque` is not a slice: element by element.
    assert_eq!(one_copy_count(&(vec![1usize], vec![1u128])), [0, 0]);
    assert_eq!(one_copy_count(&std::collections::VecDeque::from([1.5f64])), [0, 0]);
}

#[test]
fn the_one_copy_bytes_are_the_element_by_element_bytes() {
    let value = packed();
    let bytes = bytes_of(&value);
    super::bulk::TAKEN.with(|taken| taken.set([0, 0]));
    assert_eq!(bytes, reference_bytes(&value, &mut Vec::new()));
    assert_eq!(super::bulk::TAKEN.with(|taken| taken.get()), [0, 0], "the reference took the fast path");
    let odd = [f64::NAN, -f64::NAN, f64::from_bits(1), -0.0];
    assert_eq!(bytes_of(&odd.to_vec()), bytes_of(&PerElement(&odd)));
    assert_eq!(bytes_of(&vec![[7u16; 9]; 2]), bytes_of(&PerElement(&[[7u16; 9]; 2])));
}

#[test]
fn a_vec_f64_built_by_a_visitor_of_its_own_is_read_element_by_element() {
    // A `Vec<f64>` that travels as `f32`s: its visitor's value is a `Vec<f64>`, but its elements
    // are not `f64`s, so it must not be read as one block of them.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Narrow(#[serde(serialize_with = "as_f32", deserialize_with = "from_f32")] Vec<f64>);
    fn as_f32<S: serde::Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|&v| v as f32))
    }
    fn from_f32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        struct Widen;
        impl<'de> serde::de::Visitor<'de> for Widen {
            type Value = Vec<f64>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("f32s")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
                std::iter::from_fn(|| seq.next_element::<f32>().transpose())
                    .map(|v| v.map(f64::from))
                    .collect()
            }
        }
        d.deserialize_seq(Widen)
    }
    round_trip(Narrow(vec![1.5, -2.0, 0.25]));
    assert_eq!(one_copy_count(&Narrow(vec![1.5])), [0, 0]);
}

#[test]
fn corrupt_number_sequences_are_errors_without_a_big_allocation() {
    // Each count, if it were trusted, would allocate far more than this process has (an abort):
    // the count times the width overflows a u64, or exceeds the bytes left.
    let with_count = |count: u64, tail: usize| [&count.to_le_bytes()[..], &vec![0; tail]].concat();
    for count in [u64::MAX, u64::MAX / 8 + 1, 1 << 61, 1 << 40, 3] {
        let error = read::<Vec<f64>>(&with_count(count, 16)).unwrap_err().0;
        assert!(error.contains(&format!("a length of {count} values of 8 bytes")), "{error}");
    }
    assert!(read::<Vec<[f64; 16]>>(&with_count(1 << 57, 256)).is_err(), "2^57 x 128 bytes is 2^64");
    assert!(read::<Box<[u32]>>(&with_count(5, 16)).is_err(), "5 u32 declared, 16 bytes there");
    assert_eq!(read::<Vec<f64>>(&with_count(2, 16)).unwrap(), [0.0; 2]);
    // Inside a struct, and cut short anywhere (the element-by-element path reads the same way).
    let mut bytes = bytes_of(&packed());
    let at = 8 + "probe".len();
    bytes[at..at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(read::<Packed>(&bytes).unwrap_err().0.contains("a length of"));
    let bytes = bytes_of(&packed());
    assert!((0..bytes.len()).all(|cut| read::<Packed>(&bytes[..cut]).is_err()));
}

#[test]
fn arbitrary_number_sequences_match_the_element_by_element_bytes() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let strategy = (
        prop::collection::vec(any::<f64>(), 0..64),
        prop::collection::vec(any::<[f32; 3]>(), 0..16),
        prop::collection::vec(any::<i16>(), 0..32),
        prop::collection::vec(prop::collection::vec(any::<u32>(), 0..8), 0..6),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..32)),
        prop::collection::btree_map(any::<u8>(), prop::collection::vec(any::<i64>(), 0..8), 0..4),
        ".{0,8}",
    );
    let mut runner = TestRunner::new(Config { cases: 96, ..Config::default() });
    runner
        .run(&strategy, |(samples, points, small, nested, maybe, by_key, name)| {
            let value = Packed { name, samples, points, small: small.into(), nested, maybe, by_key };
            let bytes = bytes_of(&value);
            prop_assert_eq!(&bytes, &reference_bytes(&value, &mut Vec::new()));
            // Floats bit for bit (NaN is not equal to itself).
            prop_assert_eq!(bytes_of(&read::<Packed>(&bytes).unwrap()), bytes.clone());
            prop_assert!(read::<Packed>(&bytes[..bytes.len() - 1]).is_err());
            Ok(())
        })
        .unwrap();
}
