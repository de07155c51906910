//! The control server: clients in process and on a local socket, polled
//! from the main thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::protocol::{Command, Reply, Request, StatusReport, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
use super::scanner::{BackgroundScan, ScanEvent};
use super::setlist_edit::SetlistEditor;
use super::snapshot::snapshot;
use crate::preset::{save_atomically, PluginDef};
use crate::session::Session;

/// A client's unsent replies beyond this close it (it stopped reading).
const MAX_OUTBOX_BYTES: usize = 16 << 20;
/// Requests carried out for one in-process client per poll; the rest wait
/// for the next poll (one remote peer cannot hold the main thread).
pub const MAX_REQUESTS_PER_POLL: usize = 32;
/// Requests an in-process client may have waiting for the server; more are
/// answered at once with an error by the client itself.
pub const MAX_QUEUED_REQUESTS: usize = 1024;
/// Replies and events waiting for an in-process client to take them; one
/// more closes that client (it stopped reading), as [`MAX_OUTBOX_BYTES`]
/// does for the socket. The window takes every one each frame.
pub const MAX_QUEUED_REPLIES: usize = 4096;
/// Refusals a [`LocalClient`] keeps for its owner; more are dropped.
const MAX_REFUSED: usize = 256;
/// Meter events per second for subscribed clients.
const METER_INTERVAL: Duration = Duration::from_millis(33);

/// A rack named by a remote peer (an OSC address, a browser's
/// `"rack": "pad"`), found on the main thread when its command is carried
/// out: the song playing's rack of that name, else the first of that name
/// in any song; the command is refused when there is none. So a command
/// sent right after a song change (when a setlist with `neighbours` loads
/// and unloads racks and every index shifts) reaches the rack it names.
/// Any thread (plain data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The rack's name (ASCII case ignored, `_` for a space).
    pub rack: String,
    /// A plugin of its chain: its name or its place from 0 (for
    /// `set_param`, `set_bypass`, `select_program`).
    pub plugin: Option<String>,
    /// One of that plugin's parameters: its name or its id (`set_param`).
    pub param: Option<String>,
}

/// One request on an in-process client's channel.
struct Envelope {
    request: Request,
    target: Option<Target>,
}

/// An in-process client: sends requests, receives replies and events.
/// Any thread (it only holds channel ends).
pub struct LocalClient {
    tx: mpsc::SyncSender<Envelope>,
    rx: mpsc::Receiver<Reply>,
    /// Errors for requests refused here (the server had
    /// [`MAX_QUEUED_REQUESTS`] waiting), given out before the channel's.
    refused: RefCell<VecDeque<Reply>>,
    next_id: u64,
    connector: Connector,
}

/// What a [`Connector`] hands the server for each new client.
type Joining = (mpsc::Receiver<Envelope>, mpsc::SyncSender<Reply>);

/// Opens new in-process clients from any thread (the OSC and web remote
/// threads, one client per remote peer); the server takes each in at its
/// next poll. Any thread; cheap to clone.
#[derive(Clone)]
pub struct Connector {
    tx: mpsc::Sender<Joining>,
}

impl Connector {
    /// A new client of the server this connector came from. Requests sent
    /// before the server's next poll wait in the client's channel. Any
    /// thread.
    pub fn connect(&self) -> LocalClient {
        let (req_tx, req_rx) = mpsc::sync_channel(MAX_QUEUED_REQUESTS);
        let (rep_tx, rep_rx) = mpsc::sync_channel(MAX_QUEUED_REPLIES);
        // A server that is gone leaves the client without replies; its
        // owner notices by `recv_timeout` returning nothing.
        let _ = self.tx.send((req_rx, rep_tx));
        LocalClient {
            tx: req_tx,
            rx: rep_rx,
            refused: RefCell::new(VecDeque::new()),
            next_id: 0,
            connector: self.clone(),
        }
    }
}

impl LocalClient {
    /// Sends a command; returns the id its reply will carry. Any thread.
    pub fn send(&mut self, command: Command) -> u64 {
        self.next_id += 1;
        let request = Request {
            id: self.next_id,
            command,
        };
        self.push(request, None);
        self.next_id
    }

    /// Sends a command for the rack `target` names, which the server finds
    /// by name when it carries the command out (the command's own rack,
    /// plugin and parameter numbers are replaced); returns the id its reply
    /// will carry. Any thread.
    pub fn send_to(&mut self, command: Command, target: Target) -> u64 {
        self.next_id += 1;
        let request = Request {
            id: self.next_id,
            command,
        };
        self.push(request, Some(target));
        self.next_id
    }

    /// Sends a request with the caller's own id, which its reply carries
    /// back (a bridge passing a remote peer's requests through); with a
    /// `target`, as [`LocalClient::send_to`]. Any thread.
    pub fn send_request(&mut self, request: Request, target: Option<Target>) {
        self.push(request, target);
    }

    fn push(&mut self, request: Request, target: Option<Target>) {
        let id = request.id;
        if let Err(mpsc::TrySendError::Full(_)) = self.tx.try_send(Envelope { request, target }) {
            let mut refused = self.refused.borrow_mut();
            if refused.len() < MAX_REFUSED {
                refused.push_back(Reply::Error {
                    id,
                    message: format!(
                        "the engine has {MAX_QUEUED_REQUESTS} requests of this client waiting; \
                         this one was dropped — send fewer (one value per control per \
                         frame is plenty)"
                    ),
                });
            }
        }
        // Disconnected: the server is gone; the owner notices by getting
        // no replies.
    }

