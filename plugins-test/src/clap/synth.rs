//! `Stagerack Synth` (`org.stagerack.test.synth`): a small 16-voice saw synth
//! with a linear attack/release envelope; `release` gives it a tail.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{
    tell_values_changed, write_note_port, write_stereo_port, AtomicF64, HostChecks, StateReader,
    StateWriter,
};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::note_ports::{NotePortInfoWriter, PluginNotePorts, PluginNotePortsImpl};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_plugin::events::event_types::NoteEndEvent;
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::Match;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::ffi::CStr;
use std::fmt::Write as _;

/// CLAP id of the synth.
pub const ID: &str = "org.stagerack.test.synth";
/// Display name of the synth.
pub const NAME: &str = "Stagerack Synth";

/// Param `release` in seconds (0.001..5, default 0.25).
pub const PARAM_RELEASE: ClapId = ClapId::new(0);
/// Param `level` (0..1, default 0.5): output gain of every voice.
pub const PARAM_LEVEL: ClapId = ClapId::new(1);

/// Number of voices; a note-on with all voices busy steals the oldest.
pub const VOICES: usize = 16;
/// Attack time in seconds (linear, 0 → 1).
pub const ATTACK_SECONDS: f64 = 0.002;
const MIN_RELEASE: f64 = 0.001;
const MAX_RELEASE: f64 = 5.0;
const STATE_TAG: &[u8; 4] = b"SRS1";
/// Every parameter id (for the host checks).
const PARAMS: [ClapId; 2] = [PARAM_RELEASE, PARAM_LEVEL];

/// The synth plugin type. See the module docs.
pub struct Synth;

/// Parameter values shared by the synth's threads. Any thread.
pub struct SynthShared<'a> {
    release: AtomicF64,
    level: AtomicF64,
    /// What a strict plugin checks of its host.
    checks: HostChecks<'a>,
}

impl<'a> PluginShared<'a> for SynthShared<'a> {}

impl SynthShared<'_> {
    fn set(&self, id: Option<ClapId>, value: f64) {
        if id == Some(PARAM_RELEASE) {
            self.release.store(value.clamp(MIN_RELEASE, MAX_RELEASE));
        } else if id == Some(PARAM_LEVEL) {
            self.level.store(value.clamp(0.0, 1.0));
        }
    }

    fn apply_params(&self, events: &InputEvents) {
        self.checks.flush(events, &PARAMS);
        for event in events {
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                self.set(e.param_id(), e.value());
            }
        }
    }
}

/// The synth's main-thread half. Main thread.
pub struct SynthMainThread<'a> {
    host: HostMainThreadHandle<'a>,
    shared: &'a SynthShared<'a>,
}

impl<'a> PluginMainThread<'a, SynthShared<'a>> for SynthMainThread<'a> {}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Stage {
    Idle,
    Attack,
    Sustain,
    Release,
}

#[derive(Clone, Copy, Debug)]
struct Voice {
    stage: Stage,
    pckn: Pckn,
    /// Order of the note-on that started the voice (for stealing the oldest).
    started: u64,
    phase: f64,
    increment: f64,
    velocity: f64,
    envelope: f64,
    /// Envelope change per sample in the current stage.
    step: f64,
}

impl Voice {
    const IDLE: Voice = Voice {
        stage: Stage::Idle,
        pckn: Pckn::match_all(),
        started: 0,
        phase: 0.0,
        increment: 0.0,
        velocity: 0.0,
        envelope: 0.0,
        step: 0.0,
    };

    /// One sample of a band-limited (polyBLEP) saw; returns `None` when the
    /// voice has just finished.
    fn next(&mut self) -> Option<f64> {
        match self.stage {
            Stage::Idle => return Some(0.0),
            Stage::Attack => {
                self.envelope += self.step;
                if self.envelope >= 1.0 {
                    self.envelope = 1.0;
                    self.stage = Stage::Sustain;
                }
            }
            Stage::Sustain => {}
            Stage::Release => {
                self.envelope -= self.step;
                if self.envelope <= 0.0 {
                    *self = Voice::IDLE;
                    return None;
                }
            }
        }
        let t = self.phase;
        let dt = self.increment;
        let mut saw = 2.0 * t - 1.0;
        if t < dt {
            let x = t / dt;
            saw -= x + x - x * x - 1.0;
        } else if t > 1.0 - dt {
            let x = (t - 1.0) / dt;
            saw -= x * x + x + x + 1.0;
        }
        self.phase += dt;
        if self.phase >= 1.0 {
            self.phase -= 1.0;
        }
        Some(saw * self.envelope * self.velocity)
    }
}

