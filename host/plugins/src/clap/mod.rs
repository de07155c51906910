//! CLAP hosting through clack-host. All CLAP FFI of stagerack lives in this
//! folder.
//!
//! Lifecycle of one plugin, following clack's typestate:
//!
//! 1. **Load** (main thread): [`find_plugin`] searches the preset's path
//!    hint, then `CLAP_PATH` and the standard folders, for a `.clap` file
//!    whose factory has the id; [`ClapInstance::load`] instantiates it
//!    (clack `PluginEntry::load` + `PluginInstance::new`, which calls the
//!    plugin's `init`).
//! 2. **Activate** (main thread): [`PluginInstance::activate`] gives a
//!    boxed [`ClapProcessor`] wrapping clack's `StoppedPluginAudioProcessor`
//!    with every buffer preallocated.
//! 3. **Process** (audio thread): the first `process` call starts
//!    processing; events and audio go through preallocated buffers.
//! 4. **Stop** (audio thread): `AudioProcessor::stop` → `stop_processing`.
//! 5. **Deactivate** (main thread): [`PluginInstance::deactivate`] downcasts
//!    the processor back and hands clack's stopped processor to
//!    `deactivate`.
//!
//! Each instance's state ([`ClapState`]) is an atomic in its [`ClapShared`].
//! The host callbacks (log, thread-check, params, state, latency, tail,
//! ports, timers, fds) are in `host.rs`.
//!
//! [`PluginInstance::activate`]: stagerack_core::plugin::PluginInstance::activate
//! [`PluginInstance::deactivate`]: stagerack_core::plugin::PluginInstance::deactivate

mod context;
mod host;
mod instance;
mod presets;
mod processor;

use std::ffi::CString;
use std::path::{Path, PathBuf};

use clack_host::prelude::PluginEntry;

pub use host::{ClapShared, ClapState};
pub use instance::ClapInstance;
pub use processor::ClapProcessor;

use stagerack_core::plugin::{PluginDescriptor, PluginFormat, PluginKind};

/// Why a CLAP plugin could not be found, loaded or started. Each names the
/// file and the plugin, and says what to do. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum ClapError {
    /// The scanner blacklisted the file (it crashed, hung or failed when
    /// opened in a child process); it is not loaded in the host.
    #[error("CLAP plugin `{id}`: {} is blacklisted by `stagerack scan` ({reason}); it is not loaded, so it cannot take the show down. Update or remove it, then run `stagerack scan --rescan`", path.display())]
    Blacklisted {
        /// The file.
        path: PathBuf,
        /// The plugin id.
        id: String,
        /// What happened when it was scanned.
        reason: String,
    },
    /// The preset's path hint names no file, and the id is nowhere else.
    #[error("CLAP plugin `{id}`: the file {} does not exist and no other CLAP file in {} has this id; install the plugin or fix the `path` in the preset", path.display(), searched)]
    FileMissing {
        /// The path hint.
        path: PathBuf,
        /// The plugin id.
        id: String,
        /// The folders searched, joined.
        searched: String,
    },
    /// No CLAP file in the search path has the id.
    #[error("CLAP plugin `{id}` was not found in {searched}; install it, set CLAP_PATH, or add a `path` to the preset")]
    NotFound {
        /// The plugin id.
        id: String,
        /// The folders searched, joined.
        searched: String,
    },
    /// The file is not a loadable CLAP binary.
    #[error("{} is not a CLAP plugin file ({reason}); point the preset's `path` at a .clap file", path.display())]
    NotClap {
        /// The file.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// The file loads but has no plugin factory.
    #[error("{} has no CLAP plugin factory; it is not a usable CLAP plugin", path.display())]
    NoFactory {
        /// The file.
        path: PathBuf,
    },
    /// The file has no plugin with this id.
    #[error("{} has no CLAP plugin with id `{id}` (it has: {available}); fix the `id` in the preset (`stagerack scan` lists ids)", path.display())]
    IdNotInFile {
        /// The file.
        path: PathBuf,
        /// The id asked for.
        id: String,
        /// The ids the file has, joined.
        available: String,
    },
    /// The plugin's `create_plugin` or `init` failed.
    #[error("CLAP plugin `{id}` in {} failed to initialise ({reason}); the plugin may need a missing resource or licence", path.display())]
    Init {
        /// The file.
        path: PathBuf,
        /// The plugin id.
        id: String,
        /// What clack reported.
        reason: String,
    },
    /// The plugin's `activate` failed.
    #[error("CLAP plugin `{id}` in {} refused to activate at {rate} Hz, blocks {min}..={max} frames ({reason})", path.display())]
    Activate {
        /// The file.
        path: PathBuf,
        /// The plugin id.
        id: String,
        /// Sample rate asked for.
        rate: f64,
        /// Shortest block.
        min: u32,
        /// Longest block.
        max: u32,
        /// What clack reported.
        reason: String,
    },
}

impl From<ClapError> for stagerack_core::plugin::PluginError {
    fn from(e: ClapError) -> Self {
        Self::Format(Box::new(e))
    }
}

/// The folders searched for `.clap` files (see
/// [`crate::discovery::search_paths`]). Main thread.
pub fn search_paths() -> Vec<PathBuf> {
    crate::discovery::search_paths(PluginFormat::Clap)
}

