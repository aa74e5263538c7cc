//! Vectors of plain numbers through a process pool, as a user sends them: each number type as
//! an argument and a result, arrays of them, and inside a struct. A worker is this binary
//! re-executed, so `main` calls `init()` first (`harness = false`).

mod common;

use common::Check;
use concurrent_futures::{ProcessPoolExecutor, TaskError};
use serde::{Deserialize, Serialize};

fn main() {
    concurrent_futures::init();
    let checks: &[Check] = &[
        ("every_number_type_there_and_back", every_number_type_there_and_back),
        ("floats_come_back_bit_for_bit", floats_come_back_bit_for_bit),
        ("arrays_and_boxed_slices", arrays_and_boxed_slices),
        ("a_struct_holding_vectors_of_numbers", a_struct_holding_vectors_of_numbers),
        ("large_vectors_both_ways", large_vectors_both_ways),
        ("a_map_of_vectors", a_map_of_vectors),
        ("large_values_of_every_alignment_and_size_around_the_pieces", large_values_of_every_size),
    ];
    common::run_checks(checks);
}

fn pool() -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder().max_workers(2).build().expect("a process pool")
}

/// Each element plus one (wrapping), so that a result is not just the argument sent back.
macro_rules! bump {
    ($name:ident, $t:ty, $one:expr) => {
        fn $name(v: Vec<$t>) -> Vec<$t> {
            v.into_iter().map(|x| x.wrapping_add($one)).collect()
        }
    };
}
bump!(bump_u8, u8, 1);
bump!(bump_u16, u16, 1);
bump!(bump_u32, u32, 1);
bump!(bump_u64, u64, 1);
bump!(bump_i8, i8, 1);
bump!(bump_i16, i16, 1);
bump!(bump_i32, i32, 1);
bump!(bump_i64, i64, 1);

fn half_f32(v: Vec<f32>) -> Vec<f32> {
    v.into_iter().map(|x| x / 2.0).collect()
}

fn half_f64(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| x / 2.0).collect()
}

fn every_number_type_there_and_back() {
    let pool = pool();
    macro_rules! check {
        ($f:ident, $t:ty) => {
            let v: Vec<$t> = vec![<$t>::MIN, <$t>::MAX, 0, 1, 7];
            let expected: Vec<$t> = v.iter().map(|x| x.wrapping_add(1)).collect();
            assert_eq!(pool.submit($f, v).result().unwrap(), expected, stringify!($t));
            assert_eq!(pool.submit($f, Vec::new()).result().unwrap(), Vec::<$t>::new());
        };
    }
    check!(bump_u8, u8);
    check!(bump_u16, u16);
    check!(bump_u32, u32);
    check!(bump_u64, u64);
    check!(bump_i8, i8);
    check!(bump_i16, i16);
    check!(bump_i32, i32);
    check!(bump_i64, i64);
    assert_eq!(pool.submit(half_f32, vec![3.0, -1.0, 1e30]).result().unwrap(), [1.5, -0.5, 5e29]);
    assert_eq!(pool.submit(half_f64, vec![3.0, -1.0, 1e300]).result().unwrap(), [1.5, -0.5, 5e299]);
}

fn same_f64(v: Vec<f64>) -> Vec<f64> {
    v
}

fn same_f32(v: Box<[f32]>) -> Box<[f32]> {
    v
}

fn floats_come_back_bit_for_bit() {
    let pool = pool();
    let odd = vec![f64::NAN, -f64::NAN, f64::from_bits(0x7ff0_0000_0000_0001), -0.0, f64::INFINITY, f64::MIN];
    let back = pool.submit(same_f64, odd.clone()).result().unwrap();
    assert_eq!(
        back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
        odd.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
    );
    let odd: Box<[f32]> = Box::new([f32::NAN, f32::from_bits(0xffc0_0001), -0.0, f32::NEG_INFINITY]);
    let back = pool.submit(same_f32, odd.clone()).result().unwrap();
    assert_eq!(
        back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
        odd.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
    );
}

fn centroid(points: Vec<[f32; 3]>) -> [f32; 3] {
    let n = points.len() as f32;
    let sum = points.iter().fold([0.0; 3], |a, p| [a[0] + p[0], a[1] + p[1], a[2] + p[2]]);
    sum.map(|s| s / n)
}

