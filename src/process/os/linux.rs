//! What Linux does better than the portable Unix calls: the kernel kills a worker whose parent
//! dies (`PR_SET_PDEATHSIG`), `/proc/self/exe` names the file that was started even after it is
//! replaced, and the loader lists the main program's own address range. Depends on nothing of
//! the crate.

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

/// True if `address` is in the main program (not in a shared library): only there is a
/// function at the same offset from another in every process that runs the same executable.
pub(crate) fn in_main_program(address: usize) -> bool {
    main_program().is_some_and(|(start, end)| (start..end).contains(&address))
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
}