fn join_paths(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "(no folders)".to_owned();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads a CLAP file's entry (cached by clack per path). Main thread.
pub(crate) fn load_entry(path: &Path) -> Result<PluginEntry, ClapError> {
    if !path.exists() {
        return Err(ClapError::NotClap {
            path: path.to_owned(),
            reason: "no such file".into(),
        });
    }
    // SAFETY: loading a plugin runs its library initialisers and its
    // `clap_entry.init`; that is what hosting a plugin means. The file was
    // chosen by the user (preset, CLAP_PATH or a standard folder).
    unsafe { PluginEntry::load(path) }.map_err(|e| ClapError::NotClap {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn kind_from_features<'a>(features: impl Iterator<Item = &'a std::ffi::CStr>) -> PluginKind {
    let mut kind = PluginKind::Effect;
    for f in features {
        if f.to_bytes() == b"instrument" {
            kind = PluginKind::Instrument;
        }
    }
    kind
}

/// Every plugin in a CLAP file's factory. Main thread.
pub fn list_plugins(path: &Path) -> Result<Vec<PluginDescriptor>, ClapError> {
    let entry = load_entry(path)?;
    descriptors(&entry, path)
}

pub(crate) fn descriptors(
    entry: &PluginEntry,
    path: &Path,
) -> Result<Vec<PluginDescriptor>, ClapError> {
    let factory = entry
        .get_plugin_factory()
        .ok_or_else(|| ClapError::NoFactory {
            path: path.to_owned(),
        })?;
    let mut out = Vec::new();
    for d in factory.plugin_descriptors() {
        let Some(id) = d.id() else { continue };
        let text = |s: Option<&std::ffi::CStr>| {
            s.map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        out.push(PluginDescriptor {
            format: PluginFormat::Clap,
            id: id.to_string_lossy().into_owned(),
            name: text(d.name()),
            vendor: text(d.vendor()),
            kind: kind_from_features(d.features()),
            path: Some(path.to_owned()),
        });
    }
    Ok(out)
}

/// A plugin found on disk: its file, the loaded entry, its descriptor.
pub struct FoundPlugin {
    /// The `.clap` file.
    pub path: PathBuf,
    /// The loaded library's entry (keeps it loaded).
    pub entry: PluginEntry,
    /// Who the plugin is.
    pub descriptor: PluginDescriptor,
}

impl std::fmt::Debug for FoundPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoundPlugin")
            .field("path", &self.path)
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

/// Finds the file holding plugin `id`: the `hint` first, then
/// [`search_paths`]. Main thread.
pub fn find_plugin(id: &str, hint: Option<&Path>) -> Result<FoundPlugin, ClapError> {
    find_plugin_in(id, hint, &search_paths())
}

/// [`find_plugin`] with an explicit folder list. Main thread.
pub fn find_plugin_in(
    id: &str,
    hint: Option<&Path>,
    dirs: &[PathBuf],
) -> Result<FoundPlugin, ClapError> {
    // The hint: if it exists, it must be a CLAP file; if it lacks the id,
    // the search continues and this error is reported when nothing else
    // has it either.
    let mut hint_error = None;
    let cache = crate::discovery::cache::ScanCache::load();
    if let Some(h) = hint {
        if let Some(reason) = cache.blacklisted(h) {
            return Err(ClapError::Blacklisted {
                path: h.to_owned(),
                id: id.to_owned(),
                reason: reason.to_owned(),
            });
        }
        if h.exists() {
            let entry = load_entry(h)?;
            let list = descriptors(&entry, h)?;
            if let Some(d) = list.iter().find(|d| d.id == id) {
                return Ok(FoundPlugin {
                    path: h.to_owned(),
                    entry,
                    descriptor: d.clone(),
                });
            }
            hint_error = Some(ClapError::IdNotInFile {
                path: h.to_owned(),
                id: id.to_owned(),
                available: if list.is_empty() {
                    "no plugins".to_owned()
                } else {
                    list.iter()
                        .map(|d| d.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        } else {
            hint_error = Some(ClapError::FileMissing {
                path: h.to_owned(),
                id: id.to_owned(),
                searched: join_paths(dirs),
            });
        }
    }
    for dir in dirs {
        for file in crate::discovery::files_in(PluginFormat::Clap, dir) {
            if hint.is_some_and(|h| h == file) || cache.blacklisted(&file).is_some() {
                continue;
            }
            let Ok(entry) = load_entry(&file) else {
                continue;
            };
            let Ok(list) = descriptors(&entry, &file) else {
                continue;
            };
            if let Some(d) = list.into_iter().find(|d| d.id == id) {
                return Ok(FoundPlugin {
                    path: file,
                    entry,
                    descriptor: d,
                });
            }
        }
    }
    Err(hint_error.unwrap_or_else(|| ClapError::NotFound {
        id: id.to_owned(),
        searched: join_paths(dirs),
    }))
}

/// Loads and instantiates the plugin a preset entry names. Main thread.
pub fn load(id: &str, hint: Option<&Path>) -> Result<ClapInstance, ClapError> {
    let found = find_plugin(id, hint)?;
    ClapInstance::new(found.entry, found.descriptor, &found.path)
}

/// A C string for an id (ids with NUL bytes cannot exist in a factory).
pub(crate) fn c_id(id: &str, path: &Path) -> Result<CString, ClapError> {
    CString::new(id).map_err(|_| ClapError::IdNotInFile {
        path: path.to_owned(),
        id: id.to_owned(),
        available: "(an id cannot contain a NUL byte)".to_owned(),
    })
}
