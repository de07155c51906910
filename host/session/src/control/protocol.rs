//! The control protocol, version 1: what clients (the rack window, remote
//! tools, tests) send, and what the engine answers. Serialised as JSON, one
//! message per line on sockets; passed as values in process.

use serde::{Deserialize, Serialize};

use crate::preset::RackDef;
use stagerack_core::plugin::{ParamId, PluginFormat};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest message accepted on a socket, in bytes; a longer one closes
/// that client.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A client's message: a command with an id the reply carries back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client; echoed in the reply.
    #[serde(default)]
    pub id: u64,
    /// What to do.
    #[serde(flatten)]
    pub command: Command,
}

/// Every command. Rack and plugin positions are indices as the latest
/// [`Snapshot`] lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Every variant is a struct variant (even empty ones) so that unknown
// fields are refused for all of them.
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// First message: the client's protocol version and name.
    Hello {
        /// Must equal [`PROTOCOL_VERSION`].
        version: u32,
        /// Shown in logs.
        client: String,
    },
    /// Ask for the whole state (answered with `state`).
    GetState {},
    /// The plugins this engine can load (built-ins and the scan cache).
    ListPlugins {},
    /// Scan the plugin folders in the background, each file in a child
    /// process as `stagerack scan` does (answered `ok` at once; every client
    /// then gets `scan_progress` events, `scan_finished` and the new
    /// `plugins`). A scan already running is joined, not restarted.
    ScanPlugins {
        /// Open blacklisted files again too.
        #[serde(default)]
        rescan: bool,
    },
    /// Insert a plugin into a rack (at the end when `index` is absent).
    AddPlugin {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        #[serde(default)]
        index: Option<usize>,
        /// `builtin`, `clap` or `vst3`.
        format: PluginFormat,
        /// Plugin id (built-in name, CLAP id, VST3 class id).
        plugin: String,
        /// Optional path hint.
        #[serde(default)]
        path: Option<std::path::PathBuf>,
    },
    /// Remove a plugin.
    RemovePlugin {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
    },
    /// Move a plugin within its chain.
    MovePlugin {
        /// Rack index.
        rack: usize,
        /// From position.
        from: usize,
        /// To position.
        to: usize,
    },
    /// Bypass or un-bypass a plugin.
    SetBypass {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
        /// Bypassed.
        bypass: bool,
    },
    /// Select one of a plugin's factory programs (by its place in the
    /// snapshot's `programs`).
    SelectProgram {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
        /// The program's place in the list, from 0.
        program: usize,
    },
    /// Set a parameter (plain value).
    SetParam {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
        /// Parameter id.
        param: ParamId,
        /// Plain value.
        value: f64,
        /// `begin` / `end` of a knob gesture (informational; undo groups).
        #[serde(default)]
        gesture: Option<Gesture>,
    },
    /// Change a rack's routing or mix.
    EditRack {
        /// Rack index.
        rack: usize,
        /// The fields to change.
        edit: RackEdit,
    },
    /// MIDI learn: the next controller moved maps onto this parameter.
    MidiLearn {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
        /// Parameter id.
        param: ParamId,
    },
    /// Stop MIDI learn.
    MidiLearnCancel {},
    /// MIDI learn of a rack's bank of knobs (`[rack.controls]`): the next
    /// controller moved is knob 1, the following controller numbers the
    /// others.
    LearnKnobs {
        /// Rack index.
        rack: usize,
        /// How many knobs, 1 to 8 (default 8).
        #[serde(default = "eight")]
        knobs: u8,
    },
    /// Open the plugin's own editor in a window of the engine's process
    /// (answered with `editor`); when open already, answers where it is.
    OpenEditor {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
    },
    /// Close the plugin's editor window (nothing to do when not open).
    CloseEditor {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
    },
    /// Add an empty rack to the current preset.
    AddRack {
        /// Its name.
        name: String,
    },
    /// Remove a rack.
    RemoveRack {
        /// Rack index.
        rack: usize,
    },
    /// Load a preset file, replacing what plays (a setlist's presets
    /// included); refused with the file's error (line and column) if it
    /// does not parse, and then nothing changes.
    LoadPreset {
        /// The preset file.
        path: std::path::PathBuf,
    },
    /// Save the current preset to a file (atomically).
    SavePreset {
        /// Where.
        path: std::path::PathBuf,
    },
    /// The setlist as it is being edited (answered with `setlist`; none
    /// when what plays is a single preset).
    GetSetlist {},
    /// Open a setlist file, replacing what plays (as `load_preset` does),
    /// its first entry current; refused with the file's error (line and
    /// column, or the preset it names) and then nothing changes.
    OpenSetlist {
        /// The setlist file.
        path: std::path::PathBuf,
    },
    /// Change the open setlist (every client then gets `setlist`).
    /// Trigger and notes changes play at once; added, removed and moved
    /// entries play when the setlist is saved (`save_setlist`). Refused,
    /// with nothing changed, for an entry index that is not there, a
    /// program two entries would share, a preset file that is missing or
    /// does not parse, a value out of range.
    EditSetlist {
        /// What to change.
        edit: SetlistEdit,
    },
    /// Save the open setlist atomically (a temporary file renamed over the
    /// old one) to `path`, or to its own file when absent; entries' preset
    /// paths are rewritten relative to a new folder. Every preset is read
    /// and checked first (nothing is written if one fails). When entries
    /// were added, removed or moved, the saved setlist then replaces what
    /// plays, the song playing kept current when it is still in the set.
    SaveSetlist {
        /// Where (absent: the setlist's own file).
        #[serde(default)]
        path: Option<std::path::PathBuf>,
    },
    /// Make the next setlist entry current.
    SetlistNext {},
    /// Make the previous setlist entry current.
    SetlistPrevious {},
    /// Make setlist entry `index` current.
    SetlistSelect {
        /// Entry index.
        index: u16,
    },
    /// All notes off everywhere.
    Panic {},
    /// Start or stop meter events (~30 per second).
    Subscribe {
        /// Send `meters` events.
        meters: bool,
    },
    /// Ask for a `status` event now.
    Status {},
    /// The backends, output devices and MIDI sources there are, and what
    /// the engine plays on (answered with `devices`).
    ListDevices {},
    /// Play on another backend, device or MIDI inputs. The engine keeps its
    /// plugins and state; refused, with the old device playing on, when
    /// the new one cannot open or runs at another sample rate.
    SelectDevices {
        /// Backend name (`jack`, `alsa`, `dummy`...).
        backend: String,
        /// `--connect` values (empty: `auto`).
        #[serde(default)]
        connect: Vec<String>,
        /// `--midi-in` patterns.
        #[serde(default)]
        midi_in: Vec<String>,
        /// Frames per buffer (absent: the device's choice).
        #[serde(default)]
        buffer: Option<u32>,
    },
}

