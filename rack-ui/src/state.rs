//! What the window knows about the engine: the latest snapshot, meters,
//! status, the message list and the undo/redo stacks. Built only from
//! protocol replies, so it is the same whether the engine is in process or
//! behind a socket. Main (UI) thread.

use std::collections::HashMap;
use std::time::Instant;

use stagerack_session::control::protocol::StatusReport;
use stagerack_session::control::PluginDescriptor;
use stagerack_session::control::{AudioInUse, DeviceInventory};
use stagerack_session::control::{Command, Reply, Snapshot};

/// Most messages kept in the list.
const MAX_MESSAGES: usize = 200;
/// Meter fall per frame of the display (peak hold decays smoothly).
const METER_DECAY: f32 = 0.85;

/// How serious a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// For information (a preset saved).
    Info,
    /// Something the user should look at (a plugin missing).
    Warning,
    /// Something failed.
    Error,
}

/// One line in the message list.
#[derive(Clone, Debug)]
pub struct Message {
    /// Severity.
    pub level: Level,
    /// The text.
    pub text: String,
    /// When it arrived.
    pub at: Instant,
}

/// An undoable edit: the commands that make it and the commands that take
/// it back (computed from the snapshot before the edit).
#[derive(Clone, Debug, PartialEq)]
pub struct UndoEntry {
    /// Shown in the undo button's tooltip.
    pub label: String,
    /// Re-does the edit.
    pub redo: Vec<Command>,
    /// Undoes it.
    pub undo: Vec<Command>,
}

/// Displayed meter levels (linear peak, decaying).
#[derive(Clone, Debug, Default)]
pub struct Meters {
    /// Master left/right.
    pub master: [f32; 2],
    /// Each rack's left/right, as the snapshot lists racks.
    pub racks: Vec<[f32; 2]>,
    /// Keys to light on the keyboard strip (held or just struck): bit k of
    /// word k / 64.
    pub keys: [u64; 2],
}

impl Meters {
    /// Whether key `k` is lit. UI thread.
    pub fn key_lit(&self, k: u8) -> bool {
        self.keys[usize::from((k >> 6) & 1)] & (1 << (k & 63)) != 0
    }
}

/// Trouble the stage view shows until someone acknowledges it: each light
/// comes on when its count grows (or a plugin fails) and stays on. Main
/// (UI) thread.
#[derive(Clone, Debug, Default)]
pub struct Lights {
    /// Buffers went over budget since the last acknowledgement.
    pub overload: bool,
    /// The driver reported xruns since the last acknowledgement.
    pub xrun: bool,
    /// A plugin failed (an error, a panic, NaN or runaway output): which.
    pub fault: Option<String>,
    /// Counts already seen (the first status only sets them).
    seen: Option<(u64, u64, u64)>,
    /// Failed plugins ("rack: plugin") already acknowledged.
    acknowledged: Vec<String>,
}

impl Lights {
    /// Turns every light off; what failed so far stays acknowledged (a
    /// new failure lights it again). Main (UI) thread.
    pub fn acknowledge(&mut self, failed_now: Vec<String>) {
        self.overload = false;
        self.xrun = false;
        self.fault = None;
        self.acknowledged = failed_now;
    }

    /// Takes in a status report's counts. Main (UI) thread.
    fn status(&mut self, status: &StatusReport) {
        let now = (status.overloads, status.xruns, status.panics);
        if let Some((overloads, xruns, panics)) = self.seen {
            self.overload |= now.0 > overloads;
            self.xrun |= now.1 > xruns;
            if now.2 > panics && self.fault.is_none() {
                self.fault = Some("a plugin panicked".into());
            }
        }
        self.seen = Some(now);
    }

    /// Takes in the plugins failed now ("rack: plugin"). Main (UI) thread.
    fn failed(&mut self, failed: &[String]) {
        self.acknowledged.retain(|a| failed.contains(a));
        if let Some(new) = failed.iter().find(|f| !self.acknowledged.contains(f)) {
            if self.fault.is_none() {
                self.fault = Some(new.clone());
            }
        }
    }
}

/// What the stage view shows besides the snapshot: the beat, where the
/// song notes' controller puts them, the trouble lights. Main (UI) thread.
#[derive(Clone, Debug, Default)]
pub struct StageInfo {
    /// The transport's beat and tempo at the last meters event, and when
    /// that arrived (the view counts on from there).
    pub beat: Option<(f64, f64, Instant)>,
    /// The song-notes controller's last value (0 top, 127 end), and
    /// whether the view has yet to scroll to it.
    pub notes_scroll: Option<(u8, bool)>,
    /// The trouble lights.
    pub lights: Lights,
}