/// The synth's audio-thread half. Audio thread (created on the main thread
/// by `activate`).
pub struct SynthAudio<'a> {
    shared: &'a SynthShared<'a>,
    sample_rate: f64,
    voices: [Voice; VOICES],
    note_count: u64,
}

impl Plugin for Synth {
    type AudioProcessor<'a> = SynthAudio<'a>;
    type Shared<'a> = SynthShared<'a>;
    type MainThread<'a> = SynthMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&SynthShared<'_>>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>()
            .register::<PluginParams>()
            .register::<PluginState>();
    }
}

impl DefaultPluginFactory for Synth {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test instrument: 16-voice saw synth with a release tail")
            .with_features([INSTRUMENT, SYNTHESIZER, STEREO])
    }

    fn new_shared(host: HostSharedHandle<'_>) -> Result<SynthShared<'_>, PluginError> {
        Ok(SynthShared {
            release: AtomicF64::new(0.25),
            level: AtomicF64::new(0.5),
            checks: HostChecks::new(host),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a SynthShared<'a>,
    ) -> Result<SynthMainThread<'a>, PluginError> {
        Ok(SynthMainThread { host, shared })
    }
}

impl SynthAudio<'_> {
    fn note_on(&mut self, pckn: Pckn, key: u16, velocity: f64) {
        let slot = self
            .voices
            .iter()
            .position(|v| v.stage == Stage::Idle)
            .unwrap_or_else(|| {
                let mut oldest = 0;
                for (i, v) in self.voices.iter().enumerate() {
                    if v.started < self.voices[oldest].started {
                        oldest = i;
                    }
                }
                oldest
            });
        self.note_count += 1;
        let freq = 440.0 * 2f64.powf((f64::from(key) - 69.0) / 12.0);
        let attack_frames = (ATTACK_SECONDS * self.sample_rate).max(1.0);
        self.voices[slot] = Voice {
            stage: Stage::Attack,
            pckn,
            started: self.note_count,
            phase: 0.0,
            increment: (freq / self.sample_rate).min(0.5),
            velocity: velocity.clamp(0.0, 1.0),
            envelope: 0.0,
            step: 1.0 / attack_frames,
        };
    }

    fn note_off(&mut self, pckn: &Pckn) {
        let release_frames = (self.shared.release.load() * self.sample_rate).max(1.0);
        for v in &mut self.voices {
            if matches!(v.stage, Stage::Attack | Stage::Sustain) && pckn.matches(&v.pckn) {
                v.stage = Stage::Release;
                v.step = v.envelope / release_frames;
            }
        }
    }

    fn choke(&mut self, pckn: &Pckn) {
        for v in &mut self.voices {
            if v.stage != Stage::Idle && pckn.matches(&v.pckn) {
                *v = Voice::IDLE;
            }
        }
    }

    fn handle(&mut self, event: &UnknownEvent) {
        match event.as_core_event() {
            Some(CoreEventSpace::NoteOn(e)) => {
                if let Match::Specific(key) = e.key() {
                    self.note_on(e.pckn(), key, e.velocity());
                }
            }
            Some(CoreEventSpace::NoteOff(e)) => self.note_off(&e.pckn()),
            Some(CoreEventSpace::NoteChoke(e)) => self.choke(&e.pckn()),
            Some(CoreEventSpace::ParamValue(e)) => self.shared.set(e.param_id(), e.value()),
            Some(CoreEventSpace::Midi(e)) => {
                let [status, key, velocity] = e.data();
                let channel = u16::from(status & 0x0F);
                let key = u16::from(key & 0x7F);
                let pckn = Pckn::new(e.port_index(), channel, key, Match::All);
                match status & 0xF0 {
                    0x90 if velocity > 0 => {
                        self.note_on(pckn, key, f64::from(velocity) / 127.0);
                    }
                    0x80 | 0x90 => self.note_off(&pckn),
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

impl<'a> PluginAudioProcessor<'a, SynthShared<'a>, SynthMainThread<'a>> for SynthAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &SynthMainThread<'a>,
        shared: &'a SynthShared<'a>,
        audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self {
            shared,
            sample_rate: audio_config.sample_rate,
            voices: [Voice::IDLE; VOICES],
            note_count: 0,
        })
    }

    fn reset(&mut self) {
        self.voices = [Voice::IDLE; VOICES];
    }

    fn deactivate(self, _main_thread: &SynthMainThread<'a>) {
        self.shared.checks.deactivated();
    }

    fn start_processing(&mut self) -> Result<(), PluginError> {
        self.shared.checks.start_processing();
        Ok(())
    }

    fn stop_processing(&mut self) {
        self.shared.checks.stop_processing();
        self.voices = [Voice::IDLE; VOICES];
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        self.shared
            .checks
            .process(audio.frames_count(), events.input, &PARAMS);
        let frames = audio.frames_count() as usize;
        let mut port = audio
            .output_port(0)
            .ok_or(PluginError::Message("synth: no output port"))?;
        let mut channels = port
            .channels()
            .map_err(|_| PluginError::Message("synth: bad output buffer"))?
            .into_f32()
            .ok_or(PluginError::Message("synth: expected f32 output"))?;
        let (mut left, mut right) = channels.split_at_mut(1);
        let left = left
            .channel_mut(0)
            .ok_or(PluginError::Message("synth: no output channel"))?;
        let mut right = right.channel_mut(0);

        let mut pos = 0;
        let mut next_event = 0;
        let event_count = events.input.len();
        while pos < frames {
            // Apply every event due at `pos` (late or out-of-order ones at once).
            while next_event < event_count {
                let Some(event) = events.input.get(next_event) else {
                    break;
                };
                if event.header().time() as usize > pos {
                    break;
                }
                self.handle(event);
                next_event += 1;
            }
            let level = self.shared.level.load();
            let mut sum = 0.0;
            for v in &mut self.voices {
                let pckn = v.pckn;
                match v.next() {
                    Some(s) => sum += s,
                    None => {
                        #[allow(clippy::cast_possible_truncation)]
                        let end = NoteEndEvent::new(pos as u32, pckn);
                        // A full output queue only loses the notification.
                        let _ = events.output.try_push(end);
                    }
                }
            }
            #[allow(clippy::cast_possible_truncation)]
            let sample = (sum * level) as f32;
            left[pos] = sample;
            if let Some(right) = right.as_deref_mut() {
                right[pos] = sample;
            }
            pos += 1;
        }
        // Events past the block's end still apply (at its end).
        while next_event < event_count {
            if let Some(event) = events.input.get(next_event) {
                self.handle(event);
            }
            next_event += 1;
        }

        Ok(if self.voices.iter().any(|v| v.stage != Stage::Idle) {
            ProcessStatus::Continue
        } else {
            ProcessStatus::Sleep
        })
    }
}

impl PluginAudioProcessorParams for SynthAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.apply_params(input);
    }
}

