//! Writing to a worker without risking SIGPIPE, whatever the program's SIGPIPE disposition.
//! Depends on nothing of the crate.
//!
//! A write to a pipe (or, on some Unix systems, a socket) whose reader is gone raises SIGPIPE in
//! the writing thread. Rust programs ignore SIGPIPE by default, but many command-line tools set
//! it back to its default, which kills the whole process: a pool must never die because one
//! worker did. Every write of the parent to a worker (the secret on its stdin, its task and
//! control channels) happens on a thread the pool owns (a slot thread and the threads it
//! starts), and each of those blocks SIGPIPE in its own signal mask for its whole life
//! ([`hold_back_sigpipe_on_this_thread`]): the write fails with `EPIPE` instead, the SIGPIPE
//! stays pending on that thread and is discarded when it ends. The program's own disposition
//! is never changed, and no other thread is affected. One system call per thread, none per
//! write.

use std::mem::MaybeUninit;

/// Blocks SIGPIPE for the calling thread (and the threads it starts from now on), for threads
/// that write to worker processes: a write to a worker that died then fails with `EPIPE`
/// instead of raising a SIGPIPE that would end a program which restored SIGPIPE's default
/// action. The program's own disposition is left alone; a SIGPIPE a write raises stays pending
/// on this thread and is discarded when the thread ends.
pub(crate) fn hold_back_sigpipe_on_this_thread() {
    // SAFETY: the set is initialised (see `sigpipe_set`); `pthread_sigmask` only
    // changes the calling thread's mask and reports failure through its return value, which is
    // ignored since the only failure (an invalid `how`) cannot happen with SIG_BLOCK.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &sigpipe_set(), std::ptr::null_mut());
    }
}

fn sigpipe_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; sigaddset then adds a valid signal.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        set.assume_init()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// This test module's helper, as libtest names it.
    fn helper_test_name() -> String {
        crate::sys::tests::libtest_name(module_path!(), "sigpipe_helper")
    }
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Set for the helper below, when it runs in a child process: `guarded` or `bare`.
    const HELPER_ENV: &str = "CONCURRENT_FUTURES_TEST_SIGPIPE_HELPER";

    fn sigpipe_blocked() -> bool {
        let mut mask = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: with a null new set, pthread_sigmask only writes the current mask.
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), mask.as_mut_ptr()) == 0
                && libc::sigismember(mask.as_ptr(), libc::SIGPIPE) == 1
        }
    }

    /// A pipe whose reader is gone: the stdin of a child process that has exited.
    fn stdin_of_a_dead_child() -> std::process::ChildStdin {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        child.wait().unwrap();
        stdin
    }

    #[test]
    fn a_broken_pipe_is_an_error_on_a_thread_that_holds_sigpipe_back() {
        let mut stdin = stdin_of_a_dead_child();
        let outside = sigpipe_blocked();
        let on_thread = std::thread::spawn(move || {
            hold_back_sigpipe_on_this_thread();
            (sigpipe_blocked(), stdin.write_all(&[0; 32]).map_err(|e| e.kind()))
        });
        let (blocked, written) = on_thread.join().unwrap();
        assert!(blocked, "SIGPIPE is blocked on that thread");
        assert_eq!(written, Err(std::io::ErrorKind::BrokenPipe));
        assert_eq!(sigpipe_blocked(), outside, "other threads are left alone");
    }

    /// Run in a child process by the test below: SIGPIPE at its default (it kills), then a
    /// write to a dead child's stdin, guarded or not.
    #[test]
    fn sigpipe_helper() {
        let Ok(mode) = std::env::var(HELPER_ENV) else { return };
        // SAFETY: signal only changes this process's disposition of SIGPIPE; this child process
        // runs nothing but this helper.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        let mut stdin = stdin_of_a_dead_child();
        let guarded = mode == "guarded";
        let written = std::thread::spawn(move || {
            if guarded {
                hold_back_sigpipe_on_this_thread();
            }
            stdin.write_all(&[0; 32])
        })
        .join();
        assert!(written.is_ok_and(|written| written.is_err()));
    }

    #[test]
    fn with_sigpipe_at_its_default_the_guarded_write_survives_and_a_bare_one_does_not() {
        use std::os::unix::process::ExitStatusExt;
        let run = |mode: &str| {
            Command::new(std::env::current_exe().unwrap())
                .args([&helper_test_name(), "--exact", "--nocapture"])
                .env(HELPER_ENV, mode)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
        };
        assert!(run("guarded").success(), "the guarded write killed its process");
        assert_eq!(run("bare").signal(), Some(libc::SIGPIPE), "the helper does reach SIGPIPE");
    }
}
