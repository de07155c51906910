//! `Stagerack Kit` (`org.stagerack.test.kit`): a drum-kit instrument that
//! uses the CLAP extensions a host tells a plugin where it sits with, and
//! reports what it was told in its state, so host tests can read it.
//!
//! - `note-name`: keys 36 "Kick", 38 "Snare", 42 "Closed Hat" (every
//!   channel).
//! - `voice-info`: capacity 12.
//! - `audio-ports-config`: "Mono" (id 0, the default) and "Stereo" (id 1);
//!   the output port follows the selected one.
//! - `track-info`: on `changed` it asks the host and keeps the name.
//! - `param-indication`: keeps the label of each mapped parameter.
//! - `state-context`: keeps the context of the last save.
//!
//! Each note-on writes an impulse of its velocity on every output channel
//! at its sample; each note pressure expression (its note port takes CLAP
//! events only, no MIDI) an impulse of `-pressure × key / 128`, each
//! tuning expression one of `tuning / 128` (semitones), each brightness
//! expression one of `0.25 + brightness / 2` (the last event at a sample
//! wins). Parameters `level` (id 0) and `tone` (id 1) exist to be
//! mapped; events set them at once (in `process` and `flush`). The state is
//! text: `context=project;track=NAME;config=stereo;mapped=0:CC 74;
//! level=1;tone=0.5` (saved through `state-context` it names the context;
//! through plain `state`, `context=none`). Loading restores `level` and
//! `tone`; a text without them is refused.
//!
//! - `preset-load` (main thread): `Location::Plugin` with load key `soft`
//!   (level 0.3, tone 0.5), `loud` (1.0, 0.5) or `dark` (0.8, 0.1); or
//!   `Location::File { path }`, a text like `level=0.4;tone=0.2` (the state's
//!   `key=value;` fields, trimmed, other fields ignored, values clamped to
//!   0..1; load key ignored; see [`super::kit_presets::parse_preset`]). On
//!   success it sets both values, `params.rescan(VALUES)`, then the host's
//!   `preset-load.loaded(location, load_key)` (if offered). On failure (no
//!   or unknown key, unreadable or malformed file) it calls the host's
//!   `preset-load.on_error(location, load_key, os_error, message)` (the
//!   message names the key or the path; `os_error` is the read's OS error,
//!   else 0), leaves the values alone and fails (`from_location` returns
//!   false; clack also logs the message as `CLAP_LOG_ERROR`).
//! - `remote-controls`: two pages in section `Kit`, `Main` (knobs: `level`,
//!   `tone`) and `Tone` (knob 1: `tone`), [`REMOTE_PAGES`].
//! - Its bundle ([`super::kit_presets::KitEntry`]) exports a
//!   preset-discovery factory next to the plugin factory: see
//!   [`super::kit_presets`].
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use std::cell::{Cell, RefCell};

use super::common::AtomicF64;
use std::ffi::CStr;

use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfo, AudioPortInfoWriter, AudioPortType, PluginAudioPorts,
    PluginAudioPortsImpl,
};
use clack_extensions::audio_ports_config::{
    AudioPortConfigWriter, AudioPortsConfiguration, MainPortInfo, PluginAudioPortsConfig,
    PluginAudioPortsConfigImpl,
};
use clack_extensions::note_name::{NoteName, NoteNameWriter, PluginNoteName, PluginNoteNameImpl};
use clack_extensions::note_ports::{
    NoteDialect, NoteDialects, NotePortInfo, NotePortInfoWriter, PluginNotePorts,
    PluginNotePortsImpl,
};
use clack_extensions::param_indication::{
    ParamIndicationAutomation, PluginParamIndication, PluginParamIndicationImpl,
};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::preset_discovery::preset_data::Location;
use clack_extensions::preset_discovery::{HostPresetLoad, PluginPresetLoad, PluginPresetLoadImpl};
use clack_extensions::remote_controls::{
    PluginRemoteControls, PluginRemoteControlsImpl, RemoteControlsPage, RemoteControlsPageWriter,
};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_extensions::state_context::{
    PluginStateContext, PluginStateContextImpl, StateContextType,
};
use clack_extensions::track_info::{
    HostTrackInfo, PluginTrackInfo, PluginTrackInfoImpl, TrackInfoBuffer,
};
use clack_extensions::voice_info::{
    PluginVoiceInfo, PluginVoiceInfoImpl, VoiceInfo, VoiceInfoFlags,
};
use clack_plugin::events::event_types::NoteExpressionType;
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::Match;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use clack_plugin::utils::Color;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};

/// CLAP id of the kit.
pub const ID: &str = "org.stagerack.test.kit";
/// Display name of the kit.
pub const NAME: &str = "Stagerack Kit";

