//! Starting a worker process: re-execute this program, hand it a secret privately, and accept
//! its authenticated handshake, all without polling and without waiting forever.

use super::entry::{FORGOT_INIT_EXIT_CODE, PARENT_PID_ENV, SECRET_LEN, WORKER_ENV};
use super::os;
use super::protocol::{FromWorker, Hello, Identity, ToWorker, decode, encode, random_secret};
use crossbeam_channel::{Receiver, bounded, select};
use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a started worker may take to connect and set up before the start counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the parent keeps of a running worker.
pub(crate) struct Worker {
    pub(crate) pid: u32,
    pub(crate) tasks: IpcBytesSender,
    pub(crate) results: IpcBytesReceiver,
    /// The worker's exit, described ("was killed by signal 9 (SIGKILL)"), once it exits.
    pub(crate) exited: Receiver<String>,
}

impl Worker {
    /// Waits for the worker's exit (killing it if it does not exit in time) and describes it.
    pub(crate) fn reap(&self, patience: Duration) -> String {
        wait_for_exit(self.pid, &self.exited, patience)
    }

    /// Closes the worker's task channel (it exits when it sees that), then reaps it.
    pub(crate) fn close(self, patience: Duration) -> String {
        let Worker { pid, tasks, results: _, exited } = self;
        drop(tasks);
        wait_for_exit(pid, &exited, patience)
    }
}

/// Waits for a worker's exit as its monitor thread reports it, killing it after `patience`.
fn wait_for_exit(pid: u32, exited: &Receiver<String>, patience: Duration) -> String {
    match exited.recv_timeout(patience) {
        Ok(how) => how,
        Err(_) => {
            os::kill(pid);
            exited.recv().unwrap_or_else(|_| "was lost (its monitor thread ended)".to_owned())
        }
    }
}

/// Why a worker could not be started.
pub(crate) enum StartError {
    /// Worth another try (a foreign process took the handshake, a transient OS error).
    Retry(String),
    /// The pool cannot work: the message says why and what to do.
    Broken(String),
}

/// The command-line arguments of a worker, decided when the pool is built.
///
/// A worker runs this program again, and `init()` at the top of `main` turns it into a worker
/// before the arguments matter. Inside a test harness, though, `main` is the harness: a pool
/// built on a thread named after a test (libtest and nextest name test threads so) gets workers
/// that run just that test (`<name> --exact`), whose first line, `init()`, makes them workers.
/// Otherwise the worker gets this process's arguments.
pub(crate) fn worker_args() -> Vec<std::ffi::OsString> {
    match std::thread::current().name() {
        Some(name) if name != "main" && !name.is_empty() => {
            vec![name.into(), "--exact".into(), "--nocapture".into()]
        }
        _ => std::env::args_os().skip(1).collect(),
    }
}

