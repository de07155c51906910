//! `Stagerack Probe` (`org.stagerack.test.probe`): an instrument that writes
//! an impulse of height `velocity × level` at the exact sample of every
//! note-on, and checks its host strictly ([`HostChecks`]: threads,
//! lifecycle, event order and parameter ids), reporting each violation.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{
    state_words, tell_values_changed, write_note_port, write_stereo_port, AtomicF64, HostChecks,
    StateReader, StateWriter,
};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::note_ports::{NotePortInfoWriter, PluginNotePorts, PluginNotePortsImpl};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_plugin::events::event_types::ParamValueEvent;
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::ffi::CStr;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// CLAP id of the probe.
pub const ID: &str = "org.stagerack.test.probe";
/// Display name of the probe.
pub const NAME: &str = "Stagerack Probe";

/// Param `level` (0..1, default 1): multiplies every impulse's height.
pub const PARAM_LEVEL: ClapId = ClapId::new(0);
/// The controller the probe maps onto `level` itself (reporting the change
/// to the host as an output parameter event).
pub const LEVEL_CC: u8 = 21;
/// The probe's only parameter ids (for the host checks).
const PARAMS: [ClapId; 1] = [PARAM_LEVEL];

const STATE_TAG: &[u8; 4] = b"SRP2";

/// What the probe's state tells a test: its `level`, the note-ons it saw,
/// and what it found of its host. Any thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeReport {
    /// The `level` parameter.
    pub level: f64,
    /// Note-ons seen (restored by a state load).
    pub note_ons: u64,
    /// Host violations this instance found (its own count, not restored).
    pub violations: u64,
    /// True when the host answered a thread check (its own, not restored).
    pub thread_checked: bool,
}

impl ProbeReport {
    /// Reads a state the probe saved; `None` for anything else. Any thread.
    pub fn from_state(state: &[u8]) -> Option<Self> {
        let [level, note_ons, violations, thread_checked] = state_words(state, STATE_TAG)?;
        Some(Self {
            level: f64::from_bits(level),
            note_ons,
            violations,
            thread_checked: thread_checked != 0,
        })
    }
}

/// The probe plugin type. See the module docs.
pub struct Probe;

/// State shared by the probe's threads. Any thread.
pub struct ProbeShared<'a> {
    checks: HostChecks<'a>,
    level: AtomicF64,
    note_ons: AtomicU64,
}

impl<'a> PluginShared<'a> for ProbeShared<'a> {}

/// The probe's main-thread half. Main thread.
pub struct ProbeMainThread<'a> {
    host: HostMainThreadHandle<'a>,
    shared: &'a ProbeShared<'a>,
}

impl<'a> PluginMainThread<'a, ProbeShared<'a>> for ProbeMainThread<'a> {
    fn on_main_thread(&self) {
        self.shared.checks.expect_main(c"on_main_thread");
    }
}

/// The probe's audio-thread half. Audio thread (created on the main thread
/// by `activate`).
pub struct ProbeAudio<'a> {
    shared: &'a ProbeShared<'a>,
}

impl Plugin for Probe {
    type AudioProcessor<'a> = ProbeAudio<'a>;
    type Shared<'a> = ProbeShared<'a>;
    type MainThread<'a> = ProbeMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&ProbeShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>()
            .register::<PluginParams>()
            .register::<PluginState>();
    }
}

impl DefaultPluginFactory for Probe {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test instrument: one impulse of velocity x level per note-on")
            .with_features([INSTRUMENT, UTILITY, STEREO])
    }

    fn new_shared(host: HostSharedHandle<'_>) -> Result<ProbeShared<'_>, PluginError> {
        let checks = HostChecks::new(host);
        checks.expect_main(c"init");
        Ok(ProbeShared {
            checks,
            level: AtomicF64::new(1.0),
            note_ons: AtomicU64::new(0),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a ProbeShared<'a>,
    ) -> Result<ProbeMainThread<'a>, PluginError> {
        shared.checks.expect_main(c"init");
        Ok(ProbeMainThread { host, shared })
    }
}

impl ProbeShared<'_> {
    fn set_level(&self, value: f64) {
        self.level.store(value.clamp(0.0, 1.0));
    }

    fn value(&self, id: ClapId) -> Option<f64> {
        (id == PARAM_LEVEL).then(|| self.level.load())
    }

    /// Applies parameter events that carry no sample position (flush).
    fn apply_params(&self, events: &InputEvents) {
        for event in events {
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                if e.param_id() == Some(PARAM_LEVEL) {
                    self.set_level(e.value());
                }
            }
        }
    }
}

