//! `Stagerack Gain` (`org.stagerack.test.gain`): a stereo gain in dB,
//! smoothed linearly over 10 ms from each parameter event's sample, with an
//! optional delay that the plugin reports as its latency.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{
    tell_values_changed, write_stereo_port, AtomicF64, HostChecks, StateReader, StateWriter,
};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::latency::{HostLatency, PluginLatency, PluginLatencyImpl};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::cell::Cell;
use std::ffi::CStr;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// CLAP id of the gain.
pub const ID: &str = "org.stagerack.test.gain";
/// Display name of the gain.
pub const NAME: &str = "Stagerack Gain";

/// Param `gain` in dB (-80..+24, default 0).
pub const PARAM_GAIN: ClapId = ClapId::new(0);
/// Param `latency` in frames (0..4800, stepped, default 0).
pub const PARAM_LATENCY: ClapId = ClapId::new(1);
/// Every parameter id (for the host checks).
const PARAMS: [ClapId; 2] = [PARAM_GAIN, PARAM_LATENCY];

/// Lowest gain in dB (a factor of 1e-4, not silence).
pub const MIN_DB: f64 = -80.0;
/// Highest gain in dB.
pub const MAX_DB: f64 = 24.0;
/// Longest delay (and reported latency) in frames.
pub const MAX_LATENCY: u32 = 4800;
/// Length of a gain ramp in seconds.
pub const SMOOTHING_SECONDS: f64 = 0.010;

const STATE_TAG: &[u8; 4] = b"SRG1";

/// Converts decibels to a gain factor. Any thread.
pub fn db_to_factor(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Frames of a gain ramp at `sample_rate`: `round(0.010 × rate)`, at least 1.
/// Any thread.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn ramp_frames(sample_rate: f64) -> u32 {
    ((SMOOTHING_SECONDS * sample_rate).round() as u32).max(1)
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn latency_from_value(value: f64) -> u32 {
    value.round().clamp(0.0, f64::from(MAX_LATENCY)) as u32
}

/// The gain plugin type. See the module docs.
pub struct Gain;

/// State shared by the gain's threads. Any thread.
pub struct GainShared<'a> {
    host: HostSharedHandle<'a>,
    /// What a strict plugin checks of its host.
    checks: HostChecks<'a>,
    gain_db: AtomicF64,
    /// The `latency` parameter's value.
    latency: AtomicU32,
    /// True while an audio processor exists (between activate and deactivate).
    active: AtomicBool,
    /// The latency the current activation runs with.
    active_latency: AtomicU32,
}

impl<'a> PluginShared<'a> for GainShared<'a> {}

impl GainShared<'_> {
    fn set_gain_db(&self, db: f64) -> f64 {
        let db = db.clamp(MIN_DB, MAX_DB);
        self.gain_db.store(db);
        db
    }

    /// Stores a new latency; while active, asks the host for a restart when
    /// it differs from the running one (CLAP: latency changes only in
    /// `activate`). Any thread.
    fn set_latency(&self, value: f64) {
        let frames = latency_from_value(value);
        let old = self.latency.swap(frames, Ordering::Relaxed);
        if old != frames
            && self.active.load(Ordering::Relaxed)
            && frames != self.active_latency.load(Ordering::Relaxed)
        {
            self.host.request_restart();
        }
    }
}

/// The gain's main-thread half. Main thread.
pub struct GainMainThread<'a> {
    shared: &'a GainShared<'a>,
    host: HostMainThreadHandle<'a>,
    /// The latency last answered to the host through `latency.get`.
    reported_latency: Cell<u32>,
}

impl<'a> PluginMainThread<'a, GainShared<'a>> for GainMainThread<'a> {}

/// The gain's audio-thread half. Audio thread (created on the main thread by
/// `activate`, which allocates the delay lines).
pub struct GainAudio<'a> {
    shared: &'a GainShared<'a>,
    ramp_len: u32,
    /// Gain factor now.
    current: f64,
    /// Where the running ramp started and ends.
    ramp_from: f64,
    ramp_to: f64,
    /// Samples of the running ramp done; `ramp_len` when idle.
    ramp_pos: u32,
    latency: usize,
    delay: [Vec<f32>; 2],
    write: usize,
    /// Frames until the delay line holds only the silence fed into it.
    pending: usize,
}

