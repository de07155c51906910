//! `Stagerack Crash On Note` (`org.stagerack.test.crash-on-note`): an
//! instrument that sounds all the time (a sine of amplitude 0.25 at
//! 48000/128 = 375 Hz at 48 kHz, its phase counted in frames since
//! activation) and goes wrong inside `process` when it gets a note-on of a
//! trigger key, for the host's sandbox:
//!
//! - key 1: writes through a null pointer (SIGSEGV);
//! - key 2: `abort()` (SIGABRT);
//! - key 3: never returns (hangs in a sleep loop).
//!
//! Any other note is ignored. Bundled apart (`target/bundles/clap-unsafe/`),
//! like every plugin that can take its process down.

use super::common::{write_note_port, write_stereo_port};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::note_ports::{NotePortInfoWriter, PluginNotePorts, PluginNotePortsImpl};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;

/// CLAP id.
pub const ID: &str = "org.stagerack.test.crash-on-note";
/// Display name.
pub const NAME: &str = "Stagerack Crash On Note";
/// The key whose note-on segfaults.
pub const KEY_SEGFAULT: u8 = 1;
/// The key whose note-on aborts.
pub const KEY_ABORT: u8 = 2;
/// The key whose note-on hangs.
pub const KEY_HANG: u8 = 3;
/// Frames per period of the sine.
pub const PERIOD_FRAMES: u64 = 128;
/// The sine's amplitude.
pub const AMPLITUDE: f32 = 0.25;

/// The sample the plugin puts out at `frame` frames after activation.
pub fn sample_at(frame: u64) -> f32 {
    let phase = (frame % PERIOD_FRAMES) as f32 / PERIOD_FRAMES as f32;
    AMPLITUDE * (std::f32::consts::TAU * phase).sin()
}

/// The plugin type. See the module docs.
pub struct CrashOnNote;

/// Main-thread half (stateless).
pub struct CrashMainThread;

impl<'a> PluginMainThread<'a, ()> for CrashMainThread {}

/// Audio-thread half: frames since activation.
pub struct CrashAudio {
    frames: u64,
}

impl Plugin for CrashOnNote {
    type AudioProcessor<'a> = CrashAudio;
    type Shared<'a> = ();
    type MainThread<'a> = CrashMainThread;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&()>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>();
    }
}

impl DefaultPluginFactory for CrashOnNote {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description(
                "Test instrument: a steady sine; crashes, aborts or hangs on keys 1-3",
            )
            .with_features([INSTRUMENT, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<(), PluginError> {
        Ok(())
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        _shared: &'a (),
    ) -> Result<CrashMainThread, PluginError> {
        Ok(CrashMainThread)
    }
}

/// Goes wrong the way `key` asks (see the module docs). Audio thread.
fn misbehave(key: u8) {
    match key {
        KEY_SEGFAULT => {
            // SAFETY: none: this write through a null pointer is the
            // crash the test wants (SIGSEGV).
            unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>(), 1) };
        }
        KEY_ABORT => std::process::abort(),
        KEY_HANG => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        _ => {}
    }
}

impl<'a> PluginAudioProcessor<'a, (), CrashMainThread> for CrashAudio {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &CrashMainThread,
        _shared: &'a (),
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self { frames: 0 })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        for event in events.input {
            let key = match event.as_core_event() {
                Some(CoreEventSpace::NoteOn(e)) => e.key().into_specific(),
                Some(CoreEventSpace::Midi(e)) => {
                    let [status, key, velocity] = e.data();
                    (status & 0xF0 == 0x90 && velocity > 0).then_some(u16::from(key))
                }
                _ => None,
            };
            if let Some(key) = key.and_then(|k| u8::try_from(k).ok()) {
                misbehave(key);
            }
        }
        let frames = audio.frames_count() as u64;
        let mut port = audio
            .output_port(0)
            .ok_or(PluginError::Message("crash-on-note: no output port"))?;
        let mut channels = port
            .channels()
            .map_err(|_| PluginError::Message("crash-on-note: bad output buffer"))?
            .into_f32()
            .ok_or(PluginError::Message("crash-on-note: expected f32 output"))?;
        for channel in channels.iter_mut() {
            for (i, s) in channel.iter_mut().enumerate() {
                *s = sample_at(self.frames + i as u64);
            }
        }
        self.frames += frames;
        Ok(ProcessStatus::Continue)
    }
}

impl PluginAudioPortsImpl for CrashMainThread {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(!is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        if !is_input && index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginNotePortsImpl for CrashMainThread {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if is_input && index == 0 {
            write_note_port(writer);
        }
    }
}
