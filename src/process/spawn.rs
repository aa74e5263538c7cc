//! Starting a worker process: re-execute this program, hand it a secret privately, and accept
//! its authenticated handshake, never waiting forever.

use super::handle::WorkerHandle;
use super::launch::{FORGOT_INIT_EXIT_CODE, PARENT_PID_ENV, REFUSED_EXIT_CODE, SECRET_LEN, WORKER_ENV};
use super::link::Channels;
use super::protocol::{Hello, Setup, random_secret};
use super::reap::Worker;
use super::service;
use crate::remote::build::Build;
use crate::sys::{self, Exit, Signal};
use crossbeam_channel::{Receiver, bounded, select};
use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a started worker may take to connect and set up before the start counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a worker that could not be reached while it started may take to show it exited.
const GONE_PATIENCE: Duration = Duration::from_secs(5);
/// How often a start that waits looks whether it is still worth it, once the pool shut down.
const LOOK_AGAIN: Duration = Duration::from_millis(50);

/// What a starting worker needs from its pool.
pub(crate) trait Starter {
    /// Records the process as soon as it exists, so that `kill_workers` reaches it while it
    /// starts; false (and the start is given up) once the pool was terminated.
    fn register(&self, handle: &Arc<WorkerHandle>) -> bool;
    /// Disconnects when the pool shuts down.
    fn closed(&self) -> &Receiver<()>;
    /// True once the pool is shut down and no task is left for this worker: then a start that
    /// waits (on a handshake, on an initializer) is given up.
    fn pointless(&self) -> bool;
}

/// While a start waits: how long until it looks again whether it is [`Starter::pointless`]
/// (once the pool is shut down), or the channel that says the pool shut down.
pub(crate) fn start_watch<'a>(
    starter: &'a dyn Starter,
    never: &'a Receiver<()>,
) -> (&'a Receiver<()>, Duration) {
    match starter.closed().try_recv() {
        Err(crossbeam_channel::TryRecvError::Disconnected) => (never, LOOK_AGAIN),
        _ => (starter.closed(), Duration::MAX),
    }
}

/// Why a worker could not be started.
pub(crate) enum StartError {
    /// Worth another try (a foreign process took the handshake, a transient OS error).
    Retry(String),
    /// The pool shut down with nothing left for this worker, or was terminated: no worker is
    /// needed any more (the process was killed).
    GivenUp,
    /// The pool cannot work: the message says why and what to do.
    Broken(String),
}

/// How to start a pool's workers: decided when the pool is built.
pub(crate) struct Launch {
    /// The worker's arguments, after `argv[0]`.
    pub(crate) args: Vec<OsString>,
    /// The worker's `argv[0]`: the parent's own.
    pub(crate) arg0: OsString,
    pub(crate) setup: Setup,
}

impl Launch {
    /// The command line of a worker, decided when the pool is built.
    ///
    /// A worker runs this program again, and `init()` at the top of `main` turns it into a
    /// worker, so it gets this process's own arguments and `argv[0]`. Inside a test harness,
    /// though, `main` is the harness and `init()` is the first line of each test: a pool built
    /// on the thread of a test that called `init()` (libtest and nextest name test threads after
    /// their test) gets workers that run just that test (`<name> --exact`). A thread of another
    /// kind (a tokio worker, say) never called `init()`, so it is not taken for a test.
    pub(crate) fn new(setup: Setup) -> Launch {
        let mut own = std::env::args_os();
        let arg0 = own.next().unwrap_or_else(|| OsString::from("worker"));
        let test = super::launch::init_ran_on_this_thread()
            .then(|| std::thread::current().name().map(str::to_owned))
            .flatten()
            .filter(|name| name != "main" && !name.is_empty());
        let args = match test {
            Some(name) => vec![name.into(), "--exact".into(), "--nocapture".into()],
            None => own.collect(),
        };
        Launch { args, arg0, setup }
    }
}

