//! `Stagerack Arp` (`org.stagerack.test.arp`): a note effect (no audio
//! ports) that plays the keys held on its note input one after another,
//! lowest first, on a grid of the host's tempo, as CLAP notes on its note
//! output. Every step lands on a sample a test can compute.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{state_words, tell_values_changed, AtomicF64, StateReader, StateWriter};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::note_ports::{
    NoteDialect, NoteDialects, NotePortInfo, NotePortInfoWriter, PluginNotePorts,
    PluginNotePortsImpl,
};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_plugin::events::event_types::{NoteOffEvent, NoteOnEvent};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::Match;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::ffi::CStr;
use std::fmt::Write as _;

/// CLAP id of the arpeggiator.
pub const ID: &str = "org.stagerack.test.arp";
/// Display name of the arpeggiator.
pub const NAME: &str = "Stagerack Arp";

/// Param `rate` (1..16 steps per beat, stepped, default 4: sixteenths).
pub const PARAM_RATE: ClapId = ClapId::new(0);
/// Param `gate` (0.05..1 of a step, default 0.5): how long each note lasts.
pub const PARAM_GATE: ClapId = ClapId::new(1);

/// The tempo when the host gives no transport.
pub const DEFAULT_TEMPO: f64 = 120.0;

const STATE_TAG: &[u8; 4] = b"SRA1";

/// Frames from the first step of a run to step `step`, at `rate` steps
/// per beat and `tempo` BPM: `round(step × sample_rate × 60 / (tempo ×
/// rate))`. What a test computes to know where each note lands. Any thread.
pub fn step_frame(step: u64, sample_rate: f64, tempo: f64, rate: f64) -> u64 {
    let step_len = sample_rate * 60.0 / (tempo * rate);
    (step as f64 * step_len).round() as u64
}

/// Frames each note lasts: `max(1, round(gate × step length))`. Any thread.
pub fn gate_frames(sample_rate: f64, tempo: f64, rate: f64, gate: f64) -> u64 {
    let step_len = sample_rate * 60.0 / (tempo * rate);
    ((gate * step_len).round() as u64).max(1)
}

/// `rate` and `gate` as a saved state holds them. Any thread.
pub fn state_values(state: &[u8]) -> Option<(f64, f64)> {
    let [rate, gate] = state_words(state, STATE_TAG)?;
    Some((f64::from_bits(rate), f64::from_bits(gate)))
}

/// The arpeggiator plugin type. See the module docs.
pub struct Arp;

/// Its parameters, shared by its threads. Any thread.
pub struct ArpShared {
    rate: AtomicF64,
    gate: AtomicF64,
}

impl PluginShared<'_> for ArpShared {}

impl ArpShared {
    fn set(&self, id: ClapId, value: f64) {
        if id == PARAM_RATE {
            self.rate.store(value.round().clamp(1.0, 16.0));
        } else if id == PARAM_GATE {
            self.gate.store(value.clamp(0.05, 1.0));
        }
    }

    fn value(&self, id: ClapId) -> Option<f64> {
        if id == PARAM_RATE {
            Some(self.rate.load())
        } else if id == PARAM_GATE {
            Some(self.gate.load())
        } else {
            None
        }
    }

    fn apply_params(&self, events: &InputEvents) {
        for event in events {
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                if let Some(id) = e.param_id() {
                    self.set(id, e.value());
                }
            }
        }
    }
}

/// Its main-thread half. Main thread.
pub struct ArpMainThread<'a> {
    host: HostMainThreadHandle<'a>,
    shared: &'a ArpShared,
}

impl<'a> PluginMainThread<'a, ArpShared> for ArpMainThread<'a> {}

/// The note sounding on the output: its channel, key and when it ends
/// (frames since activation).
#[derive(Clone, Copy)]
struct Sounding {
    channel: u16,
    key: u16,
    off_at: u64,
}

/// Its audio-thread half. Audio thread.
pub struct ArpAudio<'a> {
    shared: &'a ArpShared,
    sample_rate: f64,
    /// Frames since activation at the start of this block.
    now: u64,
    /// Velocity of each held key (0: not held).
    held: [f64; 128],
    /// Channel of the last key pressed (the output's channel).
    channel: u16,
    /// The current run: the frame of its first step, and the next step.
    run: Option<(u64, u64)>,
    sounding: Option<Sounding>,
}

