//! The main thread's model of what is playing: racks of plugin instances,
//! compiled into plans for the engine, and the pump that takes back what
//! the audio thread gives up.

mod controls;
mod edit;
mod editors;
mod faults;
mod host_context;
mod neighbours;
mod rearrange;
mod sandboxes;

pub use controls::{knobs_now, pages_of, KnobsNow};
pub use edit::{EditError, RackEdit};
pub use editors::EditorInfo;
pub use rearrange::SetlistPlace;

use std::collections::HashMap;
use std::sync::Arc;

use crate::preset::{MapCurveDef, MapSourceDef, PluginDef, Preset, RackDef};
use stagerack_core::plugin::{ParamId, PluginError, PluginFormat, PluginInstance, ProcessConfig};
use stagerack_engine::{
    new_engine, Engine, EngineConfig, EngineHandle, GroupSpec, MapCurve, MapSource, MidiFilter,
    MpeZone, ParamMapping, PlanBuilder, ProcessorId, RackId, RackSpec, RackStatus, SlotSpec,
    SlotStatus, SwitchTable, BLOCKED,
};

/// Why a session could not be built or changed. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A plugin refused something essential.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// A plugin in a chain, on the main thread.
pub struct SlotModel {
    /// Id shared with the audio thread.
    pub id: ProcessorId,
    /// The instance.
    pub instance: Box<dyn PluginInstance>,
    /// The preset entry it came from (state and params refreshed on save).
    pub def: PluginDef,
    /// Skipped in the chain.
    pub bypass: bool,
    /// Health, written by the audio thread.
    pub status: Arc<SlotStatus>,
    /// Its processor lives in the engine (activated and sent).
    running: bool,
    /// Being restarted: left out of plans until its processor came home
    /// and was deactivated, then activated again.
    restarting: bool,
    /// Its position in the preset's chain (mappings refer to it).
    pub def_index: usize,
    /// Faults already reported (bits, see `faults.rs`).
    reported: u8,
    /// The plugin's own editor, when open (see `editors.rs`).
    editor: Option<editors::OpenEditor>,
    /// Where the plugin was last told it sits (see `host_context.rs`).
    told: Option<stagerack_core::plugin::HostContext>,
}

/// A rack on the main thread.
pub struct RackModel {
    /// Id shared with the audio thread.
    pub id: RackId,
    /// Display name.
    pub name: String,
    /// Routing.
    pub filter: MidiFilter,
    /// Output gain in dB.
    pub gain_db: f64,
    /// The chain.
    pub slots: Vec<SlotModel>,
    /// Meters, written by the audio thread.
    pub status: Arc<RackStatus>,
    /// The preset entry it came from.
    pub def: RackDef,
    /// The preset (setlist entry) it belongs to.
    pub group: u16,
    /// Where its plugins run (see `sandboxes.rs`).
    home: sandboxes::Home,
}

impl RackModel {
    /// Frames of latency its chain reports (sum of its active plugins').
    /// Main thread.
    pub fn latency(&self) -> u32 {
        self.slots
            .iter()
            .filter(|s| !s.bypass)
            .map(|s| s.instance.latency())
            .sum()
    }
}

/// One loaded preset's own settings: its master section and tempo.
pub struct GroupModel {
    /// Preset name.
    pub name: String,
    /// Master chain.
    pub master: Vec<SlotModel>,
    /// Master gain in dB.
    pub master_gain_db: f64,
    /// Tempo in BPM.
    pub tempo: f64,
    /// The preset asks for the master safety limiter (default true).
    pub limiter: bool,
    /// Racks are delayed to the slowest one's latency.
    pub align_latency: bool,
    /// The file it was read from or last saved to, if known: where Save
    /// writes it back.
    pub file: Option<std::path::PathBuf>,
    /// The preset's `[master] sandbox` (racks' default), as written.
    pub sandbox: Option<crate::preset::SandboxMode>,
    /// Its named outputs, as written (the first preset's are the
    /// session's).
    pub outputs: Vec<crate::preset::OutputDef>,
    /// Its named inputs, as written (the first preset's are the
    /// session's).
    pub inputs: Vec<crate::preset::InputDef>,
    /// Its rig file, as written, and what it holds.
    pub rig: Option<std::path::PathBuf>,
    /// See `rig`.
    pub rig_lists: Option<crate::preset::Rig>,
}

impl GroupModel {
    /// Its outputs: its own, else its rig's. Main thread.
    fn stage_outputs(&self) -> Vec<crate::preset::OutputDef> {
        match &self.rig_lists {
            Some(rig) if self.outputs.is_empty() => rig.outputs.clone(),
            _ => self.outputs.clone(),
        }
    }

    /// Its inputs: its own, else its rig's. Main thread.
    fn stage_inputs(&self) -> Vec<crate::preset::InputDef> {
        match &self.rig_lists {
            Some(rig) if self.inputs.is_empty() => rig.inputs.clone(),
            _ => self.inputs.clone(),
        }
    }
}

