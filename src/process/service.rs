//! Parent services over ipc-channel: a worker's calls to the objects of the parent its tasks
//! were sent (see `remote::service`), and the parent's thread that answers them.
//!
//! Trusting no worker: the parent runs only code it chose itself. A request names a service by
//! the id the parent gave it, and that id must belong to a service that was sent to that very
//! worker in one of its tasks; the service decodes and checks the operands. A request for any
//! other id is a forgery: no service is called, and the worker is killed.

use super::protocol::ByteBuf;
use crate::remote::service::Service;
use crate::sync::plain::Mutex;
use crate::sync::{SPIN_WINDOW, spin_then_park};
use ipc_channel::ipc::{IpcBytesReceiver, IpcBytesSender};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

#[derive(Serialize, Deserialize)]
struct Request {
    service: u64,
    op: u8,
    operands: ByteBuf,
}

/// The services one worker may call: those sent to it, for as long as they live.
#[derive(Default)]
pub(crate) struct Grants(Mutex<HashMap<u64, Weak<dyn Service>>>);

impl Grants {
    pub(crate) fn grant(&self, services: &[(u64, Arc<dyn Service>)]) {
        if services.is_empty() {
            return;
        }
        let mut grants = self.0.lock();
        grants.retain(|_, service| service.strong_count() > 0);
        for (id, service) in services {
            grants.insert(*id, Arc::downgrade(service));
        }
    }

    fn get(&self, id: u64) -> Result<Option<Arc<dyn Service>>, ()> {
        match self.0.lock().get(&id) {
            None => Err(()),
            Some(weak) => Ok(weak.upgrade()),
        }
    }
}

/// Receives the next message, looking for it for [`SPIN_WINDOW`] before it blocks: a call is a
/// round trip, and a sleeping side costs a wake-up each time.
fn recv_soon(receiver: &IpcBytesReceiver) -> Result<Vec<u8>, String> {
    use ipc_channel::TryRecvError;
    spin_then_park(
        SPIN_WINDOW,
        || match receiver.try_recv() {
            Ok(message) => Some(Ok(message)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::IpcError(e)) => Some(Err(format!("{e:?}"))),
        },
        || receiver.recv().map_err(|e| format!("{e:?}")),
    )
}

/// The parent's side: answers one worker's requests until the worker is gone. Returns why
/// the worker must be killed, if it broke the rules.
pub(crate) fn serve(
    requests: &IpcBytesReceiver,
    replies: &IpcBytesSender,
    grants: &Grants,
) -> Option<String> {
    while let Ok(bytes) = recv_soon(requests) {
        let Ok(request) = postcard::from_bytes::<Request>(&bytes) else {
            return Some("sent an unreadable service request".to_owned());
        };
        let reply: Result<ByteBuf, String> = match grants.get(request.service) {
            Err(()) => {
                return Some(format!(
                    "asked for parent service {}, which was never sent to it (a forged request)",
                    request.service
                ));
            }
            Ok(None) => Err("no longer exists: every handle to it in the parent was dropped".to_owned()),
            Ok(Some(service)) => {
                let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    service.call(request.op, &request.operands.0)
                }));
                match answer {
                    Ok(answer) => answer.map(ByteBuf),
                    Err(payload) => Err(format!(
                        "the operation panicked: {}",
                        crate::error::panic_message(payload.as_ref())
                    )),
                }
            }
        };
        let Ok(reply) = postcard::to_allocvec(&reply) else { break };
        if replies.send(&reply).is_err() {
            break;
        }
    }
    None
}

/// This worker's line to its parent's services.
struct Client {
    requests: IpcBytesSender,
    replies: IpcBytesReceiver,
}

static CLIENT: OnceLock<Mutex<Client>> = OnceLock::new();

/// Called once in a worker, at its handshake.
pub(crate) fn install_client(requests: IpcBytesSender, replies: IpcBytesReceiver) {
    let _ = CLIENT.set(Mutex::new(Client { requests, replies }));
}

