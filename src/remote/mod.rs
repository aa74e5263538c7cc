//! The remote-task layer, shared by every pool whose workers are this program re-executed
//! (processes, MPI ranks).

pub(crate) mod batch;
pub(crate) mod block;
pub(crate) mod build;
mod bytebuf;
#[cfg(feature = "tracing")]
pub(crate) mod capture;
pub(crate) mod codec;
#[cfg(feature = "tracing")]
pub(crate) mod events;
mod format;
#[cfg(fuzzing)]
pub(crate) mod fuzz;
pub(crate) mod items;
mod numbers;
#[cfg(test)]
mod numbers_tests;
pub(crate) mod outcomes;
pub(crate) mod panics;
mod plain;
pub(crate) mod prepare;
#[cfg(feature = "tracing")]
pub(crate) mod replay;
pub(crate) mod segments;
pub(crate) mod service;
pub(crate) mod tally;
pub(crate) mod task;
pub(crate) mod trampoline;
pub(crate) mod workers;
