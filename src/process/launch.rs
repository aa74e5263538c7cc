//! What `init()` asks the process transport: how a program tells a normal start from one of
//! its worker processes, and what a process checks before it serves as a worker.
//!
//! A worker is told so by two environment variables that its parent sets when it starts it:
//! the parent's one-shot server, and the parent's pid. They are left in the environment (removing
//! them would need `std::env::remove_var`, unsound while another thread may read the environment,
//! as in a libtest test), so the programs a task starts inherit them; what makes them harmless
//! there is that a process is a worker only if its own parent is the process they name. A program
//! a task starts has the worker as its parent, never the pool's process, so it starts as usual.
//!
//! Before it serves, a worker also refuses (with a message on stderr and
//! [`REFUSED_EXIT_CODE`], never running the worker loop) when it runs with elevated privileges
//! (a set-user-ID program must not take orders from whoever started it), when the parent it was
//! told of is gone, and when the channel it was told to use does not lead to that parent.

use crate::sys;
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a worker's environment: the name of the parent's one-shot server.
pub(crate) const WORKER_ENV: &str = "CONCURRENT_FUTURES_WORKER";
/// Set in a worker's environment: the parent's pid.
pub(crate) const PARENT_PID_ENV: &str = "CONCURRENT_FUTURES_PARENT_PID";
/// The exit code of a worker whose `main` did not call `init()` first.
pub(crate) const FORGOT_INIT_EXIT_CODE: i32 = 86;
/// The exit code of a process that refused to serve as a worker (see the module docs).
pub(crate) const REFUSED_EXIT_CODE: i32 = 89;
/// The length of the handshake secret.
pub(crate) const SECRET_LEN: usize = 32;

/// True once `init()` ran in this process (as a parent, or as a worker that may itself start
/// pools from its tasks).
static INIT_RAN: AtomicBool = AtomicBool::new(false);
/// In a worker: the pid of the parent that started it.
static PARENT_PID: OnceLock<u32> = OnceLock::new();

thread_local! {
    /// True on a thread that called `init()`: the main thread, or a test's own thread.
    static INIT_HERE: Cell<bool> = const { Cell::new(false) };
}

/// What this process is, as `init()` finds it.
pub(crate) enum Role {
    /// `init()` ran before in this process: nothing more to do.
    Again,
    /// A normal start: the program's `main` goes on.
    Program,
    /// A worker of the process `parent`, to connect to the parent's one-shot server.
    Worker { server: String, parent: u32 },
}

/// Called by `init()`: which [`Role`] this process has (a process that must not serve as a
/// worker is ended here, saying why).
pub(crate) fn role_at_init() -> Role {
    INIT_HERE.with(|here| here.set(true));
    if INIT_RAN.swap(true, Ordering::AcqRel) {
        return Role::Again;
    }
    let Some((server, parent)) = started_as_worker() else { return Role::Program };
    if sys::elevated_privileges() {
        refuse(
            "this process runs with elevated privileges (set-user-ID, set-group-ID or file \
             capabilities), and a worker process runs what its parent sends it",
        );
    }
    let _ = PARENT_PID.set(parent);
    Role::Worker { server: server.to_string_lossy().into_owned(), parent }
}

/// The parent's server and pid, if this process was started as a worker: the variables are set
/// and name this process's parent. A program that inherited them from a worker (a program a
/// task starts) has the worker, not the named process, as its parent: a normal start. If the
/// named process is gone, this is a worker whose parent died before it got here, which must not
/// run the program's `main` on its own: it refuses.
fn started_as_worker() -> Option<(std::ffi::OsString, u32)> {
    let server = std::env::var_os(WORKER_ENV)?;
    let parent = std::env::var(PARENT_PID_ENV).ok()?.parse().ok()?;
    if sys::parent_is(parent) {
        return Some((server, parent));
    }
    if !sys::process_exists(parent) {
        refuse(&format!("it was started as a worker of process {parent}, which is gone"));
    }
    None
}

/// Ends this process, which must not serve as a worker, saying why.
pub(crate) fn refuse(why: &str) -> ! {
    eprintln!("concurrent_futures: process {} refuses to run as a worker: {why}", std::process::id());
    std::process::exit(REFUSED_EXIT_CODE)
}

/// In a worker, once it has connected to its parent's server and before it says anything
/// there: refuses if that server is not its parent's.
pub(crate) fn confirm_server_is_the_parent_s(server: &str) {
    let parent = parent_pid().unwrap_or(0);
    if let Err(why) = sys::server_belongs_to(server, parent) {
        refuse(&format!("the channel it was given does not lead to its parent: {why}"));
    }
}

/// True if `init()` was called on the current thread.
pub(crate) fn init_ran_on_this_thread() -> bool {
    INIT_HERE.with(Cell::get)
}

/// Called when a process pool is created. In a worker whose `main` did not start with `init()`,
/// this is where the re-executed `main` reaches the pool: stop here instead of starting a pool
/// of its own (which would grow a process tree without end).
pub(crate) fn refuse_pool_in_uninitialised_worker() {
    if !INIT_RAN.load(Ordering::Acquire) && started_as_worker().is_some() {
        eprintln!(
            "concurrent_futures: this worker process ran the program's main() up to a \
             ProcessPoolExecutor; call concurrent_futures::init() as the first line of main()"
        );
        std::process::exit(FORGOT_INIT_EXIT_CODE);
    }
}

/// In a worker: the pid of the parent that started it.
pub(crate) fn parent_pid() -> Option<u32> {
    PARENT_PID.get().copied()
}