    /// A connector to the same server, to open more clients from another
    /// thread. Any thread.
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    /// The next reply or event, waiting up to `timeout`. Any thread.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Reply> {
        if let Some(r) = self.refused.borrow_mut().pop_front() {
            return Some(r);
        }
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next reply or event if one is waiting. Any thread.
    pub fn try_recv(&self) -> Option<Reply> {
        if let Some(r) = self.refused.borrow_mut().pop_front() {
            return Some(r);
        }
        self.rx.try_recv().ok()
    }
}

enum Link {
    Local {
        rx: mpsc::Receiver<Envelope>,
        tx: mpsc::SyncSender<Reply>,
    },
    #[cfg(unix)]
    Socket {
        stream: std::os::unix::net::UnixStream,
        inbox: Vec<u8>,
        outbox: Vec<u8>,
    },
}

struct Client {
    id: u64,
    link: Link,
    meters: bool,
    closed: bool,
}

impl Client {
    fn send(&mut self, reply: &Reply) {
        match &mut self.link {
            Link::Local { tx, .. } => match tx.try_send(reply.clone()) {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(_)) => {
                    tracing::warn!(
                        "control client {} left {MAX_QUEUED_REPLIES} replies unread; closing it",
                        self.id
                    );
                    self.closed = true;
                }
                Err(mpsc::TrySendError::Disconnected(_)) => self.closed = true,
            },
            #[cfg(unix)]
            Link::Socket { outbox, .. } => {
                if let Ok(mut line) = serde_json::to_vec(reply) {
                    line.push(b'\n');
                    outbox.extend_from_slice(&line);
                }
                if outbox.len() > MAX_OUTBOX_BYTES {
                    tracing::warn!("control client {} stopped reading; closing it", self.id);
                    self.closed = true;
                }
            }
        }
    }
}

/// Serves the control protocol. Main thread: create it, connect clients,
/// and call [`ControlServer::poll`] from the pump.
pub struct ControlServer {
    clients: Vec<Client>,
    next_client: u64,
    #[cfg(unix)]
    listener: Option<(std::os::unix::net::UnixListener, PathBuf)>,
    last_meters: Instant,
    /// The setlist entry clients last heard was playing.
    group_told: Option<u16>,
    /// Each rack's knob page as clients last saw it.
    pages_told: Vec<u8>,
    /// The racks (song and name of each, hashed) as clients last saw them.
    layout_told: Option<u64>,
    /// A song change a client asked for that the audio thread has not made
    /// yet: (the song then, the song asked for). Racks named by a
    /// [`Target`] are looked for in the song asked for.
    switching: Option<(u16, u16)>,
    /// The program that answers `scan-one FILE` (None: scans are refused).
    scanner: Option<PathBuf>,
    /// The background scan running now.
    scan: Option<BackgroundScan>,
    /// Clients opened through a [`Connector`] on other threads.
    joining: mpsc::Receiver<Joining>,
    /// The sending end [`Connector`]s clone.
    connector: Connector,
    /// The setlist clients edit, when one plays.
    setlist: SetlistEditor,
}

impl Default for ControlServer {
    fn default() -> Self {
        Self::new()
    }
}

/// Where `stagerack --control` listens by default: `$XDG_RUNTIME_DIR/
/// stagerack/control.sock`, or `/tmp/stagerack-<uid>/control.sock`. Any thread.
pub fn default_socket_path() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .map(|p| p.join("stagerack"))
        .unwrap_or_else(|| {
            #[cfg(unix)]
            let uid = {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata("/proc/self")
                    .map(|m| m.uid())
                    .unwrap_or(0)
            };
            #[cfg(not(unix))]
            let uid = 0;
            std::env::temp_dir().join(format!("stagerack-{uid}"))
        });
    base.join("control.sock")
}

impl ControlServer {
    /// A server with no clients. Main thread.
    pub fn new() -> Self {
        let (tx, joining) = mpsc::channel();
        Self {
            joining,
            connector: Connector { tx },
            clients: Vec::new(),
            next_client: 1,
            #[cfg(unix)]
            listener: None,
            last_meters: Instant::now(),
            group_told: None,
            pages_told: Vec::new(),
            layout_told: None,
            switching: None,
            scanner: None,
            scan: None,
            setlist: SetlistEditor::default(),
        }
    }

    /// Lets clients edit `setlist`, which plays now (`get_setlist`,
    /// `edit_setlist`, `save_setlist`). Main thread.
    pub fn set_setlist(&mut self, setlist: &crate::preset::LoadedSetlist) {
        self.setlist.open_loaded(setlist);
    }

    /// Lets clients ask for a plugin scan (`scan_plugins`), each file
    /// opened by `program scan-one FILE` (`stagerack` or `stagerack-ui`:
    /// pass `std::env::current_exe()` from their `main`). Main thread.
    pub fn set_scanner(&mut self, program: PathBuf) {
        self.scanner = Some(program);
    }

