//! A `SharedMap` handle inside a worker process: a proxy that runs each call in the parent.
//!
//! How it is served: at its handshake every worker hands the parent a request channel and a
//! reply channel, and the parent runs one thread per worker that answers map requests (see
//! [`serve_requests`]). A request names the map by its registry id and the operation by the
//! offset of a monomorphised handler function, exactly like a task's trampoline; the handler
//! runs in the parent under the map's lock, so every call, `update` included, is atomic. No
//! extra process is involved.

use crate::error::panic_message;
use crate::process::{MapHandler, handler_at, offset_of_handler};
use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long either side of a map call looks for the other's message before it sleeps: a map
/// call is a round trip, and a sleeping side costs a wake-up (tens of µs on this VM) each time.
const SPIN: Duration = Duration::from_micros(50);

/// Receives the next message, first spinning (then yielding) for [`SPIN`], then blocking.
fn recv_soon(receiver: &IpcBytesReceiver) -> Result<Vec<u8>, String> {
    use ipc_channel::TryRecvError;
    let start = Instant::now();
    while start.elapsed() < SPIN {
        match receiver.try_recv() {
            Ok(message) => return Ok(message),
            Err(TryRecvError::Empty) => std::thread::yield_now(),
            Err(TryRecvError::IpcError(e)) => return Err(e.to_string()),
        }
    }
    receiver.recv().map_err(|e| e.to_string())
}

#[derive(Serialize, Deserialize)]
struct Request {
    map: u64,
    handler: isize,
    operands: Vec<u8>,
}

/// This worker's line to its parent's map server.
struct Client {
    requests: IpcBytesSender,
    replies: IpcBytesReceiver,
}

static CLIENT: OnceLock<Mutex<Client>> = OnceLock::new();

/// Called once in a worker, at its handshake.
pub(crate) fn install_client(requests: IpcBytesSender, replies: IpcBytesReceiver) {
    let _ = CLIENT.set(Mutex::new(Client { requests, replies }));
}

/// True in a worker whose parent is `pid`: a map owned by `pid` is reachable from here.
pub(crate) fn can_reach(pid: u32) -> bool {
    CLIENT.get().is_some() && crate::process::parent_pid() == Some(pid)
}

/// Runs `handler` on map `map` in the parent and decodes its answer.
///
/// # Panics
///
/// If the parent is gone or the map no longer exists there: the panic fails the task that made
/// the call, with a message that says which.
pub(crate) fn call<T: DeserializeOwned>(map: u64, handler: MapHandler, operands: &impl Serialize) -> T {
    let fail = |why: String| -> ! { panic!("SharedMap {map}: {why}") };
    let Some(client) = CLIENT.get() else { fail("this process is not a worker of the map's owner".into()) };
    let operands =
        postcard::to_allocvec(operands).unwrap_or_else(|e| fail(format!("cannot encode the call: {e}")));
    let request = Request { map, handler: offset_of_handler(handler), operands };
    let request =
        postcard::to_allocvec(&request).unwrap_or_else(|e| fail(format!("cannot encode the call: {e}")));
    let reply = {
        let client = client.lock();
        if let Err(e) = client.requests.send(&request) {
            fail(format!("the parent process is gone ({e})"));
        }
        recv_soon(&client.replies).unwrap_or_else(|e| fail(format!("the parent process is gone ({e})")))
    };
    let reply: Result<Vec<u8>, String> =
        postcard::from_bytes(&reply).unwrap_or_else(|e| fail(format!("unreadable reply: {e}")));
    let answer = reply.unwrap_or_else(|why| fail(why));
    postcard::from_bytes(&answer).unwrap_or_else(|e| fail(format!("cannot decode the answer: {e}")))
}

/// The parent's side: answers one worker's map requests until the worker is gone.
pub(crate) fn serve_requests(requests: &IpcBytesReceiver, replies: &IpcBytesSender) {
    while let Ok(bytes) = recv_soon(requests) {
        let reply = answer(&bytes);
        let Ok(reply) = postcard::to_allocvec(&reply) else { break };
        if replies.send(&reply).is_err() {
            break;
        }
    }
}

fn answer(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let request: Request = postcard::from_bytes(bytes).map_err(|e| format!("unreadable request: {e}"))?;
    let Some(map) = super::lookup(request.map) else {
        return Err("no longer exists: every handle to it in the parent was dropped".into());
    };
    // SAFETY: requests come only from this parent's own workers, over the private channel
    // they handed over at a handshake that checked they run this very executable.
    let handler = unsafe { handler_at(request.handler) };
    catch_unwind(AssertUnwindSafe(|| handler(&*map, &request.operands)))
        .unwrap_or_else(|payload| Err(format!("the operation panicked: {}", panic_message(payload.as_ref()))))
}