/// Starts one worker and sets it up. `initializer` and `max_tasks` go into its setup frame.
pub(crate) fn start_worker(
    args: &[std::ffi::OsString],
    initializer: Option<isize>,
    max_tasks: Option<u64>,
) -> Result<Worker, StartError> {
    let io = |what: &str, e: std::io::Error| StartError::Retry(format!("{what}: {e}"));
    let (server, name) =
        IpcOneShotServer::<Hello>::new().map_err(|e| io("cannot open a handshake server", e))?;
    let secret = random_secret().map_err(|e| io("cannot read /dev/urandom", e))?;
    let identity = Identity::of_this_process().map_err(|e| io("cannot read /proc/self/exe", e))?;

    let mut child = Command::new("/proc/self/exe")
        .args(args)
        .env(WORKER_ENV, &name)
        .env(PARENT_PID_ENV, std::process::id().to_string())
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| io("cannot start a worker process", e))?;
    let pid = child.id();
    // The secret goes through the child's stdin: no other process can read it there.
    let handed = child.stdin.take().map(|mut stdin| stdin.write_all(&secret));
    debug_assert_eq!(secret.len(), SECRET_LEN);

    let (exited_tx, exited) = bounded(1);
    std::thread::Builder::new()
        .name(format!("concurrent-futures-monitor-{pid}"))
        .spawn(move || {
            let how = match child.wait() {
                Ok(status) => status,
                Err(e) => return drop(exited_tx.send(format!("could not be waited for: {e}"))),
            };
            let _ = exited_tx.send(os::describe(how));
        })
        .map_err(|e| {
            os::kill(pid);
            io("cannot start a monitor thread", e)
        })?;

    let fail = |why: StartError| {
        os::kill(pid);
        why
    };
    if let Some(Err(e)) = handed {
        return Err(fail(io("cannot hand the worker its secret", e)));
    }

    let (accepted_tx, accepted) = bounded(1);
    std::thread::Builder::new()
        .name("concurrent-futures-handshake".to_owned())
        .spawn(move || {
            let _ = accepted_tx.send(server.accept().map(|(_, hello)| hello));
        })
        .map_err(|e| fail(io("cannot start a handshake thread", e)))?;

    let hello = select! {
        recv(accepted) -> hello => match hello {
            Ok(Ok(hello)) => hello,
            Ok(Err(e)) => return Err(fail(StartError::Retry(format!("the worker's handshake failed: {e}")))),
            Err(_) => return Err(fail(StartError::Retry("the handshake thread ended".to_owned()))),
        },
        recv(exited) -> how => {
            abandon(&name);
            let how = how.unwrap_or_else(|_| "exited".to_owned());
            return Err(StartError::Broken(exited_before_handshake(&how)));
        },
        default(HANDSHAKE_TIMEOUT) => {
            abandon(&name);
            return Err(fail(StartError::Broken(format!(
                "a worker process did not connect within {HANDSHAKE_TIMEOUT:?}; call \
                 concurrent_futures::init() as the first line of main()"
            ))));
        },
    };
    let (tasks, results, map_requests, map_replies) = verify(hello, &secret, &identity, pid).map_err(fail)?;
    // The worker's `SharedMap` proxies are served here, in the parent, until the worker exits.
    std::thread::Builder::new()
        .name(format!("concurrent-futures-maps-{pid}"))
        .spawn(move || crate::shared_map::serve_requests(&map_requests, &map_replies))
        .map_err(|e| fail(io("cannot start a map server thread", e)))?;
    let worker = Worker { pid, tasks, results, exited };
    setup(&worker, initializer, max_tasks).inspect_err(|_| os::kill(pid))?;
    Ok(worker)
}

/// Accepts a handshake only from the worker that was started: it must present the secret that
/// only it was given, its own pid, and the identity of this very executable.
fn verify(
    hello: Hello,
    secret: &[u8],
    identity: &Identity,
    pid: u32,
) -> Result<(IpcBytesSender, IpcBytesReceiver, IpcBytesReceiver, IpcBytesSender), StartError> {
    match hello {
        Hello::Worker {
            secret: presented,
            identity: theirs,
            pid: their_pid,
            tasks,
            results,
            map_requests,
            map_replies,
        } => {
            if presented != secret || their_pid != pid {
                return Err(StartError::Retry(
                    "a process without the pool's secret tried to attach; it was refused".to_owned(),
                ));
            }
            if theirs != *identity {
                return Err(StartError::Broken(format!(
                    "a worker runs a different build of this program ({theirs:?}, expected {identity:?})"
                )));
            }
            Ok((tasks, results, map_requests, map_replies))
        }
        Hello::Abandon => Err(StartError::Retry("the handshake was abandoned".to_owned())),
    }
}

/// Sends the setup frame and waits for the worker to be ready (its initializer has run).
fn setup(worker: &Worker, initializer: Option<isize>, max_tasks: Option<u64>) -> Result<(), StartError> {
    let frame =
        encode(&ToWorker::Setup { initializer, max_tasks }).map_err(|e| StartError::Broken(e.to_string()))?;
    worker.tasks.send(&frame).map_err(|e| StartError::Retry(format!("the worker is gone: {e}")))?;
    let reply = worker.results.recv().map_err(|_| {
        let how = worker.reap(Duration::from_secs(5));
        StartError::Broken(format!("a worker process {how} while it started"))
    })?;
    match decode::<FromWorker>(&reply) {
        Ok(FromWorker::Ready) => Ok(()),
        Ok(FromWorker::InitFailed(message)) => {
            Err(StartError::Broken(format!("a worker's initializer panicked: {message}")))
        }
        Ok(other) => Err(StartError::Retry(format!("a worker answered its setup with {other:?}"))),
        Err(e) => Err(StartError::Retry(format!("a worker answered its setup with garbage: {e}"))),
    }
}

