//! The examples' local HTTP server: answers `GET /page/<n>` after a delay with a body of a given
//! size, and `GET /forbidden` with a 403. It listens on 127.0.0.1 only: nothing leaves the
//! machine.
//!
//! A thread per connection, each answering with a single write: every client connected at once
//! is served at once (the listen backlog holds far more than 64 waiting clients), and a reused
//! keep-alive connection never waits for a delayed ACK. (tiny_http, tried first, did both
//! badly: its connection threads start late when a burst arrives, so 5 requests of 50 ms took
//! 100-150 ms, and its replies on reused connections waited 40 ms for a delayed ACK.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// How long an idle keep-alive connection is kept open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest request line or header line read; a longer one ends the connection.
const MAX_LINE: u64 = 8 * 1024;

/// A running local server; it runs until the program ends.
pub(crate) struct LocalServer {
    pub(crate) port: u16,
}

impl LocalServer {
    /// Starts the server on a free port of 127.0.0.1.
    pub(crate) fn start(delay: Duration, body_bytes: usize) -> Result<LocalServer, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot start the local server: {e}"))?;
        let port = listener.local_addr().map_err(|e| format!("the local server has no port: {e}"))?.port();
        let page: Arc<[u8]> = response(200, "OK", &vec![b'x'; body_bytes]).into();
        let forbidden: Arc<[u8]> = response(403, "Forbidden", b"forbidden").into();
        let not_found: Arc<[u8]> = response(404, "Not Found", b"not found").into();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let replies = [Arc::clone(&page), Arc::clone(&forbidden), Arc::clone(&not_found)];
                // A connection the machine has no thread for is dropped: its client sees an error.
                let _ = std::thread::Builder::new()
                    .name("local-http".into())
                    .spawn(move || serve(stream, delay, &replies));
            }
        });
        Ok(LocalServer { port })
    }

    pub(crate) fn page_url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}/page/{n}", self.port)
    }

    pub(crate) fn forbidden_url(&self) -> String {
        format!("http://127.0.0.1:{}/forbidden", self.port)
    }
}

/// A whole HTTP/1.1 response: head and body in one buffer, for one write.
fn response(status: u16, reason: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Answers the requests of one connection until the client closes it, asks to, or idles.
/// `replies`: the page, the 403, the 404.
fn serve(stream: TcpStream, delay: Duration, replies: &[Arc<[u8]>; 3]) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // One line into `line`; false at the end of the connection or on a bad line.
    let mut next_line = |line: &mut String| {
        line.clear();
        matches!((&mut reader).take(MAX_LINE).read_line(line), Ok(n) if n > 0 && line.ends_with('\n'))
    };
    loop {
        if !next_line(&mut line) {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut close = false;
        loop {
            if !next_line(&mut line) {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            close |= header.eq_ignore_ascii_case("connection: close");
        }
        std::thread::sleep(delay);
        let reply = match path.as_str() {
            "/forbidden" => &replies[1],
            p if p.starts_with("/page/") => &replies[0],
            _ => &replies[2],
        };
        if writer.write_all(reply).is_err() || close {
            return;
        }
    }
}

/// A client with a per-request timeout, reusing connections.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).build().into()
}
