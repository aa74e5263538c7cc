//! Code shared by the examples (not an example itself). Each example uses part of it.

#![allow(dead_code)]

pub(crate) mod progress;
pub(crate) mod server;
