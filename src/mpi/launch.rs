//! How `init()` enters an MPI job: it starts the one thread of each rank that makes MPI calls.
//! On rank 0 that thread serves the pools and `init()` returns; on ranks 1..N it serves rank 0
//! and the process exits when rank 0 says stop. Rank 0's [`Link`] is how pools reach that
//! thread, learn how the hellos went, and how rank 0's exit ends it (each wait bounded).
//! Depends on `comm`, `greet` and `sys`.

use super::comm::{self, Command, Greeted, Started};
use super::greet;
use crate::sync::plain::Mutex;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Beyond the bound of the hellos (or of the goodbyes): what rank 0's communication thread may
/// take on its own (hashing its executable, finishing a round, finalizing MPI) before a wait
/// for it gives up.
const GRACE: Duration = Duration::from_secs(5);

/// Rank 0's way to its communication thread.
pub(crate) struct Link {
    pub(crate) commands: Sender<Command>,
    /// Worker ranks: the world size less rank 0.
    pub(crate) workers: usize,
    /// How the hellos went, once known: `Err` says which ranks stayed silent.
    greeting: Mutex<(Receiver<Greeted>, Option<Greeted>)>,
    /// Disconnected once the communication thread has ended (MPI finalized, or given up).
    ended: Receiver<()>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Link {
    /// Waits until rank 0 has every worker rank's hello, or has given up on one; `Err` says
    /// which and what to check. Bounded: the hellos' bound and [`GRACE`].
    pub(crate) fn greeted(&self) -> Greeted {
        let mut greeting = self.greeting.lock();
        if let Some(outcome) = &greeting.1 {
            return outcome.clone();
        }
        let patience = greet::hello_bound() + GRACE;
        let outcome = match greeting.0.recv_timeout(patience) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "MpiPoolExecutor: rank 0's MPI thread did not finish taking the ranks' hellos within                  {:.1} s",
                patience.as_secs_f64()
            )),
            Err(RecvTimeoutError::Disconnected) => Err("rank 0's MPI communication thread has ended".into()),
        };
        greeting.1 = Some(outcome.clone());
        outcome
    }
}

/// True once rank 0 is exiting.
static EXITING: AtomicBool = AtomicBool::new(false);

static LINK: OnceLock<Result<Link, String>> = OnceLock::new();

/// The world size an MPI launcher announced to this process, if any (Open MPI, MPICH's Hydra,
/// PMIx launchers such as Slurm's `srun`).
pub(crate) fn world_size_from_env() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
}

/// Called by `init()` in a normal start (not a process-pool worker). Outside an MPI launch of
/// two or more ranks it does nothing. On a worker rank it never returns.
pub(crate) fn on_init() {
    if world_size_from_env().is_none_or(|size| size < 2) || LINK.get().is_some() {
        return;
    }
    let (started_tx, started_rx) = crossbeam_channel::bounded(1);
    let (commands, commands_rx) = crossbeam_channel::unbounded();
    let (ended_tx, ended) = crossbeam_channel::bounded::<()>(0);
    let spawned = std::thread::Builder::new().name("concurrent-futures-mpi".to_owned()).spawn(move || {
        comm::run(&commands_rx, &started_tx, &EXITING);
        drop(ended_tx);
    });
    let thread = match spawned {
        Ok(thread) => thread,
        Err(e) => {
            let _ = LINK.set(Err(format!("cannot start the MPI communication thread: {e}")));
            return;
        }
    };
    match started_rx.recv() {
        Ok(Started::Root { workers, greeted }) => {
            let greeting = Mutex::new((greeted, None));
            let link = Link { commands, workers, greeting, ended, thread: Mutex::new(Some(thread)) };
            let _ = LINK.set(Ok(link));
            if !crate::sys::at_exit(finish) {
                eprintln!("concurrent_futures: cannot arrange to stop the MPI ranks at exit");
            }
        }
        Ok(Started::Worker) => {
            let _ = thread.join();
            std::process::exit(0);
        }
        Ok(Started::Failed(why)) => {
            let _ = thread.join();
            let _ = LINK.set(Err(why));
        }
        Err(_) => {
            let _ = LINK.set(Err("the MPI communication thread ended before MPI started".into()));
        }
    }
}

/// Rank 0's link to its communication thread, or why there is none.
pub(crate) fn link() -> Result<&'static Link, String> {
    match LINK.get() {
        Some(Ok(link)) => Ok(link),
        Some(Err(why)) => Err(why.clone()),
        None if world_size_from_env().is_some_and(|size| size >= 2) => {
            Err("MpiPoolExecutor: call concurrent_futures::init() as the first line of main; it starts \
                 MPI on every rank and turns ranks 1..N into workers"
                .into())
        }
        None => Err("MpiPoolExecutor needs an MPI job of two or more ranks: start the program with \
                     `mpirun -n N program` (N >= 2; rank 0 runs main, the other N - 1 ranks are \
                     the workers)"
            .into()),
    }
}

/// At rank 0's exit: stops the worker ranks and finalizes MPI (they exit 0 too). Bounded: the
/// goodbyes' bound and [`GRACE`]; past it, rank 0 exits without its communication thread.
extern "C" fn finish() {
    if let Some(Ok(link)) = LINK.get() {
        EXITING.store(true, Ordering::Relaxed);
        let _ = link.commands.send(Command::Exit);
        let patience = greet::exit_bound() + GRACE;
        match link.ended.recv_timeout(patience) {
            Err(RecvTimeoutError::Timeout) => eprintln!(
                "concurrent_futures: rank 0's MPI thread did not finish within {:.1} s of the exit; \
                 rank 0 exits without it",
                patience.as_secs_f64()
            ),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(thread) = link.thread.lock().take() {
                    let _ = thread.join();
                }
            }
        }
    }
}
