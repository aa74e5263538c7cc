//! How `init()` enters an MPI job: it starts the one thread of each rank that makes MPI calls.
//! On rank 0 that thread serves the pools and `init()` returns; on ranks 1..N it serves rank 0
//! and the process exits when rank 0 says stop. Depends on `comm`, `rank` and `process::os`.

use super::comm::{self, Command};
use crate::sync::plain::Mutex;
use crossbeam_channel::Sender;
use std::sync::OnceLock;
use std::thread::JoinHandle;

/// Rank 0's way to its communication thread.
pub(crate) struct Link {
    pub(crate) commands: Sender<Command>,
    /// Worker ranks: the world size less rank 0.
    pub(crate) workers: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What starting MPI came to on this rank.
pub(crate) enum Started {
    /// Rank 0 of a world with `workers` more ranks.
    Root { workers: usize },
    /// A worker rank: its thread serves rank 0 until told to stop.
    Worker,
    /// MPI could not be used; why.
    Failed(String),
}

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
    let spawned = std::thread::Builder::new()
        .name("concurrent-futures-mpi".to_owned())
        .spawn(move || comm::run(&commands_rx, &started_tx));
    let thread = match spawned {
        Ok(thread) => thread,
        Err(e) => {
            let _ = LINK.set(Err(format!("cannot start the MPI communication thread: {e}")));
            return;
        }
    };
    match started_rx.recv() {
        Ok(Started::Root { workers }) => {
            let _ = LINK.set(Ok(Link { commands, workers, thread: Mutex::new(Some(thread)) }));
            if !crate::process::os::at_exit(finish) {
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

/// At rank 0's exit: stops the worker ranks and finalizes MPI (they exit 0 too).
extern "C" fn finish() {
    if let Some(Ok(link)) = LINK.get() {
        let _ = link.commands.send(Command::Exit);
        if let Some(thread) = link.thread.lock().take() {
            let _ = thread.join();
        }
    }
}