impl StageInfo {
    /// The beat now, counted on from the last meters event. Main (UI)
    /// thread.
    pub fn beat_now(&self) -> Option<(f64, f64)> {
        let (beat, tempo, at) = self.beat?;
        Some((beat + at.elapsed().as_secs_f64() * tempo / 60.0, tempo))
    }
}

/// The plugins failed in a snapshot, "rack: plugin". Any thread.
pub fn failed_plugins(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .racks
        .iter()
        .flat_map(|r| {
            r.plugins
                .iter()
                .filter(|p| p.failed)
                .map(move |p| format!("{}: {}", r.routing.name, p.name))
        })
        .collect()
}

/// The engine's background plugin scan (`scan_plugins`), for the browser.
/// Main (UI) thread.
#[derive(Debug, Default)]
pub struct ScanState {
    /// Running: files looked at, files in all, the file being looked at.
    pub progress: Option<(usize, usize, String)>,
    /// What the last finished scan said, for people.
    pub summary: Option<String>,
}

/// The window's model of the engine. Main (UI) thread.
#[derive(Debug, Default)]
pub struct AppState {
    /// The latest state, once the engine sent one.
    pub snapshot: Option<Snapshot>,
    /// Loadable plugins (from `list_plugins`, renewed after each scan).
    pub plugins: Vec<PluginDescriptor>,
    /// The engine's background plugin scan, as the window knows it.
    pub scan: ScanState,
    /// Displayed meters.
    pub meters: Meters,
    /// Latest engine health.
    pub status: Option<StatusReport>,
    /// What the stage view shows besides the snapshot.
    pub stage: StageInfo,
    /// Buffers counted at the previous status, to tell a stalled engine.
    pub last_buffers: Option<u64>,
    /// Errors, warnings and notices, oldest first.
    pub messages: Vec<Message>,
    /// Edits that can be undone, latest last.
    pub undo: Vec<UndoEntry>,
    /// Edits were sent since the preset was last loaded or saved.
    pub modified: bool,
    /// Undone edits that can be redone, latest last.
    pub redo: Vec<UndoEntry>,
    /// The engine answered `hello`.
    pub welcomed: bool,
    /// What each request in flight was, for error messages.
    pending: HashMap<u64, String>,
    /// Engine warnings already shown.
    seen_warnings: usize,
    /// Ids of save requests in flight, with their paths.
    pending_saves: HashMap<u64, String>,
    /// Ids of preset loads in flight, with their paths.
    pending_loads: HashMap<u64, String>,
    /// Devices there are and what the engine plays on (`list_devices`).
    pub devices: Option<(DeviceInventory, Option<AudioInUse>)>,
    /// A device selection in flight (its id, what was asked).
    pending_device: Option<(u64, String)>,
    /// The setlist being edited, as the engine last sent it (None: a
    /// single preset plays).
    pub setlist: Option<stagerack_session::control::SetlistView>,
    /// Setlist opens and saves in flight: what to say when done, and
    /// what to forget then (see `setlist_state.rs`).
    pub(crate) setlist_notices: HashMap<u64, crate::setlist_state::SetlistNotice>,
    /// The device list is out of date (a selection went through): the
    /// window asks again.
    pub devices_stale: bool,
    /// The address of the web remote this window's engine serves (with
    /// its token when one is needed), shown in the status panel.
    pub web_remote: Option<String>,
}

impl AppState {
    /// Adds a message to the list. Main thread.
    pub fn push_message(&mut self, level: Level, text: impl Into<String>) {
        self.messages.push(Message {
            level,
            text: text.into(),
            at: Instant::now(),
        });
        if self.messages.len() > MAX_MESSAGES {
            let extra = self.messages.len() - MAX_MESSAGES;
            self.messages.drain(..extra);
        }
    }

    /// Remembers what request `id` was (for its error message). Main thread.
    pub fn sent(&mut self, id: u64, command: &Command) {
        if changes_preset(command) {
            self.modified = true;
        }
        if let Command::SavePreset { path } = command {
            self.pending_saves.insert(id, path.display().to_string());
        }
        self.sent_setlist(id, command);
        if let Command::LoadPreset { path } = command {
            self.pending_loads.insert(id, path.display().to_string());
        }
        if let Command::SelectDevices { backend, .. } = command {
            self.pending_device = Some((id, backend.clone()));
        }
        self.pending.insert(id, describe(command));
    }