/// Starts one worker process and accepts its handshake; the caller then opens its link and
/// sends it its setup.
///
/// Every wait here is bounded: the worker must connect within [`HANDSHAKE_TIMEOUT`]; the start
/// is given up as soon as the process exits, or the pool is terminated, or shut down with
/// nothing left for this worker (see [`Starter`]).
pub(crate) fn start_worker(launch: &Launch, starter: &dyn Starter) -> Result<(Worker, Channels), StartError> {
    let io = |what: &str, e: std::io::Error| StartError::Retry(format!("{what}: {e}"));
    let (server, name) =
        IpcOneShotServer::<Hello>::new().map_err(|e| io("cannot open a handshake server", e))?;
    let secret = random_secret().map_err(|e| io("cannot get random bytes for the handshake", e))?;
    let build = Build::this_file().map_err(|e| io("cannot identify this program's file", e))?;
    let executable = sys::executable().map_err(|e| io("cannot find this program's file", e))?;

    let mut command = Command::new(executable);
    command
        .args(&launch.args)
        .env(WORKER_ENV, &name)
        .env(PARENT_PID_ENV, std::process::id().to_string())
        .stdin(Stdio::piped());
    #[cfg(feature = "tracing")]
    command.env(super::events::LEVEL_ENV, super::events::level_for_a_worker());
    sys::set_arg0(&mut command, &launch.arg0);
    let mut child = command.spawn().map_err(|e| io("cannot start a worker process", e))?;
    let pid = child.id();
    let handle = WorkerHandle::new(pid);
    let stdin = child.stdin.take();

    let (exited_tx, exited) = bounded(1);
    let monitored = Arc::clone(&handle);
    std::thread::Builder::new()
        .name(format!("concurrent-futures-monitor-{pid}"))
        .spawn(move || {
            // Wait for the exit first and reap only with signals shut out (`reaped`), so that a
            // signal for this worker can never reach a process that reused its pid.
            let _ = sys::wait_for_exit_unreaped(pid);
            let exit = match monitored.reaped(|| child.wait()) {
                Ok(status) => sys::describe(status),
                Err(e) => Exit { code: None, text: format!("could not be waited for: {e}") },
            };
            let _ = exited_tx.send(exit);
        })
        .map_err(|e| {
            handle.signal(Signal::Kill);
            io("cannot start a monitor thread", e)
        })?;
    // A start given up kills its worker and waits (bounded) until it is reaped, so that no
    // worker outlives the pool that gave up on it.
    let fail = |why: StartError| {
        handle.signal(Signal::Kill);
        let _ = exited.recv_timeout(GONE_PATIENCE);
        why
    };
    if !starter.register(&handle) {
        return Err(fail(StartError::GivenUp));
    }

    // The secret goes through the child's stdin: no other process can read it there. A worker
    // already gone makes this write fail; it raises no SIGPIPE, since the slot thread that
    // starts workers holds SIGPIPE back (see `sys::sigpipe`).
    let handed = stdin.map(|mut stdin| stdin.write_all(&secret));
    debug_assert_eq!(secret.len(), SECRET_LEN);
    if let Some(Err(e)) = handed {
        // A worker that ends at once (it never called `init()`, say) may be gone before its
        // secret is written: then its exit, not the broken pipe, says what went wrong.
        if let Ok(exit) = exited.recv_timeout(GONE_PATIENCE) {
            return Err(exited_before_handshake(&exit));
        }
        return Err(fail(io("cannot hand the worker its secret", e)));
    }

    let (accepted_tx, accepted) = bounded(1);
    std::thread::Builder::new()
        .name("concurrent-futures-handshake".to_owned())
        .spawn(move || {
            let _ = accepted_tx.send(server.accept().map(|(_, hello)| hello));
        })
        .map_err(|e| fail(io("cannot start a handshake thread", e)))?;

    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let never = crossbeam_channel::never();
    let hello = loop {
        if starter.pointless() {
            // Killed first, so that it does not try to reach the server abandoned here.
            let why = fail(StartError::GivenUp);
            abandon(&name, &accepted);
            return Err(why);
        }
        let (closed, look_again) = start_watch(starter, &never);
        let wait = deadline.saturating_duration_since(Instant::now()).min(look_again);
        select! {
            recv(accepted) -> hello => break match hello {
                Ok(Ok(hello)) => hello,
                Ok(Err(e)) => return Err(fail(StartError::Retry(format!("the worker's handshake failed: {e:?}")))),
                Err(_) => return Err(fail(StartError::Retry("the handshake thread ended".to_owned()))),
            },
            recv(exited) -> exit => {
                abandon(&name, &accepted);
                let exit = exit.unwrap_or_else(|_| Exit { code: None, text: "was lost".to_owned() });
                return Err(exited_before_handshake(&exit));
            },
            recv(closed) -> _ => continue,
            default(wait) => {
                if Instant::now() < deadline {
                    continue;
                }
                let why = fail(StartError::Broken(format!(
                    "a worker process did not connect within {HANDSHAKE_TIMEOUT:?}; call \
                     concurrent_futures::init() as the first line of main()"
                )));
                abandon(&name, &accepted);
                return Err(why);
            },
        }
    };
    let (channels, service_requests, service_replies) = verify(hello, &secret, &build, pid).map_err(fail)?;
    // The worker's calls to parent services are answered here, in the parent, until it exits.
    let served = Arc::clone(&handle);
    let (serving, ended) = bounded::<()>(0);
    let services = std::thread::Builder::new()
        .name(format!("concurrent-futures-services-{pid}"))
        .spawn(move || {
            let _serving = serving;
            if let Some(why) = service::serve(&service_requests, &service_replies, &served.grants) {
                served.condemn(why);
            }
            // Closed before `_serving` disconnects: once `reap` saw that, nothing of the worker
            // is left open (captures would only be dropped after this body returned).
            drop((service_requests, service_replies));
        })
        .map_err(|e| fail(io("cannot start a service thread", e)))?;
    Ok((Worker::new(handle, exited, (services, ended)), channels))
}