impl PluginAudioPortsImpl for SynthMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(!is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        if !is_input && index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginNotePortsImpl for SynthMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if is_input && index == 0 {
            write_note_port(writer);
        }
    }
}

impl PluginMainThreadParams for SynthMainThread<'_> {
    fn count(&self) -> u32 {
        2
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let (id, name, min, max, default): (ClapId, &[u8], f64, f64, f64) = match param_index {
            0 => (PARAM_RELEASE, b"release", MIN_RELEASE, MAX_RELEASE, 0.25),
            1 => (PARAM_LEVEL, b"level", 0.0, 1.0, 0.5),
            _ => return,
        };
        info.set(&ParamInfo {
            id,
            flags: ParamInfoFlags::IS_AUTOMATABLE,
            cookie: Default::default(),
            name,
            module: b"",
            min_value: min,
            max_value: max,
            default_value: default,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        match param_id.get() {
            0 => Some(self.shared.release.load()),
            1 => Some(self.shared.level.load()),
            _ => None,
        }
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        match param_id.get() {
            0 => write!(writer, "{value:.3} s"),
            1 => write!(writer, "{value:.3}"),
            _ => Err(std::fmt::Error),
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        let text = text.to_str().ok()?.trim();
        match param_id.get() {
            0 => text.trim_end_matches('s').trim().parse().ok(),
            1 => text.parse().ok(),
            _ => None,
        }
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.apply_params(input);
    }
}

impl PluginStateImpl for SynthMainThread<'_> {
    /// Saves `release` and `level` (tag `SRS1`).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let mut w = StateWriter::new(output, STATE_TAG)?;
        w.f64(self.shared.release.load())?;
        w.f64(self.shared.level.load())?;
        Ok(())
    }

    /// Restores `release` and `level`.
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut r = StateReader::new(input, STATE_TAG)?;
        let release = r.f64()?;
        let level = r.f64()?;
        self.shared.set(Some(PARAM_RELEASE), release);
        self.shared.set(Some(PARAM_LEVEL), level);
        tell_values_changed(&self.host);
        Ok(())
    }
}