/// Everything the main thread knows about what plays. Main thread only.
pub struct Session {
    handle: EngineHandle,
    process: ProcessConfig,
    /// Racks of every loaded preset, in mix order.
    racks: Vec<RackModel>,
    /// The loaded presets (one, or a setlist's entries), in order.
    groups: Vec<GroupModel>,
    /// How MIDI switches between them.
    switch: SwitchTable,
    /// A preset to make current with the next plan.
    pending_select: Option<u16>,
    /// MIDI learn in progress: (rack, plugin position, parameter, the
    /// controller count when it started).
    learning: Option<edit::Learning>,
    /// What MIDI learn last bound, for clients to announce.
    learned: Option<String>,
    /// The model changed but the plan queue was full: commit again from
    /// the pump once the audio thread has taken what is queued.
    needs_commit: bool,
    /// Instances removed from the model whose processors are still on the
    /// audio thread; deactivated when their plan comes home.
    parked: HashMap<ProcessorId, Box<dyn PluginInstance>>,
    /// Warnings from loading (missing plugins and the like).
    warnings: Vec<String>,
    next_id: u64,
    /// Parameter changes plugins made themselves, not yet taken by the
    /// control server (bounded: [`MAX_PENDING_PARAM_CHANGES`]).
    param_changes: Vec<PluginParamChange>,
    /// The backend's MIDI input devices, by `TimedEvent::source` index
    /// (empty: the backend merges its inputs).
    midi_sources: Vec<String>,
    /// Setlists that keep only some presets loaded (see `neighbours.rs`).
    neighbours: Option<neighbours::Neighbours>,
    /// Each setlist entry's song notes (lyrics, chords, cues), in order.
    song_notes: Vec<String>,
    /// An editor closed without a client asking (see `editors.rs`).
    editors_changed: bool,
    /// X errors (raised by plugins' GUIs) already reported.
    x_errors_reported: u64,
    /// Renumberings of the groups (setlists rearranged in place, see
    /// `rearrange.rs`) the engine may not have made yet, oldest first.
    regroups: rearrange::Regroups,
}

/// Which MIDI inputs a rack with device `patterns` hears, as a
/// `MidiFilter::sources` mask over the backend's `sources` (by name; a
/// pattern is a case-insensitive part of the name). No patterns, or a
/// backend that merges its inputs: every input. Any thread.
pub fn sources_mask(patterns: &[String], sources: &[String]) -> u64 {
    if patterns.is_empty() || sources.is_empty() {
        return u64::MAX;
    }
    let mut mask = 0u64;
    for (i, name) in sources.iter().enumerate().take(64) {
        let name = name.to_lowercase();
        if !name.is_empty()
            && patterns
                .iter()
                .any(|p| !p.is_empty() && name.contains(&p.to_lowercase()))
        {
            mask |= 1 << i;
        }
    }
    mask
}

/// The most latency `[master] align_latency` compensates, in seconds; a
/// rack reporting more is played as soon as it is ready.
pub const MAX_ALIGN_SECONDS: f64 = 1.0;

/// Most plugin-made parameter changes kept for the control server between
/// two takes; later ones wait in the plugins' own queues or are dropped.
pub const MAX_PENDING_PARAM_CHANGES: usize = 4096;

/// A parameter a plugin changed itself, by rack and chain position as the
/// snapshot lists them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PluginParamChange {
    /// Rack index.
    pub rack: usize,
    /// Position in the rack's chain.
    pub index: usize,
    /// Parameter id.
    pub param: ParamId,
    /// New plain value.
    pub value: f64,
}

/// dB to a linear factor. Any thread.
pub fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

pub(crate) fn filter_of(def: &RackDef) -> MidiFilter {
    let mut f = MidiFilter::default();
    if let Some([lo, hi]) = def.keys {
        f.keys = (lo, hi);
    }
    if let Some([lo, hi]) = def.velocity {
        f.velocity = (lo, hi);
    }
    if let Some(ch) = &def.channels {
        f.channels = ch.iter().fold(0u16, |m, c| m | 1 << ((c - 1) & 15));
    }
    f.transpose = def.transpose.saturating_add(def.octave.saturating_mul(12));
    f.velocity_map = def.velocity_curve.table();
    for &cc in &def.cc_block {
        f.cc_map[usize::from(cc & 127)] = BLOCKED;
    }
    for &[from, to] in &def.cc_remap {
        f.cc_map[usize::from(from & 127)] = to;
    }
    if !def.sustain {
        f.cc_map[64] = BLOCKED;
    }
    f.mpe_auto = def.mpe == crate::preset::MpeMode::Auto;
    let zone = match def.mpe {
        crate::preset::MpeMode::Off | crate::preset::MpeMode::Auto => None,
        crate::preset::MpeMode::Lower => Some(MpeZone::LOWER),
        crate::preset::MpeMode::Upper => Some(MpeZone::UPPER),
    };
    f.mpe = zone.map(|z| MpeZone {
        bend_range: def.mpe_bend_range.unwrap_or(z.bend_range),
        ..z
    });
    f.mpe_out = def.mpe_out.map(|side| match side {
        crate::preset::MpeSide::Lower => stagerack_engine::ZoneSide::Lower,
        crate::preset::MpeSide::Upper => stagerack_engine::ZoneSide::Upper,
    });
    f
}

/// The engine's outputs for a preset's `[[output]]` list (none: the
/// engine's one stereo output). Main thread.
pub fn output_specs(outputs: &[crate::preset::OutputDef]) -> Vec<stagerack_engine::OutputSpec> {
    let any_solo = outputs.iter().any(|o| o.solo);
    outputs
        .iter()
        .map(|o| stagerack_engine::OutputSpec {
            left: usize::from(o.channels[0].saturating_sub(1)),
            right: o.channels.get(1).map(|c| usize::from(c.saturating_sub(1))),
            gain: if o.mute || (any_solo && !o.solo) {
                0.0
            } else {
                db_to_gain(o.gain_db)
            },
            limiter: o.limiter,
        })
        .collect()
}