/// In a worker: the pid of the parent, which owns the services it calls.
pub(crate) fn parent() -> Option<u32> {
    super::launch::parent_pid()
}

/// True in a worker whose parent is `pid`: a service owned by `pid` can be called from here.
pub(crate) fn can_reach(pid: u32) -> bool {
    CLIENT.get().is_some() && super::launch::parent_pid() == Some(pid)
}

/// Calls operation `op` of service `service` in the parent, and returns its encoded answer.
///
/// # Errors
///
/// What the service answered, or why the call could not be made (not a worker, the parent is
/// gone).
pub(crate) fn call(service: u64, op: u8, operands: Vec<u8>) -> Result<Vec<u8>, String> {
    let client = CLIENT.get().ok_or("this process is not a worker of the service's owner")?;
    let request = postcard::to_allocvec(&Request { service, op, operands: ByteBuf(operands) })
        .map_err(|e| format!("cannot encode the call: {e}"))?;
    let reply = {
        let client = client.lock();
        client.requests.send(&request).map_err(|e| format!("the parent process is gone ({e})"))?;
        recv_soon(&client.replies).map_err(|e| format!("the parent process is gone ({e})"))?
    };
    let reply: Result<ByteBuf, String> =
        postcard::from_bytes(&reply).map_err(|e| format!("unreadable reply: {e}"))?;
    reply.map(|bytes| bytes.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Service for Echo {
        fn call(&self, op: u8, operands: &[u8]) -> Result<Vec<u8>, String> {
            Ok([&[op][..], operands].concat())
        }
    }

    /// Sends `requests` as a worker would and serves them; the replies, and the verdict.
    fn exchange(grants: &Grants, requests: &[Request]) -> (Vec<Result<ByteBuf, String>>, Option<String>) {
        let (req_tx, req_rx) = ipc_channel::ipc::bytes_channel().unwrap();
        let (rep_tx, rep_rx) = ipc_channel::ipc::bytes_channel().unwrap();
        for request in requests {
            req_tx.send(&postcard::to_allocvec(request).unwrap()).unwrap();
        }
        drop(req_tx);
        let verdict = serve(&req_rx, &rep_tx, grants);
        let mut replies = Vec::new();
        while let Ok(bytes) = rep_rx.try_recv() {
            replies.push(postcard::from_bytes(&bytes).unwrap());
        }
        (replies, verdict)
    }

    #[test]
    fn granted_services_answer() {
        let grants = Grants::default();
        let echo: Arc<dyn Service> = Arc::new(Echo);
        grants.grant(&[(4, Arc::clone(&echo))]);
        let (replies, verdict) =
            exchange(&grants, &[Request { service: 4, op: 9, operands: ByteBuf(vec![1]) }]);
        assert_eq!(replies, [Ok(ByteBuf(vec![9, 1]))]);
        assert_eq!(verdict, None);
    }

    #[test]
    fn a_forged_request_is_refused_and_condemns_the_worker() {
        let grants = Grants::default();
        let echo: Arc<dyn Service> = Arc::new(Echo);
        grants.grant(&[(4, echo)]);
        let forged = Request { service: 5, op: 0, operands: ByteBuf(Vec::new()) };
        let after = Request { service: 4, op: 0, operands: ByteBuf(Vec::new()) };
        let (replies, verdict) = exchange(&grants, &[forged, after]);
        assert!(replies.is_empty(), "no answer, and nothing served after the forgery");
        assert!(verdict.is_some_and(|why| why.contains("forged")));
    }

    #[test]
    fn a_dropped_service_answers_that_it_is_gone() {
        let grants = Grants::default();
        let echo: Arc<dyn Service> = Arc::new(Echo);
        grants.grant(&[(4, Arc::clone(&echo))]);
        drop(echo);
        let (replies, _) = exchange(&grants, &[Request { service: 4, op: 0, operands: ByteBuf(Vec::new()) }]);
        assert!(matches!(&replies[..], [Err(why)] if why.contains("no longer exists")));
    }
}
