//! `Stagerack Tail` (`org.stagerack.test.tail`): a stereo feedback echo that
//! keeps sounding after its input stops, for exactly the tail it reports
//! through `clap.tail`.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{tell_values_changed, write_stereo_port, AtomicF64, StateReader, StateWriter};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_extensions::tail::{HostTail, PluginTail, PluginTailImpl, TailLength};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::ffi::CStr;
use std::fmt::Write as _;

/// CLAP id of the tail plugin.
pub const ID: &str = "org.stagerack.test.tail";
/// Display name of the tail plugin.
pub const NAME: &str = "Stagerack Tail";

/// Param `time`: echo delay in milliseconds (1..500, default 50).
pub const PARAM_TIME: ClapId = ClapId::new(0);
/// Param `feedback` (0..0.9, default 0.5): each echo's level relative to the
/// previous one.
pub const PARAM_FEEDBACK: ClapId = ClapId::new(1);

const MIN_TIME_MS: f64 = 1.0;
const MAX_TIME_MS: f64 = 500.0;
const MAX_FEEDBACK: f64 = 0.9;
/// Echoes are kept until their level falls to this (-80 dB); then the
/// echo line is cleared, so the tail is finite and exact.
pub const FLOOR: f64 = 1.0e-4;
const STATE_TAG: &[u8; 4] = b"SRT1";

/// Delay in frames for `time_ms` at `sample_rate` (at least 1). Any thread.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn delay_frames(time_ms: f64, sample_rate: f64) -> u32 {
    ((time_ms / 1000.0 * sample_rate).round() as u32).max(1)
}

/// Number of echoes kept after the input stops: echo k (k ≥ 1) has level
/// `feedback^(k-1)`; echoes are kept up to the first one at or below
/// [`FLOOR`] (just the first echo when feedback is 0). Any thread.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn echo_count(feedback: f64) -> u32 {
    if feedback <= 0.0 {
        1
    } else {
        1 + (FLOOR.ln() / feedback.ln()).ceil() as u32
    }
}

/// Tail in frames: `delay_frames × echo_count`. Any thread.
pub fn tail_frames(time_ms: f64, feedback: f64, sample_rate: f64) -> u32 {
    delay_frames(time_ms, sample_rate) * echo_count(feedback)
}

/// The tail plugin type. See the module docs.
pub struct Tail;

/// Parameter values shared by the plugin's threads. Any thread.
pub struct TailShared {
    time_ms: AtomicF64,
    feedback: AtomicF64,
}

impl PluginShared<'_> for TailShared {}

impl TailShared {
    fn set(&self, id: Option<ClapId>, value: f64) -> bool {
        if id == Some(PARAM_TIME) {
            self.time_ms.store(value.clamp(MIN_TIME_MS, MAX_TIME_MS));
            true
        } else if id == Some(PARAM_FEEDBACK) {
            self.feedback.store(value.clamp(0.0, MAX_FEEDBACK));
            true
        } else {
            false
        }
    }
}

/// The plugin's main-thread half. Main thread.
pub struct TailMainThread<'a> {
    host: HostMainThreadHandle<'a>,
    shared: &'a TailShared,
}

impl<'a> PluginMainThread<'a, TailShared> for TailMainThread<'a> {}

/// The plugin's audio-thread half. Audio thread (created on the main thread
/// by `activate`, which allocates the echo lines).
pub struct TailAudio<'a> {
    shared: &'a TailShared,
    host: HostAudioProcessorHandle<'a>,
    host_tail: Option<HostTail>,
    sample_rate: f64,
    lines: [Vec<f32>; 2],
    write: usize,
    delay: usize,
    feedback: f32,
    tail: u32,
    /// Frames since the last non-silent input sample.
    silent_for: u64,
    /// True while the echo lines may hold sound.
    sounding: bool,
}

impl Plugin for Tail {
    type AudioProcessor<'a> = TailAudio<'a>;
    type Shared<'a> = TailShared;
    type MainThread<'a> = TailMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&TailShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginParams>()
            .register::<PluginState>()
            .register::<PluginTail>();
    }
}

