//! Plugins that fail on purpose, for the host's error paths:
//!
//! - `Stagerack Bad Init` (`org.stagerack.test.bad-init`): `init` fails.
//! - `Stagerack Bad Activate` (`org.stagerack.test.bad-activate`): `init`
//!   succeeds, `activate` fails.
//!
//! Both describe themselves as stereo effects (one stereo port in and out).

use super::common::write_stereo_port;
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_plugin::prelude::*;

/// CLAP id of the plugin whose `init` fails.
pub const BAD_INIT_ID: &str = "org.stagerack.test.bad-init";
/// Display name of the plugin whose `init` fails.
pub const BAD_INIT_NAME: &str = "Stagerack Bad Init";
/// CLAP id of the plugin whose `activate` fails.
pub const BAD_ACTIVATE_ID: &str = "org.stagerack.test.bad-activate";
/// Display name of the plugin whose `activate` fails.
pub const BAD_ACTIVATE_NAME: &str = "Stagerack Bad Activate";

/// The main-thread half of both failing plugins. Main thread.
pub struct BadMainThread;

impl<'a> PluginMainThread<'a, ()> for BadMainThread {}

impl PluginAudioPortsImpl for BadMainThread {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, _is_input: bool, writer: &mut AudioPortInfoWriter) {
        if index == 0 {
            write_stereo_port(writer);
        }
    }
}

/// The audio processor of both failing plugins: it can never be created,
/// because `activate` always fails. Audio thread.
pub struct NeverActive;

impl<'a> PluginAudioProcessor<'a, (), BadMainThread> for NeverActive {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &BadMainThread,
        _shared: &'a (),
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Err(PluginError::Message(
            "Stagerack Bad Activate always fails to activate (on purpose)",
        ))
    }

    fn process(
        &mut self,
        _process: Process,
        _audio: Audio,
        _events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        Err(PluginError::Message("never active"))
    }
}

/// The plugin whose `init` fails. See the module docs.
pub struct BadInit;

impl Plugin for BadInit {
    type AudioProcessor<'a> = NeverActive;
    type Shared<'a> = ();
    type MainThread<'a> = BadMainThread;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&()>) {
        builder.register::<PluginAudioPorts>();
    }
}

impl DefaultPluginFactory for BadInit {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(BAD_INIT_ID, BAD_INIT_NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test plugin: init always fails")
            .with_features([AUDIO_EFFECT, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<(), PluginError> {
        Err(PluginError::Message(
            "Stagerack Bad Init always fails to initialize (on purpose)",
        ))
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        _shared: &'a (),
    ) -> Result<BadMainThread, PluginError> {
        Ok(BadMainThread)
    }
}

/// The plugin whose `activate` fails. See the module docs.
pub struct BadActivate;

impl Plugin for BadActivate {
    type AudioProcessor<'a> = NeverActive;
    type Shared<'a> = ();
    type MainThread<'a> = BadMainThread;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&()>) {
        builder.register::<PluginAudioPorts>();
    }
}

impl DefaultPluginFactory for BadActivate {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(BAD_ACTIVATE_ID, BAD_ACTIVATE_NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test plugin: activate always fails")
            .with_features([AUDIO_EFFECT, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<(), PluginError> {
        Ok(())
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        _shared: &'a (),
    ) -> Result<BadMainThread, PluginError> {
        Ok(BadMainThread)
    }
}
