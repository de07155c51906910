//! Turning a preset's plugin reference into a live instance. Main thread.

use crate::builtin;
use crate::def::PluginDef;
use stagerack_core::plugin::{PluginError, PluginFormat, PluginInstance};

/// Creates the instance a preset entry names (not yet activated). Main thread.
pub fn load_plugin(def: &PluginDef) -> Result<Box<dyn PluginInstance>, PluginError> {
    match def.format {
        PluginFormat::Builtin => Ok(Box::new(builtin::instantiate_def(def)?)),
        PluginFormat::Clap => Ok(Box::new(crate::clap::load(&def.id, def.path.as_deref())?)),
        PluginFormat::Vst3 => crate::vst3::load_boxed(def),
    }
}