#[allow(clippy::boxed_local, reason = "a boxed slice is what this check sends")]
fn transpose(m: Box<[[i64; 2]]>) -> Box<[[i64; 2]]> {
    m.iter().map(|[a, b]| [*b, *a]).collect()
}

fn arrays_and_boxed_slices() {
    let pool = pool();
    let points = vec![[0.0f32, 0.0, 0.0], [2.0, 4.0, 6.0]];
    assert_eq!(pool.submit(centroid, points).result().unwrap(), [1.0, 2.0, 3.0]);
    let m: Box<[[i64; 2]]> = Box::new([[1, -2], [i64::MAX, i64::MIN]]);
    assert_eq!(&*pool.submit(transpose, m).result().unwrap(), [[-2, 1], [i64::MIN, i64::MAX]]);
}

/// A struct argument and result holding vectors of numbers among other fields.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Signal {
    name: String,
    rate: f64,
    samples: Vec<f64>,
    marks: Vec<u32>,
    nested: Vec<Vec<i16>>,
    maybe: Option<Vec<i16>>,
}

fn scaled(mut s: Signal) -> Signal {
    s.samples.iter_mut().for_each(|x| *x *= 2.0);
    s.marks.push(s.marks.len() as u32);
    s.name.push('!');
    s
}

fn a_struct_holding_vectors_of_numbers() {
    let pool = pool();
    let signal = Signal {
        name: "mic".into(),
        rate: 48e3,
        samples: (0..10_000).map(|i| i as f64 * 0.25).collect(),
        marks: vec![1, u32::MAX],
        nested: vec![vec![1, -1], vec![], vec![i16::MIN]],
        maybe: Some(vec![-5, 5]),
    };
    let mut expected = signal.clone();
    expected.samples.iter_mut().for_each(|x| *x *= 2.0);
    expected.marks.push(2);
    expected.name.push('!');
    assert_eq!(pool.submit(scaled, signal).result().unwrap(), expected);
    let empty = Signal {
        name: String::new(),
        rate: 0.0,
        samples: vec![],
        marks: vec![],
        nested: vec![],
        maybe: None,
    };
    let back = pool.submit(scaled, empty).result().unwrap();
    assert_eq!(back.marks, [0]);
    // Vectors of megabytes inside it travel apart from its other bytes, both ways.
    for len in [(1 << 20) / 8 - 1, (1 << 20) / 8, 3 << 17] {
        let large = Signal {
            name: "array".into(),
            rate: 1.0,
            samples: (0..len).map(|i| i as f64).collect(),
            marks: (0..len as u32 / 2).collect(),
            nested: vec![vec![7; len]],
            maybe: Some(vec![-1; len]),
        };
        let mut expected = large.clone();
        expected.samples.iter_mut().for_each(|x| *x *= 2.0);
        expected.marks.push(len as u32 / 2);
        expected.name.push('!');
        assert!(pool.submit(scaled, large).result().unwrap() == expected, "{len} values");
    }
    // A map's chunk of one item (and the last, short chunk) whose result holds such a vector.
    let lens = vec![(1 << 20) / 8, 3 << 17, 10, (1 << 20) / 8 + 1, 5];
    for chunksize in [1, 2] {
        let signals: Vec<Signal> =
            pool.map(signal_of, lens.clone()).chunksize(chunksize).map(Result::unwrap).collect();
        let expected: Vec<Signal> = lens.iter().map(|&len| signal_of(len)).collect();
        assert!(signals == expected, "chunks of {chunksize}");
    }
    // One such result beside failed items of its chunk, before and after it.
    for lens in [vec![0, (1 << 20) / 8], vec![(1 << 20) / 8, 0], vec![0, 3 << 17, 0]] {
        let results: Vec<_> = pool.map(signal_or_panic, lens.clone()).chunksize(lens.len()).collect();
        for (len, result) in lens.into_iter().zip(results) {
            match result {
                Ok(signal) => assert!(len > 0 && signal == signal_of(len), "{len} values"),
                Err(TaskError::Panicked(why)) => assert!(len == 0, "{len} values: {why}"),
                Err(other) => panic!("{len} values: {other:?}"),
            }
        }
    }
}

