//! The format-neutral plugin interface, split by thread role.
//!
//! Every format (built-in, CLAP, VST3) implements two traits:
//!
//! - [`PluginInstance`]: the **main-thread** handle. It is not required to be
//!   `Send`; it lists parameters, saves and loads state, and
//!   [`activates`](PluginInstance::activate) the plugin, which yields…
//! - [`AudioProcessor`]: the **audio-thread** half (`Send`, used by one
//!   thread at a time). The engine moves it into a plan; it processes blocks
//!   in place, and is handed back to its instance for
//!   [`deactivate`](PluginInstance::deactivate) on the main thread.

use std::path::PathBuf;

use crate::midi::{EventBuffer, TimedEvent};

pub use crate::ids::ParamId;

/// Which plugin standard an instance comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginFormat {
    /// Compiled into stagerack.
    Builtin,
    /// A CLAP plugin.
    Clap,
    /// A VST3 plugin.
    Vst3,
}

impl std::fmt::Display for PluginFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginFormat::Builtin => "builtin",
            PluginFormat::Clap => "clap",
            PluginFormat::Vst3 => "vst3",
        })
    }
}

/// What a plugin does with notes and audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Makes sound from notes; its input audio is ignored.
    Instrument,
    /// Processes audio.
    Effect,
}

/// Who a plugin is. Any thread.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PluginDescriptor {
    /// Format.
    pub format: PluginFormat,
    /// The id a preset uses (built-in name, CLAP id, VST3 class id in hex).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Vendor.
    pub vendor: String,
    /// Instrument or effect.
    pub kind: PluginKind,
    /// The file it was loaded from (none for built-ins).
    pub path: Option<PathBuf>,
}

/// One parameter as the plugin describes it. Any thread.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamInfo {
    /// The plugin's id for it.
    pub id: ParamId,
    /// Display name.
    pub name: String,
    /// Lowest plain value.
    pub min: f64,
    /// Highest plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// Takes integer steps only.
    pub stepped: bool,
    /// An output of the plugin (a gain-reduction meter): shown, never set
    /// by the host (CLAP `IS_READONLY`).
    #[serde(default)]
    pub read_only: bool,
    /// The plugin lets the host automate it (CLAP `IS_AUTOMATABLE`, VST3
    /// `kCanAutomate`): what a rack's knobs page through when the plugin
    /// has no pages of its own.
    #[serde(default = "automatable_by_default")]
    pub automatable: bool,
}

fn automatable_by_default() -> bool {
    true
}

/// How the engine will run a plugin; fixed between activate and deactivate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessConfig {
    /// Frames per second.
    pub sample_rate: f64,
    /// No block will be shorter than this (1: any size).
    pub min_block: u32,
    /// No block will be longer than this.
    pub max_block: u32,
    /// True when rendering offline (faster or slower than real time).
    pub offline: bool,
    /// The extra outputs the engine takes (bit `i`: the plugin's extra
    /// output `i`, see [`PluginInstance::aux_outputs`]); a VST3 plugin's
    /// aux buses are active only when taken, as in a DAW where the user
    /// enables them. 0: the main output alone.
    pub aux_outputs: u64,
}

/// How long a plugin keeps sounding after its input goes quiet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Silence in, silence out at once.
    None,
    /// This many frames.
    Frames(u32),
    /// Never ends on its own (e.g. a drone).
    Infinite,
}

/// What a processor asks of the engine after a block (mirrors CLAP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStatus {
    /// Call me every block.
    Continue,
    /// Call me while my output is not silent, then sleep.
    ContinueIfNotQuiet,
    /// Call me until my tail (see [`PluginInstance::tail`]) has ended.
    Tail,
    /// Don't call me until an event arrives or my input is not silent.
    Sleep,
    /// I failed: bypass me and report it.
    Error,
}

/// The share of a buffer's period that a live engine lets its processors
/// wait for work done elsewhere (a sandbox child's answer), counted from
/// the start of the driver's callback: every wait of the buffer together,
/// so the callback makes its period whatever number of sandboxes is late,
/// as long as the work done in process takes less than the rest.
pub const WAIT_SHARE: f64 = 0.5;

