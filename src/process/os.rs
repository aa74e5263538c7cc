//! The few operating-system calls the process pool needs that std does not offer.

/// Asks the kernel to SIGKILL this process when the thread that started it exits: a worker never
/// outlives a parent that was killed. Returns false if the parent is already gone (it died
/// between starting this process and this call), in which case the worker must exit.
pub(crate) fn die_with_parent(expected_parent: u32) -> bool {
    // SAFETY: prctl(PR_SET_PDEATHSIG, signal) only sets a flag of this process; getppid has no
    // preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        u32::try_from(libc::getppid()).is_ok_and(|ppid| ppid == expected_parent)
    }
}

/// Sends SIGKILL to `pid`. Only called for a worker whose exit has not been reaped yet (its
/// monitor thread still waits on it), so the pid cannot have been reused by another process.
pub(crate) fn kill(pid: u32) {
    // 0 (and negative pids) would signal whole process groups: never ours to kill.
    if let Ok(pid) = libc::pid_t::try_from(pid).map(|p| p.max(0))
        && pid > 0
    {
        // SAFETY: kill has no memory-safety preconditions; see above for why `pid` is ours.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// "exited with code 3", "was killed by signal 9 (SIGKILL)", ...
pub(crate) fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGABRT => " (SIGABRT: the process aborted)",
                libc::SIGSEGV => " (SIGSEGV: invalid memory access)",
                libc::SIGTERM => " (SIGTERM)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGILL => " (SIGILL)",
                libc::SIGFPE => " (SIGFPE)",
                _ => "",
            };
            let core = if status.core_dumped() { ", core dumped" } else { "" };
            format!("was killed by signal {signal}{name}{core}")
        }
        None => format!("ended with status {status}"),
    }
}