impl Plugin for Arp {
    type AudioProcessor<'a> = ArpAudio<'a>;
    type Shared<'a> = ArpShared;
    type MainThread<'a> = ArpMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&ArpShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>()
            .register::<PluginParams>()
            .register::<PluginState>();
    }
}

impl DefaultPluginFactory for Arp {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test note effect: plays the held keys upwards on a tempo grid")
            .with_features([NOTE_EFFECT, UTILITY])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<ArpShared, PluginError> {
        Ok(ArpShared {
            rate: AtomicF64::new(4.0),
            gate: AtomicF64::new(0.5),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a ArpShared,
    ) -> Result<ArpMainThread<'a>, PluginError> {
        Ok(ArpMainThread { host, shared })
    }
}

impl ArpAudio<'_> {
    fn clear(&mut self) {
        self.held = [0.0; 128];
        self.run = None;
        self.sounding = None;
    }

    /// The `index`-th held key, lowest first, cycling; `None` when none is
    /// held.
    fn nth_held(&self, index: u64) -> Option<(u16, f64)> {
        let count = self.held.iter().filter(|v| **v > 0.0).count() as u64;
        if count == 0 {
            return None;
        }
        let wanted = (index % count) as usize;
        self.held
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.0)
            .nth(wanted)
            .map(|(k, v)| (k as u16, *v))
    }
}

impl<'a> PluginAudioProcessor<'a, ArpShared, ArpMainThread<'a>> for ArpAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &ArpMainThread<'a>,
        shared: &'a ArpShared,
        audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self {
            shared,
            sample_rate: audio_config.sample_rate,
            now: 0,
            held: [0.0; 128],
            channel: 0,
            run: None,
            sounding: None,
        })
    }

    fn deactivate(self, _main_thread: &ArpMainThread<'a>) {}

    fn stop_processing(&mut self) {
        self.clear();
    }

    fn reset(&mut self) {
        self.clear();
    }

    fn process(
        &mut self,
        process: Process,
        audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let frames = u64::from(audio.frames_count());
        let tempo = process
            .transport
            .map_or(DEFAULT_TEMPO, |t| t.tempo)
            .max(1.0);
        let mut input = events.input.iter().peekable();
        for t in 0..frames {
            let at = self.now + t;
            // The keys pressed and released on this sample first: a chord
            // struck on a step plays from its lowest key.
            while let Some(event) = input.next_if(|e| u64::from(e.header().time()) <= t) {
                let (on, channel, key, velocity) = match event.as_core_event() {
                    Some(CoreEventSpace::ParamValue(e)) => {
                        if let Some(id) = e.param_id() {
                            self.shared.set(id, e.value());
                        }
                        continue;
                    }
                    Some(CoreEventSpace::NoteOn(e)) => {
                        let p = e.pckn();
                        (true, p.raw_channel(), p.raw_key(), e.velocity())
                    }
                    Some(CoreEventSpace::NoteOff(e)) => {
                        let p = e.pckn();
                        (false, p.raw_channel(), p.raw_key(), 0.0)
                    }
                    Some(CoreEventSpace::Midi(e)) => {
                        let [status, key, velocity] = e.data();
                        let channel = i16::from(status & 0x0F);
                        match status & 0xF0 {
                            0x90 if velocity > 0 => {
                                (true, channel, key as i16, f64::from(velocity) / 127.0)
                            }
                            0x80 | 0x90 => (false, channel, key as i16, 0.0),
                            _ => continue,
                        }
                    }
                    _ => continue,
                };
                let Ok(key) = usize::try_from(key) else {
                    continue;
                };
                if key >= 128 {
                    continue;
                }
                if on {
                    self.held[key] = velocity.max(1e-6);
                    self.channel = u16::try_from(channel).unwrap_or(0) & 0x0F;
                    if self.run.is_none() {
                        self.run = Some((at, 0));
                    }
                } else {
                    self.held[key] = 0.0;
                }
            }
            let rate = self.shared.rate.load();
            if let Some(s) = self.sounding.filter(|s| s.off_at == at) {
                let _ = events.output.try_push(NoteOffEvent::new(
                    t as u32,
                    Pckn::new(0u16, s.channel, s.key, Match::All),
                    0.0,
                ));
                self.sounding = None;
            }
            let Some((first, step)) = self.run else {
                continue;
            };
            if first + step_frame(step, self.sample_rate, tempo, rate) != at {
                continue;
            }
            let Some((key, velocity)) = self.nth_held(step) else {
                // Every key is up: the run ends (the last note keeps its gate).
                self.run = None;
                continue;
            };
            if let Some(s) = self.sounding.take() {
                let _ = events.output.try_push(NoteOffEvent::new(
                    t as u32,
                    Pckn::new(0u16, s.channel, s.key, Match::All),
                    0.0,
                ));
            }
            let _ = events.output.try_push(NoteOnEvent::new(
                t as u32,
                Pckn::new(0u16, self.channel, key, Match::All),
                velocity,
            ));
            let gate = gate_frames(self.sample_rate, tempo, rate, self.shared.gate.load());
            self.sounding = Some(Sounding {
                channel: self.channel,
                key,
                off_at: at + gate,
            });
            self.run = Some((first, step + 1));
        }
        self.now += frames;
        Ok(if self.run.is_some() || self.sounding.is_some() {
            ProcessStatus::Continue
        } else {
            ProcessStatus::Sleep
        })
    }
}

