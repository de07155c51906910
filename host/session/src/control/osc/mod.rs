//! The OSC server (`--osc PORT`): controller apps (TouchOSC, Open Stage
//! Control) switch songs, panic, set rack gains and mutes and parameters,
//! and get the song playing and meters back. The address space is in
//! docs/REMOTE.md and [`address`].
//!
//! It runs on a thread of its own ("stagerack-osc") that owns the UDP
//! socket and one in-process control client ([`LocalClient`]) of the
//! engine's [`ControlServer`](crate::control::ControlServer): each OSC
//! message becomes a control-protocol [`Command`](crate::control::Command)
//! on that client, the main thread carries it out at its next pump, and the
//! replies and broadcasts come back on the client's channel. Nothing here
//! runs on, or waits for, the audio thread; the main thread never waits for
//! this one.
//!
//! Faders and knobs send many values a second: a rack's gain or mute and a
//! parameter are coalesced, only the newest value per address within a
//! tick ([`TICK`]) going to the engine (earlier ones are not answered), and
//! they name their rack by name ([`Target`]), found by the main thread when
//! it carries the command out, so a value sent right after `/next` reaches
//! the rack it names even when the song change loaded and unloaded racks.
//! Song changes and PANIC go at once, after the values held before them.
//!
//! A datagram that is not OSC is ignored and counted (`malformed`); an OSC
//! message that asks for something unknown or impossible is counted
//! (`refused`) and answered `/stagerack/error`. Neither can stop the
//! server.

pub mod address;
pub mod feedback;

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rosc::{OscMessage, OscPacket, OscType};

use super::protocol::{Command, Reply, Snapshot};
use super::remote::Listen;
use super::server::{Connector, LocalClient, Target};
use address::{Action, PREFIX};

/// Largest datagram read; a longer one is cut and then fails to decode.
const MAX_DATAGRAM: usize = 8 * 1024;
/// Most messages taken from one packet (bundles included).
const MAX_MESSAGES_PER_PACKET: usize = 64;
/// Deepest bundle nesting read.
const MAX_BUNDLE_DEPTH: usize = 4;
/// Most subscribers at once; a new one beyond replaces the oldest.
const MAX_SUBSCRIBERS: usize = 16;
/// Commands awaiting their reply, remembered to answer their sender.
const MAX_PENDING: usize = 256;
/// Meter feedback at most this often.
const METER_INTERVAL: Duration = Duration::from_millis(100);
/// How long the thread waits for a datagram before looking at replies;
/// gains, mutes and parameters are coalesced over one tick.
pub const TICK: Duration = Duration::from_millis(5);
/// Most addresses whose newest value waits for the tick's end; one more
/// sends them at once.
const MAX_HELD: usize = 64;

/// Why the OSC server could not start. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum OscError {
    /// The UDP port could not be bound.
    #[error(
        "cannot listen for OSC on udp {addr}: {source}; another program may use the port — \
         pass another --osc PORT (or --osc-bind ADDR)"
    )]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The thread could not start.
    #[error("cannot start the OSC thread: {0}")]
    Thread(std::io::Error),
}

/// What the OSC server has seen so far. Any thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OscCounts {
    /// OSC messages read.
    pub messages: u64,
    /// Datagrams that were not OSC (ignored).
    pub malformed: u64,
    /// Messages refused (unknown address, bad arguments, no such rack) or
    /// commands the engine refused.
    pub refused: u64,
}

#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    malformed: AtomicU64,
    refused: AtomicU64,
}