/// The signal of `len` values, except that a `len` of 0 panics (its item fails).
fn signal_or_panic(len: usize) -> Signal {
    assert!(len > 0, "no signal of no values");
    signal_of(len)
}

fn signal_of(len: usize) -> Signal {
    Signal {
        name: format!("{len}"),
        rate: 2.0,
        samples: vec![0.5; len],
        marks: vec![],
        nested: vec![],
        maybe: Some(vec![3; len]),
    }
}

fn sum_u32(v: Vec<u32>) -> u64 {
    v.iter().map(|&x| u64::from(x)).sum()
}

fn large_vectors_both_ways() {
    // Above the size from which bytes travel beside their frame (256 KiB), both ways.
    let pool = pool();
    let words: Vec<u32> = (0..3_000_000u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
    let expected: Vec<u32> = words.iter().map(|x| x.wrapping_add(1)).collect();
    assert_eq!(pool.submit(sum_u32, words.clone()).result().unwrap(), sum_u32(words.clone()));
    assert_eq!(pool.submit(bump_u32, words).result().unwrap(), expected);
    let floats: Vec<f64> = (0..1_000_000).map(|i| f64::from(i) / 3.0).collect();
    assert_eq!(pool.submit(same_f64, floats.clone()).result().unwrap(), floats);
}

fn a_map_of_vectors() {
    let pool = pool();
    let inputs: Vec<Vec<i32>> = (0..100).map(|n| (0..n).collect()).collect();
    let results: Vec<Vec<i32>> =
        pool.map(bump_i32, inputs.clone()).chunksize(7).map(Result::unwrap).collect();
    let expected: Vec<Vec<i32>> = inputs.iter().map(|v| v.iter().map(|x| x + 1).collect()).collect();
    assert_eq!(results, expected);
}

fn same<T>(value: T) -> T {
    value
}

/// Sizes in bytes around where values start to travel apart from their frame (256 KiB) and
/// around the pieces they then travel in (a socket's buffer, about 200 KiB here), plus a few
/// more drawn at random: each element type (every alignment, widths 1 to 16) there and back,
/// alone and inside a tuple with a string, and a whole chunk of a map.
fn large_values_of_every_size() {
    let pool = pool();
    let mut sizes: Vec<usize> = vec![(256 << 10) - 48, 256 << 10, (256 << 10) + 48, 3 << 20];
    for pieces in [1usize, 2, 3] {
        sizes.extend([pieces * 204_800 - 48, pieces * 208_896, pieces * 208_896 + 48, pieces * 212_992 + 96]);
    }
    let mut seed = 0x9e37_79b9_u64;
    sizes.extend((0..4).map(|_| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (256 << 10) + (seed >> 40) as usize % (2 << 20)
    }));
    macro_rules! check {
        ($t:ty, $make:expr) => {
            for &bytes in &sizes {
                let len = bytes / size_of::<$t>();
                let values: Vec<$t> = (0..len).map($make).collect();
                let back = pool.submit(same::<Vec<$t>>, values.clone()).result().unwrap();
                assert!(back == values, "{} of {len} came back different", stringify!($t));
                let wrapped = ("label".to_owned(), values);
                let back = pool.submit(same::<(String, Vec<$t>)>, wrapped.clone()).result().unwrap();
                assert!(back == wrapped, "a tuple with {} of {len} came back different", stringify!($t));
            }
        };
    }
    check!(u8, |i| i as u8);
    check!(i16, |i| i as i16);
    check!(f32, |i| i as f32 * 0.5);
    check!(f64, |i| i as f64 / 3.0);
    check!([f32; 3], |i| [i as f32, -(i as f32), 0.25]);
    check!([u64; 2], |i| [i as u64, u64::MAX - i as u64]);
    let chunk: Vec<Vec<f64>> = (0..6).map(|i| vec![f64::from(i); 70_000]).collect();
    let back: Vec<Vec<f64>> =
        pool.map(same::<Vec<f64>>, chunk.clone()).chunksize(6).map(Result::unwrap).collect();
    assert_eq!(back, chunk, "a chunk of several large items");
}