impl PluginAudioProcessorParams for ArpAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.apply_params(input);
    }
}

impl PluginAudioPortsImpl for ArpMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        0
    }

    fn get(&self, _index: u32, _is_input: bool, _writer: &mut AudioPortInfoWriter) {}
}

impl PluginNotePortsImpl for ArpMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if index == 0 {
            writer.set(&NotePortInfo {
                id: ClapId::new(0),
                name: if is_input { b"notes in" } else { b"notes out" },
                preferred_dialect: Some(NoteDialect::Clap),
                supported_dialects: NoteDialects::CLAP | NoteDialects::MIDI,
            });
        }
    }
}

impl PluginMainThreadParams for ArpMainThread<'_> {
    fn count(&self) -> u32 {
        2
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let (id, name, min, max, default, flags): (_, &[u8], _, _, _, _) = match param_index {
            0 => (
                PARAM_RATE,
                b"rate",
                1.0,
                16.0,
                4.0,
                ParamInfoFlags::IS_AUTOMATABLE | ParamInfoFlags::IS_STEPPED,
            ),
            1 => (
                PARAM_GATE,
                b"gate",
                0.05,
                1.0,
                0.5,
                ParamInfoFlags::IS_AUTOMATABLE,
            ),
            _ => return,
        };
        info.set(&ParamInfo {
            id,
            flags,
            cookie: Default::default(),
            name,
            module: b"",
            min_value: min,
            max_value: max,
            default_value: default,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        self.shared.value(param_id)
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        if param_id == PARAM_RATE {
            write!(writer, "{value:.0} per beat")
        } else if param_id == PARAM_GATE {
            write!(writer, "{:.0} %", value * 100.0)
        } else {
            Err(std::fmt::Error)
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        self.shared.value(param_id)?;
        let text = text.to_str().ok()?.trim();
        let number = text.split_whitespace().next()?.parse::<f64>().ok()?;
        Some(if param_id == PARAM_GATE && text.ends_with('%') {
            number / 100.0
        } else {
            number
        })
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.apply_params(input);
    }
}

impl PluginStateImpl for ArpMainThread<'_> {
    /// Saves `rate` then `gate` (f64 LE each, tag `SRA1`).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let mut w = StateWriter::new(output, STATE_TAG)?;
        w.f64(self.shared.rate.load())?;
        w.f64(self.shared.gate.load())?;
        Ok(())
    }

    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut r = StateReader::new(input, STATE_TAG)?;
        let rate = r.f64()?;
        let gate = r.f64()?;
        self.shared.set(PARAM_RATE, rate);
        self.shared.set(PARAM_GATE, gate);
        tell_values_changed(&self.host);
        Ok(())
    }
}