/// The audio a rack starts from: with `[[input]]`s, the driver channels
/// of the one it names (or silence); without, the driver's first two.
/// Inputs take the driver's input channels in their order. Main thread.
fn input_of(def: &RackDef, inputs: &[crate::preset::InputDef]) -> stagerack_engine::RackInput {
    use stagerack_engine::RackInput;
    if inputs.is_empty() {
        return RackInput::Main;
    }
    let Some(input) = def
        .input_audio
        .as_deref()
        .and_then(|name| inputs.iter().find(|i| i.name == name))
    else {
        return RackInput::None;
    };
    let channel = |c: u16| usize::from(c.saturating_sub(1));
    RackInput::Channels(
        channel(input.channels[0]),
        input.channels.get(1).map(|c| channel(*c)),
    )
}

/// The extra outputs of a slot's plugin its entry routes (bit `i`: extra
/// output `i`; names it does not have are left out, reported at load).
/// Main thread.
fn aux_mask(slot: &SlotModel) -> u64 {
    if slot.def.outputs.is_empty() {
        return 0;
    }
    let ports = slot.instance.aux_outputs();
    slot.def
        .outputs
        .keys()
        .filter_map(|name| ports.iter().position(|p| p == name))
        .fold(0, |mask, i| mask | 1 << i)
}

/// A rack's plugins' extra outputs routed to outputs of the stage (an
/// output it does not have is left out; a preset is checked for those
/// when read). Main thread.
fn aux_of(
    slots: &[SlotModel],
    outputs: &[crate::preset::OutputDef],
) -> Vec<stagerack_engine::AuxSpec> {
    let mut aux = Vec::new();
    for slot in slots.iter().filter(|s| !s.def.outputs.is_empty()) {
        let ports = slot.instance.aux_outputs();
        for (port, output) in &slot.def.outputs {
            let (Some(port), Some(output)) = (
                ports.iter().position(|p| p == port),
                outputs.iter().position(|o| o.name == *output),
            ) else {
                continue;
            };
            aux.push(stagerack_engine::AuxSpec {
                slot: slot.id,
                port,
                output,
            });
        }
    }
    aux
}

/// A rack's output (index among `outputs`; the first when unnamed or
/// unknown) and its sends (sends to unknown outputs are left out; a
/// preset is checked for those when read). Main thread.
fn outputs_of(
    def: &RackDef,
    outputs: &[crate::preset::OutputDef],
) -> (usize, Vec<stagerack_engine::SendSpec>) {
    let index = |name: &str| outputs.iter().position(|o| o.name == name);
    let output = def.output.as_deref().and_then(index).unwrap_or(0);
    let sends = def
        .sends
        .iter()
        .filter_map(|(name, send)| {
            Some(stagerack_engine::SendSpec {
                output: index(name)?,
                gain: db_to_gain(send.db()),
                pre: send.pre(),
            })
        })
        .collect();
    (output, sends)
}

/// Left and right gains of a rack: gain, balance, mute and solo (`any_solo`:
/// some rack of the preset is soloed). Main thread.
pub fn rack_gains(def: &RackDef, gain_db: f64, any_solo: bool) -> [f32; 2] {
    if def.mute || (any_solo && !def.solo) {
        return [0.0, 0.0];
    }
    let g = db_to_gain(gain_db);
    let pan = def.pan.clamp(-1.0, 1.0) as f32;
    [g * (1.0 - pan).min(1.0), g * (1.0 + pan).min(1.0)]
}

impl Session {
    /// Builds a session from a preset: instantiates every plugin, restores
    /// state and parameters, activates and sends the first plan. A plugin
    /// that cannot be loaded is left out with a warning (its rack plays the
    /// rest of its chain). Returns the audio side for the driver. Main thread.
    pub fn new(
        preset: &Preset,
        config: EngineConfig,
        offline: bool,
    ) -> Result<(Session, Engine), SessionError> {
        Self::with_presets(
            std::slice::from_ref(preset),
            SwitchTable::default(),
            config,
            offline,
        )
    }

    /// Builds a session holding several presets at once (a setlist): all
    /// instantiated and activated up front, so switching never waits; the
    /// engine switches between them on the MIDI triggers in `switch`, at the
    /// trigger's exact sample. Preset 0 starts current. Main thread.
    pub fn with_presets(
        presets: &[Preset],
        switch: SwitchTable,
        config: EngineConfig,
        offline: bool,
    ) -> Result<(Session, Engine), SessionError> {
        let (handle, mut engine) = new_engine(config);
        // Racks on every core (`--threads`); without the threads, serial.
        let threads = stagerack_engine::threads();
        match engine.use_threads(threads) {
            Ok(()) => tracing::info!("racks run on {} threads", engine.threads()),
            Err(e) => {
                tracing::warn!("could not start {threads} engine threads ({e}): racks run on one")
            }
        }
        let mut session = Session {
            handle,
            process: ProcessConfig {
                sample_rate: config.sample_rate,
                min_block: 1,
                max_block: config.max_block as u32,
                offline,
                aux_outputs: 0,
            },
            racks: Vec::new(),
            groups: Vec::new(),
            switch,
            pending_select: None,
            learning: None,
            learned: None,
            needs_commit: false,
            parked: HashMap::new(),
            warnings: Vec::new(),
            next_id: 1,
            param_changes: Vec::new(),
            midi_sources: Vec::new(),
            neighbours: None,
            song_notes: Vec::new(),
            editors_changed: false,
            x_errors_reported: 0,
            regroups: Default::default(),
        };
        for (group, preset) in presets.iter().enumerate() {
            session.add_preset(group as u16, preset);
        }
        session.commit()?;
        Ok((session, engine))
    }

