//! What rank 0 and the worker ranks say to each other: message tags, the frames, and the build
//! fingerprint every rank proves before any task. Depends on `process` (batches, frames).

use crate::error::TaskError;
use crate::remote::batch::Batch;
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use std::io::Read;

/// A worker rank's hello to rank 0: its build fingerprint.
pub(crate) const TAG_HELLO: i32 = 1;
/// Rank 0's verdict on a hello: go on, or exit.
pub(crate) const TAG_VERDICT: i32 = 2;
/// A task, rank 0 to a worker rank.
pub(crate) const TAG_TASK: i32 = 3;
/// A task's outcomes, a worker rank to rank 0.
pub(crate) const TAG_ANSWER: i32 = 4;
/// The job is over: a worker rank finalizes MPI and exits.
pub(crate) const TAG_STOP: i32 = 5;
/// A worker rank to rank 0, empty: it is leaving (stopped, refused, or unable to go on) and
/// finalizes MPI next. Rank 0 finalizes only once every worker rank has said it.
pub(crate) const TAG_GOODBYE: i32 = 6;

/// The most bytes one MPI message may hold (its count is a C `int`).
pub(crate) const MAX_MESSAGE: usize = i32::MAX as usize;

/// What tells one build of the program from another on any machine: the executable's size and
/// a hash of its bytes (ranks on other hosts have other inodes for the same build), and the
/// crate's version.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub(crate) size: u64,
    pub(crate) hash: u64,
    pub(crate) crate_version: String,
}

impl Fingerprint {
    /// This program's fingerprint (reads the executable once: a few milliseconds).
    pub(crate) fn of_this_program() -> std::io::Result<Fingerprint> {
        let mut file = std::fs::File::open(crate::sys::executable()?)?;
        let mut hasher = Fnv1a::default();
        let mut buffer = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            size += read as u64;
            hasher.write(&buffer[..read]);
        }
        Ok(Fingerprint { size, hash: hasher.finish(), crate_version: env!("CARGO_PKG_VERSION").to_owned() })
    }
}

/// FNV-1a, 64 bits: enough to tell builds apart (not a defence against a forger, which would
/// need to run on the MPI job's hosts already).
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Rank 0's answer to a hello: `None` to go on, or why the rank must exit.
pub(crate) type Verdict = Option<String>;

/// A task as rank 0 sends it (the arguments always inside the message).
#[derive(Serialize)]
pub(crate) struct TaskOut<'a> {
    pub(crate) id: u64,
    pub(crate) call: isize,
    pub(crate) target: Option<isize>,
    pub(crate) args: &'a Batch,
}

/// A task as a worker rank reads it.
#[derive(Deserialize)]
pub(crate) struct TaskIn {
    pub(crate) id: u64,
    pub(crate) call: isize,
    pub(crate) target: Option<isize>,
    pub(crate) args: Batch,
}

/// Every outcome of one task: the encoded results of the items that succeeded, in order, and
/// the failed ones by position (ascending).
#[derive(Serialize, Deserialize)]
pub(crate) struct Answer {
    pub(crate) id: u64,
    pub(crate) values: Batch,
    pub(crate) failures: Vec<(u32, TaskError)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_hashes_see_every_byte() {
        assert_eq!(Fingerprint::of_this_program().unwrap(), Fingerprint::of_this_program().unwrap());
        let hash = |bytes: &[u8]| {
            let mut h = Fnv1a::default();
            h.write(bytes);
            h.finish()
        };
        assert_ne!(hash(b"build a"), hash(b"build b"));
    }
}