/// Tempo and position, the same for every processor in a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transport {
    /// Beats per minute.
    pub tempo: f64,
    /// True while the transport rolls.
    pub playing: bool,
    /// Frames since the engine started (CLAP steady time).
    pub steady_frames: u64,
    /// Frames per second.
    pub sample_rate: f64,
    /// Live: when the buffer's waits for work done elsewhere end (the
    /// callback's start plus [`WAIT_SHARE`] of its period), for every
    /// processor of the buffer together; a processor whose work is not
    /// back by then gives silence for the block. `None`: no limit but the
    /// processor's own (offline, or a caller outside an engine).
    pub wait_until: Option<std::time::Instant>,
}

/// One block for one processor, processed in place. Audio thread.
pub struct Block<'a> {
    /// Frames in this block (≤ the activated `max_block`).
    pub frames: usize,
    /// Left channel: input on entry, output on return. `frames` long.
    pub left: &'a mut [f32],
    /// Right channel: input on entry, output on return. `frames` long.
    pub right: &'a mut [f32],
    /// Events for this block, sorted by offset, each offset `< frames`.
    pub events: &'a [TimedEvent],
    /// Events the processor emits (notes, MIDI) for the next in the chain.
    pub out_events: &'a mut EventBuffer,
    /// Tempo and position.
    pub transport: &'a Transport,
}

/// The audio-thread half of an activated plugin. Every method is called on
/// the audio thread only, and must not allocate, lock or block.
///
/// `Any` is a supertrait so that [`PluginInstance::deactivate`] can turn the
/// box it gets back into its own concrete type (`Box<dyn AudioProcessor>`
/// upcasts to `Box<dyn Any>`, then `downcast`); implementors need nothing
/// extra.
pub trait AudioProcessor: Send + std::any::Any {
    /// Processes one block in place. Audio thread.
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus;

    /// Starts `block` now when this processor works elsewhere (a sandbox
    /// child) and can run while the engine does other things: the engine
    /// calls it for a rack's first plugin at the start of the buffer, before
    /// it processes any rack, and then calls [`process`](Self::process) with
    /// the same block (same input, events and transport) where the chain
    /// reaches it, which collects the result. Returns false when nothing was
    /// started (the default: `process` does all the work). Audio thread.
    fn start(&mut self, block: &mut Block<'_>) -> bool {
        let _ = block;
        false
    }

    /// Stops processing before the processor leaves the audio thread
    /// (CLAP `stop_processing`, VST3 `setProcessing(false)`). Audio thread.
    fn stop(&mut self) {}

    /// Silences every voice at once (panic). Audio thread.
    fn reset(&mut self) {}

    /// How long the processor keeps sounding after its input went quiet;
    /// the chain keeps calling a processor that returned
    /// [`ProcessStatus::Tail`] for this long. Audio thread.
    fn tail(&self) -> Tail {
        Tail::None
    }

    /// Allocations and frees the plugin made on an audio thread of another
    /// process during the last `process` call (a sandbox child counts its
    /// plugin's); the engine adds them to what it counted itself. Audio
    /// thread.
    fn take_foreign_allocs(&mut self) -> u32 {
        0
    }

    /// True (once) when the plugin asked to be processed although it sleeps
    /// (CLAP `request_process`); the chain then wakes it. Audio thread.
    fn wake_requested(&mut self) -> bool {
        false
    }

    /// What extra output `port` (0: the first output after the main one;
    /// see [`PluginInstance::aux_outputs`]) played in the last
    /// [`process`](Self::process) call, left and right, `frames` long (a
    /// mono output gives its one channel twice). Valid until the next call
    /// to `process` or `start`. `None`: no such output, or nothing
    /// played on it (silence). Audio thread.
    fn aux_output(&self, port: usize, frames: usize) -> Option<(&[f32], &[f32])> {
        let _ = (port, frames);
        None
    }
}

/// Extra outputs a plugin may offer to the engine: a 16-output drum
/// sampler's 15 stereo pairs after its main one (the sandbox's shared
/// memory is sized for this many).
pub const MAX_AUX_OUTPUTS: usize = 15;

/// Where a plugin sits, as the host tells it (CLAP `track-info` and
/// `param-indication`). Main thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostContext {
    /// The name of the plugin's rack.
    pub rack: String,
    /// The plugin's parameters a controller is mapped to, each with a
    /// short label naming the controller ("CC 74").
    pub mapped: Vec<(ParamId, String)>,
}

