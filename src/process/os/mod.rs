//! Every operating-system call of the crate, one file per platform family: `unix.rs` for what
//! every Unix has, `linux.rs` for what Linux does better. No `libc`, `std::os::unix` or `/proc`
//! anywhere else (`.ci/run` checks). Depends on nothing of the crate.
//!
//! `--cfg cf_portable_unix` makes a Linux build use the portable Unix code, so that the code
//! every other Unix runs is tested here too.

#[cfg(all(target_os = "linux", not(cf_portable_unix)))]
mod linux;
pub(crate) mod unix;

#[cfg(all(target_os = "linux", not(cf_portable_unix)))]
pub(crate) use self::linux::{executable, in_main_program, tie_to_parent};
#[cfg(feature = "mpi")]
pub(crate) use self::unix::at_exit;
pub(crate) use self::unix::{
    Exit, Signal, describe, detach_stdin, exit_now, file_identity, fill_random,
    hold_back_sigpipe_on_this_thread, leave_interrupts_to_the_parent, limit_memory, set_arg0, signal,
    wait_for_exit_unreaped,
};
#[cfg(not(all(target_os = "linux", not(cf_portable_unix))))]
pub(crate) use self::unix::{executable, in_main_program, parent_is as tie_to_parent};

#[cfg(test)]
pub(crate) use self::unix::tests;
