//! The web remote (`--web PORT`): one small page, served by the engine,
//! with the setlist, the song playing, big next / previous / PANIC buttons
//! and live meters, for a phone or a tablet. The page's WebSocket speaks
//! the control protocol's JSON (`{"cmd":"setlist_next"}`), each browser an
//! in-process client of the engine's control server opened through a
//! [`Connector`] (so no second set of commands), limited to the playing
//! controls ([`socket::allowed`]).
//!
//! Threads: a listener thread ("stagerack-web") accepts connections and
//! gives each one a thread of its own (at most [`MAX_CONNECTIONS`]) that
//! reads one bounded request head and serves the page, or runs the
//! WebSocket until it closes. A head must arrive whole within
//! [`http::HEAD_TIMEOUT`] however slowly its bytes trickle, and one peer
//! address has at most [`MAX_PENDING_PER_PEER`] connections still sending
//! their head (a new one closes its oldest), so no host can hold every
//! connection without the token; a browser's page and WebSocket, past
//! their heads, are not limited by it. Blocking sockets with short timeouts on
//! threads of their own, rather than non-blocking ones polled by the
//! pump, keep a slow or hostile browser (a half-sent head, a frame
//! trickling in) from ever delaying the main thread, whose pump only
//! sees channel messages; the runtime's pump needs no change for it.
//!
//! Access: bound to a loopback address, requests must name this machine
//! in `Host` (no DNS rebinding) and WebSocket upgrades from a browser must
//! come from the page's own origin (no other site's script drives the
//! engine). Bound to any other address (0.0.0.0 included), every request
//! must also carry the random token — `?token=…` once, then a cookie — or
//! it is refused with 401, wherever it comes from.

mod conn;
pub mod http;
pub mod socket;
pub mod token;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::remote::Listen;
use super::server::Connector;
use token::Token;

/// Most connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Most connections of one peer address still sending their request head;
/// a new one from that address closes the oldest of them.
pub const MAX_PENDING_PER_PEER: usize = 4;
/// How often the listener looks for connections and for a stop.
const TICK: Duration = Duration::from_millis(20);

/// Why the web remote could not start. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The TCP port could not be bound.
    #[error(
        "cannot serve the web remote on {addr}: {source}; another program may use the port — \
         pass another --web PORT (or --web-bind ADDR)"
    )]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// No random token could be made.
    #[error("cannot make the web remote's token: {0}")]
    Token(getrandom::Error),
    /// The thread could not start.
    #[error("cannot start the web remote's thread: {0}")]
    Thread(std::io::Error),
}

/// What the web remote has seen so far. Any thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebCounts {
    /// Requests read.
    pub requests: u64,
    /// Requests refused (no token, a foreign host or origin).
    pub refused: u64,
    /// Malformed requests and WebSocket clients closed for a bad frame.
    pub malformed: u64,
    /// WebSocket clients connected now.
    pub clients: usize,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    refused: AtomicU64,
    malformed: AtomicU64,
    clients: AtomicUsize,
}

/// What every connection thread shares.
struct Shared {
    connector: Connector,
    token: Token,
    token_required: bool,
    /// The port, for the Host and Origin checks.
    port: u16,
    counters: Counters,
    stop: AtomicBool,
    /// Connection threads running.
    connections: AtomicUsize,
    /// Connections still sending their request head, by peer address.
    pending: Mutex<Pending>,
}

/// Connections still sending their request head: a handle on each (to
/// close it), oldest first per peer address. Web threads.
#[derive(Default)]
struct Pending {
    next: u64,
    by_peer: HashMap<IpAddr, VecDeque<(u64, TcpStream)>>,
}

impl Shared {
    /// Counts `stream` from `peer` as sending its head, closing that
    /// peer's oldest such connection when it has
    /// [`MAX_PENDING_PER_PEER`]; returns its number for
    /// [`Shared::head_read`]. Web listener thread.
    fn head_expected(&self, peer: IpAddr, stream: &TcpStream) -> std::io::Result<u64> {
        let handle = stream.try_clone()?;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.next += 1;
        let id = pending.next;
        let mine = pending.by_peer.entry(peer).or_default();
        while mine.len() >= MAX_PENDING_PER_PEER {
            if let Some((_, oldest)) = mine.pop_front() {
                tracing::debug!("web remote: {peer} has {MAX_PENDING_PER_PEER} unfinished requests; closing its oldest");
                let _ = oldest.shutdown(Shutdown::Both);
            }
        }
        mine.push_back((id, handle));
        Ok(id)
    }

    /// Connection `id` from `peer` is done with its head (read, refused or
    /// gone). Web connection thread.
    fn head_read(&self, peer: IpAddr, id: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mine) = pending.by_peer.get_mut(&peer) {
            mine.retain(|(i, _)| *i != id);
            if mine.is_empty() {
                pending.by_peer.remove(&peer);
            }
        }
    }

    /// On a loopback bind: `Host` names this machine, and a browser's
    /// WebSocket comes from this page (its `Origin` is the `Host`).
    fn host_allowed(&self, head: &http::Head) -> Result<(), String> {
        let host = head.header("host");
        if !self.token_required {
            if let Some(host) = host {
                let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
                let local = matches!(name, "localhost" | "[::1]")
                    || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
                if !local {
                    return Err(format!(
                        "`{host}` is not this machine; the web remote without --web-bind \
                         answers http://127.0.0.1:{} only",
                        self.port
                    ));
                }
            }
        }
        if let Some(origin) = head.header("origin") {
            let origin_host = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            if origin_host != host {
                return Err(format!(
                    "a page from `{origin}` may not use this remote; open it from the engine's \
                     own address"
                ));
            }
        }
        Ok(())
    }
}