/// A name a plugin gives a key (a drum map; CLAP `note-name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteName {
    /// The key (0..=127).
    pub key: u8,
    /// The MIDI channel it applies to (0..=15), or None for every channel.
    pub channel: Option<u8>,
    /// The name ("Kick", "Snare").
    pub name: String,
}

/// A page of a plugin's main controls (CLAP `remote-controls`): up to
/// eight parameters for a controller's knobs. Any thread (plain data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePage {
    /// The section it belongs to ("Oscillators"), may be empty.
    pub section: String,
    /// Its name ("Osc 1").
    pub name: String,
    /// The parameter on each knob, if any.
    pub params: [Option<ParamId>; 8],
}

/// A plugin's factory programs (VST3 program lists and `kIsProgramChange`,
/// CLAP `preset-discovery`) and how one is selected. Main thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramList {
    /// The program-change parameter (its plain value is the program's
    /// index), or `None` when a program is loaded through
    /// [`PluginInstance::load_program`] (CLAP `preset-load`).
    pub param: Option<ParamId>,
    /// The programs' names, in order.
    pub names: Vec<String>,
}

/// The main-thread handle of a plugin instance. Every method is called on
/// the main thread only.
pub trait PluginInstance {
    /// Who this plugin is. Main thread.
    fn descriptor(&self) -> &PluginDescriptor;

    /// Every parameter. Main thread.
    fn params(&self) -> Vec<ParamInfo>;

    /// A parameter's current plain value. Main thread.
    fn param_value(&self, id: ParamId) -> Option<f64>;

    /// The plugin's text for a value of a parameter ("-6.0 dB"). Main thread.
    fn param_text(&self, id: ParamId, value: f64) -> Option<String>;

    /// Sets a parameter while the plugin is not processing (presets, load).
    /// Main thread. While active, use the engine's parameter queue instead.
    fn set_param(&mut self, id: ParamId, value: f64) -> Result<(), PluginError>;

    /// Activates the plugin and returns its audio half. Main thread.
    fn activate(&mut self, config: &ProcessConfig) -> Result<Box<dyn AudioProcessor>, PluginError>;

    /// Takes the audio half back (already stopped on the audio thread) and
    /// deactivates. Main thread.
    fn deactivate(&mut self, processor: Box<dyn AudioProcessor>);

    /// The plugin's full state as an opaque blob. Main thread.
    fn save_state(&mut self) -> Result<Vec<u8>, PluginError>;

    /// Restores a blob from [`save_state`](Self::save_state). Main thread.
    fn load_state(&mut self, state: &[u8]) -> Result<(), PluginError>;

    /// Frames of delay the plugin adds. Main thread.
    fn latency(&self) -> u32 {
        0
    }

    /// The names of the plugin's extra audio outputs, in order (CLAP
    /// output ports after the main one, VST3 audio output buses after the
    /// first): what a preset's `outputs = { "Kick" = "IEM" }` names. At
    /// most [`MAX_AUX_OUTPUTS`]. Main thread.
    fn aux_outputs(&self) -> Vec<String> {
        Vec::new()
    }

    /// How long it rings after its input stops. Main thread.
    fn tail(&self) -> Tail {
        Tail::None
    }

    /// Services the plugin's main-thread requests (timers, callbacks,
    /// restarts); called from the main-thread pump. Main thread.
    fn on_main_thread(&mut self) {}

    /// True when the plugin asked to be deactivated and activated again
    /// (CLAP `request_restart`, a latency change, VST3 restartComponent with
    /// latency/IO changes); the session's pump then takes it out of the
    /// plan, deactivates it and brings it back. Main thread.
    fn needs_restart(&self) -> bool {
        false
    }

    /// The host sent `value` (plain) for `id` to the running processor
    /// through the engine's queue; the main-thread side learns it here (a
    /// VST3 controller is told with `setParamNormalized`, as the VST3 host
    /// rules ask). Main thread.
    fn host_changed_param(&mut self, id: ParamId, value: f64) {
        let _ = (id, value);
    }

    /// Moves the parameter changes the plugin itself made since the last
    /// call (its own MIDI learn, an internal modulation it reports, a knob
    /// on its editor) into `out` as (id, plain value). Main thread.
    fn take_param_changes(&mut self, out: &mut Vec<(ParamId, f64)>) {
        let _ = out;
    }