/// Accepts a handshake only from the worker that was started: it must present the secret that
/// only it was given, its own pid, and the identity of this very executable.
fn verify(
    hello: Hello,
    secret: &[u8],
    build: &Build,
    pid: u32,
) -> Result<(Channels, IpcBytesReceiver, IpcBytesSender), StartError> {
    match hello {
        Hello::Worker {
            secret: presented,
            build: theirs,
            pid: their_pid,
            tasks,
            control,
            results,
            payloads,
            service_requests,
            service_replies,
        } => {
            if presented != secret || their_pid != pid {
                return Err(StartError::Retry(
                    "a process without the pool's secret tried to attach; it was refused".to_owned(),
                ));
            }
            if theirs != *build {
                return Err(StartError::Broken(format!(
                    "a worker runs a different build of this program ({theirs}, expected {build})"
                )));
            }
            Ok((Channels { tasks, control, results, payloads }, service_requests, service_replies))
        }
        Hello::Abandon => Err(StartError::Retry("the handshake was abandoned".to_owned())),
    }
}

/// Unblocks a handshake thread whose worker will never connect, and waits (up to
/// [`GONE_PATIENCE`]) for it to end: from then on no socket of the handshake is left open, so
/// a pool that gave up a start leaves no descriptor behind. What it accepted (the abandon, or
/// the worker's hello that came first after all) is dropped here.
fn abandon<T>(name: &str, accepted: &Receiver<T>) {
    if sys::CHANNELS_ARE_SOCKETS {
        // The name is the path the server listens at: a connection that hangs up ends its
        // accept (not `IpcSender::connect`, see `knock_and_hang_up`).
        sys::knock_and_hang_up(name);
    } else if let Ok(sender) = IpcSender::<Hello>::connect(name.to_owned()) {
        let _ = sender.send(Hello::Abandon);
    }
    let deadline = Instant::now() + GONE_PATIENCE;
    while accepted.recv_deadline(deadline).is_ok() {}
}

/// Why a start failed when its worker exited before its handshake. An exit code is the
/// program's own doing and would happen again (it never called `init()`, say): the pool is
/// broken. A signal (killed from outside, say) is worth another try; one the program brings on
/// itself every time fails all the attempts and breaks the pool then.
fn exited_before_handshake(exit: &Exit) -> StartError {
    let how = &exit.text;
    match exit.code {
        Some(FORGOT_INIT_EXIT_CODE) => StartError::Broken(format!(
            "a worker process {how}: the program reached a ProcessPoolExecutor without calling \
             concurrent_futures::init(); call it as the first line of main()"
        )),
        Some(REFUSED_EXIT_CODE) => StartError::Broken(format!(
            "a worker process {how}: it refused to run as a worker (elevated privileges, or its \
             channel did not lead to this process); its standard error says which"
        )),
        Some(_) => StartError::Broken(format!(
            "a worker process {how} before it connected; is concurrent_futures::init() the \
             first line of main()?"
        )),
        None => StartError::Retry(format!("a worker process {how} before it connected")),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// This test module's helper, as libtest names it.
    fn helper_test_name() -> String {
        crate::sys::tests::libtest_name(module_path!(), "foreign_process_helper")
    }
    use ipc_channel::ipc::bytes_channel;

    const FOREIGN_ENV: &str = "CONCURRENT_FUTURES_TEST_FOREIGN_SERVER";

    /// A foreign process's hello: its own channels, a secret of its own, its real identity.
    fn foreign_hello(secret: Vec<u8>) -> Hello {
        let (tasks, _) = bytes_channel().unwrap();
        let (control, _) = bytes_channel().unwrap();
        let (_, results) = ipc_channel::ipc::channel().unwrap();
        let (_, payloads) = bytes_channel().unwrap();
        let (_, service_requests) = bytes_channel().unwrap();
        let (service_replies, _) = bytes_channel().unwrap();
        Hello::Worker {
            secret,
            build: Build::this_file().unwrap(),
            pid: std::process::id(),
            tasks,
            control,
            results,
            payloads,
            service_requests,
            service_replies,
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
        let build = Build::this_file().unwrap();
        let mut foreign = Command::new(sys::executable().unwrap())
            .args([&helper_test_name(), "--exact", "--nocapture"])
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
        match verify(hello, &secret, &build, claimed) {
            Err(StartError::Retry(why)) => assert!(why.contains("refused"), "{why}"),
            _ => panic!("a process without the secret was accepted"),
        }
    }

    #[test]
    fn a_different_build_is_refused() {
        let secret = random_secret().unwrap();
        let mut other_build = Build::this_file().unwrap();
        other_build.size += 1;
        match verify(foreign_hello(secret.clone()), &secret, &other_build, std::process::id()) {
            Err(StartError::Broken(why)) => assert!(why.contains("different build"), "{why}"),
            _ => panic!("a different build was accepted"),
        }
    }

    #[test]
    fn the_started_worker_is_accepted() {
        let secret = random_secret().unwrap();
        let build = Build::this_file().unwrap();
        assert!(verify(foreign_hello(secret.clone()), &secret, &build, std::process::id()).is_ok());
    }
}