    /// Listens on a Unix socket at `path` (its folder is created with mode
    /// 0700, the socket gets 0600: this user only). A stale socket file is
    /// replaced. Main thread.
    #[cfg(unix)]
    pub fn listen(&mut self, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        if path.exists() {
            // Only replace it if nobody answers there.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("another engine already listens on {}; stop it or pass another --control path", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        self.listener = Some((listener, path.to_owned()));
        Ok(())
    }

    /// The socket path, if listening. Main thread.
    pub fn socket_path(&self) -> Option<&Path> {
        #[cfg(unix)]
        return self.listener.as_ref().map(|(_, p)| p.as_path());
        #[cfg(not(unix))]
        None
    }

    /// Connects an in-process client. Main thread.
    pub fn connect_local(&mut self) -> LocalClient {
        let client = self.connector.connect();
        self.accept_joining();
        client
    }

    /// Takes in the clients opened through connectors since the last call.
    fn accept_joining(&mut self) {
        while let Ok((rx, tx)) = self.joining.try_recv() {
            self.add_client(Link::Local { rx, tx });
        }
    }

    /// Clients connected now. Main thread.
    pub fn client_count(&self) -> usize {
        self.clients.iter().filter(|c| !c.closed).count()
    }

    fn add_client(&mut self, link: Link) {
        let id = self.next_client;
        self.next_client += 1;
        self.clients.push(Client {
            id,
            link,
            meters: false,
            closed: false,
        });
    }

    /// Accepts new socket clients, reads and carries out every waiting
    /// request, sends replies, broadcasts edits and meters. Never blocks.
    /// Device selection is refused (the engine's host did not offer it).
    /// Main thread.
    pub fn poll(&mut self, session: &mut Session) {
        self.poll_with(session, None);
    }

    /// [`ControlServer::poll`], with `devices` carrying out device
    /// selection. Main thread.
    pub fn poll_with(&mut self, session: &mut Session, mut devices: Option<&mut dyn DeviceHost>) {
        self.accept();
        if let Some((from, to)) = self.switching {
            let now = session.current_group();
            if now != from || now == to {
                self.switching = None;
            }
        }
        let mut requests = Vec::new();
        for (i, client) in self.clients.iter_mut().enumerate() {
            read_requests(client, |r, target| requests.push((i, r, target)));
        }
        for (i, mut request, target) in requests {
            if self.clients[i].closed {
                continue;
            }
            if let Some(target) = target {
                // Found now, against the racks the command meets, in the
                // song it meets.
                let song = self
                    .switching
                    .map_or_else(|| session.current_group(), |(_, to)| to);
                if let Err(message) = target.resolve(session, song, &mut request.command) {
                    let id = request.id;
                    self.reply(i, Reply::Error { id, message });
                    continue;
                }
            }
            self.handle(i, request, session, devices.as_deref_mut());
        }
        for c in session.take_param_changes() {
            self.broadcast(&Reply::Param {
                rack: c.rack,
                index: c.index,
                param: c.param,
                value: c.value,
                text: session.param_text(c.rack, c.index, c.param, c.value),
            });
        }
        if let Some(what) = session.take_learned() {
            self.broadcast(&Reply::Learned { what });
            let state = snapshot(session);
            self.broadcast(&Reply::State { id: 0, state });
        }
        // A switch to another song however it came (a program change, a
        // CC, a trigger note, another client) and an editor closed by its
        // user or its plugin: every client gets the new state at once.
        let group = session.current_group();
        let switched = self.group_told.replace(group).is_some_and(|g| g != group);
        // A knob page turned from MIDI on the audio thread: clients show
        // the page (the window's knobs line).
        let pages: Vec<u8> = session
            .racks()
            .iter()
            .map(|r| {
                r.status
                    .remote_page
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .collect();
        // (Only a turn: the first look, or racks added or removed, is not
        // one, and edits send their own state.)
        let paged = pages.len() == self.pages_told.len() && pages != self.pages_told;
        self.pages_told = pages;
        // Racks loaded or unloaded since clients last heard (a setlist
        // with `neighbours` after a song change): indices moved, so every
        // client gets the new list.
        let relaid = self.layout_told.is_some_and(|told| {
            told != layout(session.racks().iter().map(|r| (r.group, r.name.as_str())))
        });
        if session.take_editors_changed() || switched || paged || relaid {
            let state = snapshot(session);
            self.broadcast(&Reply::State { id: 0, state });
        }
        self.poll_scan();
        if self.last_meters.elapsed() >= METER_INTERVAL && self.clients.iter().any(|c| c.meters) {
            self.last_meters = Instant::now();
            let shared = session.handle().shared().clone();
            let (beat, tempo) = session.beat_now();
            let meters = Reply::Meters {
                master: [shared.peak_left.take(), shared.peak_right.take()],
                racks: session
                    .racks()
                    .iter()
                    .map(|r| [r.status.peak_left.take(), r.status.peak_right.take()])
                    .collect(),
                keys: shared.keys.take(),
                beat,
                tempo,
                notes_scroll: session.notes_scroll(),
            };
            for c in self.clients.iter_mut().filter(|c| c.meters) {
                c.send(&meters);
            }
        }
        self.flush();
        self.clients.retain(|c| !c.closed);
    }

    /// Tells every client how the background scan goes; when it is done,
    /// what it found and the new plugin list.
    fn poll_scan(&mut self) {
        let Some(scan) = &self.scan else {
            return;
        };
        let events = match scan.poll() {
            Ok(events) => events,
            Err(()) => {
                self.scan = None;
                self.broadcast(&Reply::Error {
                    id: 0,
                    message: "the plugin scan stopped unexpectedly; try Rescan or `stagerack scan`"
                        .to_owned(),
                });
                return;
            }
        };
        for event in events {
            match event {
                ScanEvent::Progress { done, total, file } => {
                    self.broadcast(&Reply::ScanProgress {
                        done,
                        total,
                        file: file.display().to_string(),
                    });
                }
                ScanEvent::Finished(summary) => {
                    self.scan = None;
                    tracing::info!(
                        "plugin scan: {} files, {} opened, {} blacklisted",
                        summary.files,
                        summary.opened,
                        summary.blacklisted.len()
                    );
                    if let Some(e) = &summary.cache_error {
                        tracing::warn!("{e}");
                    }
                    self.broadcast(&Reply::ScanFinished {
                        files: summary.files,
                        opened: summary.opened,
                        blacklisted: summary
                            .blacklisted
                            .iter()
                            .map(|(f, why)| format!("{}: {why}", f.display()))
                            .collect(),
                    });
                    let plugins = stagerack_plugins::scan::known_plugins();
                    self.broadcast(&Reply::Plugins { id: 0, plugins });
                }
            }
        }
    }

    fn accept(&mut self) {
        self.accept_joining();
        #[cfg(unix)]
        loop {
            let Some((listener, _)) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.add_client(Link::Socket {
                            stream,
                            inbox: Vec::new(),
                            outbox: Vec::new(),
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!("control socket: accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn flush(&mut self) {
        #[cfg(unix)]
        for c in &mut self.clients {
            if let Link::Socket { stream, outbox, .. } = &mut c.link {
                while !outbox.is_empty() {
                    match stream.write(outbox) {
                        Ok(0) => {
                            c.closed = true;
                            break;
                        }
                        Ok(n) => {
                            outbox.drain(..n);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            c.closed = true;
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Sends every client the session's state now (after something the
    /// pump found changed it: a plugin failed, a plugin went away). Main
    /// thread.
    pub fn broadcast_state(&mut self, session: &Session) {
        let state = snapshot(session);
        self.broadcast(&Reply::State { id: 0, state });
    }

    fn broadcast(&mut self, reply: &Reply) {
        if let Reply::State { state, .. } = reply {
            self.layout_told = Some(layout(
                state
                    .racks
                    .iter()
                    .map(|r| (r.preset, r.routing.name.as_str())),
            ));
        }
        for c in &mut self.clients {
            c.send(reply);
        }
    }

    fn reply(&mut self, client: usize, reply: Reply) {
        self.clients[client].send(&reply);
    }

    fn handle(
        &mut self,
        client: usize,
        request: Request,
        session: &mut Session,
        devices: Option<&mut (dyn DeviceHost + '_)>,
    ) {
        let id = request.id;
        let edited = match request.command {
            Command::ListDevices {} => {
                let current = devices.map(|d| d.in_use());
                let devices = stagerack_io::device_inventory();
                self.reply(
                    client,
                    Reply::Devices {
                        id,
                        devices,
                        current,
                    },
                );
                return;
            }
            Command::SelectDevices {
                backend,
                connect,
                midi_in,
                buffer,
            } => match devices {
                None => Err(
                    "this engine cannot change its audio device while it runs; restart \
                             it with --backend/--connect/--midi-in"
                        .to_owned(),
                ),
                Some(host) => host
                    .select(
                        &DeviceChoice {
                            backend,
                            connect,
                            midi_in,
                            buffer,
                        },
                        session,
                    )
                    .map(|in_use| {
                        tracing::info!(
                            "now playing on {} ({} Hz, {} frames)",
                            in_use.backend,
                            in_use.sample_rate,
                            in_use.buffer
                        );
                        false
                    }),
            },
            Command::Hello {
                version,
                client: name,
            } => {
                if version != PROTOCOL_VERSION {
                    self.reply(
                        client,
                        Reply::Error {
                            id,
                            message: format!(
                                "protocol version {version} is not spoken here; this engine speaks {PROTOCOL_VERSION}: update the client"
                            ),
                        },
                    );
                    self.clients[client].closed = true;
                } else {
                    tracing::info!("control client {} is `{name}`", self.clients[client].id);
                    self.reply(
                        client,
                        Reply::Welcome {
                            id,
                            version: PROTOCOL_VERSION,
                        },
                    );
                }
                return;
            }
            Command::GetState {} => {
                let state = snapshot(session);
                self.reply(client, Reply::State { id, state });
                return;
            }
            Command::ListPlugins {} => {
                // Never a plugin file opened here.
                let plugins = stagerack_plugins::scan::known_plugins();
                self.reply(client, Reply::Plugins { id, plugins });
                return;
            }
            Command::ScanPlugins { rescan } => match (&self.scanner, &self.scan) {
                (_, Some(_)) => Ok(false),
                (None, None) => Err(
                    "this engine cannot scan for plugins; run `stagerack scan` in a terminal"
                        .to_owned(),
                ),
                (Some(program), None) => match BackgroundScan::start(program, rescan) {
                    Ok(scan) => {
                        self.scan = Some(scan);
                        Ok(false)
                    }
                    Err(e) => Err(format!("the plugin scan could not start: {e}")),
                },
            },
            Command::Subscribe { meters } => {
                self.clients[client].meters = meters;
                Ok(false)
            }
            Command::Status {} => {
                let s = session.shared().snapshot();
                let status = StatusReport {
                    buffers: s.buffers,
                    dsp_average: s.dsp_average,
                    dsp_peak: s.dsp_peak,
                    thread_loads: s.thread_loads().to_vec(),
                    load_histogram: session.shared().load_histogram(),
                    overloads: s.overloads,
                    panics: s.panics,
                    xruns: s.xruns,
                    midi_events: s.midi_events,
                    heaviest: session.heaviest_plugin(),
                    messages: session.warnings().to_vec(),
                };
                self.reply(client, Reply::Status { id, status });
                return;
            }
            Command::SelectProgram {
                rack,
                index,
                program,
            } => session
                .select_program_of(rack, index, program)
                .map(|_| true)
                .map_err(|e| e.to_string()),
            Command::SetParam {
                rack,
                index,
                param,
                value,
                ..
            } => match session.set_param(rack, index, param, value) {
                Ok(()) => {
                    let text = session.param_text(rack, index, param, value);
                    self.broadcast(&Reply::Param {
                        rack,
                        index,
                        param,
                        value,
                        text,
                    });
                    Ok(false)
                }
                Err(e) => Err(e.to_string()),
            },
            Command::AddPlugin {
                rack,
                index,
                format,
                plugin,
                path,
            } => {
                let mut def = PluginDef::builtin(&plugin);
                def.format = format;
                def.path = path;
                session
                    .add_plugin(rack, index, &def)
                    .map(|_| true)
                    .map_err(|e| e.to_string())
            }
            Command::RemovePlugin { rack, index } => session
                .remove_plugin(rack, index)
                .map(|_| true)
                .map_err(|e| e.to_string()),
            Command::MovePlugin { rack, from, to } => session
                .move_plugin(rack, from, to)
                .map(|_| true)
                .map_err(|e| e.to_string()),
            Command::SetBypass {
                rack,
                index,
                bypass,
            } => session
                .set_bypass(rack, index, bypass)
                .map(|_| true)
                .map_err(|e| e.to_string()),
            Command::EditRack { rack, edit } => session
                .edit_rack(rack, &edit)
                .map(|_| true)
                .map_err(|e| e.to_string()),
            Command::AddRack { name } => {
                let group = session.current_group();
                session
                    .add_rack(&name, group)
                    .map(|_| true)
                    .map_err(|e| e.to_string())
            }
            Command::RemoveRack { rack } => session
                .remove_rack(rack)
                .map(|_| true)
                .map_err(|e| e.to_string()),
            Command::LoadPreset { path } => crate::preset::load_preset(&path)
                .map_err(|e| e.to_string())
                .and_then(|preset| {
                    let before = session.warnings().len();
                    session.replace_with(&preset).map_err(|e| e.to_string())?;
                    session.set_preset_file(0, Some(path.clone()));
                    // A single preset plays now: no setlist to edit.
                    self.setlist.close();
                    let setlist = self.setlist.view();
                    self.broadcast(&Reply::Setlist { id: 0, setlist });
                    tracing::info!("loaded preset {}", path.display());
                    for w in &session.warnings()[before..] {
                        tracing::warn!("{w}");
                    }
                    Ok(true)
                }),
            Command::SavePreset { path } => session
                .to_preset()
                .map_err(|e| e.to_string())
                .and_then(|p| save_atomically(&p, &path).map_err(|e| e.to_string()))
                .map(|()| {
                    // Saved as: the song's file from now on.
                    let current = session.current_group();
                    session.set_preset_file(current, Some(path.clone()));
                    true
                }),
            Command::GetSetlist {} => {
                let setlist = self.setlist.view();
                self.reply(client, Reply::Setlist { id, setlist });
                return;
            }
            Command::OpenSetlist { .. }
            | Command::EditSetlist { .. }
            | Command::SaveSetlist { .. } => {
                let done = match request.command {
                    Command::OpenSetlist { path } => self.setlist.open(&path, session),
                    Command::EditSetlist { edit } => self.setlist.edit(edit, session),
                    Command::SaveSetlist { path } => self.setlist.save(path, session),
                    _ => Ok(()),
                };
                if done.is_ok() {
                    // Every client shows the setlist as it is now.
                    let setlist = self.setlist.view();
                    self.broadcast(&Reply::Setlist { id: 0, setlist });
                }
                done.map(|()| true)
            }
            Command::SetlistNext {}
            | Command::SetlistPrevious {}
            | Command::SetlistSelect { .. } => {
                let current = session.current_group();
                let last = session.groups().len().saturating_sub(1) as u16;
                let target = match request.command {
                    Command::SetlistNext {} => (current + 1).min(last),
                    Command::SetlistPrevious {} => current.saturating_sub(1),
                    Command::SetlistSelect { index } => index,
                    _ => current,
                };
                if target > last {
                    Err(format!(
                        "there is no setlist entry {target}; the last is {last}"
                    ))
                } else {
                    let selected = session.select(target);
                    if selected.is_ok() && target != current {
                        self.switching = Some((current, target));
                    }
                    selected.map(|_| true).map_err(|e| e.to_string())
                }
            }
            Command::MidiLearn { rack, index, param } => session
                .start_learn(rack, index, param)
                .map(|_| false)
                .map_err(|e| e.to_string()),
            Command::MidiLearnCancel {} => {
                session.cancel_learn();
                Ok(false)
            }
            Command::LearnKnobs { rack, knobs } => session
                .start_knob_learn(rack, knobs)
                .map(|_| false)
                .map_err(|e| e.to_string()),
            Command::OpenEditor { rack, index } => match session.open_editor(rack, index) {
                Ok(info) => {
                    self.reply(
                        client,
                        Reply::Editor {
                            id,
                            rack,
                            index,
                            window: info
                                .window
                                .map_or(0, stagerack_core::editor::ParentWindow::as_u64),
                            frame: info
                                .frame
                                .map_or(0, stagerack_core::editor::ParentWindow::as_u64),
                            width: info.width,
                            height: info.height,
                            floating: info.window.is_none(),
                        },
                    );
                    let state = snapshot(session);
                    self.broadcast(&Reply::State { id: 0, state });
                    return;
                }
                Err(e) => Err(e.to_string()),
            },
            Command::CloseEditor { rack, index } => session
                .close_editor(rack, index)
                .map(|_| true)
                .map_err(|e| e.to_string()),
            Command::Panic {} => {
                session.panic();
                Ok(false)
            }
        };
        match edited {
            Ok(edited) => {
                self.reply(client, Reply::Ok { id });
                if edited {
                    // Every client sees every edit.
                    let state = snapshot(session);
                    self.broadcast(&Reply::State { id: 0, state });
                }
            }
            Err(message) => self.reply(client, Reply::Error { id, message }),
        }
    }
}

/// A device choice from `select_devices`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceChoice {
    /// Backend name.
    pub backend: String,
    /// `--connect` values (empty: `auto`).
    pub connect: Vec<String>,
    /// `--midi-in` patterns.
    pub midi_in: Vec<String>,
    /// Frames per buffer, or the device's choice.
    pub buffer: Option<u32>,
}

/// What owns the audio driver (the rack window's in-process engine) and
/// can move the engine to another device. Main thread.
pub trait DeviceHost {
    /// What the engine plays on now. Main thread.
    fn in_use(&self) -> stagerack_io::AudioInUse;
    /// Moves the engine to `choice`. On failure the engine plays on where it
    /// was (or, if that cannot reopen either, silently without a device)
    /// and the error says what happened and what to do. Main thread.
    fn select(
        &mut self,
        choice: &DeviceChoice,
        session: &mut Session,
    ) -> Result<stagerack_io::AudioInUse, String>;
}

/// Reads the requests a client has sent: at most [`MAX_REQUESTS_PER_POLL`]
/// of an in-process client (the rest wait for the next poll), every
/// complete one of a socket client. A malformed or oversized message
/// closes that client (logged), never anything else.
fn read_requests(client: &mut Client, mut push: impl FnMut(Request, Option<Target>)) {
    match &mut client.link {
        Link::Local { rx, .. } => {
            for _ in 0..MAX_REQUESTS_PER_POLL {
                match rx.try_recv() {
                    Ok(e) => push(e.request, e.target),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        client.closed = true;
                        break;
                    }
                }
            }
        }
        #[cfg(unix)]
        Link::Socket {
            stream,
            inbox,
            outbox,
        } => {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        client.closed = true;
                        break;
                    }
                    Ok(n) => inbox.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        client.closed = true;
                        break;
                    }
                }
                if inbox.len() > MAX_MESSAGE_BYTES {
                    break;
                }
            }
            while let Some(end) = inbox.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = inbox.drain(..=end).collect();
                let line = &line[..line.len() - 1];
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Request>(line) {
                    Ok(r) => push(r, None),
                    Err(e) => {
                        tracing::warn!(
                            "control client {} sent a malformed message ({e}); closing it",
                            client.id
                        );
                        if let Ok(mut l) = serde_json::to_vec(&Reply::Error {
                            id: 0,
                            message: format!("malformed message: {e}; closing"),
                        }) {
                            l.push(b'\n');
                            let _ = stream.write_all(&l);
                        }
                        outbox.clear();
                        client.closed = true;
                        return;
                    }
                }
            }
            if inbox.len() > MAX_MESSAGE_BYTES {
                tracing::warn!(
                    "control client {} sent a message over {MAX_MESSAGE_BYTES} bytes; closing it",
                    client.id
                );
                client.closed = true;
            }
        }
    }
}

/// A hash of the racks' songs and names, in order: what a client's rack
/// indices mean.
fn layout<'a>(racks: impl Iterator<Item = (u16, &'a str)>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    for (group, name) in racks {
        (group, name).hash(&mut h);
    }
    h.finish()
}

impl Target {
    /// Puts the rack (and plugin and parameter) this names in `session`
    /// now into `command`, or says what is missing; a rack of `current`
    /// (the song playing, or the one a client just asked for) comes first.
    /// Main thread.
    fn resolve(
        &self,
        session: &Session,
        current: u16,
        command: &mut Command,
    ) -> Result<(), String> {
        let racks = session.racks();
        let named = |r: &&crate::session::RackModel| name_matches(&self.rack, &r.name);
        let rack = racks
            .iter()
            .position(|r| r.group == current && named(&r))
            .or_else(|| racks.iter().position(|r| named(&r)))
            .ok_or_else(|| {
                let names: Vec<&str> = racks
                    .iter()
                    .filter(|r| r.group == current)
                    .map(|r| r.name.as_str())
                    .collect();
                format!(
                    "no rack `{}`; the current song's racks: {}",
                    self.rack,
                    names.join(", ")
                )
            })?;
        let chain = &racks[rack].slots;
        let plugin = match &self.plugin {
            None => None,
            Some(p) => Some(
                chain
                    .iter()
                    .position(|s| name_matches(p, &s.instance.descriptor().name))
                    .or_else(|| p.parse::<usize>().ok().filter(|&i| i < chain.len()))
                    .ok_or_else(|| {
                        format!(
                            "rack `{}` has no plugin `{p}` (name or place from 0)",
                            racks[rack].name
                        )
                    })?,
            ),
        };
        let param = match (&self.param, plugin) {
            (Some(q), Some(i)) => {
                let instance = &chain[i].instance;
                let params = instance.params();
                let found = params
                    .iter()
                    .find(|p| name_matches(q, &p.name))
                    .or_else(|| {
                        let id = q.parse::<u32>().ok()?;
                        params.iter().find(|p| p.id == id)
                    })
                    .map(|p| p.id)
                    .ok_or_else(|| {
                        format!(
                            "plugin `{}` has no parameter `{q}` (name or id)",
                            instance.descriptor().name
                        )
                    })?;
                Some(found)
            }
            _ => None,
        };
        match command {
            Command::EditRack { rack: r, .. } => *r = rack,
            Command::SetParam {
                rack: r,
                index,
                param: p,
                ..
            } => {
                *r = rack;
                *index = plugin.unwrap_or(*index);
                *p = param.unwrap_or(*p);
            }
            Command::SetBypass { rack: r, index, .. }
            | Command::SelectProgram { rack: r, index, .. } => {
                *r = rack;
                *index = plugin.unwrap_or(*index);
            }
            _ => return Err("this command names no rack; send it without one".to_owned()),
        }
        Ok(())
    }
}

/// Whether a name as a remote peer writes it names `name`: the same
/// ignoring ASCII case, a space in the name also written `_` (OSC
/// addresses have no spaces). Any thread.
pub fn name_matches(written: &str, name: &str) -> bool {
    written.eq_ignore_ascii_case(name) || written.eq_ignore_ascii_case(&name.replace(' ', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::RackEdit;
    use crate::preset::parse_preset;
    use stagerack_engine::{EngineConfig, QueueCapacities, SwitchTable};

    /// Songs "one".."four", keeping one neighbour loaded: one has racks a
    /// and pad, two pad and b, three pad, four d (each a gain plugin).
    fn set() -> (Session, stagerack_engine::Engine) {
        let songs: Vec<_> = [
            ("one", &["a", "pad"][..]),
            ("two", &["pad", "b"]),
            ("three", &["pad"]),
            ("four", &["d"]),
        ]
        .iter()
        .map(|(name, racks)| {
            let mut text = format!("version = 1\nname = \"{name}\"\n");
            for r in *racks {
                text.push_str(&format!(
                    "[[rack]]\nname = \"{r}\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"gain\"\n"
                ));
            }
            parse_preset(&text, Path::new("test.toml")).unwrap()
        })
        .collect();
        let config = EngineConfig {
            sample_rate: 48_000.0,
            max_block: 64,
            queues: QueueCapacities::default(),
        };
        Session::with_setlist(&songs, SwitchTable::default(), config, true, Some(1)).unwrap()
    }

    /// One buffer played, then the main thread's work, as a pump does.
    fn pump(
        session: &mut Session,
        engine: &mut stagerack_engine::Engine,
        server: &mut ControlServer,
    ) {
        let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
        engine.process(&[], None, &mut l, &mut r);
        session.pump();
        server.poll(session);
    }

    fn replies(c: &LocalClient) -> Vec<Reply> {
        std::iter::from_fn(|| c.try_recv()).collect()
    }

    fn names(session: &Session) -> Vec<(u16, String)> {
        session
            .racks()
            .iter()
            .map(|r| (r.group, r.name.clone()))
            .collect()
    }

    fn gain(session: &Session, group: u16, name: &str) -> f64 {
        session
            .racks()
            .iter()
            .find(|r| r.group == group && r.name == name)
            .unwrap_or_else(|| panic!("no {name} in {group}: {:?}", names(session)))
            .gain_db
    }

    fn edit(rack: &str, edit: RackEdit) -> (Command, Target) {
        (
            Command::EditRack { rack: 0, edit },
            Target {
                rack: rack.into(),
                ..Target::default()
            },
        )
    }

    fn gain_db(db: f64) -> RackEdit {
        RackEdit {
            gain_db: Some(db),
            ..RackEdit::default()
        }
    }

    #[test]
    fn a_rack_named_right_after_a_song_change_is_the_new_songs() {
        let (mut session, mut engine) = set();
        let mut server = ControlServer::new();
        let mut c = server.connect_local();
        pump(&mut session, &mut engine, &mut server);
        let pad = |g: u16| (g, "pad".to_owned());
        assert_eq!(
            names(&session),
            [(0, "a".into()), pad(0), pad(1), (1, "b".into())]
        );
        // Next and the fader in one poll, before the audio thread switched:
        // the pad of the song asked for.
        c.send(Command::SetlistNext {});
        let (command, target) = edit("pad", gain_db(-6.0));
        let id = c.send_to(command, target);
        server.poll(&mut session);
        assert!(replies(&c).contains(&Reply::Ok { id }), "refused");
        assert_eq!(
            (gain(&session, 0, "pad"), gain(&session, 1, "pad")),
            (0.0, -6.0)
        );
        // (Entry two again on its own: a plan replacing the one carrying a
        // switch before the audio thread takes it loses that switch.)
        c.send(Command::SetlistSelect { index: 1 });
        for _ in 0..4 {
            pump(&mut session, &mut engine, &mut server);
        }
        assert_eq!(session.current_group(), 1);
        let _ = replies(&c);

        // Next: the audio thread switches, the pump unloads song one and
        // loads four, so every index moves; the fader sent meanwhile by
        // name reaches song three's pad, and clients hear of the new racks.
        c.send(Command::SetlistNext {});
        server.poll(&mut session);
        let (command, target) = edit("PAD", gain_db(-3.0));
        let id = c.send_to(command, target);
        // The switch lands between the pump's session work and its poll.
        session.pump();
        let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
        engine.process(&[], None, &mut l, &mut r);
        server.poll(&mut session);
        pump(&mut session, &mut engine, &mut server);
        assert_eq!(session.current_group(), 2);
        let now = names(&session);
        assert_eq!(now, [pad(1), (1, "b".into()), pad(2), (3, "d".into())]);
        assert_eq!(
            (gain(&session, 1, "pad"), gain(&session, 2, "pad")),
            (-6.0, -3.0)
        );
        let r = replies(&c);
        assert!(r.contains(&Reply::Ok { id }), "{r:?}");
        let told = r
            .into_iter()
            .rev()
            .find_map(|r| match r {
                Reply::State { state, .. } => Some(state),
                _ => None,
            })
            .expect("a state");
        let told: Vec<(u16, String)> = told
            .racks
            .iter()
            .map(|r| (r.preset, r.routing.name.clone()))
            .collect();
        assert_eq!(told, now, "clients were not told the racks moved");

        // A rack unloaded with its song is refused by name; a parameter by
        // plugin and parameter name.
        let (command, target) = edit(
            "a",
            RackEdit {
                mute: Some(true),
                ..RackEdit::default()
            },
        );
        let a = c.send_to(command, target);
        let param = c.send_to(
            Command::SetParam {
                rack: 0,
                index: 9,
                param: 99,
                value: -12.0,
                gesture: None,
            },
            Target {
                rack: "d".into(),
                plugin: Some("stagerack_gain".into()),
                param: Some("Gain".into()),
            },
        );
        server.poll(&mut session);
        let r = replies(&c);
        assert!(
            r.iter().any(|r| matches!(r, Reply::Error { id, message }
                if *id == a && message.contains("no rack `a`; the current song's racks: pad"))),
            "{r:?}"
        );
        assert!(r.contains(&Reply::Ok { id: param }), "{r:?}");
        session.shutdown(engine);
    }

    #[test]
    fn a_flooding_client_gets_its_share_and_is_closed_when_it_stops_reading() {
        let (mut session, engine) = set();
        let mut server = ControlServer::new();
        let mut c = server.connect_local();
        server.poll(&mut session);
        for _ in 0..100 {
            c.send(Command::Hello {
                version: PROTOCOL_VERSION,
                client: "flood".into(),
            });
        }
        server.poll(&mut session);
        assert_eq!(replies(&c).len(), MAX_REQUESTS_PER_POLL);
        server.poll(&mut session);
        assert_eq!(replies(&c).len(), MAX_REQUESTS_PER_POLL);

        // More waiting than the server takes: refused at once.
        let mut many = server.connect_local();
        for _ in 0..MAX_QUEUED_REQUESTS + 5 {
            many.send(Command::Status {});
        }
        let refused = many.try_recv();
        assert!(
            matches!(&refused, Some(Reply::Error { message, .. }) if message.contains("send fewer")),
            "{refused:?}"
        );

        // A client that never reads: closed once its replies fill up.
        let mut deaf = server.connect_local();
        server.poll(&mut session);
        let clients = server.client_count();
        for _ in 0..(MAX_QUEUED_REPLIES / MAX_REQUESTS_PER_POLL + 2) {
            for _ in 0..MAX_REQUESTS_PER_POLL {
                deaf.send(Command::Hello {
                    version: PROTOCOL_VERSION,
                    client: "deaf".into(),
                });
            }
            server.poll(&mut session);
            let _ = replies(&c);
        }
        assert_eq!(
            server.client_count(),
            clients - 1,
            "the deaf client is still open"
        );
        drop(many);
        session.shutdown(engine);
    }
}