    /// [`Session::with_presets`] for a setlist that keeps only the current
    /// preset and `keep` neighbours on each side loaded (all when `keep`
    /// is None): the others are loaded as the set moves towards them and
    /// unloaded (deactivated here) as it moves away. Main thread.
    pub fn with_setlist(
        presets: &[Preset],
        switch: SwitchTable,
        config: EngineConfig,
        offline: bool,
        keep: Option<usize>,
    ) -> Result<(Session, Engine), SessionError> {
        let Some(keep) = keep.filter(|k| k + 1 < presets.len()) else {
            return Self::with_presets(presets, switch, config, offline);
        };
        let near: Vec<Preset> = presets.iter().take(keep + 1).cloned().collect();
        let (mut session, engine) = Self::with_presets(&near, switch, config, offline)?;
        for (group, preset) in presets.iter().enumerate().skip(keep + 1) {
            session.add_group_unloaded(group as u16, preset);
        }
        session.neighbours = Some(neighbours::Neighbours::new(presets, keep));
        session.commit()?;
        Ok((session, engine))
    }

    fn add_preset(&mut self, group: u16, preset: &Preset) {
        self.load_racks(group, preset);
        let master = match &preset.master {
            Some(m) => {
                let home = self.home_for(m.sandbox, m.sandbox, "the master section");
                self.load_chain(&m.plugins, "master", &home)
            }
            None => Vec::new(),
        };
        self.add_group_model(preset, master);
        if group == 0 {
            self.handle
                .set_safety_limiter(preset.master.as_ref().is_none_or(|m| m.limiter));
        }
    }

    /// A setlist entry whose plugins are not loaded yet: its name, tempo
    /// and mix settings only. Main thread.
    fn add_group_unloaded(&mut self, _group: u16, preset: &Preset) {
        self.add_group_model(preset, Vec::new());
    }

    fn add_group_model(&mut self, preset: &Preset, master: Vec<SlotModel>) {
        self.groups.push(group_model(preset, master));
    }

    /// Loads `preset`'s racks as group `group`. Main thread.
    fn load_racks(&mut self, group: u16, preset: &Preset) {
        for def in &preset.racks {
            let home = self.home_for(
                def.sandbox,
                preset.master.as_ref().and_then(|m| m.sandbox),
                &format!("rack `{}`", def.name),
            );
            let slots = self.load_chain(&def.plugins, &def.name, &home);
            let id = RackId(self.fresh_id());
            self.racks.push(RackModel {
                id,
                name: def.name.clone(),
                filter: filter_of(def),
                gain_db: def.gain_db,
                slots,
                status: Arc::new(RackStatus::default()),
                def: def.clone(),
                group,
                home,
            });
        }
    }

    /// Makes preset `group` current from the next buffer on (setlist
    /// select from the main thread). Main thread.
    pub fn select(&mut self, group: u16) -> Result<(), SessionError> {
        self.pending_select = Some(group);
        self.commit()
    }

    /// A setlist's song notes, one per entry, and the controller that
    /// scrolls them (see [`notes_scroll`](Self::notes_scroll)). Main
    /// thread.
    pub fn set_song_notes(&mut self, notes: Vec<String>, scroll_cc: Option<u8>) {
        self.song_notes = notes;
        let cc = scroll_cc.map_or(0, |c| u32::from(c.min(127)) + 1);
        self.handle
            .shared()
            .notes_cc
            .store(cc, std::sync::atomic::Ordering::Relaxed);
    }

    /// Each setlist entry's song notes, in order (empty for a single
    /// preset). Main thread.
    pub fn song_notes(&self) -> &[String] {
        &self.song_notes
    }

    /// Where the song-notes controller last put the notes (0 the top, 127
    /// the end), once it has moved. Main thread.
    pub fn notes_scroll(&self) -> Option<u8> {
        let (count, value) = self.handle.shared().notes_scroll();
        (count > 0).then_some(value)
    }

    /// The transport's beat position now in the current preset (its tempo,
    /// or the MIDI clock's), from the frames the engine has played, as its
    /// plugins see it, and that tempo. Main thread.
    pub fn beat_now(&self) -> (f64, f64) {
        let shared = self.handle.shared();
        let tempo = shared.clock_bpm().unwrap_or_else(|| {
            self.groups
                .get(usize::from(self.current_group()))
                .map_or(120.0, |g| g.tempo)
        });
        let frames = shared.frames.load(std::sync::atomic::Ordering::Relaxed) as f64;
        let seconds = frames / self.process.sample_rate.max(1.0);
        (seconds * tempo / 60.0, tempo)
    }

