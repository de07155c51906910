//! `Stagerack Probe` (`org.stagerack.test.probe`): an instrument that writes
//! an impulse of height `velocity × level` at the exact sample of every
//! note-on, and checks the host's thread rules.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{
    count_as_value, write_note_port, write_stereo_port, AtomicF64, StateReader, StateWriter,
    ThreadRules,
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
/// Read-only param `violations`: calls made on the wrong thread so far.
pub const PARAM_VIOLATIONS: ClapId = ClapId::new(1);
/// Read-only param `thread_checks`: thread checks the host answered so far
/// (0 means the host offers no `clap.thread-check`, so nothing was checked).
pub const PARAM_THREAD_CHECKS: ClapId = ClapId::new(2);
/// Read-only param `note_ons`: note-ons seen so far (saved in the state).
pub const PARAM_NOTE_ONS: ClapId = ClapId::new(3);

const STATE_TAG: &[u8; 4] = b"SRP1";
/// Upper bound reported for the counter parameters.
const COUNTER_MAX: f64 = 1.0e12;

/// The probe plugin type. See the module docs.
pub struct Probe;

/// State shared by the probe's threads. Any thread.
pub struct ProbeShared<'a> {
    rules: ThreadRules<'a>,
    level: AtomicF64,
    note_ons: AtomicU64,
}

impl<'a> PluginShared<'a> for ProbeShared<'a> {}

/// The probe's main-thread half. Main thread.
pub struct ProbeMainThread<'a> {
    shared: &'a ProbeShared<'a>,
}

impl<'a> PluginMainThread<'a, ProbeShared<'a>> for ProbeMainThread<'a> {
    fn on_main_thread(&self) {
        self.shared.rules.expect_main();
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
        let rules = ThreadRules::new(host);
        rules.expect_main();
        Ok(ProbeShared {
            rules,
            level: AtomicF64::new(1.0),
            note_ons: AtomicU64::new(0),
        })
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        shared: &'a ProbeShared<'a>,
    ) -> Result<ProbeMainThread<'a>, PluginError> {
        shared.rules.expect_main();
        Ok(ProbeMainThread { shared })
    }
}

impl ProbeShared<'_> {
    fn set_level(&self, value: f64) {
        self.level.store(value.clamp(0.0, 1.0));
    }

    fn value(&self, id: ClapId) -> Option<f64> {
        match id.get() {
            0 => Some(self.level.load()),
            1 => Some(count_as_value(self.rules.violations())),
            2 => Some(count_as_value(self.rules.checks())),
            3 => Some(count_as_value(self.note_ons.load(Ordering::Relaxed))),
            _ => None,
        }
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
        shared.rules.expect_main();
        Ok(Self { shared })
    }

    fn deactivate(self, _main_thread: &ProbeMainThread<'a>) {
        self.shared.rules.expect_main();
    }

    fn start_processing(&mut self) -> Result<(), PluginError> {
        self.shared.rules.expect_audio();
        Ok(())
    }

    fn stop_processing(&mut self) {
        self.shared.rules.expect_audio();
    }

    fn reset(&mut self) {
        self.shared.rules.expect_audio();
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let shared = self.shared;
        shared.rules.expect_audio();
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
        self.shared.rules.expect_audio();
        self.shared.apply_params(input);
    }
}

impl PluginAudioPortsImpl for ProbeMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        self.shared.rules.expect_main();
        u32::from(!is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        self.shared.rules.expect_main();
        if !is_input && index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginNotePortsImpl for ProbeMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        self.shared.rules.expect_main();
        u32::from(is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        self.shared.rules.expect_main();
        if is_input && index == 0 {
            write_note_port(writer);
        }
    }
}

impl PluginMainThreadParams for ProbeMainThread<'_> {
    fn count(&self) -> u32 {
        self.shared.rules.expect_main();
        4
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        self.shared.rules.expect_main();
        let (id, name, max, default, flags): (ClapId, &[u8], f64, f64, ParamInfoFlags) =
            match param_index {
                0 => (
                    PARAM_LEVEL,
                    b"level",
                    1.0,
                    1.0,
                    ParamInfoFlags::IS_AUTOMATABLE,
                ),
                1 => (
                    PARAM_VIOLATIONS,
                    b"violations",
                    COUNTER_MAX,
                    0.0,
                    ParamInfoFlags::IS_READONLY | ParamInfoFlags::IS_STEPPED,
                ),
                2 => (
                    PARAM_THREAD_CHECKS,
                    b"thread_checks",
                    COUNTER_MAX,
                    0.0,
                    ParamInfoFlags::IS_READONLY | ParamInfoFlags::IS_STEPPED,
                ),
                3 => (
                    PARAM_NOTE_ONS,
                    b"note_ons",
                    COUNTER_MAX,
                    0.0,
                    ParamInfoFlags::IS_READONLY | ParamInfoFlags::IS_STEPPED,
                ),
                _ => return,
            };
        info.set(&ParamInfo {
            id,
            flags,
            cookie: Default::default(),
            name,
            module: b"",
            min_value: 0.0,
            max_value: max,
            default_value: default,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        self.shared.rules.expect_main();
        self.shared.value(param_id)
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        self.shared.rules.expect_main();
        match param_id.get() {
            0 => write!(writer, "{value:.3}"),
            1..=3 => write!(writer, "{value:.0}"),
            _ => Err(std::fmt::Error),
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        self.shared.rules.expect_main();
        if param_id.get() > 3 {
            return None;
        }
        text.to_str().ok()?.trim().parse().ok()
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.rules.expect_main();
        self.shared.apply_params(input);
    }
}

impl PluginStateImpl for ProbeMainThread<'_> {
    /// Saves `level`, `note_ons` and `violations` (tag `SRP1`).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        self.shared.rules.expect_main();
        let mut w = StateWriter::new(output, STATE_TAG)?;
        w.f64(self.shared.level.load())?;
        w.u64(self.shared.note_ons.load(Ordering::Relaxed))?;
        w.u64(self.shared.rules.violations())?;
        Ok(())
    }

    /// Restores `level` and `note_ons`; the saved `violations` is read but
    /// not restored (it describes the host that saved it).
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        self.shared.rules.expect_main();
        let mut r = StateReader::new(input, STATE_TAG)?;
        let level = r.f64()?;
        let note_ons = r.u64()?;
        let _saved_violations = r.u64()?;
        self.shared.set_level(level);
        self.shared.note_ons.store(note_ons, Ordering::Relaxed);
        Ok(())
    }
}
