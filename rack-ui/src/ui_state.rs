//! The state of the window itself, apart from what the engine says
//! ([`crate::state::AppState`]): selections, fields being typed, drags in
//! progress, open dialogs. The views change it as the user works; nothing
//! here talks to the engine. UI thread.

use std::collections::HashMap;
use std::path::PathBuf;

use eframe::egui;
use stagerack_session::control::Command;

/// Where the engine is, for the title bar.
#[derive(Clone, Debug)]
pub enum Mode {
    /// The engine runs in this process.
    InProcess {
        /// The socket other clients may attach to, if listening.
        socket: Option<PathBuf>,
    },
    /// Attached to another process's engine.
    Attached {
        /// Its socket.
        socket: PathBuf,
    },
}

/// A drag of one end of a rack's key range on the keyboard strip.
#[derive(Clone, Copy, Debug)]
pub struct KeyDrag {
    pub rack: usize,
    /// 0 = low end, 1 = high end.
    pub end: usize,
    pub keys: [u8; 2],
}

/// The state of the window itself (not of the engine).
#[derive(Debug)]
pub struct UiState {
    pub selected_rack: Option<usize>,
    pub selected_plugin: Option<(usize, usize)>,
    /// The rack the plugin browser adds to (browser open when set).
    pub browser_rack: Option<usize>,
    pub browser_search: String,
    /// The whole message list is shown (else only the newest message).
    pub show_messages: bool,
    /// The browser asked the engine for a scan (once, on its first open).
    pub scan_asked: bool,
    pub new_rack_name: String,
    pub preset_path: String,
    pub show_help: bool,
    /// The Audio & MIDI devices window is open.
    pub show_devices: bool,
    /// The device choice being edited there.
    pub device_choice: DeviceChoice,
    /// Typed parameter entries being edited: (rack, plugin, param) → text.
    pub param_text: HashMap<(usize, usize, u32), String>,
    /// Rack fields being typed (channels, controllers): (rack, field) →
    /// text.
    pub typed_text: HashMap<(usize, &'static str), String>,
    /// A slider drag in progress: the value before it, for undo.
    pub slider_origin: Option<((usize, usize, u32), f64)>,
    /// A rack gain/pan drag in progress: the command before it, for undo.
    pub rack_drag_origin: Option<(egui::Id, Vec<Command>)>,
    pub key_drag: Option<KeyDrag>,
    /// The rack whose Remove button was pressed, waiting for a yes.
    pub confirm_remove: Option<usize>,
    /// Open was pressed with unsaved edits: save, discard or cancel?
    pub confirm_open: bool,
    /// The stage view fills the window (see `views/stage.rs`).
    pub stage: bool,
    /// The song notes' furthest scroll offset at the last frame (points),
    /// for the notes controller's 0..127.
    pub stage_notes_max: f32,
    /// Where the song notes are scrolled to now (points from the top).
    pub stage_notes_offset: f32,
    /// The notes controller value the view scrolled to this frame.
    pub stage_notes_scrolled: Option<u8>,
    /// The setlist window (see `views/setlist.rs`).
    pub setlist: SetlistUi,
}

/// The setlist window's own state. UI thread.
#[derive(Clone, Debug, Default)]
pub struct SetlistUi {
    /// The window is open.
    pub open: bool,
    /// The setlist file field (Open reads, Save writes).
    pub path: String,
    /// The preset file of an entry to add.
    pub add: String,
    /// Trigger fields being typed: (entry, `program`/`bank`/`note`) → text.
    pub fields: HashMap<(usize, &'static str), String>,
    /// The entry whose notes are being edited, and the text so far.
    pub notes: Option<(usize, String)>,
    /// Open setlist was clicked: the file to open once the user confirmed
    /// that it replaces what plays (and drops unsaved edits).
    pub confirm_open: Option<String>,
}

/// The choice being edited (not yet applied).
#[derive(Clone, Debug, Default)]
pub struct DeviceChoice {
    /// Backend name; empty until the device list arrives.
    pub backend: String,
    /// Output device or port (empty: `auto`).
    pub output: String,
    /// MIDI sources ticked.
    pub midi_in: Vec<String>,
    /// Frames per buffer (0: the device's choice).
    pub buffer: u32,
}
