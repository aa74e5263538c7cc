//! What Linux does better than the portable Unix calls: the kernel kills a worker whose parent
//! dies (`PR_SET_PDEATHSIG`), `/proc/self/exe` names the file that was started even after it is
//! replaced, the loader lists the main program's own address range, the auxiliary vector says
//! whether the process runs with elevated privileges, and `SO_PEERCRED` names the process behind
//! a socket. Depends on nothing of the crate.

/// Asks the kernel to SIGKILL this process when the thread that started it exits (on top of the
/// portable lifeline, the control channel), then checks that the parent is still there.
pub(crate) fn tie_to_parent(expected_parent: u32) -> bool {
    // SAFETY: prctl(PR_SET_PDEATHSIG, signal) only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    super::unix::parent_is(expected_parent)
}

/// The path to start this program again with: `/proc/self/exe`, which still names the file
/// that was started even if it has been replaced on disk since.
pub(crate) fn executable() -> std::io::Result<std::path::PathBuf> {
    Ok("/proc/self/exe".into())
}

/// The address range of the main program's loaded code, found once.
fn main_program() -> Option<(usize, usize)> {
    static RANGE: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *RANGE.get_or_init(|| {
        extern "C" fn first_object(
            info: *mut libc::dl_phdr_info,
            _size: libc::size_t,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: the loader passes a valid `info` for the duration of the call, with
            // `dlpi_phnum` program headers at `dlpi_phdr`; `data` is the `Option` below.
            unsafe {
                let info = &*info;
                let headers = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
                let base = info.dlpi_addr as usize;
                let mut range: Option<(usize, usize)> = None;
                for header in headers.iter().filter(|h| h.p_type == libc::PT_LOAD) {
                    let start = base.wrapping_add(header.p_vaddr as usize);
                    let end = start.wrapping_add(header.p_memsz as usize);
                    range = Some(range.map_or((start, end), |(s, e)| (s.min(start), e.max(end))));
                }
                *data.cast::<Option<(usize, usize)>>() = range;
            }
            1 // the first object is the main program: stop there
        }
        let mut range: Option<(usize, usize)> = None;
        // SAFETY: the callback matches dl_iterate_phdr's contract and writes only `range`.
        unsafe {
            libc::dl_iterate_phdr(Some(first_object), (&raw mut range).cast());
        }
        range
    })
}

/// Asks the kernel to back the whole 2 MiB pages inside `block` with huge pages when they are
/// first written (transparent huge pages, where they are enabled for `madvise`): a buffer of
/// many megabytes that is about to be filled then takes one page fault per 2 MiB instead of
/// one per 4 KiB. Advice only: it changes neither the memory's contents nor who owns it.
pub(crate) fn prefer_huge_pages(block: &mut [std::mem::MaybeUninit<u8>]) {
    const HUGE: usize = 2 << 20;
    let start = (block.as_ptr() as usize).next_multiple_of(HUGE);
    let end = (block.as_ptr() as usize + block.len()) / HUGE * HUGE;
    if end > start {
        // SAFETY: `[start, end)` is a whole number of pages inside `block`, memory the caller
        // holds mutably; MADV_HUGEPAGE only changes how its pages are backed from now on, never
        // what they hold, and fails harmlessly where huge pages are not available.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

/// True if `address` is in the main program (not in a shared library): only there is a
/// function at the same offset from another in every process that runs the same executable.
pub(crate) fn in_main_program(address: usize) -> bool {
    main_program().is_some_and(|(start, end)| (start..end).contains(&address))
}

/// True if the kernel started this process in secure mode (`AT_SECURE`): a set-user-ID or
/// set-group-ID program, one with file capabilities, or one a security module marked so. Such a
/// process must not take orders from whoever started it.
pub(crate) fn elevated_privileges() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave this process.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Checks, after this process connected to the one-shot server at `server`, that the process
/// that listens there is `parent`: the kernel records who called `listen` on a socket, and
/// `SO_PEERCRED` on a connection to it answers with that process. ipc-channel does not lend out
/// its descriptor, so the connection is found among this process's own: the one whose peer is
/// bound at `server` (a socket path is bound to one listener at a time).
pub(crate) fn server_belongs_to(server: &str, parent: u32) -> Result<(), String> {
    let descriptors =
        std::fs::read_dir("/proc/self/fd").map_err(|e| format!("cannot list its descriptors: {e}"))?;
    let found = descriptors
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<libc::c_int>().ok())
        .find_map(|fd| listener_behind(fd, server.as_bytes()));
    match found {
        Some(pid) if pid == parent => Ok(()),
        Some(pid) => Err(format!(
            "the server at {server} belongs to process {pid}, not to its parent (process {parent})"
        )),
        None => Err(format!("it has no connection to a server at {server}")),
    }
}

/// The pid of the process that listens at the other end of `fd`, if `fd` is a Unix socket
/// connected to a server bound at `path`.
fn listener_behind(fd: libc::c_int, path: &[u8]) -> Option<u32> {
    // SAFETY: `address` and `credentials` are valid, writable and as long as the lengths passed
    // with them; getpeername and getsockopt only write into them, and fail harmlessly (ENOTSOCK,
    // EBADF) on a descriptor that is not a connected socket or was closed meanwhile.
    unsafe {
        let mut address: libc::sockaddr_un = std::mem::zeroed();
        let mut length = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        if libc::getpeername(fd, (&raw mut address).cast(), &mut length) != 0
            || libc::c_int::from(address.sun_family) != libc::AF_UNIX
        {
            return None;
        }
        let bound =
            usize::try_from(length).ok()?.checked_sub(std::mem::offset_of!(libc::sockaddr_un, sun_path))?;
        let bound: Vec<u8> =
            address.sun_path.iter().take(bound).map(|&c| c as u8).take_while(|&c| c != 0).collect();
        if bound != path {
            return None;
        }
        let mut credentials: libc::ucred = std::mem::zeroed();
        let mut length = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        if libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut credentials).cast(),
            &mut length,
        ) != 0
        {
            return None;
        }
        u32::try_from(credentials.pid).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_program_holds_this_code_and_not_the_c_library() {
        assert!(in_main_program(in_main_program as fn(usize) -> bool as usize));
        assert!(!in_main_program(super::super::unix::tests::address_in_a_shared_library()));
        assert!(executable().unwrap().exists());
    }

    #[test]
    fn the_listener_behind_a_connection_is_found_by_its_path() {
        let (server, name) = ipc_channel::ipc::IpcOneShotServer::<u8>::new().unwrap();
        let accepting = std::thread::spawn(move || server.accept().map(|(_, n)| n).ok());
        let sender = ipc_channel::ipc::IpcSender::<u8>::connect(name.clone()).unwrap();
        let me = std::process::id();
        assert_eq!(server_belongs_to(&name, me), Ok(()));
        let err = server_belongs_to(&name, me + 1).unwrap_err();
        assert!(err.contains(&format!("belongs to process {me}")), "{err}");
        assert!(server_belongs_to("/nonexistent/socket", me).is_err());
        sender.send(7).unwrap();
        assert_eq!(accepting.join().unwrap(), Some(7));
        assert!(!elevated_privileges());
    }
}