impl Plugin for Gain {
    type AudioProcessor<'a> = GainAudio<'a>;
    type Shared<'a> = GainShared<'a>;
    type MainThread<'a> = GainMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&GainShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginParams>()
            .register::<PluginState>()
            .register::<PluginLatency>();
    }
}

impl DefaultPluginFactory for Gain {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test effect: smoothed gain in dB with an optional reported delay")
            .with_features([AUDIO_EFFECT, UTILITY, STEREO])
    }

    fn new_shared(host: HostSharedHandle<'_>) -> Result<GainShared<'_>, PluginError> {
        Ok(GainShared {
            checks: HostChecks::new(host),
            host,
            gain_db: AtomicF64::new(0.0),
            latency: AtomicU32::new(0),
            active: AtomicBool::new(false),
            active_latency: AtomicU32::new(0),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a GainShared<'a>,
    ) -> Result<GainMainThread<'a>, PluginError> {
        Ok(GainMainThread {
            shared,
            host,
            reported_latency: Cell::new(0),
        })
    }
}

impl<'a> PluginAudioProcessor<'a, GainShared<'a>, GainMainThread<'a>> for GainAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        main_thread: &GainMainThread<'a>,
        shared: &'a GainShared<'a>,
        audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        let latency = shared.latency.load(Ordering::Relaxed);
        shared.active_latency.store(latency, Ordering::Relaxed);
        shared.active.store(true, Ordering::Relaxed);
        if latency != main_thread.reported_latency.get() {
            if let Some(ext) = main_thread.host.get_extension::<HostLatency>() {
                ext.changed(&main_thread.host);
            }
        }
        let factor = db_to_factor(shared.gain_db.load());
        let ramp_len = ramp_frames(audio_config.sample_rate);
        let size = MAX_LATENCY as usize + 1;
        Ok(Self {
            shared,
            ramp_len,
            current: factor,
            ramp_from: factor,
            ramp_to: factor,
            ramp_pos: ramp_len,
            latency: latency as usize,
            delay: [vec![0.0; size], vec![0.0; size]],
            write: 0,
            pending: 0,
        })
    }

    fn deactivate(self, _main_thread: &GainMainThread<'a>) {
        self.shared.checks.deactivated();
        self.shared.active.store(false, Ordering::Relaxed);
    }

    fn start_processing(&mut self) -> Result<(), PluginError> {
        self.shared.checks.start_processing();
        Ok(())
    }

    fn stop_processing(&mut self) {
        self.shared.checks.stop_processing();
    }

    fn reset(&mut self) {
        for line in &mut self.delay {
            line.fill(0.0);
        }
        self.pending = 0;
        self.current = self.ramp_to;
        self.ramp_pos = self.ramp_len;
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
        let mut pair = audio
            .port_pair(0)
            .ok_or(PluginError::Message("gain: no audio ports"))?;
        let mut channels = pair
            .channels()
            .map_err(|_| PluginError::Message("gain: bad audio buffers"))?
            .into_f32()
            .ok_or(PluginError::Message("gain: expected f32 buffers"))?;
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
                self.apply(e.param_id(), e.value());
            }
        }
        self.render(&mut bufs, pos..frames);

        Ok(if self.pending > 0 {
            ProcessStatus::Continue
        } else {
            ProcessStatus::ContinueIfNotQuiet
        })
    }
}

