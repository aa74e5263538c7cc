//! The examples' local HTTP server: answers `/page/<n>` after a delay with a body of a given
//! size, and `/forbidden` with a 403. Nothing leaves the machine.

use std::sync::Arc;
use std::time::Duration;

/// A running local server.
pub(crate) struct LocalServer {
    pub(crate) port: u16,
}

impl LocalServer {
    /// Starts the server on 127.0.0.1 with enough handler threads for 64 clients at once, each
    /// sleeping through its delay.
    pub(crate) fn start(delay: Duration, body_bytes: usize) -> Result<LocalServer, String> {
        let server = tiny_http::Server::http("127.0.0.1:0")
            .map_err(|e| format!("cannot start the local server: {e}"))?;
        let port = server.server_addr().to_ip().map(|a| a.port()).ok_or("the local server has no port")?;
        let server = Arc::new(server);
        let body = Arc::new(vec![b'x'; body_bytes]);
        for _ in 0..96 {
            let (server, body) = (Arc::clone(&server), Arc::clone(&body));
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    std::thread::sleep(delay);
                    let response = if request.url() == "/forbidden" {
                        tiny_http::Response::from_data(b"forbidden".to_vec()).with_status_code(403)
                    } else {
                        tiny_http::Response::from_data(body.as_slice().to_vec())
                    };
                    let _ = request.respond(response);
                }
            });
        }
        Ok(LocalServer { port })
    }

    pub(crate) fn page_url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}/page/{n}", self.port)
    }

    pub(crate) fn forbidden_url(&self) -> String {
        format!("http://127.0.0.1:{}/forbidden", self.port)
    }
}

/// A client for the local server. tiny_http's answers on a reused keep-alive connection wait
/// for a delayed ACK (40 ms), so each request gets a fresh connection (microseconds on
/// loopback) unless `reuse_connections`.
pub(crate) fn agent(timeout: Duration, reuse_connections: bool) -> ureq::Agent {
    let idle = if reuse_connections { 100 } else { 0 };
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle)
        .build()
        .into()
}