    /// Moves what the plugin's host side has to tell the user since the
    /// last call (a sandboxed plugin's crash and relaunch) into `out`, one
    /// sentence each, naming the plugin; the session adds the rack. Main
    /// thread.
    fn take_notices(&mut self, out: &mut Vec<String>) {
        let _ = out;
    }

    /// True when the plugin has its own editor this host can embed on this
    /// platform (CLAP `gui` with the platform's API, VST3 `createView`).
    /// Main thread.
    fn has_editor(&self) -> bool {
        false
    }

    /// The plugin's editor, when it has one this host can embed (then
    /// [`has_editor`](Self::has_editor) is true too). Main thread.
    fn editor(&mut self) -> Option<&mut dyn crate::editor::PluginEditor> {
        None
    }

    /// Tells the plugin where it sits: its rack's name (CLAP
    /// `track-info`) and which of its parameters a controller is mapped to
    /// (CLAP `param-indication`). Called at load and whenever either
    /// changes. Main thread.
    fn set_host_context(&mut self, context: &HostContext) {
        let _ = context;
    }

    /// The names the plugin gives keys (a drum map; CLAP `note-name`), as
    /// of its last change. Main thread.
    fn note_names(&self) -> Vec<NoteName> {
        Vec::new()
    }

    /// How many voices the plugin can play at once (CLAP `voice-info`).
    /// Main thread.
    fn voice_capacity(&self) -> Option<u32> {
        None
    }

    /// The plugin's factory programs: select one by setting the list's
    /// parameter to its index, or, without one, with
    /// [`load_program`](Self::load_program). Main thread.
    fn programs(&self) -> Option<ProgramList> {
        None
    }

    /// The plugin's pages of main controls (CLAP `remote-controls`); none
    /// when it offers none (the host then pages through its parameters
    /// eight at a time). Main thread.
    fn remote_pages(&self) -> Vec<RemotePage> {
        Vec::new()
    }

    /// Loads factory program `index` of a list without a program-change
    /// parameter (CLAP `preset-load`). Main thread.
    fn load_program(&mut self, index: usize) -> Result<(), PluginError> {
        Err(PluginError::Other {
            plugin: self.descriptor().name.clone(),
            reason: format!("it cannot load program {} by itself", index + 1),
        })
    }

    /// The factory program selected now, if known: the program-change
    /// parameter's value, or the program last loaded. Main thread.
    fn current_program(&self) -> Option<usize> {
        let list = self.programs()?;
        let v = self.param_value(list.param?)?.round();
        (v >= 0.0 && (v as usize) < list.names.len()).then_some(v as usize)
    }
}

pub use crate::editor::EditorRequest;

/// How many plugin-made parameter changes wait between the audio thread
/// and the main-thread pump; more in one pump interval are dropped (the
/// next change of that parameter brings the display up to date).
pub const PARAM_OUT_CAPACITY: usize = 512;

/// Why a plugin operation failed. Errors name the plugin and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A preset names a built-in that does not exist.
    #[error("unknown built-in plugin `{id}`; the built-ins are: {known}")]
    UnknownBuiltin {
        /// The id asked for.
        id: String,
        /// The built-ins there are, comma-separated.
        known: String,
    },
    /// A parameter id or name the plugin does not have.
    #[error("plugin `{plugin}` has no parameter `{param}`; `stagerack params` lists them")]
    UnknownParam {
        /// The plugin's name.
        plugin: String,
        /// The id or name asked for.
        param: String,
    },
    /// A state blob the plugin refused.
    #[error("plugin `{plugin}` rejected its saved state: {reason}; remove the `state` line to start from defaults")]
    BadState {
        /// The plugin's name.
        plugin: String,
        /// What was wrong.
        reason: String,
    },
    /// Activation failed.
    #[error("plugin `{plugin}` failed to activate: {reason}")]
    Activate {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        reason: String,
    },
    /// A plugin file could not be found, loaded, initialised or activated
    /// (a format's own error; the message names the file and the plugin).
    #[error(transparent)]
    Format(Box<dyn std::error::Error + Send + Sync>),
    /// Any other failure reported by a plugin format.
    #[error("plugin `{plugin}`: {reason}")]
    Other {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        reason: String,
    },
}
