//! What a process checks before it serves as a worker, in the portable Unix versions (`linux.rs`
//! has Linux's): that it runs without elevated privileges, whether a process still exists, and
//! that the channel it was told to use leads to its parent. Depends on nothing of the crate.

/// True if this process runs with privileges its invoker does not have (a set-user-ID or
/// set-group-ID program): such a process must not take orders from whoever started it.
#[cfg_attr(all(target_os = "linux", not(cf_portable_unix)), allow(dead_code))]
pub(crate) fn elevated_privileges() -> bool {
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    {
        // SAFETY: issetugid has no preconditions.
        unsafe { libc::issetugid() != 0 }
    }
    #[cfg(not(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )))]
    {
        // SAFETY: these four calls have no preconditions and cannot fail.
        unsafe { libc::getuid() != libc::geteuid() || libc::getgid() != libc::getegid() }
    }
}

/// True if a process with this pid exists (it may belong to another user).
pub(crate) fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Checks, after this process connected to the one-shot server at `server`, that the server is
/// its parent's (`parent`). The portable check needs no descriptor: the socket file and the
/// directory it is in (a private temporary directory the parent made) must belong to this
/// process's own user, and nobody else may write to that directory, so that only a process of
/// this user can have put a server there. (`linux.rs` asks the kernel which process listens.)
/// A server name that is not a path (ipc-channel on macOS names Mach ports) cannot be checked
/// here: the handshake secret and the parent-pid check stand alone there.
#[cfg_attr(all(target_os = "linux", not(cf_portable_unix)), allow(dead_code))]
pub(crate) fn server_belongs_to(server: &str, parent: u32) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let path = std::path::Path::new(server);
    if !path.is_absolute() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let socket = std::fs::symlink_metadata(path).map_err(|e| format!("cannot look at {server}: {e}"))?;
    let directory = path
        .parent()
        .map(std::fs::symlink_metadata)
        .transpose()
        .map_err(|e| format!("cannot look at the directory of {server}: {e}"))?;
    let private = directory.is_some_and(|d| d.is_dir() && d.uid() == me && d.mode() & 0o022 == 0);
    if socket.file_type().is_socket() && socket.uid() == me && private {
        Ok(())
    } else {
        Err(format!(
            "the server at {server} is not a private socket of this user, so it cannot be its parent's \
             (process {parent})"
        ))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_test_runs_unprivileged_and_sees_itself_and_not_a_free_pid() {
        assert!(!elevated_privileges());
        assert!(process_exists(std::process::id()));
        assert!(!process_exists(0));
        assert!(!process_exists(u32::MAX));
    }

    #[test]
    fn only_a_private_socket_of_this_user_passes_the_portable_check() {
        let (server, name) = ipc_channel::ipc::IpcOneShotServer::<()>::new().unwrap();
        assert_eq!(server_belongs_to(&name, 1), Ok(()));
        let err = server_belongs_to("/dev/null", 1).unwrap_err();
        assert!(err.contains("not a private socket"), "{err}");
        assert!(server_belongs_to("/nonexistent/socket", 1).is_err());
        drop(server);
    }
}
