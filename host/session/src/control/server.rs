//! The control server: clients in process and on a local socket, polled
//! from the main thread.

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
/// Meter events per second for subscribed clients.
const METER_INTERVAL: Duration = Duration::from_millis(33);

/// An in-process client: sends requests, receives replies and events.
/// Any thread (it only holds channel ends).
pub struct LocalClient {
    tx: mpsc::Sender<Request>,
    rx: mpsc::Receiver<Reply>,
    next_id: u64,
    connector: Connector,
}

/// Opens new in-process clients from any thread (the OSC and web remote
/// threads, one client per remote peer); the server takes each in at its
/// next poll. Any thread; cheap to clone.
#[derive(Clone)]
pub struct Connector {
    tx: mpsc::Sender<(mpsc::Receiver<Request>, mpsc::Sender<Reply>)>,
}

impl Connector {
    /// A new client of the server this connector came from. Requests sent
    /// before the server's next poll wait in the client's channel. Any
    /// thread.
    pub fn connect(&self) -> LocalClient {
        let (req_tx, req_rx) = mpsc::channel();
        let (rep_tx, rep_rx) = mpsc::channel();
        // A server that is gone leaves the client without replies; its
        // owner notices by `recv_timeout` returning nothing.
        let _ = self.tx.send((req_rx, rep_tx));
        LocalClient {
            tx: req_tx,
            rx: rep_rx,
            next_id: 0,
            connector: self.clone(),
        }
    }
}

impl LocalClient {
    /// Sends a command; returns the id its reply will carry. Any thread.
    pub fn send(&mut self, command: Command) -> u64 {
        self.next_id += 1;
        let _ = self.tx.send(Request {
            id: self.next_id,
            command,
        });
        self.next_id
    }

    /// Sends a request with the caller's own id, which its reply carries
    /// back (a bridge passing a remote peer's requests through). Any
    /// thread.
    pub fn send_request(&mut self, request: Request) {
        let _ = self.tx.send(request);
    }

    /// A connector to the same server, to open more clients from another
    /// thread. Any thread.
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    /// The next reply or event, waiting up to `timeout`. Any thread.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Reply> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next reply or event if one is waiting. Any thread.
    pub fn try_recv(&self) -> Option<Reply> {
        self.rx.try_recv().ok()
    }
}

enum Link {
    Local {
        rx: mpsc::Receiver<Request>,
        tx: mpsc::Sender<Reply>,
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
            Link::Local { tx, .. } => {
                if tx.send(reply.clone()).is_err() {
                    self.closed = true;
                }
            }
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
    /// The program that answers `scan-one FILE` (None: scans are refused).
    scanner: Option<PathBuf>,
    /// The background scan running now.
    scan: Option<BackgroundScan>,
    /// Clients opened through a [`Connector`] on other threads.
    joining: mpsc::Receiver<(mpsc::Receiver<Request>, mpsc::Sender<Reply>)>,
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
        let mut requests = Vec::new();
        for (i, client) in self.clients.iter_mut().enumerate() {
            read_requests(client, |r| requests.push((i, r)));
        }
        for (i, request) in requests {
            if !self.clients[i].closed {
                self.handle(i, request, session, devices.as_deref_mut());
            }
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
        if session.take_editors_changed() || switched || paged {
            let state = snapshot(session);
            self.broadcast(&Reply::State { id: 0, state });
        }
        self.poll_scan();
        if self.last_meters.elapsed() >= METER_INTERVAL && self.clients.iter().any(|c| c.meters) {
            self.last_meters = Instant::now();
            let shared = session.handle().shared().clone();
            let meters = Reply::Meters {
                master: [shared.peak_left.take(), shared.peak_right.take()],
                racks: session
                    .racks()
                    .iter()
                    .map(|r| [r.status.peak_left.take(), r.status.peak_right.take()])
                    .collect(),
                keys: shared.keys.take(),
                beat: session.beat_now().0,
                tempo: session.beat_now().1,
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
                    session
                        .select(target)
                        .map(|_| true)
                        .map_err(|e| e.to_string())
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

/// Reads every complete request a client has sent. A malformed or
/// oversized message closes that client (logged), never anything else.
fn read_requests(client: &mut Client, mut push: impl FnMut(Request)) {
    match &mut client.link {
        Link::Local { rx, .. } => loop {
            match rx.try_recv() {
                Ok(r) => push(r),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    client.closed = true;
                    break;
                }
            }
        },
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
                    Ok(r) => push(r),
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