impl DefaultPluginFactory for Tail {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test effect: feedback echo with an exact, reported tail")
            .with_features([AUDIO_EFFECT, DELAY, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<TailShared, PluginError> {
        Ok(TailShared {
            time_ms: AtomicF64::new(50.0),
            feedback: AtomicF64::new(0.5),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a TailShared,
    ) -> Result<TailMainThread<'a>, PluginError> {
        Ok(TailMainThread { host, shared })
    }
}

impl TailAudio<'_> {
    /// Takes the current parameter values; tells the host when the tail
    /// length changed. Audio thread.
    fn update(&mut self, notify: bool) {
        let time = self.shared.time_ms.load();
        let feedback = self.shared.feedback.load();
        self.delay = delay_frames(time, self.sample_rate) as usize;
        #[allow(clippy::cast_possible_truncation)]
        let fb = feedback as f32;
        self.feedback = fb;
        let tail = tail_frames(time, feedback, self.sample_rate);
        if tail != self.tail {
            self.tail = tail;
            if notify {
                if let Some(ext) = self.host_tail {
                    ext.changed(&mut self.host);
                }
            }
        }
    }

    fn clear(&mut self) {
        for line in &mut self.lines {
            line.fill(0.0);
        }
        self.sounding = false;
    }

    fn render(&mut self, bufs: &mut [Option<&mut [f32]>; 2], range: std::ops::Range<usize>) {
        let size = self.lines[0].len();
        for i in range {
            let read = (self.write + size - self.delay) % size;
            let mut loud = false;
            for (ch, buf) in bufs.iter_mut().enumerate() {
                let Some(buf) = buf.as_deref_mut() else {
                    continue;
                };
                let x = buf[i];
                loud |= x != 0.0;
                let line = &mut self.lines[ch];
                let echo = line[read];
                line[self.write] = x + self.feedback * echo;
                buf[i] = x + echo;
            }
            self.write = (self.write + 1) % size;
            if loud {
                self.silent_for = 0;
                self.sounding = true;
            } else if self.sounding {
                self.silent_for += 1;
                if self.silent_for > u64::from(self.tail) {
                    self.clear();
                }
            }
        }
    }
}

impl<'a> PluginAudioProcessor<'a, TailShared, TailMainThread<'a>> for TailAudio<'a> {
    fn activate(
        host: HostAudioProcessorHandle<'a>,
        _main_thread: &TailMainThread<'a>,
        shared: &'a TailShared,
        audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        let size = delay_frames(MAX_TIME_MS, audio_config.sample_rate) as usize + 1;
        let mut audio = Self {
            shared,
            host_tail: host.get_extension::<HostTail>(),
            host,
            sample_rate: audio_config.sample_rate,
            lines: [vec![0.0; size], vec![0.0; size]],
            write: 0,
            delay: 1,
            feedback: 0.0,
            tail: 0,
            silent_for: 0,
            sounding: false,
        };
        audio.update(false);
        Ok(audio)
    }

    fn reset(&mut self) {
        self.clear();
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        let frames = audio.frames_count() as usize;
        let mut pair = audio
            .port_pair(0)
            .ok_or(PluginError::Message("tail: no audio ports"))?;
        let mut channels = pair
            .channels()
            .map_err(|_| PluginError::Message("tail: bad audio buffers"))?
            .into_f32()
            .ok_or(PluginError::Message("tail: expected f32 buffers"))?;
        let mut bufs: [Option<&mut [f32]>; 2] = [None, None];
        for (pair, slot) in channels.iter_mut().zip(bufs.iter_mut()) {
            *slot = match pair {
                ChannelPair::InputOnly(_) => None,
                ChannelPair::OutputOnly(out) => {
                    out.fill(0.0);
                    Some(out)
                }
                ChannelPair::InPlace(buf) => Some(buf),
                ChannelPair::InputOutput(input, out) => {
                    out.copy_from_slice(input);
                    Some(out)
                }
            };
        }

        let mut pos = 0;
        for event in events.input {
            let at = (event.header().time() as usize).clamp(pos, frames);
            self.render(&mut bufs, pos..at);
            pos = at;
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                if self.shared.set(e.param_id(), e.value()) {
                    self.update(true);
                }
            }
        }
        self.render(&mut bufs, pos..frames);

        Ok(if self.sounding {
            ProcessStatus::Tail
        } else {
            ProcessStatus::ContinueIfNotQuiet
        })
    }
}

impl PluginTailImpl for TailAudio<'_> {
    fn get(&self) -> TailLength {
        TailLength::Finite(self.tail)
    }
}

impl PluginAudioProcessorParams for TailAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        let mut changed = false;
        for event in input {
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                changed |= self.shared.set(e.param_id(), e.value());
            }
        }
        if changed {
            self.update(true);
        }
    }
}

impl PluginAudioPortsImpl for TailMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, _is_input: bool, writer: &mut AudioPortInfoWriter) {
        if index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginMainThreadParams for TailMainThread<'_> {
    fn count(&self) -> u32 {
        2
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let (id, name, min, max, default): (ClapId, &[u8], f64, f64, f64) = match param_index {
            0 => (PARAM_TIME, b"time", MIN_TIME_MS, MAX_TIME_MS, 50.0),
            1 => (PARAM_FEEDBACK, b"feedback", 0.0, MAX_FEEDBACK, 0.5),
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
            0 => Some(self.shared.time_ms.load()),
            1 => Some(self.shared.feedback.load()),
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
            0 => write!(writer, "{value:.1} ms"),
            1 => write!(writer, "{value:.3}"),
            _ => Err(std::fmt::Error),
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        let text = text.to_str().ok()?.trim();
        match param_id.get() {
            0 => text.trim_end_matches("ms").trim().parse().ok(),
            1 => text.parse().ok(),
            _ => None,
        }
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        for event in input {
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                self.shared.set(e.param_id(), e.value());
            }
        }
    }
}

impl PluginStateImpl for TailMainThread<'_> {
    /// Saves `time` and `feedback` (tag `SRT1`).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let mut w = StateWriter::new(output, STATE_TAG)?;
        w.f64(self.shared.time_ms.load())?;
        w.f64(self.shared.feedback.load())?;
        Ok(())
    }

    /// Restores `time` and `feedback` (an active instance picks them up at
    /// its next parameter event or activation).
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut r = StateReader::new(input, STATE_TAG)?;
        let time = r.f64()?;
        let feedback = r.f64()?;
        self.shared.set(Some(PARAM_TIME), time);
        self.shared.set(Some(PARAM_FEEDBACK), feedback);
        tell_values_changed(&self.host);
        Ok(())
    }
}
