//! Turning a preset's plugin reference into a live instance. Main thread.

use super::{builtin, PluginError, PluginFormat, PluginInstance};
use crate::preset::PluginDef;

/// Creates the instance a preset entry names (not yet activated). Main thread.
pub fn load_plugin(def: &PluginDef) -> Result<Box<dyn PluginInstance>, PluginError> {
    match def.format {
        PluginFormat::Builtin => Ok(Box::new(builtin::instantiate(&def.id)?)),
        PluginFormat::Vst3 => super::vst3::load_boxed(def),
        PluginFormat::Clap => Err(PluginError::Other {
            plugin: def.label(),
            reason: format!(
                "{} plugins are not supported by this build yet; the rack plays without it",
                def.format
            ),
        }),
    }
}