/// Unblocks a handshake thread whose worker will never connect.
fn abandon(name: &str) {
    if let Ok(sender) = IpcSender::<Hello>::connect(name.to_owned()) {
        let _ = sender.send(Hello::Abandon);
    }
}

fn exited_before_handshake(how: &str) -> String {
    if how == format!("exited with code {FORGOT_INIT_EXIT_CODE}") {
        format!(
            "a worker process {how}: the program reached a ProcessPoolExecutor without calling \
             concurrent_futures::init(); call it as the first line of main()"
        )
    } else {
        format!(
            "a worker process {how} before it connected; is concurrent_futures::init() the \
             first line of main()?"
        )
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use ipc_channel::ipc::bytes_channel;

    const FOREIGN_ENV: &str = "CONCURRENT_FUTURES_TEST_FOREIGN_SERVER";

    /// A foreign process's hello: its own channels, a secret of its own, its real identity.
    fn foreign_hello(secret: Vec<u8>) -> Hello {
        let (tasks, _) = bytes_channel().unwrap();
        let (_, results) = bytes_channel().unwrap();
        let (_, map_requests) = bytes_channel().unwrap();
        let (map_replies, _) = bytes_channel().unwrap();
        Hello::Worker {
            secret,
            identity: Identity::of_this_process().unwrap(),
            pid: std::process::id(),
            tasks,
            results,
            map_requests,
            map_replies,
        }
    }

    /// Run as a separate process by the test below: connects to the server it is given.
    #[test]
    fn foreign_process_helper() {
        if let Ok(name) = std::env::var(FOREIGN_ENV) {
            let sender = IpcSender::<Hello>::connect(name).unwrap();
            sender.send(foreign_hello(random_secret().unwrap())).unwrap();
        }
    }

    #[test]
    fn a_foreign_process_cannot_attach() {
        let (server, name) = IpcOneShotServer::<Hello>::new().unwrap();
        let secret = random_secret().unwrap();
        let identity = Identity::of_this_process().unwrap();
        let mut foreign = Command::new("/proc/self/exe")
            .args(["process::spawn::tests::foreign_process_helper", "--exact", "--nocapture"])
            .env(FOREIGN_ENV, &name)
            .spawn()
            .unwrap();
        let (_, hello) = server.accept().unwrap();
        assert!(foreign.wait().unwrap().success());
        // Even with the pid it claims, the foreign process lacks the secret.
        let claimed = match &hello {
            Hello::Worker { pid, .. } => *pid,
            Hello::Abandon => unreachable!("the helper sends a worker hello"),
        };
        match verify(hello, &secret, &identity, claimed) {
            Err(StartError::Retry(why)) => assert!(why.contains("refused"), "{why}"),
            _ => panic!("a process without the secret was accepted"),
        }
    }

    #[test]
    fn a_different_build_is_refused() {
        let secret = random_secret().unwrap();
        let mut other_build = Identity::of_this_process().unwrap();
        other_build.modified_ns += 1;
        match verify(foreign_hello(secret.clone()), &secret, &other_build, std::process::id()) {
            Err(StartError::Broken(why)) => assert!(why.contains("different build"), "{why}"),
            _ => panic!("a different build was accepted"),
        }
    }

    #[test]
    fn the_started_worker_is_accepted() {
        let secret = random_secret().unwrap();
        let identity = Identity::of_this_process().unwrap();
        assert!(verify(foreign_hello(secret.clone()), &secret, &identity, std::process::id()).is_ok());
    }
}
