//! Why a VST3 plugin could not be found, loaded or started.

use std::path::PathBuf;

use stagerack_core::plugin::PluginError;

/// Why a VST3 plugin could not be found, loaded or started. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum Vst3Error {
    /// The bundle folder does not exist.
    #[error("VST3 bundle {} does not exist; fix the plugin's `path` in the preset or install the plugin", bundle.display())]
    MissingBundle {
        /// The bundle looked for.
        bundle: PathBuf,
    },
    /// The bundle has no binary for this platform.
    #[error("VST3 bundle {} has no binary for this platform (expected {}); install the plugin's build for this system", bundle.display(), expected.display())]
    NoBinary {
        /// The bundle.
        bundle: PathBuf,
        /// Where the binary should be.
        expected: PathBuf,
    },
    /// The binary could not be opened or its entry function failed.
    #[error("cannot open VST3 bundle {}: {reason}; reinstall the plugin", bundle.display())]
    Open {
        /// The bundle.
        bundle: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The binary exports no `GetPluginFactory`, or it returned null.
    #[error("VST3 bundle {} has no plugin factory (GetPluginFactory missing or null); it is not a VST3 plugin", bundle.display())]
    NoFactory {
        /// The bundle.
        bundle: PathBuf,
    },
    /// No bundle searched has the class.
    #[error("VST3 class {id}{} was not found in {searched}; install the plugin, set the preset's `path`, or add its folder to VST3_PATH", name.as_ref().map(|n| format!(" (`{n}`)")).unwrap_or_default())]
    ClassNotFound {
        /// The class id asked for.
        id: String,
        /// The preset's display name, if any.
        name: Option<String>,
        /// What was searched.
        searched: String,
    },
    /// The scanner blacklisted the bundle (it crashed, hung or failed when
    /// opened in a child process); it is not loaded in the host.
    #[error("VST3 plugin `{id}`: {} is blacklisted by `stagerack scan` ({reason}); it is not loaded, so it cannot take the show down. Update or remove it, then run `stagerack scan --rescan`", bundle.display())]
    Blacklisted {
        /// The bundle.
        bundle: PathBuf,
        /// The class id asked for.
        id: String,
        /// Why the scanner blacklisted it.
        reason: String,
    },
    /// The id is not 32 hex digits.
    #[error("VST3 id `{id}` must be the class id as 32 hex digits (see `stagerack scan --json`)")]
    BadId {
        /// The id given.
        id: String,
    },
    /// This platform cannot load the bundle.
    #[error("cannot load VST3 bundle {} on this platform: {reason}", bundle.display())]
    Unsupported {
        /// The bundle.
        bundle: PathBuf,
        /// Why.
        reason: String,
    },
    /// A plugin call failed.
    #[error("VST3 plugin `{plugin}` ({}): {call} failed (result {result}); the plugin cannot run in this configuration", bundle.display())]
    Call {
        /// The plugin's name.
        plugin: String,
        /// Its bundle.
        bundle: PathBuf,
        /// The call that failed.
        call: &'static str,
        /// The plugin's result code.
        result: i32,
    },
}

impl Vst3Error {
    pub(super) fn into_plugin_error(self, plugin: String) -> PluginError {
        match self {
            Vst3Error::Call { .. } => PluginError::Activate {
                plugin,
                reason: self.to_string(),
            },
            _ => PluginError::Other {
                plugin,
                reason: self.to_string(),
            },
        }
    }
}
