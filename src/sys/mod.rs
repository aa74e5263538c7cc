//! Every operating-system call of the crate, one file per platform family: `unix.rs` for what
//! every Unix has, `linux.rs` for what Linux does better, and the portable parts of three
//! concerns in files of their own: `memory.rs` (the worker's memory limit), `sigpipe.rs` (writes
//! to a worker that cannot raise SIGPIPE) and `trust.rs` (what a worker checks before it
//! serves). No `libc`, `std::os::unix` or `/proc` anywhere else (`.ci/run` checks). Depends on
//! nothing of the crate.
//!
//! `--cfg cf_portable_unix` makes a Linux build use the portable Unix code, so that the code
//! every other Unix runs is tested here too.

#[cfg(all(target_os = "linux", not(cf_portable_unix)))]
mod linux;
mod memory;
mod sigpipe;
mod trust;
pub(crate) mod unix;

#[cfg(all(target_os = "linux", not(cf_portable_unix)))]
pub(crate) use self::linux::{
    elevated_privileges, executable, in_main_program, prefer_huge_pages, server_belongs_to, tie_to_parent,
};
pub(crate) use self::memory::limit_memory;
pub(crate) use self::sigpipe::hold_back_sigpipe_on_this_thread;
pub(crate) use self::trust::process_exists;
#[cfg(not(all(target_os = "linux", not(cf_portable_unix))))]
pub(crate) use self::trust::{elevated_privileges, server_belongs_to};
#[cfg(feature = "mpi")]
pub(crate) use self::unix::at_exit;
pub(crate) use self::unix::{
    CHANNELS_ARE_SOCKETS, Exit, Signal, describe, detach_stdin, exit_now, file_identity, fill_random,
    knock_and_hang_up, leave_interrupts_to_the_parent, parent_is, seqpacket_send_buffer, set_arg0, signal,
    wait_for_exit_unreaped,
};
#[cfg(not(all(target_os = "linux", not(cf_portable_unix))))]
pub(crate) use self::unix::{executable, in_main_program, parent_is as tie_to_parent, prefer_huge_pages};

#[cfg(test)]
pub(crate) use self::unix::tests;
