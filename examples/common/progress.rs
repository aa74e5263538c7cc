//! The examples' progress bars (indicatif), drawn on stderr. When stderr is not a terminal
//! (a pipe, a test, CI) indicatif hides them, and the examples' output stays plain.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for `len` steps, labelled `label`.
pub(crate) fn bar(len: usize, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    // The template is fixed and valid; should indicatif ever refuse it, keep its default style.
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos:>6}/{len:6} {elapsed:>4} (eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar
}

/// Prints a line above the bar (or plainly, when the bar is hidden).
pub(crate) fn println(bar: &ProgressBar, line: impl std::fmt::Display) {
    bar.suspend(|| println!("{line}"));
}
