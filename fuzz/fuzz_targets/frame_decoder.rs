//! Feeds arbitrary bytes to every decoder a peer process can reach: worker-to-parent and
//! parent-to-worker frames, and map chunk outputs. None may panic, hang or allocate without
//! bound; each must return a value or an error.
//!
//! Run: `cargo fuzz run frame_decoder` (needs cargo-fuzz and a nightly toolchain).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    concurrent_futures::fuzzing::decode_everything(data);
});
