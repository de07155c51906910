//! CLAP factory presets: the plugin's preset-discovery providers (in its
//! entry's `clap.preset-discovery-factory`) are asked which presets they
//! hold for this plugin, inside the plugin and in the folders they declare,
//! and `preset-load` loads one by its location and load key. Written over
//! clack's provider API; the folder walk (files with the declared
//! extensions, one level deep, sorted) is ours. Main thread.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use clack_extensions::preset_discovery::prelude::*;
use clack_host::prelude::{HostError, HostInfo, PluginEntry};

/// Files read from one declared folder, at most (a plugin pointing at a
/// huge folder must not stall the load).
const MAX_FILES: usize = 1024;

/// One preset a provider offered for this plugin. Main thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FactoryPreset {
    /// Its name, as the provider gave it.
    pub name: String,
    /// A file, or `None` for a preset inside the plugin.
    pub file: Option<CString>,
    /// The key within its location, if the provider gave one.
    pub load_key: Option<CString>,
}

impl FactoryPreset {
    /// Its location as CLAP names it. Main thread.
    pub(crate) fn location(&self) -> Location<'_> {
        match &self.file {
            Some(path) => Location::File { path },
            None => Location::Plugin,
        }
    }
}

/// Every preset the entry's providers offer for plugin `plugin_id`, in the
/// providers' order, each location's presets in the order given. Nothing
/// when the entry has no preset-discovery factory or a provider fails.
/// Main thread.
pub(crate) fn discover(
    entry: &PluginEntry,
    plugin_id: &str,
    host: &HostInfo,
) -> Vec<FactoryPreset> {
    let Some(factory) = entry.get_factory::<PresetDiscoveryFactory>() else {
        return Vec::new();
    };
    let ids: Vec<CString> = factory
        .provider_descriptors()
        .filter_map(|d| d.id().map(CStr::to_owned))
        .collect();
    let mut presets = Vec::new();
    for id in ids {
        let mut provider = match Provider::instantiate(Declared::default(), entry, &id, host) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("{plugin_id}: its preset provider {id:?} failed to start: {e}");
                continue;
            }
        };
        let declared = provider.indexer().clone();
        let mut receiver = Received::new(plugin_id);
        for location in &declared.locations {
            match location {
                None => provider.get_metadata(Location::Plugin, &mut receiver),
                Some(dir) => {
                    for file in files_in(dir, &declared.extensions) {
                        receiver.file = Some(file);
                        let path = receiver.file.clone().expect("just set");
                        provider.get_metadata(Location::File { path: &path }, &mut receiver);
                    }
                    receiver.file = None;
                }
            }
        }
        receiver.finish();
        presets.extend(receiver.presets);
    }
    presets
}

/// The files of folder `dir` whose extension is one of `extensions` (any
/// file when none was declared), sorted, as C paths.
fn files_in(dir: &CStr, extensions: &[String]) -> Vec<CString> {
    let Ok(dir) = dir.to_str() else {
        return Vec::new();
    };
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            extensions.is_empty()
                || p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
        })
        .take(MAX_FILES)
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| CString::new(p.into_os_string().into_encoded_bytes()).ok())
        .collect()
}

/// What a provider declared when it started: its locations (`None`: inside
/// the plugin, else a folder or file path) and file extensions.
#[derive(Clone, Default)]
struct Declared {
    locations: Vec<Option<CString>>,
    extensions: Vec<String>,
}

impl IndexerImpl for Declared {
    fn declare_filetype(&mut self, file_type: FileType) -> Result<(), HostError> {
        if let Some(ext) = file_type.file_extension.and_then(|e| e.to_str().ok()) {
            self.extensions.push(ext.trim_start_matches('.').to_owned());
        }
        Ok(())
    }

    fn declare_location(&mut self, location: LocationInfo) -> Result<(), HostError> {
        self.locations.push(match location.location {
            Location::Plugin => None,
            Location::File { path } => Some(path.to_owned()),
        });
        Ok(())
    }

    fn declare_soundpack(&mut self, _soundpack: Soundpack) -> Result<(), HostError> {
        Ok(())
    }
}

/// Collects the presets of one location that name this plugin.
struct Received {
    plugin_id: String,
    /// The file being read (`None`: the plugin location).
    file: Option<CString>,
    /// The preset being described: it counts once it names this plugin.
    current: Option<(FactoryPreset, bool)>,
    presets: Vec<FactoryPreset>,
}

impl Received {
    fn new(plugin_id: &str) -> Self {
        Self {
            plugin_id: plugin_id.to_owned(),
            file: None,
            current: None,
            presets: Vec::new(),
        }
    }

    /// Keeps the preset being described if it named this plugin.
    fn finish(&mut self) {
        if let Some((preset, ours)) = self.current.take() {
            if ours {
                self.presets.push(preset);
            }
        }
    }
}

impl MetadataReceiverImpl for Received {
    fn on_error(&mut self, error_code: i32, error_message: Option<&CStr>) {
        tracing::warn!(
            "{}: its preset provider could not read {}: {} (code {error_code})",
            self.plugin_id,
            self.file
                .as_ref()
                .map_or_else(|| "its own presets".into(), |f| f.to_string_lossy()),
            error_message.map_or_else(|| "no reason given".into(), CStr::to_string_lossy),
        );
    }

    fn begin_preset(
        &mut self,
        name: Option<&CStr>,
        load_key: Option<&CStr>,
    ) -> Result<(), HostError> {
        self.finish();
        let name = name.map(|n| n.to_string_lossy().into_owned()).or_else(|| {
            // A file's preset may go unnamed: its file's stem names it.
            let file = self.file.as_ref()?.to_str().ok()?;
            Some(std::path::Path::new(file).file_stem()?.to_str()?.to_owned())
        });
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(HostError::Message("a preset needs a name"));
        };
        self.current = Some((
            FactoryPreset {
                name,
                file: self.file.clone(),
                load_key: load_key.map(CStr::to_owned),
            },
            false,
        ));
        Ok(())
    }

    fn add_plugin_id(&mut self, plugin_id: UniversalPluginId) {
        if let Some((_, ours)) = &mut self.current {
            *ours |=
                plugin_id.abi == c"clap" && plugin_id.id.to_bytes() == self.plugin_id.as_bytes();
        }
    }

    fn set_soundpack_id(&mut self, _soundpack_id: &CStr) {}

    fn set_flags(&mut self, _flags: Flags) {}

    fn add_creator(&mut self, _creator: &CStr) {}

    fn set_description(&mut self, _description: &CStr) {}

    fn set_timestamps(&mut self, _creation: Option<Timestamp>, _modification: Option<Timestamp>) {}

    fn add_feature(&mut self, _feature: &CStr) {}

    fn add_extra_info(&mut self, _key: &CStr, _value: &CStr) {}
}