/// One change to the setlist being edited (`edit_setlist`). Entry indices
/// count from 0 in the setlist's order as last sent in `setlist`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum SetlistEdit {
    /// Insert an entry playing `preset` (at the end when `index` is
    /// absent); it plays after a save.
    AddEntry {
        /// The preset file: relative to the setlist's folder, or absolute.
        preset: std::path::PathBuf,
        /// Where in the list.
        #[serde(default)]
        index: Option<usize>,
    },
    /// Remove an entry (not the last one left); applies after a save.
    RemoveEntry {
        /// Entry index.
        index: usize,
    },
    /// Move an entry to another place; applies after a save.
    MoveEntry {
        /// From index.
        from: usize,
        /// To index.
        to: usize,
    },
    /// Set an entry's MIDI triggers, all three (an absent one is cleared);
    /// plays at once.
    SetTriggers {
        /// Entry index.
        index: usize,
        /// Program change 0..=127.
        #[serde(default)]
        program: Option<u8>,
        /// Bank 0..=16383 the program change must come with.
        #[serde(default)]
        bank: Option<u16>,
        /// Key 0..=127 on the setlist's note channel.
        #[serde(default)]
        note: Option<u8>,
    },
    /// Set an entry's song notes (the stage view's lyrics, chords, cues);
    /// shows at once.
    SetNotes {
        /// Entry index.
        index: usize,
        /// The text ("" for none).
        notes: String,
    },
    /// Rename the setlist.
    Rename {
        /// The new name.
        name: String,
    },
}

