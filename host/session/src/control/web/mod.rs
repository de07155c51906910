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
//! WebSocket until it closes. Blocking sockets with short timeouts on
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

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::remote::Listen;
use super::server::Connector;
use token::Token;

/// Most connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 32;
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
}

impl Shared {
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
            Ok((stream, _)) => {
                if shared.connections.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                    tracing::warn!("web remote: {MAX_CONNECTIONS} connections open; refusing one");
                    continue;
                }
                if stream.set_nonblocking(false).is_err() {
                    continue;
                }
                shared.connections.fetch_add(1, Ordering::AcqRel);
                let mine = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("stagerack-web-client".into())
                    .spawn(move || {
                        conn::serve(stream, &mine);
                        mine.connections.fetch_sub(1, Ordering::AcqRel);
                    });
                if let Err(e) = spawned {
                    shared.connections.fetch_sub(1, Ordering::AcqRel);
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