impl Counters {
    fn read(&self) -> OscCounts {
        OscCounts {
            messages: self.messages.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// A running OSC server; dropping it stops its thread. Main thread.
pub struct OscServer {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OscServer {
    /// Binds the UDP socket (port 0: any free one) and starts the thread, a client of the control
    /// server `connector` belongs to. Main thread.
    pub fn start(options: &Listen, connector: &Connector) -> Result<Self, OscError> {
        let addr = SocketAddr::new(options.bind, options.port);
        let socket = UdpSocket::bind(addr).map_err(|source| OscError::Bind { addr, source })?;
        let bound = socket
            .local_addr()
            .map_err(|source| OscError::Bind { addr, source })?;
        socket
            .set_read_timeout(Some(TICK))
            .map_err(|source| OscError::Bind { addr, source })?;
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            socket,
            client: connector.connect(),
            counters: counters.clone(),
            state: None,
            subscribers: VecDeque::new(),
            pending: VecDeque::new(),
            held: Vec::new(),
            held_since: Instant::now(),
            last_meters: Instant::now(),
        };
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("stagerack-osc".into())
            .spawn(move || worker.run(&stopping))
            .map_err(OscError::Thread)?;
        Ok(Self {
            addr: bound,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (the port chosen when 0 was asked). Any
    /// thread that owns the server.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its counters now. Main thread.
    pub fn counts(&self) -> OscCounts {
        self.counters.read()
    }
}

impl Drop for OscServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The OSC thread's state.
struct Worker {
    socket: UdpSocket,
    client: LocalClient,
    counters: Arc<Counters>,
    /// The latest state the engine sent (names, the song playing).
    state: Option<Snapshot>,
    /// Where feedback goes, oldest first.
    subscribers: VecDeque<SocketAddr>,
    /// Commands sent: (request id, sender, address) to answer.
    pending: VecDeque<(u64, SocketAddr, String)>,
    /// Gains, mutes and parameters waiting for the tick's end: the newest
    /// per address (compared ignoring case).
    held: Vec<Held>,
    /// When the oldest of `held` arrived.
    held_since: Instant,
    last_meters: Instant,
}

/// A coalesced command waiting for its tick's end.
struct Held {
    /// The address, lower case: what newer values replace.
    key: String,
    command: Command,
    target: Target,
    from: SocketAddr,
    addr: String,
}

impl Worker {
    fn run(&mut self, stop: &AtomicBool) {
        self.client.send(Command::Hello {
            version: super::PROTOCOL_VERSION,
            client: "osc".into(),
        });
        self.client.send(Command::GetState {});
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while !stop.load(Ordering::Acquire) {
            let quiet = match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    self.datagram(&buf[..n], from);
                    false
                }
                // An ICMP "port unreachable" from a gone subscriber
                // surfaces here on Linux.
                Err(e)
                    if super::remote::nothing_yet(&e)
                        || e.kind() == std::io::ErrorKind::ConnectionRefused =>
                {
                    true
                }
                Err(e) => {
                    tracing::warn!("OSC: receive failed: {e}");
                    std::thread::sleep(TICK);
                    true
                }
            };
            if quiet || self.held_since.elapsed() >= TICK {
                self.send_held();
            }
            while let Some(reply) = self.client.try_recv() {
                self.reply(reply);
            }
        }
    }

    /// One datagram: every message in it carried out, or counted as
    /// malformed.
    fn datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let packet = match rosc::decoder::decode_udp(bytes) {
            Ok((_, packet)) => packet,
            Err(e) => {
                let n = self.counters.malformed.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!("OSC: malformed packet from {from} ({e:?}); {n} so far");
                return;
            }
        };
        let mut messages = Vec::new();
        if !flatten(packet, 0, &mut messages) {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        for msg in messages {
            self.counters.messages.fetch_add(1, Ordering::Relaxed);
            self.message(msg, from);
        }
    }

    fn message(&mut self, msg: OscMessage, from: SocketAddr) {
        match address::parse(&msg) {
            Ok(Action::Command(command)) => {
                // What was held came first.
                self.send_held();
                let id = self.client.send(*command);
                self.expect_reply(id, from, msg.addr);
            }
            Ok(Action::Targeted { command, target }) => {
                let key = msg.addr.to_ascii_lowercase();
                let held = Held {
                    key,
                    command: *command,
                    target,
                    from,
                    addr: msg.addr,
                };
                if let Some(h) = self.held.iter_mut().find(|h| h.key == held.key) {
                    *h = held;
                } else {
                    if self.held.len() == MAX_HELD {
                        self.send_held();
                    }
                    if self.held.is_empty() {
                        self.held_since = Instant::now();
                    }
                    self.held.push(held);
                }
            }
            Ok(Action::Subscribe { port }) => {
                let to = SocketAddr::new(from.ip(), port.unwrap_or(from.port()));
                if !self.subscribers.contains(&to) {
                    if self.subscribers.len() == MAX_SUBSCRIBERS {
                        self.subscribers.pop_front();
                    }
                    self.subscribers.push_back(to);
                    tracing::info!("OSC: feedback to {to}");
                }
                self.client.send(Command::Subscribe { meters: true });
                if let Some(state) = &self.state {
                    for m in feedback::song(state) {
                        self.send(&m, to);
                    }
                }
            }
            Ok(Action::Unsubscribe { port }) => {
                let to = SocketAddr::new(from.ip(), port.unwrap_or(from.port()));
                self.subscribers.retain(|s| *s != to);
                if self.subscribers.is_empty() {
                    self.client.send(Command::Subscribe { meters: false });
                }
            }
            Ok(Action::Status) => {
                let c = self.counters.read();
                let int = |v: u64| OscType::Int(i32::try_from(v).unwrap_or(i32::MAX));
                let m = OscMessage {
                    addr: format!("{PREFIX}/status"),
                    args: vec![int(c.messages), int(c.malformed), int(c.refused)],
                };
                self.send(&m, from);
            }
            Err(why) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("OSC: refused from {from}: {why}");
                self.send(&error(&msg.addr, &why), from);
            }
        }
    }

    /// One reply or event from the engine.
    fn reply(&mut self, reply: Reply) {
        match reply {
            Reply::State { state, .. } => {
                let changed = self
                    .state
                    .as_ref()
                    .is_none_or(|old| feedback::song(old) != feedback::song(&state));
                self.state = Some(state);
                if changed {
                    self.to_subscribers(feedback::song(self.state.as_ref().expect("just set")));
                }
            }
            Reply::Ok { id } => {
                if let Some((from, addr)) = self.take_pending(id) {
                    let m = OscMessage {
                        addr: format!("{PREFIX}/ok"),
                        args: vec![OscType::String(addr)],
                    };
                    self.send(&m, from);
                }
            }
            Reply::Error { id, message } => {
                if let Some((from, addr)) = self.take_pending(id) {
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    self.send(&error(&addr, &message), from);
                }
            }
            Reply::Meters { master, racks, .. } if self.last_meters.elapsed() >= METER_INTERVAL => {
                self.last_meters = Instant::now();
                self.to_subscribers(feedback::meters(self.state.as_ref(), master, &racks));
            }
            _ => {}
        }
    }

    /// Sends the coalesced commands, in the order their addresses first
    /// came.
    fn send_held(&mut self) {
        for h in std::mem::take(&mut self.held) {
            let id = self.client.send_to(h.command, h.target);
            self.expect_reply(id, h.from, h.addr);
        }
    }

    /// Remembers to answer `from` about command `id`.
    fn expect_reply(&mut self, id: u64, from: SocketAddr, addr: String) {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((id, from, addr));
    }

    fn take_pending(&mut self, id: u64) -> Option<(SocketAddr, String)> {
        let i = self.pending.iter().position(|(p, ..)| *p == id)?;
        self.pending.remove(i).map(|(_, from, addr)| (from, addr))
    }

    fn to_subscribers(&self, messages: Vec<OscMessage>) {
        if self.subscribers.is_empty() || messages.is_empty() {
            return;
        }
        // One bundle per update: TouchOSC and Open Stage Control read them.
        let bundle = OscPacket::Bundle(rosc::OscBundle {
            timetag: rosc::OscTime {
                seconds: 0,
                fractional: 1,
            },
            content: messages.into_iter().map(OscPacket::Message).collect(),
        });
        if let Ok(bytes) = rosc::encoder::encode(&bundle) {
            for to in &self.subscribers {
                let _ = self.socket.send_to(&bytes, to);
            }
        }
    }

    fn send(&self, msg: &OscMessage, to: SocketAddr) {
        if let Ok(bytes) = rosc::encoder::encode(&OscPacket::Message(msg.clone())) {
            let _ = self.socket.send_to(&bytes, to);
        }
    }
}

/// `/stagerack/error ss`: the address refused and why.
fn error(addr: &str, why: &str) -> OscMessage {
    OscMessage {
        addr: format!("{PREFIX}/error"),
        args: vec![
            OscType::String(addr.to_owned()),
            OscType::String(why.to_owned()),
        ],
    }
}

/// Every message of `packet` into `out`, bundles opened (timetags are not
/// waited for: a message acts when it arrives). False when the packet
/// nests too deep or holds too many messages.
fn flatten(packet: OscPacket, depth: usize, out: &mut Vec<OscMessage>) -> bool {
    match packet {
        OscPacket::Message(m) => {
            out.push(m);
            out.len() <= MAX_MESSAGES_PER_PACKET
        }
        OscPacket::Bundle(b) => {
            depth < MAX_BUNDLE_DEPTH && b.content.into_iter().all(|p| flatten(p, depth + 1, out))
        }
    }
}