/// The setlist being edited, as every client shows it (`setlist`). Any
/// thread (plain data).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetlistView {
    /// Its file (Save writes there).
    pub file: std::path::PathBuf,
    /// What it holds now, edits included: what a save writes. The setlist
    /// format's own type, versioned with that format (as `RackSnapshot`'s
    /// `routing` is the preset format's).
    pub setlist: crate::preset::Setlist,
    /// For each entry, the preset of the snapshot it plays as now (None: an
    /// added entry, playing after a save).
    pub playing: Vec<Option<u16>>,
    /// Edited since opened or saved.
    pub unsaved: bool,
    /// Entries were added, removed or moved: the set plays them after a
    /// save.
    pub pending: bool,
}

/// Phase of a knob gesture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gesture {
    /// The knob was grabbed.
    Begin,
    /// The knob was let go.
    End,
}

/// What the engine sends: replies (with the request's id) and events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Reply {
    /// Answer to `hello`.
    Welcome {
        /// Request id.
        id: u64,
        /// The engine's protocol version.
        version: u32,
    },
    /// A command was carried out.
    Ok {
        /// Request id.
        id: u64,
    },
    /// A command was refused, or a message could not be read.
    Error {
        /// Request id (0 when the message could not be read).
        id: u64,
        /// What went wrong and what to do.
        message: String,
    },
    /// The whole state; also sent to every client after any edit.
    State {
        /// Request id (0 when broadcast after an edit).
        id: u64,
        /// The state.
        state: Snapshot,
    },
    /// A parameter changed (by any client, or by the plugin itself).
    Param {
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
        /// Parameter id.
        param: ParamId,
        /// Plain value.
        value: f64,
        /// The plugin's text for the value, with its unit ("-6.0 dB").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// A plugin editor is open: the native window it is embedded in (an
    /// X11 window id, a Win32 HWND, a Cocoa NSView pointer) and its size.
    Editor {
        /// The request's id.
        id: u64,
        /// Rack index.
        rack: usize,
        /// Position in the chain.
        index: usize,
        /// The native window the plugin's GUI sits in.
        window: u64,
        /// The top-level window around it (the one a window manager shows
        /// and closes; on X11 the plugin's window is one level inside it).
        #[serde(default)]
        frame: u64,
        /// Width, logical pixels.
        width: u32,
        /// Height, logical pixels.
        height: u32,
        /// The plugin opened a floating window of its own (`window` and
        /// `frame` are 0: the host has none).
        #[serde(default)]
        floating: bool,
    },
    /// The setlist being edited (answer to `get_setlist`; sent to every
    /// client, id 0, after it is opened, edited or saved, or replaced by a
    /// preset).
    Setlist {
        /// Request id (0 when broadcast).
        id: u64,
        /// None: what plays is a single preset.
        setlist: Option<SetlistView>,
    },
    /// Loadable plugins.
    Plugins {
        /// Request id.
        id: u64,
        /// The list.
        plugins: Vec<stagerack_core::plugin::PluginDescriptor>,
    },
    /// A background scan is about to open file `done + 1` of `total`.
    ScanProgress {
        /// Files looked at so far.
        done: usize,
        /// Files to look at.
        total: usize,
        /// The file being looked at.
        file: String,
    },
    /// A background scan finished (the new `plugins` follow).
    ScanFinished {
        /// Plugin files looked at.
        files: usize,
        /// Files opened in a child process (new or changed).
        opened: usize,
        /// Files left out, each "path: reason".
        blacklisted: Vec<String>,
    },
    /// Peak meters since the last meters event.
    Meters {
        /// Output peak, left and right.
        master: [f32; 2],
        /// Each rack's peak, left and right.
        racks: Vec<[f32; 2]>,
        /// Keys held on the MIDI input, or struck since the last meters
        /// event: bit k of word k / 64.
        #[serde(default)]
        keys: [u64; 2],
        /// The transport's beat position now (the current preset's tempo,
        /// or the MIDI clock's), for a beat light.
        #[serde(default)]
        beat: f64,
        /// That tempo, in BPM.
        #[serde(default)]
        tempo: f64,
        /// Where the song-notes controller (`notes_cc`) last put the notes:
        /// 0 the top, 127 the end; absent until it moves.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes_scroll: Option<u8>,
    },
    /// MIDI learn bound a controller (the new state follows).
    Learned {
        /// What was bound, for people.
        what: String,
    },
    /// Engine health.
    Status {
        /// Request id (0 when unrequested).
        id: u64,
        /// Counters.
        status: StatusReport,
    },
    /// Answer to `list_devices`.
    Devices {
        /// Request id.
        id: u64,
        /// What there is.
        devices: stagerack_io::DeviceInventory,
        /// What the engine plays on (None: this engine's host cannot tell
        /// or change it; the runtime every front end uses can).
        current: Option<stagerack_io::AudioInUse>,
    },
}