impl GainAudio<'_> {
    /// Applies one parameter change at the current sample. Audio thread.
    fn apply(&mut self, id: Option<ClapId>, value: f64) {
        if id == Some(PARAM_GAIN) {
            let db = self.shared.set_gain_db(value);
            self.ramp_from = self.current;
            self.ramp_to = db_to_factor(db);
            self.ramp_pos = 0;
        } else if id == Some(PARAM_LATENCY) {
            self.shared.set_latency(value);
        }
    }

    /// The gain factor for the next sample, advancing the ramp. Audio thread.
    fn next_factor(&mut self) -> f64 {
        if self.ramp_pos < self.ramp_len {
            self.ramp_pos += 1;
            self.current = if self.ramp_pos == self.ramp_len {
                self.ramp_to
            } else {
                self.ramp_from
                    + (self.ramp_to - self.ramp_from) * f64::from(self.ramp_pos)
                        / f64::from(self.ramp_len)
            };
        }
        self.current
    }

    /// Delays and scales `range` of the channel buffers in place. Audio thread.
    fn render(&mut self, bufs: &mut [Option<&mut [f32]>; 2], range: std::ops::Range<usize>) {
        let size = self.delay[0].len();
        for i in range {
            #[allow(clippy::cast_possible_truncation)]
            let factor = self.next_factor() as f32;
            let read = (self.write + size - self.latency) % size;
            let mut loud = false;
            for (ch, buf) in bufs.iter_mut().enumerate() {
                let Some(buf) = buf.as_deref_mut() else {
                    continue;
                };
                let x = buf[i];
                loud |= x != 0.0;
                let line = &mut self.delay[ch];
                line[self.write] = x;
                buf[i] = line[read] * factor;
            }
            self.write = (self.write + 1) % size;
            if loud {
                self.pending = self.latency;
            } else {
                self.pending = self.pending.saturating_sub(1);
            }
        }
    }
}

impl PluginAudioProcessorParams for GainAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.checks.flush(input, &PARAMS);
        for event in input {
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                self.apply(e.param_id(), e.value());
            }
        }
    }
}

impl PluginLatencyImpl for GainMainThread<'_> {
    fn get(&self) -> u32 {
        let latency = if self.shared.active.load(Ordering::Relaxed) {
            self.shared.active_latency.load(Ordering::Relaxed)
        } else {
            self.shared.latency.load(Ordering::Relaxed)
        };
        self.reported_latency.set(latency);
        latency
    }
}

impl PluginAudioPortsImpl for GainMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, _is_input: bool, writer: &mut AudioPortInfoWriter) {
        if index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginMainThreadParams for GainMainThread<'_> {
    fn count(&self) -> u32 {
        2
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        let (id, name, min, max, flags): (ClapId, &[u8], f64, f64, ParamInfoFlags) =
            match param_index {
                0 => (
                    PARAM_GAIN,
                    b"gain",
                    MIN_DB,
                    MAX_DB,
                    ParamInfoFlags::IS_AUTOMATABLE,
                ),
                1 => (
                    PARAM_LATENCY,
                    b"latency",
                    0.0,
                    f64::from(MAX_LATENCY),
                    ParamInfoFlags::IS_AUTOMATABLE | ParamInfoFlags::IS_STEPPED,
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
            default_value: 0.0,
        });
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        match param_id.get() {
            0 => Some(self.shared.gain_db.load()),
            1 => Some(f64::from(self.shared.latency.load(Ordering::Relaxed))),
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
            0 => write!(writer, "{value:.2} dB"),
            1 => write!(writer, "{value:.0} frames"),
            _ => Err(std::fmt::Error),
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        let text = text.to_str().ok()?.trim();
        match param_id.get() {
            0 => text.trim_end_matches("dB").trim().parse().ok(),
            1 => text.trim_end_matches("frames").trim().parse().ok(),
            _ => None,
        }
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        self.shared.checks.flush(input, &PARAMS);
        for event in input {
            if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
                if e.param_id() == Some(PARAM_GAIN) {
                    self.shared.set_gain_db(e.value());
                } else if e.param_id() == Some(PARAM_LATENCY) {
                    self.shared.set_latency(e.value());
                }
            }
        }
    }
}

impl PluginStateImpl for GainMainThread<'_> {
    /// Saves `gain` (dB) and `latency` (frames) (tag `SRG1`).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let mut w = StateWriter::new(output, STATE_TAG)?;
        w.f64(self.shared.gain_db.load())?;
        w.u64(u64::from(self.shared.latency.load(Ordering::Relaxed)))?;
        Ok(())
    }

    /// Restores `gain` and `latency`; a new latency while active requests a
    /// restart.
    #[allow(clippy::cast_precision_loss)]
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut r = StateReader::new(input, STATE_TAG)?;
        let db = r.f64()?;
        let latency = r.u64()?;
        self.shared.set_gain_db(db);
        self.shared.set_latency(latency as f64);
        tell_values_changed(&self.host);
        Ok(())
    }
}
