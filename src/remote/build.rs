//! [`Build`]: which build of the program a process runs, what every worker proves before it is
//! sent a function as an offset (see `trampoline`). One identity, with the proof each transport
//! can afford: a process pool's workers run on this host, where the executable's file is the
//! build (a `stat`, microseconds, on every worker start); MPI ranks may run on other hosts,
//! where only the executable's bytes say it (a hash, milliseconds, once per rank).

use crate::sys;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::Hasher;
use std::io::Read;

/// A build of this program: the crate's version, the executable's size, and a proof that the
/// rest of it is the same.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Build {
    pub(crate) crate_version: String,
    pub(crate) size: u64,
    pub(crate) proof: Proof,
}

/// What tells two executables of the same size apart.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// The same file on this host: its device, inode and modification time.
    SameFile { device: u64, inode: u64, modified_ns: i128 },
    /// The same bytes on any host: a hash of the whole executable.
    SameBytes { hash: u64 },
}

impl Build {
    /// The executable this process runs, as a file of this host, as it was when first asked
    /// (`init()` asks): on Linux `/proc/self/exe` names the file that was started even after it
    /// is replaced; elsewhere the path std finds is looked at once, so a file replaced later
    /// gets refused at the handshake instead of taken for this program.
    pub(crate) fn this_file() -> std::io::Result<Build> {
        static FIRST: std::sync::OnceLock<(u64, u64, u64, i128)> = std::sync::OnceLock::new();
        let (device, inode, size, modified_ns) = match FIRST.get() {
            Some(first) => *first,
            None => {
                let found = sys::file_identity(&sys::executable()?)?;
                *FIRST.get_or_init(|| found)
            }
        };
        Ok(Build::new(size, Proof::SameFile { device, inode, modified_ns }))
    }

    /// The executable this process runs, by its bytes, for a peer on another host (reads the
    /// whole file: a few milliseconds).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // MPI ranks only
    pub(crate) fn these_bytes() -> std::io::Result<Build> {
        let mut file = std::fs::File::open(sys::executable()?)?;
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
        Ok(Build::new(size, Proof::SameBytes { hash: hasher.finish() }))
    }

    fn new(size: u64, proof: Proof) -> Build {
        Build { crate_version: env!("CARGO_PKG_VERSION").to_owned(), size, proof }
    }
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes, ", self.size)?;
        match self.proof {
            Proof::SameFile { device, inode, modified_ns } => {
                write!(f, "file {inode} on device {device} modified at {modified_ns} ns")?;
            }
            Proof::SameBytes { hash } => write!(f, "hash {hash:x}")?,
        }
        write!(f, ", version {}", self.crate_version)
    }
}

/// FNV-1a, 64 bits: enough to tell builds apart (not a defence against a forger, which would
/// need to run on the MPI job's hosts already).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_stable_by_file_and_by_bytes_and_hashes_see_every_byte() {
        assert_eq!(Build::this_file().unwrap(), Build::this_file().unwrap());
        let bytes = Build::these_bytes().unwrap();
        assert_eq!(bytes, Build::these_bytes().unwrap());
        assert_eq!(bytes.size, Build::this_file().unwrap().size);
        let hash = |bytes: &[u8]| {
            let mut h = Fnv1a::default();
            h.write(bytes);
            h.finish()
        };
        assert_ne!(hash(b"build a"), hash(b"build b"));
    }
}