/// Engine health for displays.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Buffers processed.
    pub buffers: u64,
    /// Average DSP load since the last report (1.0 = whole period).
    pub dsp_average: f32,
    /// Peak DSP load since the last report.
    pub dsp_peak: f32,
    /// Each rack thread's peak load since the last report (the callback
    /// thread first, then the workers; time in rack work over the period).
    #[serde(default)]
    pub thread_loads: Vec<f32>,
    /// Buffers by DSP load since the engine started, in 1 % steps (the
    /// last: 127 % and over): two readings give a run's median and p99.
    #[serde(default)]
    pub load_histogram: Vec<u32>,
    /// Buffers over budget so far.
    pub overloads: u64,
    /// Panics caught so far.
    pub panics: u64,
    /// Driver xruns (over- and underruns) so far.
    #[serde(default)]
    pub xruns: u64,
    /// MIDI events received so far.
    #[serde(default)]
    pub midi_events: u64,
    /// The plugin with the longest process call since the last status:
    /// "`name` (rack `r`) 195 us".
    #[serde(default)]
    pub heaviest: Option<String>,
    /// Warnings and errors so far (missing plugins, failed plugins).
    pub messages: Vec<String>,
}

/// The state a client shows: presets, racks, chains, parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Loaded presets' names (one, or a setlist's entries).
    pub presets: Vec<String>,
    /// The preset new notes go to.
    pub current: u16,
    /// Every rack.
    pub racks: Vec<RackSnapshot>,
    /// Each preset's file, where known (Save writes the current one back).
    #[serde(default)]
    pub files: Vec<Option<std::path::PathBuf>>,
    /// Each setlist entry's song notes (lyrics, chords, cues; empty for
    /// none), in the order of `presets`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Each preset's tempo in BPM, in the order of `presets`.
    #[serde(default)]
    pub tempos: Vec<f64>,
}

/// One rack in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RackSnapshot {
    /// Which preset it belongs to.
    pub preset: u16,
    /// Routing and mix, as in a preset file (its `plugin` list is empty;
    /// see `plugins`). Deliberately the preset format's rack table, whose
    /// fields are versioned with the preset format: what a client shows is
    /// what a save writes, and a new routing field reaches every client
    /// without a second definition to keep in step.
    pub routing: RackDef,
    /// The chain.
    pub plugins: Vec<PluginSnapshot>,
    /// Frames of latency the chain reports.
    #[serde(default)]
    pub latency: u32,
    /// What its knobs (`[rack.controls]`) are on now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knobs: Option<KnobsSnapshot>,
}

