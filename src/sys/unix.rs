//! What every Unix offers (POSIX, plus `dladdr`): signals, reaping without reaping, exit
//! statuses, resource limits, file identities, randomness, and the portable versions of what
//! `linux.rs` does better there. Depends on nothing of the crate.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;

/// Checks that the process that started this one is still `expected_parent`; false if it is
/// already gone (it died between starting this process and this call), in which case the
/// worker must exit. The lifeline afterwards is the control channel: when the parent dies, the
/// kernel closes its end, and the worker's watchdog ends the process (see `watchdog`).
pub(crate) fn parent_is(expected_parent: u32) -> bool {
    // SAFETY: getppid has no preconditions.
    u32::try_from(unsafe { libc::getppid() }).is_ok_and(|ppid| ppid == expected_parent)
}

/// The path to start this program again with: what std finds for this process.
#[cfg_attr(all(target_os = "linux", not(cf_portable_unix)), allow(dead_code))]
pub(crate) fn executable() -> io::Result<std::path::PathBuf> {
    std::env::current_exe()
}

/// Device, inode, size and modification time (ns) of the file at `path`: what tells one build
/// of a program from another on every Unix.
pub(crate) fn file_identity(path: &std::path::Path) -> io::Result<(u64, u64, u64, i128)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    let modified = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    Ok((meta.dev(), meta.ino(), meta.size(), modified))
}

/// Fills `bytes` from the operating system's random source (the `getrandom` crate, which
/// knows each Unix's best call).
pub(crate) fn fill_random(bytes: &mut [u8]) -> io::Result<()> {
    getrandom::fill(bytes).map_err(|e| io::Error::other(e.to_string()))
}

/// A signal the pool sends its workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGKILL: cannot be caught.
    Kill,
    /// SIGTERM: the polite one (`terminate_workers`).
    Term,
}

/// Sends `signal` to `pid`. The caller must know the process is not reaped yet (see
/// `handle::WorkerHandle`), so the pid cannot belong to another process.
pub(crate) fn signal(pid: u32, signal: Signal) {
    let number = match signal {
        Signal::Kill => libc::SIGKILL,
        Signal::Term => libc::SIGTERM,
    };
    // 0 (and negative pids) would signal whole process groups: never ours to kill.
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 0
    {
        // SAFETY: kill has no memory-safety preconditions; see above for why `pid` is ours.
        unsafe {
            libc::kill(pid, number);
        }
    }
}

/// Blocks until the child `pid` has exited, without reaping it: its pid stays taken (a zombie)
/// until `Child::wait` reaps it, so a signal sent meanwhile cannot reach another process.
pub(crate) fn wait_for_exit_unreaped(pid: u32) -> io::Result<()> {
    let pid = libc::id_t::from(pid);
    loop {
        // SAFETY: `info` is a valid, writable siginfo_t; waitid only writes into it.
        let result = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// How a worker ended, for error messages and for telling a deliberate stop from a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exit {
    /// The exit code, if it exited rather than being killed by a signal.
    pub(crate) code: Option<i32>,
    /// "exited with code 3", "was killed by signal 9 (SIGKILL)", ...
    pub(crate) text: String,
}

/// Describes an exit status.
pub(crate) fn describe(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return Exit { code: Some(code), text: format!("exited with code {code}") };
    }
    let text = match status.signal() {
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
    };
    Exit { code: None, text }
}

/// The socket type of ipc-channel's channels where they are Unix sockets, close-on-exec where
/// the flag exists.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "openbsd"))]
const SEQPACKET: libc::c_int = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd", target_os = "openbsd")))]
const SEQPACKET: libc::c_int = libc::SOCK_SEQPACKET;

