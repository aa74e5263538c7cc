//! [`init`] when the crate has no process pool (feature `process` off, or not Unix): there is
//! no worker mode to enter, so it does nothing. Depends on nothing.

/// The entry point for process pools, here without them: does nothing, so that a `main` that
/// starts with it builds with or without the feature `process`.
///
/// # Examples
///
/// ```
/// concurrent_futures::init(); // does nothing without process pools
/// ```
pub fn init() {}