    /// The preset new notes go to now, as the audio thread last reported.
    /// Main thread.
    pub fn current_group(&self) -> u16 {
        let packed = self
            .handle
            .shared()
            .current_group_epoch
            .load(std::sync::atomic::Ordering::Relaxed);
        // In the numbering the engine last reported, renumbered by the
        // rearrangements it has not made yet.
        self.regroups
            .renumber((packed >> 32) as u32, packed as u32 as u16)
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn load_chain(
        &mut self,
        defs: &[PluginDef],
        rack: &str,
        home: &sandboxes::Home,
    ) -> Vec<SlotModel> {
        let mut slots = Vec::new();
        for (i, def) in defs.iter().enumerate() {
            match self.load_slot(def, home) {
                Ok(mut slot) => {
                    slot.def_index = i;
                    if !def.outputs.is_empty() {
                        let ports = slot.instance.aux_outputs();
                        for port in def.outputs.keys().filter(|p| !ports.contains(p)) {
                            let msg = format!(
                                "rack `{rack}`: {} has no extra output `{port}`; {} (that \
                                 `outputs` entry is ignored)",
                                def.label(),
                                if ports.is_empty() {
                                    "it has only its main output".to_owned()
                                } else {
                                    format!("its extra outputs: {}", ports.join(", "))
                                }
                            );
                            tracing::warn!("{msg}");
                            self.warnings.push(msg);
                        }
                    }
                    slots.push(slot)
                }
                Err(e) => {
                    let msg = format!("rack `{rack}`: {} is left out: {e}", def.label());
                    tracing::warn!("{msg}");
                    self.warnings.push(msg);
                }
            }
        }
        slots
    }

    /// Starts `instance` from its factory program `want`; a program it
    /// does not have is a warning naming the ones it has (the plugin plays
    /// from where it is). Main thread.
    fn select_program(
        &mut self,
        instance: &mut dyn stagerack_core::plugin::PluginInstance,
        want: &crate::preset::ProgramRef,
    ) {
        let name = instance.descriptor().name.clone();
        let problem = match instance.programs() {
            None => format!("`{name}` has no factory programs: `program = {want}` is ignored"),
            Some(list) => match want.index_in(&list.names) {
                Some(i) => match match list.param {
                    Some(param) => instance.set_param(param, i as f64),
                    None => instance.load_program(i),
                } {
                    Ok(()) => return,
                    Err(e) => format!("`{name}` refused program {want}: {e}"),
                },
                None => format!(
                    "`{name}` has no program {want}; its programs: {} (it starts from its own)",
                    list.names.join(", ")
                ),
            },
        };
        tracing::warn!("{problem}");
        self.warnings.push(problem);
    }

    fn load_slot(
        &mut self,
        def: &PluginDef,
        home: &sandboxes::Home,
    ) -> Result<SlotModel, PluginError> {
        let mut instance = home.load(def)?;
        if !home.applies_state() {
            if let Some(state) = def.state_bytes() {
                instance.load_state(&state)?;
            }
        }
        if let Some(want) = &def.program {
            self.select_program(instance.as_mut(), want);
        }
        let params = instance.params();
        for (key, value) in &def.params {
            let found = params
                .iter()
                .find(|p| p.name == *key)
                .or_else(|| {
                    key.parse::<u32>()
                        .ok()
                        .and_then(|id| params.iter().find(|p| p.id == id))
                })
                .ok_or_else(|| PluginError::UnknownParam {
                    plugin: instance.descriptor().name.clone(),
                    param: key.clone(),
                })?;
            instance.set_param(found.id, *value)?;
        }
        Ok(SlotModel {
            id: ProcessorId(self.fresh_id()),
            instance,
            def: def.clone(),
            bypass: def.bypass,
            status: Arc::new(SlotStatus::default()),
            running: false,
            restarting: false,
            def_index: 0,
            reported: 0,
            editor: None,
            told: None,
        })
    }

    /// Tells the session the backend's MIDI input devices, in the order of
    /// `TimedEvent::source` (after start and whenever devices come and
    /// go); racks with device patterns are re-routed if the list changed.
    /// A pattern no input matches is reported once per change. Main thread.
    pub fn set_midi_sources(&mut self, sources: Vec<String>) -> Result<(), SessionError> {
        if sources == self.midi_sources {
            return Ok(());
        }
        self.midi_sources = sources;
        if !self.midi_sources.is_empty() {
            for r in &self.racks {
                for p in &r.def.input {
                    if sources_mask(std::slice::from_ref(p), &self.midi_sources) == 0 {
                        let msg = format!(
                            "rack `{}`: no MIDI input matches `{p}` (inputs: {}); it hears \
                             nothing from it until one appears",
                            r.name,
                            self.midi_sources.join(", ")
                        );
                        tracing::warn!("{msg}");
                        self.warnings.push(msg);
                    }
                }
            }
        }
        self.commit()
    }

    /// The engine handle (meters, parameter queue). Main thread.
    pub fn handle(&mut self) -> &mut EngineHandle {
        &mut self.handle
    }

    /// Racks of every loaded preset, in mix order (edit them through the
    /// session's edit methods). Main thread.
    pub fn racks(&self) -> &[RackModel] {
        &self.racks
    }

    /// The plugin at `index` in rack `rack`'s chain, for main-thread calls
    /// the session has no edit for. Main thread.
    pub fn plugin_mut(
        &mut self,
        rack: usize,
        index: usize,
    ) -> Option<&mut (dyn PluginInstance + 'static)> {
        let slot = self.racks.get_mut(rack)?.slots.get_mut(index)?;
        Some(slot.instance.as_mut())
    }

    /// The loaded presets (one, or a setlist's entries), in order. Main
    /// thread.
    pub fn groups(&self) -> &[GroupModel] {
        &self.groups
    }

    /// Records the file preset `group` was read from or saved to (Save
    /// writes it back there). Main thread.
    pub fn set_preset_file(&mut self, group: u16, file: Option<std::path::PathBuf>) {
        if let Some(g) = self.groups.get_mut(usize::from(group)) {
            g.file = file;
        }
    }

    /// What went wrong while loading or playing (missing plugins, faults),
    /// oldest first. Main thread.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds a warning for clients and front ends to show. Main thread.
    pub fn push_warning(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The engine's meters and counters (atomics). Main thread.
    pub fn shared(&self) -> &std::sync::Arc<stagerack_engine::EngineShared> {
        self.handle.shared()
    }

    /// How processors are activated. Main thread.
    pub fn process_config(&self) -> &ProcessConfig {
        &self.process
    }

    /// Compiles the model into a plan and sends it; processors already
    /// running are taken over by id, new ones are activated here. Main thread.
    pub fn commit(&mut self) -> Result<(), SessionError> {
        self.tell_host_contexts();
        let q = self.handle.config().queues;
        let mut builder = PlanBuilder::new(
            self.process.sample_rate,
            self.process.max_block as usize,
            q.events_per_block,
        )
        .switch(self.switch.clone());
        let pending_select_back = self.pending_select.take();
        if let Some(g) = pending_select_back {
            builder = builder.select(g);
        }
        let regroup_back = self.regroups.take_unsent();
        if let Some((map, epoch)) = &regroup_back {
            builder = builder.regroup(map.clone(), *epoch);
        }
        let process = self.process;
        let mut failures = Vec::new();
        let mut racks = Vec::new();
        // Solo is per preset: bit g set when some rack of preset g is soloed.
        let solo_groups = self
            .racks
            .iter()
            .filter(|r| r.def.solo)
            .fold(0u128, |m, r| m | 1u128 << (r.group % 128));
        // Activate first: plugins report their latency once active.
        let mut chains = Vec::with_capacity(self.racks.len());
        for rack in &mut self.racks {
            let slots = specs_for(&mut rack.slots, &process, &mut failures);
            let mut mappings = mappings_for(rack, &slots, &mut failures);
            let paging = controls::knobs_for(rack, &slots, &mut mappings);
            chains.push((slots, mappings, paging));
        }
        // The stage's outputs: the first preset's.
        let outputs = self
            .groups
            .first()
            .map_or_else(Vec::new, GroupModel::stage_outputs);
        builder = builder.outputs(output_specs(&outputs));
        let inputs = self
            .groups
            .first()
            .map_or_else(Vec::new, GroupModel::stage_inputs);
        // Latency alignment: per preset, the slowest rack's latency.
        let last_group = self.groups.len().saturating_sub(1);
        let mut slowest = vec![0u32; self.groups.len().max(1)];
        // A plugin reporting an absurd latency (seconds) must not make
        // every other rack that late: compensation stops at one second.
        let cap = (process.sample_rate * MAX_ALIGN_SECONDS) as u32;
        for rack in &self.racks {
            let g = usize::from(rack.group).min(last_group);
            slowest[g] = slowest[g].max(rack.latency().min(cap));
        }
        for (rack, (slots, mappings, paging)) in self.racks.iter().zip(chains) {
            let any_solo = solo_groups & (1u128 << (rack.group % 128)) != 0;
            let group = usize::from(rack.group).min(last_group);
            let delay = if self.groups.get(group).is_some_and(|g| g.align_latency) {
                slowest[group].saturating_sub(rack.latency())
            } else {
                0
            };
            let midi_from = rack.def.midi_from.as_deref().map(|name| {
                self.racks
                    .iter()
                    .find(|r| r.group == rack.group && r.name == name)
                    .map_or(RackId::NONE, |r| r.id)
            });
            let (output, sends) = outputs_of(&rack.def, &outputs);
            racks.push(RackSpec {
                aux: aux_of(&rack.slots, &outputs),
                output,
                sends,
                silenced: rack.def.mute || (any_solo && !rack.def.solo),
                input: input_of(&rack.def, &inputs),
                // A backing track starts with its song.
                cue: rack.slots.iter().any(|s| {
                    s.def.format == stagerack_core::plugin::PluginFormat::Builtin
                        && s.def.id == "player"
                }),
                midi_from,
                delay,
                mappings,
                paging,
                id: rack.id,
                filter: MidiFilter {
                    sources: sources_mask(&rack.def.input, &self.midi_sources),
                    ..rack.filter
                },
                gain: rack_gains(&rack.def, rack.gain_db, any_solo),
                group: rack.group,
                slots,
                status: rack.status.clone(),
            });
        }
        for r in racks {
            builder = builder.rack(r);
        }
        for g in &mut self.groups {
            let master = specs_for(&mut g.master, &process, &mut failures);
            builder = builder.group(GroupSpec {
                master,
                gain: db_to_gain(g.master_gain_db),
                tempo: g.tempo,
            });
        }
        for msg in failures {
            tracing::warn!("{msg}");
            self.warnings.push(msg);
        }
        let plan = builder.build();
        if let Err(plan) = self.handle.send_plan(plan) {
            // Nothing was taken over; give back what was activated for it
            // and try again from the pump when the queue has room.
            for (id, processor) in plan.into_processors() {
                if let Some(slot) = self.slot_mut(id) {
                    slot.running = false;
                    slot.instance.deactivate(processor);
                }
            }
            if let Some(g) = pending_select_back {
                self.pending_select = Some(g);
            }
            if let Some(unsent) = regroup_back {
                self.regroups.put_back(unsent);
            }
            self.needs_commit = true;
            tracing::debug!("plan queue full; the change goes out with the next pump");
            return Ok(());
        }
        self.needs_commit = false;
        Ok(())
    }

    fn slot_mut(&mut self, id: ProcessorId) -> Option<&mut SlotModel> {
        self.racks
            .iter_mut()
            .flat_map(|r| r.slots.iter_mut())
            .chain(self.groups.iter_mut().flat_map(|g| g.master.iter_mut()))
            .find(|s| s.id == id)
    }

    /// Gives every processor left in a plan that came home back to its
    /// instance for deactivation. Main thread.
    fn deactivate_plan(&mut self, plan: Box<stagerack_engine::Plan>) {
        for (id, processor) in plan.into_processors() {
            if let Some(mut inst) = self.parked.remove(&id) {
                inst.deactivate(processor);
            } else if let Some(slot) = self.slot_mut(id) {
                slot.running = false;
                slot.instance.deactivate(processor);
            }
        }
    }

    /// Does the main thread's periodic work: deactivates processors of
    /// retired plans, reports caught panics, services plugin requests.
    /// Returns the panic messages reported. Main thread.
    pub fn pump(&mut self) -> Vec<String> {
        while let Some(plan) = self.handle.take_retired() {
            self.deactivate_plan(plan);
        }
        let packed = self
            .handle
            .shared()
            .current_group_epoch
            .load(std::sync::atomic::Ordering::Relaxed);
        self.regroups.made((packed >> 32) as u32);
        self.poll_learn();
        self.follow_setlist();
        if self.needs_commit && self.handle.plans_pending() == 0 {
            if let Err(e) = self.commit() {
                tracing::error!("{e}");
            }
        }
        let mut reports = Vec::new();
        while let Some(p) = self.handle.take_panic() {
            let who = p
                .processor
                .and_then(|id| {
                    self.racks
                        .iter()
                        .flat_map(|r| r.slots.iter())
                        .chain(self.groups.iter().flat_map(|g| g.master.iter()))
                        .find(|s| s.id == id)
                        .map(|s| s.instance.descriptor().name.clone())
                })
                .unwrap_or_else(|| "the engine".to_owned());
            let msg = format!(
                "{who} panicked on the audio thread: {}; it is bypassed",
                p.message()
            );
            tracing::error!("{msg}");
            reports.push(msg);
        }
        for slot in self
            .racks
            .iter_mut()
            .flat_map(|r| r.slots.iter_mut())
            .chain(self.groups.iter_mut().flat_map(|g| g.master.iter_mut()))
        {
            slot.instance.on_main_thread();
        }
        self.collect_param_changes();
        for note in self.service_editors() {
            tracing::info!("{note}");
        }
        self.restart_requested_plugins();
        reports.extend(self.report_faults());
        reports.extend(self.collect_notices());
        reports
    }

    /// Gathers the parameter changes plugins made themselves. Main thread.
    fn collect_param_changes(&mut self) {
        let mut buf = Vec::new();
        for (rack, r) in self.racks.iter_mut().enumerate() {
            for (index, slot) in r.slots.iter_mut().enumerate() {
                buf.clear();
                slot.instance.take_param_changes(&mut buf);
                for &(param, value) in &buf {
                    if self.param_changes.len() < MAX_PENDING_PARAM_CHANGES {
                        self.param_changes.push(PluginParamChange {
                            rack,
                            index,
                            param,
                            value,
                        });
                    }
                }
            }
        }
        for slot in self.groups.iter_mut().flat_map(|g| g.master.iter_mut()) {
            // Master plugins are not in the snapshot; keep their queues empty.
            buf.clear();
            slot.instance.take_param_changes(&mut buf);
        }
    }

    /// The parameter changes plugins made themselves since the last call,
    /// oldest first, only the latest value of each parameter. Main thread.
    pub fn take_param_changes(&mut self) -> Vec<PluginParamChange> {
        let mut all = std::mem::take(&mut self.param_changes);
        let mut seen = std::collections::HashSet::new();
        all.reverse();
        all.retain(|c| seen.insert((c.rack, c.index, c.param)));
        all.reverse();
        all
    }

    /// Restarts plugins that asked for it, in two steps: a plan without
    /// them (their processors come home and are deactivated), then, once
    /// deactivated, a plan that activates them again. Main thread.
    fn restart_requested_plugins(&mut self) {
        let mut changed = false;
        for slot in self
            .racks
            .iter_mut()
            .flat_map(|r| r.slots.iter_mut())
            .chain(self.groups.iter_mut().flat_map(|g| g.master.iter_mut()))
        {
            if slot.restarting && !slot.running {
                slot.restarting = false;
                changed = true;
            } else if !slot.restarting && slot.running && slot.instance.needs_restart() {
                tracing::info!(
                    "restarting {} at its request",
                    slot.instance.descriptor().name
                );
                slot.restarting = true;
                changed = true;
            }
        }
        if changed {
            if let Err(e) = self.commit() {
                // Try again at the next pump.
                for slot in self
                    .racks
                    .iter_mut()
                    .flat_map(|r| r.slots.iter_mut())
                    .chain(self.groups.iter_mut().flat_map(|g| g.master.iter_mut()))
                    .filter(|s| s.running)
                {
                    slot.restarting = false;
                }
                tracing::warn!("could not restart plugins yet: {e}");
            }
        }
    }

    /// Ends the session after the driver stopped: takes the engine back,
    /// stops and deactivates every processor on this thread. Main thread.
    pub fn shutdown(mut self, engine: Engine) {
        for plan in engine.into_plans() {
            self.deactivate_plan(plan);
        }
        self.pump();
    }

    /// The current preset as it stands now: routing from the model, each
    /// plugin's current state and parameter values. Main thread.
    pub fn to_preset(&mut self) -> Result<Preset, PluginError> {
        self.to_preset_of(self.current_group())
    }

    /// Preset `group` (a setlist entry) as it stands now. Main thread.
    pub fn to_preset_of(&mut self, group: u16) -> Result<Preset, PluginError> {
        fn chain_defs(slots: &mut [SlotModel]) -> Result<Vec<PluginDef>, PluginError> {
            let mut out = Vec::new();
            for slot in slots {
                let mut def = slot.def.clone();
                def.bypass = slot.bypass;
                def.name = Some(slot.instance.descriptor().name.clone());
                if def.format == PluginFormat::Builtin {
                    // A built-in's whole state is its parameters: saved as
                    // readable `params` by name (those at their default left
                    // out unless the file named them), never as a blob.
                    def.state = None;
                    def.params = slot
                        .instance
                        .params()
                        .into_iter()
                        .filter_map(|p| {
                            let v = slot.instance.param_value(p.id)?;
                            let named = slot.def.params.contains_key(&p.name);
                            (named || v != p.default).then_some((p.name, v))
                        })
                        .collect();
                } else {
                    let state = slot.instance.save_state()?;
                    def.set_state_bytes(&state);
                    def.params.clear();
                }
                out.push(def);
            }
            Ok(out)
        }
        let mut racks = Vec::new();
        for rack in self.racks.iter_mut().filter(|r| r.group == group) {
            let mut def = rack.def.clone();
            def.name = rack.name.clone();
            def.gain_db = rack.gain_db;
            def.plugins = chain_defs(&mut rack.slots)?;
            // Mappings name plugins by position: follow moves, drop removed.
            def.mappings = rack
                .def
                .mappings
                .iter()
                .filter_map(|m| {
                    let pos = rack.slots.iter().position(|s| s.def_index == m.plugin)?;
                    Some(crate::preset::MapDef {
                        plugin: pos,
                        ..m.clone()
                    })
                })
                .collect();
            racks.push(def);
        }
        let last = self.groups.len() - 1;
        let g = &mut self.groups[usize::from(group).min(last)];
        let master_plugins = chain_defs(&mut g.master)?;
        Ok(Preset {
            version: crate::preset::PRESET_VERSION,
            name: g.name.clone(),
            tempo: Some(g.tempo),
            rig: g.rig.clone(),
            outputs: g.outputs.clone(),
            inputs: g.inputs.clone(),
            rig_lists: None,
            racks,
            master: if master_plugins.is_empty()
                && g.master_gain_db == 0.0
                && g.limiter
                && !g.align_latency
                && g.sandbox.is_none()
            {
                None
            } else {
                Some(crate::preset::MasterDef {
                    gain_db: g.master_gain_db,
                    limiter: g.limiter,
                    align_latency: g.align_latency,
                    sandbox: g.sandbox,
                    plugins: master_plugins,
                })
            },
        })
    }
}

/// Resolves a rack's mappings against the slots actually in the plan
/// (plugin index → slot position, parameter name → id). Main thread.
fn mappings_for(
    rack: &RackModel,
    specs: &[SlotSpec],
    failures: &mut Vec<String>,
) -> Vec<ParamMapping> {
    let mut out = Vec::new();
    for m in &rack.def.mappings {
        let found = rack
            .slots
            .iter()
            .find(|s| s.def_index == m.plugin)
            .and_then(|s| Some((s, specs.iter().position(|spec| spec.id == s.id)?)));
        let Some((slot, position)) = found else {
            failures.push(format!(
                "rack `{}`: mapping to plugin {} ignored: no such plugin is playing",
                rack.name, m.plugin
            ));
            continue;
        };
        let params = slot.instance.params();
        let Some(param) = params
            .iter()
            .find(|p| p.name == m.param || m.param.parse::<u32>().ok() == Some(p.id))
        else {
            failures.push(format!(
                "rack `{}`: mapping ignored: {} has no parameter `{}`",
                rack.name,
                slot.instance.descriptor().name,
                m.param
            ));
            continue;
        };
        out.push(ParamMapping {
            source: match m.source {
                MapSourceDef::Cc(n) => MapSource::Cc(n),
                MapSourceDef::PitchBend => MapSource::PitchBend,
                MapSourceDef::Aftertouch => MapSource::Aftertouch,
            },
            slot: position,
            param: param.id,
            min: m.min,
            max: m.max,
            curve: match m.curve {
                MapCurveDef::Linear => MapCurve::Linear,
                MapCurveDef::Exponential => MapCurve::Exponential,
            },
            page: None,
        });
    }
    out
}

fn specs_for(
    slots: &mut [SlotModel],
    process: &ProcessConfig,
    failures: &mut Vec<String>,
) -> Vec<SlotSpec> {
    let mut specs = Vec::new();
    for slot in slots.iter_mut().filter(|s| !s.restarting) {
        let processor = if slot.running {
            None
        } else {
            let config = ProcessConfig {
                aux_outputs: aux_mask(slot),
                ..*process
            };
            match slot.instance.activate(&config) {
                Ok(p) => {
                    slot.running = true;
                    Some(p)
                }
                Err(e) => {
                    failures.push(format!("{e}; it is bypassed"));
                    continue;
                }
            }
        };
        specs.push(SlotSpec {
            id: slot.id,
            processor,
            kind: slot.instance.descriptor().kind,
            bypass: slot.bypass,
            expressions_as_midi: slot.def.expressions == crate::preset::Expressions::Midi,
            status: slot.status.clone(),
        });
    }
    specs
}

/// A preset's own settings as a group, its master chain `master`. Main
/// thread.
fn group_model(preset: &Preset, master: Vec<SlotModel>) -> GroupModel {
    GroupModel {
        name: preset.name.clone(),
        master,
        master_gain_db: preset.master.as_ref().map_or(0.0, |m| m.gain_db),
        tempo: preset.tempo.unwrap_or(120.0),
        limiter: preset.master.as_ref().is_none_or(|m| m.limiter),
        align_latency: preset.master.as_ref().is_some_and(|m| m.align_latency),
        file: None,
        sandbox: preset.master.as_ref().and_then(|m| m.sandbox),
        outputs: preset.outputs.clone(),
        inputs: preset.inputs.clone(),
        rig: preset.rig.clone(),
        rig_lists: preset.rig_lists.clone(),
    }
}
