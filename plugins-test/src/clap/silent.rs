//! `Stagerack Silent` (`org.stagerack.test.silent`): outputs silence, counts
//! its `process` calls and always answers `CLAP_PROCESS_SLEEP`, so a host
//! test can prove a sleeping plugin is not processed. It also implements
//! `clap.render` and keeps the last mode the host set. Both are reported in
//! its state ([`SilentReport`]); it has no parameters.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{state_words, write_note_port, write_stereo_port, StateReader, StateWriter};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::note_ports::{NotePortInfoWriter, PluginNotePorts, PluginNotePortsImpl};
use clack_extensions::render::{PluginRender, PluginRenderImpl, RenderMode};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::sync::atomic::{AtomicU64, Ordering};

/// CLAP id of the silent plugin.
pub const ID: &str = "org.stagerack.test.silent";
/// Display name of the silent plugin.
pub const NAME: &str = "Stagerack Silent";

const STATE_TAG: &[u8; 4] = b"SRZ2";

/// What the silent plugin's state reports. Any thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilentReport {
    /// How many times `process` ran.
    pub process_calls: u64,
    /// The render mode the host set: `Some(true)` offline, `Some(false)`
    /// realtime, `None` never told.
    pub offline: Option<bool>,
}

impl SilentReport {
    /// Reads a state the plugin saved; `None` for anything else. Any thread.
    pub fn from_state(state: &[u8]) -> Option<Self> {
        let [process_calls, mode] = state_words(state, STATE_TAG)?;
        Some(Self {
            process_calls,
            offline: (mode != 0).then_some(mode == 2),
        })
    }
}

/// The silent plugin type. See the module docs.
pub struct Silent;

/// The call counter, shared by the plugin's threads. Any thread.
pub struct SilentShared {
    process_calls: AtomicU64,
    /// `clap.render`'s last mode: 0 never set, 1 realtime, 2 offline.
    render_mode: AtomicU64,
}

impl PluginShared<'_> for SilentShared {}

/// The plugin's main-thread half. Main thread.
pub struct SilentMainThread<'a> {
    shared: &'a SilentShared,
}

impl<'a> PluginMainThread<'a, SilentShared> for SilentMainThread<'a> {}

/// The plugin's audio-thread half. Audio thread.
pub struct SilentAudio<'a> {
    shared: &'a SilentShared,
}

impl Plugin for Silent {
    type AudioProcessor<'a> = SilentAudio<'a>;
    type Shared<'a> = SilentShared;
    type MainThread<'a> = SilentMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&SilentShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginNotePorts>()
            .register::<PluginState>()
            .register::<PluginRender>();
    }
}

impl DefaultPluginFactory for Silent {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test plugin: silence, counts process calls, always sleeps")
            .with_features([AUDIO_EFFECT, UTILITY, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<SilentShared, PluginError> {
        Ok(SilentShared {
            process_calls: AtomicU64::new(0),
            render_mode: AtomicU64::new(0),
        })
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        shared: &'a SilentShared,
    ) -> Result<SilentMainThread<'a>, PluginError> {
        Ok(SilentMainThread { shared })
    }
}

impl<'a> PluginAudioProcessor<'a, SilentShared, SilentMainThread<'a>> for SilentAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &SilentMainThread<'a>,
        shared: &'a SilentShared,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self { shared })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        _events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        self.shared.process_calls.fetch_add(1, Ordering::Relaxed);
        for mut port in audio.output_ports() {
            if let Some(mut channels) = port.channels().ok().and_then(|c| c.into_f32()) {
                for channel in channels.iter_mut() {
                    channel.fill(0.0);
                }
            }
        }
        Ok(ProcessStatus::Sleep)
    }
}

impl PluginAudioPortsImpl for SilentMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, _is_input: bool, writer: &mut AudioPortInfoWriter) {
        if index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginNotePortsImpl for SilentMainThread<'_> {
    fn count(&self, is_input: bool) -> u32 {
        u32::from(is_input)
    }

    fn get(&self, index: u32, is_input: bool, writer: &mut NotePortInfoWriter) {
        if is_input && index == 0 {
            write_note_port(writer);
        }
    }
}

impl PluginRenderImpl for SilentMainThread<'_> {
    fn has_hard_realtime_requirement(&self) -> bool {
        false
    }

    fn set(&self, mode: RenderMode) -> Result<(), PluginError> {
        let v = match mode {
            RenderMode::Offline => 2,
            _ => 1,
        };
        self.shared.render_mode.store(v, Ordering::Relaxed);
        Ok(())
    }
}

impl PluginStateImpl for SilentMainThread<'_> {
    /// Saves this instance's report: process calls and render mode (tag
    /// `SRZ2`; read with [`SilentReport::from_state`]).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let mut w = StateWriter::new(output, STATE_TAG)?;
        w.u64(self.shared.process_calls.load(Ordering::Relaxed))?;
        w.u64(self.shared.render_mode.load(Ordering::Relaxed))?;
        Ok(())
    }

    /// Checks the state is this plugin's; the report describes the
    /// instance that saved it and is not restored.
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut r = StateReader::new(input, STATE_TAG)?;
        let _calls = r.u64()?;
        let _mode = r.u64()?;
        Ok(())
    }
}