/// The web remote running; dropping it stops it (open WebSockets close).
/// Main thread.
pub struct WebServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Binds the port (0: any free one) and starts serving, each browser a client of the
    /// control server `connector` belongs to. Main thread.
    pub fn start(options: &Listen, connector: &Connector) -> Result<Self, WebError> {
        let addr = SocketAddr::new(options.bind, options.port);
        let bind_err = |source| WebError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind_err)?;
        let bound = listener.local_addr().map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let shared = Arc::new(Shared {
            connector: connector.clone(),
            token: Token::random().map_err(WebError::Token)?,
            token_required: !options.bind.is_loopback(),
            port: bound.port(),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            pending: Mutex::default(),
        });
        let listening = shared.clone();
        let thread = std::thread::Builder::new()
            .name("stagerack-web".into())
            .spawn(move || listen(&listener, &listening))
            .map_err(WebError::Thread)?;
        Ok(Self {
            addr: bound,
            shared,
            thread: Some(thread),
        })
    }

    /// The address it listens on. Main thread.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address to open: with `?token=…` when the token is needed.
    /// Main thread.
    pub fn url(&self) -> String {
        if self.shared.token_required {
            format!("http://{}/?token={}", self.addr, self.shared.token.as_str())
        } else {
            format!("http://{}/", self.addr)
        }
    }

    /// Whether every request must carry the token (a non-loopback bind).
    /// Main thread.
    pub fn token_required(&self) -> bool {
        self.shared.token_required
    }

    /// Its counters now. Main thread.
    pub fn counts(&self) -> WebCounts {
        let c = &self.shared.counters;
        WebCounts {
            requests: c.requests.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            clients: c.clients.load(Ordering::Relaxed),
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The listener thread: accepts until stopped, one thread per connection.
fn listen(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if stream.set_nonblocking(false).is_err() {
                    continue;
                }
                // Its oldest unfinished request goes first, so a host
                // trickling heads cannot take every connection.
                let Ok(id) = shared.head_expected(peer.ip(), &stream) else {
                    continue;
                };
                if shared.connections.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                    tracing::warn!("web remote: {MAX_CONNECTIONS} connections open; refusing one");
                    shared.head_read(peer.ip(), id);
                    continue;
                }
                shared.connections.fetch_add(1, Ordering::AcqRel);
                let mine = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("stagerack-web-client".into())
                    .spawn(move || {
                        conn::serve(stream, &mine, peer.ip(), id);
                        mine.connections.fetch_sub(1, Ordering::AcqRel);
                    });
                if let Err(e) = spawned {
                    shared.connections.fetch_sub(1, Ordering::AcqRel);
                    shared.head_read(peer.ip(), id);
                    tracing::warn!("web remote: cannot start a connection thread: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(TICK),
            Err(e) => {
                tracing::warn!("web remote: accept failed: {e}");
                std::thread::sleep(TICK);
            }
        }
    }
    // Open WebSockets see `stop` within a tick and close; a connection
    // still reading a head ends on its own timeout, not waited for.
    for _ in 0..25 {
        if shared.connections.load(Ordering::Acquire) == 0 {
            break;
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControlServer;
    use std::io::{Read, Write};
    use std::time::Instant;

    /// The web remote on a free loopback port (its control server is never
    /// polled: the page needs none).
    fn web() -> (WebServer, ControlServer) {
        let mut server = ControlServer::new();
        let connector = server.connect_local().connector();
        let listen = Listen::new(0, None);
        (WebServer::start(&listen, &connector).unwrap(), server)
    }

    /// Whether the server closed `s` (reading with `s`'s timeout).
    fn closed(s: &mut TcpStream) -> bool {
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !crate::control::remote::nothing_yet(&e),
        }
    }

    #[test]
    fn a_head_dripping_in_is_closed_at_its_deadline() {
        let (web, _server) = web();
        let mut s = TcpStream::connect(web.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        let start = Instant::now();
        // A byte every 150 ms, before the 200 ms read timeout ends.
        let request = b"GET / HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'));
        for byte in request {
            if s.write_all(&[*byte]).is_err() || closed(&mut s) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(9),
                "a client dripping a byte every 150 ms is still connected"
            );
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(4) && took < Duration::from_secs(7),
            "closed after {took:?}, not at the 5 s deadline"
        );
    }

    #[test]
    fn one_host_cannot_take_every_connection() {
        let (web, _server) = web();
        let addr = web.local_addr();
        // As many unfinished requests as the server has connections, all
        // from this machine.
        let mut hogs: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HT").unwrap();
                s
            })
            .collect();
        let start = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        write!(s, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut page = String::new();
        let _ = s.read_to_string(&mut page);
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the page took {:?}",
            start.elapsed()
        );
        // All but the newest few of them were closed.
        let open = hogs
            .iter_mut()
            .filter_map(|h| {
                h.set_read_timeout(Some(Duration::from_millis(100))).ok()?;
                (!closed(h)).then_some(())
            })
            .count();
        assert!(open <= MAX_PENDING_PER_PEER, "{open} still open");
        assert!(web.counts().requests >= 1);
    }
}