/// The keys the kit names.
pub const NAMES: [(u16, &str); 3] = [(36, "Kick"), (38, "Snare"), (42, "Closed Hat")];
/// The voices it says it can play.
pub const VOICES: u32 = 12;

const MONO: ClapId = ClapId::new(0);
const STEREO: ClapId = ClapId::new(1);

/// The plugin type. See the module docs.
pub struct Kit;

/// Shared between the kit's threads: the output channel count (the
/// selected configuration's). Any thread.
pub struct KitShared {
    channels: AtomicU32,
    /// `level` and `tone`.
    params: [AtomicF64; 2],
}

impl KitShared {
    /// Applies parameter value events (ids it does not have are ignored).
    /// Any thread allowed to flush or process.
    fn apply(&self, events: &InputEvents) {
        for e in events {
            if let Some(CoreEventSpace::ParamValue(p)) = e.as_core_event() {
                if let Some(param) = p
                    .param_id()
                    .and_then(|id| self.params.get(id.get() as usize))
                {
                    param.store(p.value().clamp(0.0, 1.0));
                }
            }
        }
    }
}

impl PluginShared<'_> for KitShared {}

/// The main-thread half: what the host told it. Main thread.
pub struct KitMainThread<'a> {
    host: RefCell<HostMainThreadHandle<'a>>,
    shared: &'a KitShared,
    track: RefCell<String>,
    mapped: RefCell<Vec<(u32, String)>>,
    context: Cell<&'static str>,
}

impl<'a> PluginMainThread<'a, KitShared> for KitMainThread<'a> {}

/// The audio half. Audio thread.
pub struct KitAudio<'a> {
    /// Parameters; the output follows the port the main thread declared.
    shared: &'a KitShared,
}

impl Plugin for Kit {
    type AudioProcessor<'a> = KitAudio<'a>;
    type Shared<'a> = KitShared;
    type MainThread<'a> = KitMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&KitShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>()
            .register::<PluginParams>()
            .register::<PluginState>()
            .register::<PluginStateContext>()
            .register::<PluginNoteName>()
            .register::<PluginVoiceInfo>()
            .register::<PluginTrackInfo>()
            .register::<PluginParamIndication>()
            .register::<PluginAudioPortsConfig>()
            .register::<PluginPresetLoad>()
            .register::<PluginRemoteControls>();
    }
}

impl DefaultPluginFactory for Kit {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test plugin: a drum kit that reports what its host told it")
            .with_features([INSTRUMENT, DRUM_MACHINE])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<KitShared, PluginError> {
        Ok(KitShared {
            channels: AtomicU32::new(1),
            params: [AtomicF64::new(1.0), AtomicF64::new(0.5)],
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a KitShared,
    ) -> Result<KitMainThread<'a>, PluginError> {
        Ok(KitMainThread {
            host: RefCell::new(host),
            shared,
            track: RefCell::new(String::new()),
            mapped: RefCell::new(Vec::new()),
            context: Cell::new("never"),
        })
    }
}

impl<'a> PluginAudioProcessor<'a, KitShared, KitMainThread<'a>> for KitAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &KitMainThread<'a>,
        shared: &'a KitShared,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self { shared })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        let mut port = audio
            .output_port(0)
            .ok_or(PluginError::Message("kit: no output port"))?;
        let mut channels = port
            .channels()
            .map_err(|_| PluginError::Message("kit: bad audio buffers"))?
            .into_f32()
            .ok_or(PluginError::Message("kit: expected f32 buffers"))?;
        for channel in channels.iter_mut() {
            channel.fill(0.0);
        }
        self.shared.apply(events.input);
        for event in events.input {
            let at = event.header().time() as usize;
            let height = match event.as_core_event() {
                Some(CoreEventSpace::NoteOn(e)) => e.velocity() as f32,
                // Pressure of one key: a negative impulse that names the
                // key (-pressure x key / 128), so a test sees which note
                // it reached.
                Some(CoreEventSpace::NoteExpression(e))
                    if e.expression_type() == Some(NoteExpressionType::Pressure) =>
                {
                    let key = e.pckn().raw_key().max(0);
                    -(e.value() as f32) * f32::from(key) / 128.0
                }
                // Tuning (semitones): an impulse of tuning / 128.
                Some(CoreEventSpace::NoteExpression(e))
                    if e.expression_type() == Some(NoteExpressionType::Tuning) =>
                {
                    e.value() as f32 / 128.0
                }
                // Brightness (0..1): an impulse of 0.25 + brightness / 2
                // (below full scale, where a host's safety limiter acts).
                Some(CoreEventSpace::NoteExpression(e))
                    if e.expression_type() == Some(NoteExpressionType::Brightness) =>
                {
                    0.25 + e.value() as f32 / 2.0
                }
                _ => continue,
            };
            for channel in channels.iter_mut() {
                if let Some(x) = channel.get_mut(at) {
                    *x = height;
                }
            }
        }
        Ok(ProcessStatus::ContinueIfNotQuiet)
    }
}