    /// Takes in one reply or event from the engine. Main thread.
    pub fn apply(&mut self, reply: Reply) {
        match reply {
            Reply::ScanProgress { done, total, file } => {
                let name = std::path::Path::new(&file)
                    .file_name()
                    .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
                self.scan.progress = Some((done, total, name));
            }
            Reply::ScanFinished {
                files,
                opened,
                blacklisted,
            } => {
                self.scan.progress = None;
                self.scan.summary = Some(format!(
                    "Scanned {files} plugin files ({opened} opened, {} left out)",
                    blacklisted.len()
                ));
                for b in blacklisted {
                    self.push_message(
                        Level::Warning,
                        format!("plugin scan left out {b} (Rescan tries it again)"),
                    );
                }
            }
            Reply::Learned { what } => {
                self.push_message(Level::Info, format!("MIDI learn: {what}"));
            }
            Reply::Editor {
                id, width, height, ..
            } => {
                if let Some(what) = self.pending.remove(&id) {
                    self.push_message(Level::Info, format!("{what}: {width}×{height}"));
                }
            }
            Reply::Setlist { id, setlist } => {
                self.pending.remove(&id);
                self.setlist = setlist;
            }
            Reply::Welcome { id, .. } => {
                self.pending.remove(&id);
                self.welcomed = true;
            }
            Reply::Ok { id } => {
                self.pending.remove(&id);
                if let Some((_, backend)) = self.pending_device.take_if(|(d, _)| *d == id) {
                    self.push_message(Level::Info, format!("audio: now playing on {backend}"));
                    self.devices_stale = true;
                }
                if let Some(path) = self.pending_saves.remove(&id) {
                    self.push_message(Level::Info, format!("preset saved to {path}"));
                    self.modified = false;
                }
                self.setlist_done(id);
                if let Some(path) = self.pending_loads.remove(&id) {
                    self.modified = false;
                    self.push_message(Level::Info, format!("preset loaded from {path}"));
                    // The edits on the stacks were made to racks now gone.
                    self.undo.clear();
                    self.redo.clear();
                }
            }
            Reply::Error { id, message } => {
                self.pending_saves.remove(&id);
                self.pending_loads.remove(&id);
                self.setlist_notices.remove(&id);
                if self.pending_device.take_if(|(d, _)| *d == id).is_some() {
                    self.devices_stale = true;
                }
                let what = self.pending.remove(&id);
                let text = match what {
                    Some(w) => format!("{w}: {message}"),
                    None => message,
                };
                self.push_message(Level::Error, text);
            }
            Reply::State { id, state } => {
                self.pending.remove(&id);
                self.meters.racks.resize(state.racks.len(), [0.0; 2]);
                self.stage.lights.failed(&failed_plugins(&state));
                self.snapshot = Some(state);
            }
            Reply::Param {
                rack,
                index,
                param,
                value,
                text,
            } => {
                if let Some(p) = self
                    .snapshot
                    .as_mut()
                    .and_then(|s| s.racks.get_mut(rack))
                    .and_then(|r| r.plugins.get_mut(index))
                    .and_then(|p| p.params.iter_mut().find(|p| p.id == param))
                {
                    p.value = value;
                    // The plugin's own text (its unit) when the engine
                    // sent it; a plain number otherwise.
                    p.text = text.unwrap_or_else(|| format_value(value, p.stepped));
                }
            }
            Reply::Plugins { id, plugins } => {
                self.pending.remove(&id);
                self.plugins = plugins;
            }
            Reply::Meters {
                master,
                racks,
                keys,
                beat,
                tempo,
                notes_scroll,
            } => {
                if tempo > 0.0 {
                    self.stage.beat = Some((beat, tempo, Instant::now()));
                }
                if let Some(value) = notes_scroll {
                    if self.stage.notes_scroll.is_none_or(|(v, _)| v != value) {
                        self.stage.notes_scroll = Some((value, true));
                    }
                }
                self.meters.keys = keys;
                for (shown, new) in self.meters.master.iter_mut().zip(master) {
                    *shown = new.max(*shown * METER_DECAY);
                }
                self.meters.racks.resize(racks.len(), [0.0; 2]);
                for (shown, new) in self.meters.racks.iter_mut().zip(racks) {
                    for (s, n) in shown.iter_mut().zip(new) {
                        *s = n.max(*s * METER_DECAY);
                    }
                }
            }
            Reply::Devices {
                id,
                devices,
                current,
            } => {
                self.pending.remove(&id);
                self.devices = Some((devices, current));
            }
            Reply::Status { id, status } => {
                self.pending.remove(&id);
                for w in status.messages.iter().skip(self.seen_warnings) {
                    let level = if w.contains("panicked") || w.contains("failed") {
                        Level::Error
                    } else {
                        Level::Warning
                    };
                    self.push_message(level, w.clone());
                }
                self.seen_warnings = self.seen_warnings.max(status.messages.len());
                self.stage.lights.status(&status);
                self.last_buffers = self.status.as_ref().map(|s| s.buffers);
                self.status = Some(status);
            }
        }
    }