/// The page a rack's knobs are on. Any thread (plain data).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnobsSnapshot {
    /// The plugin's index in the chain.
    pub plugin: usize,
    /// The current page, 0-based.
    pub page: usize,
    /// How many pages.
    pub pages: usize,
    /// The current page's name.
    pub page_name: String,
    /// Each knob's parameter name ("" for none).
    pub knobs: Vec<String>,
}

/// One plugin in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginSnapshot {
    /// Display name.
    pub name: String,
    /// Format.
    pub format: PluginFormat,
    /// Id.
    pub id: String,
    /// Bypassed by the user.
    pub bypass: bool,
    /// Bypassed by the engine after an error, panic or bad output.
    pub failed: bool,
    /// The plugin has an editor of its own this engine can open.
    #[serde(default)]
    pub has_editor: bool,
    /// Its editor is open.
    #[serde(default)]
    pub editor_open: bool,
    /// How many voices it can play at once, when it says (CLAP
    /// `voice-info`).
    #[serde(default)]
    pub voices: Option<u32>,
    /// The names it gives keys (a drum map; CLAP `note-name`), as (key,
    /// name), names for every channel or channel 1.
    #[serde(default)]
    pub note_names: Vec<(u8, String)>,
    /// Its factory programs (VST3 program lists), selected by setting the
    /// program-change parameter `program_param` to an index.
    #[serde(default)]
    pub programs: Vec<String>,
    /// The program-change parameter, when it has programs.
    #[serde(default)]
    pub program_param: Option<ParamId>,
    /// The program selected now (its place in `programs`), when the plugin
    /// has programs.
    #[serde(default)]
    pub program: Option<usize>,
    /// Parameters with their current values.
    pub params: Vec<ParamSnapshot>,
}

/// One parameter in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSnapshot {
    /// Id.
    pub id: ParamId,
    /// Name.
    pub name: String,
    /// Range and default.
    pub min: f64,
    /// Highest value.
    pub max: f64,
    /// Default value.
    pub default: f64,
    /// Integer steps only.
    pub stepped: bool,
    /// Current value.
    pub value: f64,
    /// The plugin's text for the current value.
    pub text: String,
    /// An output of the plugin (a meter): shown, not set.
    #[serde(default)]
    pub read_only: bool,
}

/// A change to a rack's routing and mix (`edit_rack`); `None` fields stay
/// as they are. A wire type: the session applies it to its rack model.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackEdit {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Key range [low, high].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<[u8; 2]>,
    /// Velocity range [low, high].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<[u8; 2]>,
    /// MIDI channels 1..=16 (empty: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<u8>>,
    /// Semitones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transpose: Option<i8>,
    /// Octaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub octave: Option<i8>,
    /// Velocity curve: linear, soft, hard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity_curve: Option<String>,
    /// Gain in dB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_db: Option<f64>,
    /// Balance -1..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pan: Option<f64>,
    /// Muted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute: Option<bool>,
    /// Soloed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solo: Option<bool>,
    /// Controllers the rack ignores (CC numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_block: Option<Vec<u8>>,
    /// Controllers the rack renumbers: `[from, to]` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_remap: Option<Vec<[u8; 2]>>,
    /// Whether the sustain pedal (CC64) reaches the rack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sustain: Option<bool>,
    /// The rack's MIDI-to-parameter maps, whole (the window removes one
    /// by sending the others; MIDI learn adds them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maps: Option<Vec<crate::preset::MapDef>>,
    /// The rack (by name, in the same preset) whose plugins' MIDI output
    /// it plays; `""`: the MIDI inputs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midi_from: Option<String>,
    /// MPE zone: off, lower, upper or auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpe: Option<String>,
    /// Semitones of a full member-channel bend, 1..=96.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpe_bend_range: Option<u8>,
}

fn eight() -> u8 {
    8
}
