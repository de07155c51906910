//! `Stagerack Crash On Note` (`org.stagerack.test.crash-on-note`): an
//! instrument that sounds all the time (a sine of amplitude 0.25 at
//! 48000/128 = 375 Hz at 48 kHz, its phase counted in frames since
//! activation) and goes wrong inside `process` when it gets a note-on of a
//! trigger key, for the host's sandbox:
//!
//! - key 1: writes through a null pointer (SIGSEGV);
//! - key 2: `abort()` (SIGABRT);
//! - key 3: never returns (hangs in a sleep loop);
//! - key 4: arms a crash (SIGSEGV) in its next state save, on the main
//!   thread.
//!
//! Any other note-on is counted; the count is its whole state (8 bytes,
//! u64 little-endian), so a host can tell which state it restored. Bundled apart (`target/bundles/clap-unsafe/`),
//! like every plugin that can take its process down.

use super::common::{write_note_port, write_stereo_port};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::note_ports::{NotePortInfoWriter, PluginNotePorts, PluginNotePortsImpl};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
/// The key whose note-on makes the next state save segfault.
pub const KEY_ARM_SAVE_CRASH: u8 = 4;
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

/// What both halves share: the note count and the armed save crash.
pub struct CrashShared {
    notes: AtomicU64,
    crash_on_save: AtomicBool,
}

impl PluginShared<'_> for CrashShared {}

/// Main-thread half.
pub struct CrashMainThread<'a> {
    shared: &'a CrashShared,
}

impl<'a> PluginMainThread<'a, CrashShared> for CrashMainThread<'a> {}

/// Audio-thread half: frames since activation.
pub struct CrashAudio<'a> {
    frames: u64,
    shared: &'a CrashShared,
}

impl Plugin for CrashOnNote {
    type AudioProcessor<'a> = CrashAudio<'a>;
    type Shared<'a> = CrashShared;
    type MainThread<'a> = CrashMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&CrashShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>()
            .register::<PluginState>();
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

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<CrashShared, PluginError> {
        Ok(CrashShared {
            notes: AtomicU64::new(0),
            crash_on_save: AtomicBool::new(false),
        })
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        shared: &'a CrashShared,
    ) -> Result<CrashMainThread<'a>, PluginError> {
        Ok(CrashMainThread { shared })
    }
}

fn segfault() {
    // SAFETY: none: this write through a null pointer is the crash the
    // test wants (SIGSEGV).
    unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>(), 1) };
}

/// Goes wrong the way `key` asks (see the module docs), or counts the
/// note. Audio thread.
fn misbehave(key: u8, shared: &CrashShared) {
    match key {
        KEY_SEGFAULT => segfault(),
        KEY_ABORT => std::process::abort(),
        KEY_HANG => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        KEY_ARM_SAVE_CRASH => shared.crash_on_save.store(true, Ordering::Relaxed),
        _ => {
            shared.notes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> PluginAudioProcessor<'a, CrashShared, CrashMainThread<'a>> for CrashAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &CrashMainThread<'a>,
        shared: &'a CrashShared,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self { frames: 0, shared })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
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
                misbehave(key, self.shared);
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

impl PluginStateImpl for CrashMainThread<'_> {
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        if self.shared.crash_on_save.load(Ordering::Relaxed) {
            segfault();
        }
        output
            .write_all(&self.shared.notes.load(Ordering::Relaxed).to_le_bytes())
            .map_err(|_| PluginError::Message("crash-on-note: cannot write its state"))
    }

    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut bytes = [0u8; 8];
        input
            .read_exact(&mut bytes)
            .map_err(|_| PluginError::Message("crash-on-note: its state is 8 bytes"))?;
        self.shared
            .notes
            .store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        Ok(())
    }
}

impl PluginAudioPortsImpl for CrashMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(!is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut AudioPortInfoWriter) {
        if !is_input && index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginNotePortsImpl for CrashMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if is_input && index == 0 {
            write_note_port(writer);
        }
    }
}