impl PluginAudioProcessorParams for KitAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.apply(input);
    }
}

impl KitMainThread<'_> {
    /// The state as text.
    fn state_text(&self) -> String {
        let config = if self.shared.channels.load(Ordering::Relaxed) == 2 {
            "stereo"
        } else {
            "mono"
        };
        let mapped: Vec<String> = self
            .mapped
            .borrow()
            .iter()
            .map(|(id, label)| format!("{id}:{label}"))
            .collect();
        format!(
            "context={};track={};config={config};mapped={};level={};tone={}",
            self.context.get(),
            self.track.borrow(),
            mapped.join(","),
            self.shared.params[0].load(),
            self.shared.params[1].load(),
        )
    }

    /// Restores `level` and `tone` from a state text; anything else (an
    /// empty or foreign state) is refused. What the host told the kit is
    /// not restored: it describes the host that saved it.
    fn load_text(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut text = String::new();
        input.read_to_string(&mut text)?;
        let value = |key: &str| -> Option<f64> {
            text.split(';')
                .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        let (Some(level), Some(tone)) = (value("level"), value("tone")) else {
            return Err(PluginError::Message("not a Stagerack Kit state"));
        };
        if !text.starts_with("context=") {
            return Err(PluginError::Message("not a Stagerack Kit state"));
        }
        self.shared.params[0].store(level.clamp(0.0, 1.0));
        self.shared.params[1].store(tone.clamp(0.0, 1.0));
        super::common::tell_values_changed(&self.host.borrow());
        Ok(())
    }
}

impl PluginStateImpl for KitMainThread<'_> {
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        self.context.set("none");
        output.write_all(self.state_text().as_bytes())?;
        Ok(())
    }

    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        self.load_text(input)
    }
}

impl PluginStateContextImpl for KitMainThread<'_> {
    fn save(
        &self,
        output: &mut OutputStream,
        context: StateContextType,
    ) -> Result<(), PluginError> {
        self.context.set(match context {
            StateContextType::ForPreset => "preset",
            StateContextType::ForDuplicate => "duplicate",
            StateContextType::ForProject => "project",
            _ => "other",
        });
        output.write_all(self.state_text().as_bytes())?;
        Ok(())
    }

    fn load(&self, input: &mut InputStream, _context: StateContextType) -> Result<(), PluginError> {
        self.load_text(input)
    }
}

impl PluginPresetLoadImpl for KitMainThread<'_> {
    /// Loads a factory preset (plugin location, by load key) or a preset
    /// file (file location, key ignored); see the module docs.
    fn load_from_location(
        &self,
        location: Location,
        load_key: Option<&CStr>,
    ) -> Result<(), PluginError> {
        // A copy of the handle: no borrow is held while the host runs.
        let host: HostMainThreadHandle = *self.host.borrow();
        let preset_load = host.get_extension::<HostPresetLoad>();
        match super::kit_presets::preset_values(location, load_key) {
            Ok((level, tone)) => {
                self.shared.params[0].store(level);
                self.shared.params[1].store(tone);
                super::common::tell_values_changed(&host);
                if let Some(preset_load) = preset_load {
                    preset_load.loaded(&host, location, load_key);
                }
                Ok(())
            }
            Err(e) => {
                if let Some(preset_load) = preset_load {
                    preset_load.on_error(&host, location, load_key, e.os_error, Some(&e.message));
                }
                Err(e.into())
            }
        }
    }
}

impl PluginNoteNameImpl for KitMainThread<'_> {
    fn count(&self) -> u32 {
        NAMES.len() as u32
    }

    fn get(&self, index: u32, writer: &mut NoteNameWriter) {
        if let Some((key, name)) = NAMES.get(index as usize) {
            writer.write(&NoteName {
                name: name.as_bytes(),
                port: Match::All,
                channel: Match::All,
                key: Match::Specific(*key),
            });
        }
    }
}

/// Its pages of main controls (`remote-controls`), section `Kit`: `Main`
/// (knob 1 `level`, knob 2 `tone`) and `Tone` (knob 1 `tone`).
pub const REMOTE_PAGES: [(&str, u32, [Option<u32>; 2]); 2] = [
    ("Main", 10, [Some(0), Some(1)]),
    ("Tone", 11, [Some(1), None]),
];

impl PluginRemoteControlsImpl for KitMainThread<'_> {
    fn count(&self) -> u32 {
        REMOTE_PAGES.len() as u32
    }

    fn get(&self, index: u32, writer: &mut RemoteControlsPageWriter) {
        let Some(&(name, id, knobs)) = REMOTE_PAGES.get(index as usize) else {
            return;
        };
        let mut param_ids = [None; 8];
        for (slot, knob) in param_ids.iter_mut().zip(knobs) {
            *slot = knob.map(ClapId::new);
        }
        writer.set(&RemoteControlsPage {
            section_name: b"Kit",
            page_id: ClapId::new(id),
            page_name: name.as_bytes(),
            param_ids,
            is_for_preset: false,
        });
    }
}