impl<'a> PluginAudioProcessor<'a, ProbeShared<'a>, ProbeMainThread<'a>> for ProbeAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &ProbeMainThread<'a>,
        shared: &'a ProbeShared<'a>,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        shared.checks.expect_main(c"activate");
        Ok(Self { shared })
    }

    fn deactivate(self, _main_thread: &ProbeMainThread<'a>) {
        self.shared.checks.deactivated();
    }

    fn start_processing(&mut self) -> Result<(), PluginError> {
        self.shared.checks.start_processing();
        Ok(())
    }

    fn stop_processing(&mut self) {
        self.shared.checks.stop_processing();
    }

    fn reset(&mut self) {
        self.shared.checks.expect_audio(c"reset");
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        let shared = self.shared;
        shared
            .checks
            .process(audio.frames_count(), events.input, &PARAMS);
        let frames = audio.frames_count() as usize;
        let mut port = audio
            .output_port(0)
            .ok_or(PluginError::Message("probe: no output port"))?;
        let mut channels = port
            .channels()
            .map_err(|_| PluginError::Message("probe: bad output buffer"))?
            .into_f32()
            .ok_or(PluginError::Message("probe: expected f32 output"))?;
        for channel in channels.iter_mut() {
            channel.fill(0.0);
        }

        let mut any_event = false;
        for event in events.input {
            any_event = true;
            let velocity = match event.as_core_event() {
                Some(CoreEventSpace::ParamValue(e)) => {
                    if e.param_id() == Some(PARAM_LEVEL) {
                        shared.set_level(e.value());
                    }
                    continue;
                }
                Some(CoreEventSpace::NoteOn(e)) => e.velocity(),
                Some(CoreEventSpace::Midi(e)) => {
                    let [status, key, velocity] = e.data();
                    if status & 0xF0 == 0xB0 && key == LEVEL_CC {
                        // Its own MIDI learn: CC 21 moves `level`, and the
                        // host is told, as a synth's knob would report.
                        let level = f64::from(velocity) / 127.0;
                        shared.set_level(level);
                        let _ = events.output.try_push(ParamValueEvent::new(
                            event.header().time(),
                            PARAM_LEVEL,
                            Pckn::match_all(),
                            level,
                        ));
                        continue;
                    }
                    if status & 0xF0 != 0x90 || velocity == 0 {
                        continue;
                    }
                    f64::from(velocity) / 127.0
                }
                _ => continue,
            };
            shared.note_ons.fetch_add(1, Ordering::Relaxed);
            if frames == 0 {
                continue;
            }
            // Events are due inside the block; a late one lands on the last frame.
            let at = (event.header().time() as usize).min(frames - 1);
            #[allow(clippy::cast_possible_truncation)]
            let height = (velocity * shared.level.load()) as f32;
            for channel in channels.iter_mut() {
                if let Some(sample) = channel.get_mut(at) {
                    *sample += height;
                }
            }
        }

        Ok(if any_event {
            ProcessStatus::Continue
        } else {
            ProcessStatus::Sleep
        })
    }
}

impl PluginAudioProcessorParams for ProbeAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.checks.expect_audio(c"params.flush (active)");
        self.shared.checks.flush(input, &PARAMS);
        self.shared.apply_params(input);
    }
}

impl PluginAudioPortsImpl for ProbeMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        self.shared.checks.expect_main(c"audio_ports.count");
        u32::from(!is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        self.shared.checks.expect_main(c"audio_ports.get");
        if !is_input && index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginNotePortsImpl for ProbeMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        self.shared.checks.expect_main(c"note_ports.count");
        u32::from(is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        self.shared.checks.expect_main(c"note_ports.get");
        if is_input && index == 0 {
            write_note_port(writer);
        }
    }
}

impl PluginMainThreadParams for ProbeMainThread<'_> {
    fn count(&self) -> u32 {
        self.shared.checks.expect_main(c"params.count");
        1
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        self.shared.checks.expect_main(c"params.get_info");
        if param_index != 0 {
            return;
        }
        info.set(&ParamInfo {
            id: PARAM_LEVEL,
            flags: ParamInfoFlags::IS_AUTOMATABLE,
            cookie: Default::default(),
            name: b"level",
            module: b"",
            min_value: 0.0,
            max_value: 1.0,
            default_value: 1.0,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        self.shared.checks.expect_main(c"params.get_value");
        self.shared.value(param_id)
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        self.shared.checks.expect_main(c"params.value_to_text");
        if param_id != PARAM_LEVEL {
            return Err(std::fmt::Error);
        }
        write!(writer, "{value:.3}")
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        self.shared.checks.expect_main(c"params.text_to_value");
        if param_id != PARAM_LEVEL {
            return None;
        }
        text.to_str().ok()?.trim().parse().ok()
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.checks.expect_main(c"params.flush (inactive)");
        self.shared.checks.flush(input, &PARAMS);
        self.shared.apply_params(input);
    }
}

impl PluginStateImpl for ProbeMainThread<'_> {
    /// Saves `level`, `note_ons`, then this instance's own host report:
    /// violations found and whether the host answered a thread check (tag
    /// `SRP2`; read with [`ProbeReport::from_state`]).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        self.shared.checks.expect_main(c"state.save");
        let mut w = StateWriter::new(output, STATE_TAG)?;
        w.f64(self.shared.level.load())?;
        w.u64(self.shared.note_ons.load(Ordering::Relaxed))?;
        w.u64(self.shared.checks.violations())?;
        w.u64(u64::from(self.shared.checks.thread_checked()))?;
        Ok(())
    }

    /// Restores `level` and `note_ons`; the saved host report is read but
    /// not restored (it describes the host that saved it).
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        self.shared.checks.expect_main(c"state.load");
        let mut r = StateReader::new(input, STATE_TAG)?;
        let level = r.f64()?;
        let note_ons = r.u64()?;
        let _saved_violations = r.u64()?;
        let _saved_thread_checked = r.u64()?;
        self.shared.set_level(level);
        self.shared.note_ons.store(note_ons, Ordering::Relaxed);
        tell_values_changed(&self.host);
        Ok(())
    }
}
