//! Feeds arbitrary bytes to every decoder a peer process can reach: worker-to-parent and
//! parent-to-worker frames, map chunk outputs, and task values (vectors of numbers in their
//! own form; structs, maps and nested vectors in the crate's serde format). None may panic, hang or allocate without
//! bound; each must return a value or an error.
//!
//! Run: `cargo fuzz run frame_decoder` (needs cargo-fuzz and a nightly toolchain). `.ci/run`
//! runs it for 60 s when a nightly toolchain is there, after replaying the inputs kept in
//! `fuzz/regressions/frame_decoder/` (put an input that once crashed a decoder there, with its
//! fix).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    concurrent_futures::fuzzing::decode_everything(data);
});
