//! `Stagerack Silent` (`org.stagerack.test.silent`): outputs silence, counts
//! its `process` calls and always answers `CLAP_PROCESS_SLEEP`, so a host
//! test can prove a sleeping plugin is not processed. It also implements
//! `clap.render` and shows the last mode the host set (read-only param
//! `render_offline`: 1 offline, 0 realtime, -1 never told).
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{count_as_value, write_note_port, write_stereo_port};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::note_ports::{NotePortInfoWriter, PluginNotePorts, PluginNotePortsImpl};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::render::{PluginRender, PluginRenderImpl, RenderMode};
use clack_plugin::prelude::*;
use std::ffi::CStr;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// CLAP id of the silent plugin.
pub const ID: &str = "org.stagerack.test.silent";
/// Display name of the silent plugin.
pub const NAME: &str = "Stagerack Silent";

/// Read-only param `process_calls`: how many times `process` ran.
pub const PARAM_PROCESS_CALLS: ClapId = ClapId::new(0);

/// Read-only param `render_offline`: the render mode the host set.
pub const PARAM_RENDER_OFFLINE: ClapId = ClapId::new(1);

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
            .register::<PluginParams>()
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

impl PluginAudioProcessorParams for SilentAudio<'_> {
    fn flush(&mut self, _input: &InputEvents, _output: &mut OutputEvents) {}
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

impl PluginMainThreadParams for SilentMainThread<'_> {
    fn count(&self) -> u32 {
        2
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        if param_index == 1 {
            info.set(&ParamInfo {
                id: PARAM_RENDER_OFFLINE,
                flags: ParamInfoFlags::IS_READONLY | ParamInfoFlags::IS_STEPPED,
                cookie: Default::default(),
                name: b"render_offline",
                module: b"",
                min_value: -1.0,
                max_value: 1.0,
                default_value: -1.0,
            });
        }
        if param_index == 0 {
            info.set(&ParamInfo {
                id: PARAM_PROCESS_CALLS,
                flags: ParamInfoFlags::IS_READONLY | ParamInfoFlags::IS_STEPPED,
                cookie: Default::default(),
                name: b"process_calls",
                module: b"",
                min_value: 0.0,
                max_value: 1.0e12,
                default_value: 0.0,
            });
        }
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        if param_id == PARAM_RENDER_OFFLINE {
            return Some(self.shared.render_mode.load(Ordering::Relaxed) as f64 - 1.0);
        }
        (param_id == PARAM_PROCESS_CALLS)
            .then(|| count_as_value(self.shared.process_calls.load(Ordering::Relaxed)))
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        if param_id == PARAM_PROCESS_CALLS || param_id == PARAM_RENDER_OFFLINE {
            write!(writer, "{value:.0}")
        } else {
            Err(std::fmt::Error)
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        if param_id != PARAM_PROCESS_CALLS && param_id != PARAM_RENDER_OFFLINE {
            return None;
        }
        text.to_str().ok()?.trim().parse().ok()
    }

    fn flush(&self, _input: &InputEvents, _output: &mut OutputEvents) {}
}