/// True where ipc-channel's channels are Unix `SOCK_SEQPACKET` sockets (its `unix` backend),
/// and the name of an `IpcOneShotServer` is the path it listens at.
pub(crate) const CHANNELS_ARE_SOCKETS: bool =
    cfg!(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd", target_os = "illumos"));

/// Connects to the `SOCK_SEQPACKET` listener at `path` and hangs up at once; whether the
/// connection was made. A one-shot server's `accept` then returns (an error: nothing was
/// sent). The socket is closed on every path: ipc-channel's `IpcSender::connect` leaks it when
/// the connection is refused (0.23), which is what happens once the server has accepted.
pub(crate) fn knock_and_hang_up(path: &str) -> bool {
    // SAFETY: `sockaddr_un` is plain integers and bytes, for which all zeros is a valid value.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    // Room for the terminating zero the zeroed address already holds.
    if path.len() >= address.sun_path.len() || path.as_bytes().contains(&0) {
        return false;
    }
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (to, &from) in address.sun_path.iter_mut().zip(path.as_bytes()) {
        *to = from as libc::c_char;
    }
    let length = std::mem::offset_of!(libc::sockaddr_un, sun_path) + path.len() + 1;
    // SAFETY: socket takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_UNIX, SEQPACKET, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` was just returned by socket and nothing else owns it: the `OwnedFd` closes it
    // once, when this function returns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `address` is valid for reads of `length` bytes (at most its size, checked above);
    // connect only reads it.
    unsafe { libc::connect(socket.as_raw_fd(), (&raw const address).cast(), length as libc::socklen_t) == 0 }
}

/// Where there is no portable way to ask for huge pages: nothing (see the Linux version).
#[cfg_attr(all(target_os = "linux", not(cf_portable_unix)), allow(dead_code))]
pub(crate) fn prefer_huge_pages(_block: &mut [std::mem::MaybeUninit<u8>]) {}

/// The send buffer of a new Unix `SOCK_SEQPACKET` socket (what ipc-channel's channels are on
/// Linux and the BSDs), in bytes; `None` if it cannot be asked.
pub(crate) fn seqpacket_send_buffer() -> Option<usize> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes on success.
    if unsafe { libc::socketpair(libc::AF_UNIX, SEQPACKET, 0, fds.as_mut_ptr()) } != 0 {
        return None;
    }
    let mut size: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fds[0]` is a socket this function owns; `size` and `len` are valid for writes of
    // the sizes given. Both descriptors are closed once, here.
    let asked = unsafe {
        let asked =
            libc::getsockopt(fds[0], libc::SOL_SOCKET, libc::SO_SNDBUF, (&raw mut size).cast(), &raw mut len);
        libc::close(fds[0]);
        libc::close(fds[1]);
        asked
    };
    (asked == 0).then_some(usize::try_from(size).ok()).flatten()
}

/// Sets the `argv[0]` a started program sees (std would use the executable's path).
pub(crate) fn set_arg0(command: &mut Command, arg0: &std::ffi::OsStr) {
    use std::os::unix::process::CommandExt;
    command.arg0(arg0);
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Makes SIGINT (Ctrl-C) do nothing in this process: the parent decides what Ctrl-C means.
/// A handler, not `SIG_IGN`: handlers are reset when a task starts another program, so that
/// program gets Ctrl-C as usual.
pub(crate) fn leave_interrupts_to_the_parent() {
    // SAFETY: `action` is fully initialised before use; the handler is an `extern "C"` function
    // that does nothing, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// Runs `f` when the process exits normally (`main` returns, or `std::process::exit`), before
/// the C library's own exit work; false if it could not be registered.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // the MPI ranks' exit
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: atexit only records the function pointer, which stays valid for the process's
    // life (it is a plain `extern "C" fn`).
    unsafe { libc::atexit(f) == 0 }
}

/// Ends this process at once with `code`: no destructors, no atexit handlers, no flushing,
/// whatever other threads are doing.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Points standard input at `/dev/null`, so that programs a task starts do not inherit the
/// pipe the worker read its secret from.
pub(crate) fn detach_stdin() -> io::Result<()> {
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: both descriptors are open (`null` lives until after the call); dup2 replaces
    // descriptor 0, which std's `Stdin` reads through the same number.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The base address of the loaded object (the executable or a shared library) that holds
/// `address`, if any.
fn object_base(address: usize) -> Option<usize> {
    // SAFETY: `info` is a valid, writable Dl_info; dladdr only writes into it, and only reads
    // the loader's tables for `address`, which it does not dereference.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        (libc::dladdr(address as *const libc::c_void, &mut info) != 0).then_some(info.dli_fbase as usize)
    }
}

/// True if `address` is in the same loaded object as this crate's code, where a function sits
/// at the same offset from another in every process that loads the same file. (`linux.rs`
/// checks for the main program itself.)
#[cfg_attr(all(target_os = "linux", not(cf_portable_unix)), allow(dead_code))]
pub(crate) fn in_main_program(address: usize) -> bool {
    let this_crate = object_base(in_main_program as fn(usize) -> bool as usize);
    this_crate.is_some() && object_base(address) == this_crate
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The address of a function of the C library, a shared library here.
    pub(crate) fn address_in_a_shared_library() -> usize {
        libc::getpid as *const () as usize
    }

    #[test]
    #[cfg(not(loom))]
    fn a_knock_ends_a_one_shot_servers_accept_and_a_refused_one_says_so() {
        if CHANNELS_ARE_SOCKETS {
            let (server, name) = ipc_channel::ipc::IpcOneShotServer::<u8>::new().unwrap();
            let (accepted_tx, accepted) = std::sync::mpsc::channel();
            std::thread::spawn(move || accepted_tx.send(server.accept().is_err()));
            assert!(knock_and_hang_up(&name));
            let failed = accepted.recv_timeout(std::time::Duration::from_secs(30));
            assert_eq!(failed, Ok(true), "the knock ends the accept, which fails: nothing was sent");
            // The server is gone now: refused, and nothing is left open.
            assert!(!knock_and_hang_up(&name));
        }
        assert!(!knock_and_hang_up("/nonexistent/socket"));
        assert!(!knock_and_hang_up(&"x".repeat(200)), "longer than a socket address holds");
        assert!(!knock_and_hang_up("a\0b"));
    }

    /// The test `name` of the test module at `module` (its `module_path!()`) as libtest names
    /// it, whatever module the file is in: for a test that runs itself again in a child process.
    #[cfg_attr(loom, allow(dead_code))] // its callers' tests do not run under loom
    pub(crate) fn libtest_name(module: &str, name: &str) -> String {
        let module = module.split_once("::").map_or(module, |(_, path)| path);
        format!("{module}::{name}")
    }

    #[test]
    fn the_main_program_holds_this_code_and_not_the_c_library() {
        assert!(in_main_program(in_main_program as fn(usize) -> bool as usize));
        assert!(!in_main_program(address_in_a_shared_library()));
    }

    #[test]
    fn a_file_identity_tells_files_apart_and_randomness_varies() {
        let me = file_identity(&executable().unwrap()).unwrap();
        assert_eq!(me, file_identity(&executable().unwrap()).unwrap());
        assert_ne!(me, file_identity(std::path::Path::new("/")).unwrap());
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill_random(&mut a).unwrap();
        fill_random(&mut b).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn exits_are_described_with_their_code_or_signal() {
        use std::os::unix::process::ExitStatusExt;
        let exited = describe(std::process::ExitStatus::from_raw(3 << 8));
        assert_eq!((exited.code, exited.text.as_str()), (Some(3), "exited with code 3"));
        let killed = describe(std::process::ExitStatus::from_raw(libc::SIGKILL));
        assert_eq!(killed.code, None);
        assert!(killed.text.contains("SIGKILL"), "{}", killed.text);
    }
}