    /// The song playing and where it stands in the set: "demo (1/2)".
    /// Main thread.
    pub fn song_label(&self) -> String {
        let (count, current) = self
            .snapshot
            .as_ref()
            .map(|s| (s.presets.len(), usize::from(s.current) + 1))
            .unwrap_or((0, 0));
        format!("{} ({current}/{count})", self.current_preset_name())
    }

    /// The display name of the preset new notes go to. Main thread.
    pub fn current_preset_name(&self) -> &str {
        self.snapshot
            .as_ref()
            .and_then(|s| s.presets.get(usize::from(s.current)))
            .map(String::as_str)
            .unwrap_or("(no preset)")
    }
}

/// A parameter's value as text when the plugin's own text is not at hand.
pub fn format_value(value: f64, stepped: bool) -> String {
    if stepped {
        format!("{value:.0}")
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// Whether `command` changes what a save would write (racks, plugins,
/// parameters, maps), as opposed to looking, playing or switching songs.
/// Main thread.
pub fn changes_preset(command: &Command) -> bool {
    matches!(
        command,
        Command::AddPlugin { .. }
            | Command::RemovePlugin { .. }
            | Command::MovePlugin { .. }
            | Command::SetBypass { .. }
            | Command::SetParam { .. }
            | Command::SelectProgram { .. }
            | Command::EditRack { .. }
            | Command::AddRack { .. }
            | Command::RemoveRack { .. }
            | Command::MidiLearn { .. }
            | Command::LearnKnobs { .. }
    )
}

/// A short description of a command, for messages and undo tooltips.
pub fn describe(command: &Command) -> String {
    match command {
        Command::Hello { .. } => "connect".into(),
        Command::GetState {} => "read the engine state".into(),
        Command::MidiLearn { rack, index, .. } => {
            format!("MIDI learn on plugin {} of rack {}", index + 1, rack + 1)
        }
        Command::MidiLearnCancel {} => "stop MIDI learn".into(),
        Command::LearnKnobs { rack, .. } => format!("MIDI learn of rack {}'s knobs", rack + 1),
        Command::ListPlugins {} => "list plugins".into(),
        Command::ScanPlugins { .. } => "scan for plugins".into(),
        Command::AddPlugin { plugin, rack, .. } => format!("add {plugin} to rack {}", rack + 1),
        Command::RemovePlugin { rack, index } => {
            format!("remove plugin {} of rack {}", index + 1, rack + 1)
        }
        Command::MovePlugin { rack, from, to } => {
            format!(
                "move plugin {} to {} in rack {}",
                from + 1,
                to + 1,
                rack + 1
            )
        }
        Command::SetBypass { bypass, .. } => {
            if *bypass {
                "bypass a plugin".into()
            } else {
                "un-bypass a plugin".into()
            }
        }
        Command::SetParam { param, value, .. } => format!("set parameter {param} to {value}"),
        Command::SelectProgram {
            rack,
            index,
            program,
        } => format!(
            "select program {} of plugin {} of rack {}",
            program + 1,
            index + 1,
            rack + 1
        ),
        Command::EditRack { rack, .. } => format!("edit rack {}", rack + 1),
        Command::AddRack { name } => format!("add rack {name}"),
        Command::RemoveRack { rack } => format!("remove rack {}", rack + 1),
        Command::SavePreset { path } => format!("save preset to {}", path.display()),
        Command::LoadPreset { path } => format!("open preset {}", path.display()),
        Command::SetlistNext {} => "next setlist entry".into(),
        Command::SetlistPrevious {} => "previous setlist entry".into(),
        Command::SetlistSelect { index } => format!("select setlist entry {}", index + 1),
        Command::Panic {} => "panic".into(),
        Command::GetSetlist {} => "read the setlist".into(),
        Command::OpenSetlist { path } => format!("open setlist {}", path.display()),
        Command::EditSetlist { edit } => crate::setlist_state::describe_edit(edit),
        Command::SaveSetlist { path } => match path {
            Some(p) => format!("save the setlist to {}", p.display()),
            None => "save the setlist".into(),
        },
        Command::Subscribe { .. } => "subscribe to meters".into(),
        Command::Status {} => "read the engine status".into(),
        Command::ListDevices {} => "list audio and MIDI devices".into(),
        Command::SelectDevices { backend, .. } => format!("switch audio to {backend}"),
        Command::OpenEditor { rack, index } => {
            format!(
                "open the editor of plugin {} of rack {}",
                index + 1,
                rack + 1
            )
        }
        Command::CloseEditor { rack, index } => {
            format!(
                "close the editor of plugin {} of rack {}",
                index + 1,
                rack + 1
            )
        }
    }
}
