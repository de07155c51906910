//! `Stagerack Two Out` (`org.stagerack.test.two-out`): an instrument with
//! two stereo output ports, "main" (id 0) and "Kick" (id 1), as a drum
//! sampler with separate outputs has, so hosts can prove each port is
//! routed on its own.
//!
//! - Every note-on except key [`KICK_KEY`]: an impulse on port "main" at
//!   the note's exact sample, `velocity` on the left channel and
//!   `velocity / 2` on the right.
//! - A note-on of key [`KICK_KEY`]: a decaying tone on port "Kick" from the
//!   note's sample on, [`kick_sample`]`(velocity, k)` on the left and half
//!   that on the right at frame `k` after it, for [`KICK_FRAMES`] frames (a
//!   new kick restarts it). The main port stays silent, so a host that
//!   lets it sleep while only its main output is quiet cuts the kick.
//!
//! It answers `CLAP_PROCESS_CONTINUE_IF_NOT_QUIET`. No parameters, no
//! state. See `plugins-test/README.md` for the contract host tests rely on.

use super::common::{write_note_port, write_stereo_port};
use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfo, AudioPortInfoWriter, AudioPortType, PluginAudioPorts,
    PluginAudioPortsImpl,
};
use clack_extensions::note_ports::{NotePortInfoWriter, PluginNotePorts, PluginNotePortsImpl};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;

/// CLAP id of the two-output instrument.
pub const ID: &str = "org.stagerack.test.two-out";
/// Display name of the two-output instrument.
pub const NAME: &str = "Stagerack Two Out";
/// The name of its second output port.
pub const KICK_PORT: &str = "Kick";
/// The key that plays on the "Kick" port (C1, the General MIDI kick).
pub const KICK_KEY: u8 = 36;
/// How long a kick lasts, in frames.
pub const KICK_FRAMES: u32 = 4800;

/// The kick's left channel `k` frames after its note-on of `velocity`
/// (0..1): `velocity × 0.999^k` for `k < KICK_FRAMES`, else 0; the right
/// channel is half of it. What a test computes. Any thread.
pub fn kick_sample(velocity: f32, k: u32) -> f32 {
    if k >= KICK_FRAMES {
        return 0.0;
    }
    velocity * 0.999f32.powi(k as i32)
}

/// The plugin type. See the module docs.
pub struct TwoOut;

/// Nothing shared. Any thread.
pub struct TwoOutShared;

impl PluginShared<'_> for TwoOutShared {}

/// Its main-thread half. Main thread.
pub struct TwoOutMainThread;

impl<'a> PluginMainThread<'a, TwoOutShared> for TwoOutMainThread {}

/// Its audio-thread half: the kick sounding, if any. Audio thread.
pub struct TwoOutAudio {
    /// The sounding kick's velocity and frames since its note-on.
    kick: Option<(f32, u32)>,
}

impl Plugin for TwoOut {
    type AudioProcessor<'a> = TwoOutAudio;
    type Shared<'a> = TwoOutShared;
    type MainThread<'a> = TwoOutMainThread;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&TwoOutShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>();
    }
}

impl DefaultPluginFactory for TwoOut {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test plugin: impulses on its main port, a kick on its second")
            .with_features([INSTRUMENT, DRUM, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<TwoOutShared, PluginError> {
        Ok(TwoOutShared)
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        _shared: &'a TwoOutShared,
    ) -> Result<TwoOutMainThread, PluginError> {
        Ok(TwoOutMainThread)
    }
}

/// A note-on's key and velocity (CLAP note-on, or MIDI `0x9n` with
/// velocity > 0). Audio thread.
fn note_on(event: &UnknownEvent) -> Option<(u8, f32)> {
    match event.as_core_event()? {
        CoreEventSpace::NoteOn(e) => {
            let key = e.key().into_specific()?;
            Some((u8::try_from(key).ok()?, e.velocity() as f32))
        }
        CoreEventSpace::Midi(e) => {
            let [status, key, velocity] = e.data();
            (status & 0xF0 == 0x90 && velocity > 0).then(|| (key, f32::from(velocity) / 127.0))
        }
        _ => None,
    }
}

impl TwoOutAudio {
    /// Writes the sounding kick into `left`/`right` from frame `from` to
    /// `to`. Audio thread.
    fn play_kick(&mut self, left: &mut [f32], right: &mut [f32], from: usize, to: usize) {
        let Some((velocity, k)) = self.kick.as_mut() else {
            return;
        };
        for i in from..to {
            let x = kick_sample(*velocity, *k);
            left[i] += x;
            right[i] += x * 0.5;
            *k = k.saturating_add(1);
        }
        if *k >= KICK_FRAMES {
            self.kick = None;
        }
    }
}

impl<'a> PluginAudioProcessor<'a, TwoOutShared, TwoOutMainThread> for TwoOutAudio {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &TwoOutMainThread,
        _shared: &'a TwoOutShared,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self { kick: None })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        let frames = audio.frames_count() as usize;
        // Both ports' channels, zeroed: [main L, main R, kick L, kick R].
        let mut ports = audio.output_ports();
        let mut main = ports
            .next()
            .and_then(|mut p| p.channels().ok()?.into_f32())
            .ok_or(PluginError::Message("two-out: no main output port"))?;
        let mut kick = ports
            .next()
            .and_then(|mut p| p.channels().ok()?.into_f32())
            .ok_or(PluginError::Message("two-out: no Kick output port"))?;
        let mut main = main.iter_mut();
        let (Some(main_l), Some(main_r)) = (main.next(), main.next()) else {
            return Err(PluginError::Message("two-out: the main port is not stereo"));
        };
        let mut kick = kick.iter_mut();
        let (Some(kick_l), Some(kick_r)) = (kick.next(), kick.next()) else {
            return Err(PluginError::Message("two-out: the Kick port is not stereo"));
        };
        for channel in [&mut *main_l, &mut *main_r, &mut *kick_l, &mut *kick_r] {
            channel[..frames].fill(0.0);
        }
        let mut at = 0;
        for event in events.input {
            let Some((key, velocity)) = note_on(event) else {
                continue;
            };
            if frames == 0 {
                continue;
            }
            // Events are due inside the block; a late one lands on the last frame.
            let t = (event.header().time() as usize).min(frames - 1);
            if key == KICK_KEY {
                self.play_kick(kick_l, kick_r, at, t);
                at = t;
                self.kick = Some((velocity, 0));
            } else {
                main_l[t] += velocity;
                main_r[t] += velocity * 0.5;
            }
        }
        self.play_kick(kick_l, kick_r, at, frames);
        Ok(ProcessStatus::ContinueIfNotQuiet)
    }
}

impl PluginAudioPortsImpl for TwoOutMainThread {
    fn count(&self, is_input: bool) -> u32 {
        if is_input {
            0
        } else {
            2
        }
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        match (is_input, index) {
            (false, 0) => write_stereo_port(writer),
            (false, 1) => writer.set(&AudioPortInfo {
                id: ClapId::new(1),
                name: KICK_PORT.as_bytes(),
                channel_count: 2,
                flags: AudioPortFlags::empty(),
                port_type: Some(AudioPortType::STEREO),
                in_place_pair: None,
            }),
            _ => {}
        }
    }
}

impl PluginNotePortsImpl for TwoOutMainThread {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if is_input && index == 0 {
            write_note_port(writer);
        }
    }
}