impl PluginVoiceInfoImpl for KitMainThread<'_> {
    fn get(&self) -> Option<VoiceInfo> {
        Some(VoiceInfo {
            voice_count: VOICES,
            voice_capacity: VOICES,
            flags: VoiceInfoFlags::empty(),
        })
    }
}

impl PluginTrackInfoImpl for KitMainThread<'_> {
    fn changed(&self) {
        let mut host = self.host.borrow_mut();
        let Some(ext) = host.get_extension::<HostTrackInfo>() else {
            return;
        };
        let mut buf = TrackInfoBuffer::new();
        if let Some(info) = ext.get(&mut host, &mut buf) {
            *self.track.borrow_mut() =
                String::from_utf8_lossy(info.name().unwrap_or(b"")).into_owned();
        }
    }
}

impl PluginParamIndicationImpl for KitMainThread<'_> {
    fn set_mapping(
        &self,
        param_id: ClapId,
        has_mapping: bool,
        _color: Option<Color>,
        label: Option<&CStr>,
        _description: Option<&CStr>,
    ) {
        let mut mapped = self.mapped.borrow_mut();
        mapped.retain(|(id, _)| *id != param_id.get());
        if has_mapping {
            let label = label.map_or(String::new(), |l| l.to_string_lossy().into_owned());
            mapped.push((param_id.get(), label));
            mapped.sort();
        }
    }

    fn set_automation(
        &self,
        _param_id: ClapId,
        _automation_state: ParamIndicationAutomation,
        _color: Option<Color>,
    ) {
    }
}

impl PluginAudioPortsConfigImpl for KitMainThread<'_> {
    fn count(&self) -> u32 {
        2
    }

    fn get(&self, index: u32, writer: &mut AudioPortConfigWriter) {
        let (id, name, channels, port_type) = match index {
            0 => (MONO, &b"Mono"[..], 1, AudioPortType::MONO),
            1 => (STEREO, &b"Stereo"[..], 2, AudioPortType::STEREO),
            _ => return,
        };
        writer.write(&AudioPortsConfiguration {
            id,
            name,
            input_port_count: 0,
            output_port_count: 1,
            main_input: None,
            main_output: Some(MainPortInfo {
                channel_count: channels,
                port_type: Some(port_type),
            }),
        });
    }

    fn select(&self, config_id: ClapId) -> Result<(), PluginError> {
        let channels = match config_id {
            MONO => 1,
            STEREO => 2,
            _ => return Err(PluginError::Message("kit: no such configuration")),
        };
        self.shared.channels.store(channels, Ordering::Relaxed);
        Ok(())
    }
}

impl PluginAudioPortsImpl for KitMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(!is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        if is_input || index != 0 {
            return;
        }
        let channels = self.shared.channels.load(Ordering::Relaxed);
        writer.set(&AudioPortInfo {
            id: ClapId::new(0),
            name: b"main",
            channel_count: channels,
            flags: AudioPortFlags::IS_MAIN,
            port_type: Some(if channels == 2 {
                AudioPortType::STEREO
            } else {
                AudioPortType::MONO
            }),
            in_place_pair: None,
        });
    }
}

impl PluginNotePortsImpl for KitMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(is_input)
    }

    /// One note port that speaks CLAP only (no MIDI), so the host sends
    /// it note expressions (polyphonic pressure) rather than MIDI.
    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if is_input && index == 0 {
            writer.set(&NotePortInfo {
                id: ClapId::new(0),
                name: b"notes",
                preferred_dialect: Some(NoteDialect::Clap),
                supported_dialects: NoteDialects::CLAP,
            });
        }
    }
}

impl PluginMainThreadParams for KitMainThread<'_> {
    fn count(&self) -> u32 {
        2
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let name: &[u8] = match param_index {
            0 => b"level",
            1 => b"tone",
            _ => return,
        };
        info.set(&ParamInfo {
            id: ClapId::new(param_index),
            flags: ParamInfoFlags::IS_AUTOMATABLE,
            cookie: Default::default(),
            name,
            module: b"",
            min_value: 0.0,
            max_value: 1.0,
            default_value: [1.0, 0.5][param_index as usize],
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        self.shared
            .params
            .get(param_id.get() as usize)
            .map(AtomicF64::load)
    }

    fn value_to_text(
        &self,
        _param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        use std::fmt::Write as _;
        write!(writer, "{value:.2}")
    }

    fn text_to_value(&self, _param_id: ClapId, text: &CStr) -> Option<f64> {
        text.to_str().ok()?.trim().parse().ok()
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.apply(input);
    }
}
