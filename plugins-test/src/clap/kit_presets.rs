//! Presets of `Stagerack Kit` (`org.stagerack.test.kit`): the CLAP
//! preset-discovery factory its bundle exports next to its plugin factory
//! ([`KitEntry`]), and the parsing its `preset-load` extension shares.
//!
//! - One provider, [`PROVIDER_ID`] "Stagerack Kit presets" (vendor
//!   `stagerack`). Its `init` declares, in this order: the filetype "Kit
//!   preset" (extension `kitpreset`); the location "Factory" (kind plugin,
//!   factory content); and, only when [`PRESET_DIR_ENV`] is set and not
//!   empty when `init` runs, the location "User" (kind file, user content)
//!   at that directory path as given. If the indexer refuses a declaration,
//!   `init` fails.
//! - `get_metadata(plugin)`: [`FACTORY_PRESETS`] in order ("Soft Kit" key
//!   `soft`, "Loud Kit" `loud`, "Dark Kit" `dark`), each with the plugin id
//!   (CLAP abi) `org.stagerack.test.kit` and factory content.
//! - `get_metadata(file)`: one preset named after the file stem
//!   (`Warm.kitpreset` → "Warm"), no load key, the same plugin id, user
//!   content. A file that cannot be read or does not parse (see
//!   [`parse_preset`]) gets one `on_error` naming the path (os error 0) and
//!   no preset, and `get_metadata` returns false.
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use std::error::Error;
use std::ffi::{CStr, CString};
use std::fmt::{Display, Formatter};
use std::path::PathBuf;

use clack_extensions::preset_discovery::prelude::*;
use clack_plugin::entry::{Entry, EntryFactories, EntryLoadError, SinglePluginEntry};
use clack_plugin::prelude::PluginError;

use super::kit::Kit;

/// Id of the kit's only preset provider.
pub const PROVIDER_ID: &str = "org.stagerack.test.kit.presets";
/// Display name of the provider.
pub const PROVIDER_NAME: &str = "Stagerack Kit presets";
/// Vendor of the provider.
pub const PROVIDER_VENDOR: &str = "stagerack";
/// The environment variable naming the directory the provider declares as
/// its "User" file location (read in the provider's `init`).
pub const PRESET_DIR_ENV: &str = "STAGERACK_TEST_KIT_PRESET_DIR";
/// Name of the preset filetype the provider declares.
pub const FILETYPE_NAME: &CStr = c"Kit preset";
/// Extension (no dot) of the preset filetype the provider declares.
pub const FILE_EXTENSION: &CStr = c"kitpreset";
/// Name of the plugin-kind location holding [`FACTORY_PRESETS`].
pub const FACTORY_LOCATION_NAME: &CStr = c"Factory";
/// Name of the file-kind location at [`PRESET_DIR_ENV`].
pub const USER_LOCATION_NAME: &CStr = c"User";

/// The kit's CLAP id (as [`super::kit::ID`]), as the presets name it.
const PLUGIN_ID: &CStr = c"org.stagerack.test.kit";

/// One preset built into the kit. Any thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactoryPreset {
    /// Display name.
    pub name: &'static CStr,
    /// Load key (`preset-load` with the plugin location).
    pub load_key: &'static CStr,
    /// Value of `level` (param 0) it loads.
    pub level: f64,
    /// Value of `tone` (param 1) it loads.
    pub tone: f64,
}

/// The presets inside the kit, in the order `get_metadata` lists them.
pub const FACTORY_PRESETS: [FactoryPreset; 3] = [
    FactoryPreset {
        name: c"Soft Kit",
        load_key: c"soft",
        level: 0.3,
        tone: 0.5,
    },
    FactoryPreset {
        name: c"Loud Kit",
        load_key: c"loud",
        level: 1.0,
        tone: 0.5,
    },
    FactoryPreset {
        name: c"Dark Kit",
        load_key: c"dark",
        level: 0.8,
        tone: 0.1,
    },
];

/// The factory preset with `load_key`, if any. Any thread.
pub fn factory_preset(load_key: &CStr) -> Option<&'static FactoryPreset> {
    FACTORY_PRESETS.iter().find(|p| p.load_key == load_key)
}

/// Parses a preset file's text into `(level, tone)`: `;`-separated
/// `key=value` fields as in the kit's state text, with the text and each
/// key and value trimmed of whitespace (so a trailing newline or `;` is
/// fine). It needs a `level` and a `tone` field whose values parse as
/// finite numbers (the first of each counts); other fields are ignored.
/// Values are clamped to 0..1, as a state load does. `None` if it does not
/// parse. Any thread.
pub fn parse_preset(text: &str) -> Option<(f64, f64)> {
    let value = |key: &str| -> Option<f64> {
        let v: f64 = text
            .trim()
            .split(';')
            .filter_map(|field| field.split_once('='))
            .find(|(k, _)| k.trim() == key)?
            .1
            .trim()
            .parse()
            .ok()?;
        v.is_finite().then(|| v.clamp(0.0, 1.0))
    };
    Some((value("level")?, value("tone")?))
}

/// Why a preset could not be read: a message naming the load key or the
/// file, and the OS error (0 when none applies). Any thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetError {
    /// The OS error code (`raw_os_error`), 0 when not applicable.
    pub os_error: i32,
    /// The message, naming the load key or the file path.
    pub message: CString,
}

impl PresetError {
    fn new(os_error: i32, message: String) -> Self {
        // A message built from C strings has no NUL; drop any just in case.
        let message = CString::new(message.replace('\0', ""))
            .unwrap_or_else(|_| c"Stagerack Kit: preset error".to_owned());
        Self { os_error, message }
    }
}

impl Display for PresetError {
    fn fmt(&self, f: &mut Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message.to_string_lossy())
    }
}

impl Error for PresetError {}

/// A CLAP path as a [`PathBuf`] (its bytes as they are on Unix).
fn path_of(path: &CStr) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        PathBuf::from(std::ffi::OsStr::from_bytes(path.to_bytes()))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(path.to_string_lossy().into_owned())
    }
}

/// Reads and parses the preset file at `path` into `(level, tone)`. Any
/// thread (it reads the file system).
pub fn read_preset_file(path: &CStr) -> Result<(f64, f64), PresetError> {
    let shown = path.to_string_lossy();
    let bytes = std::fs::read(path_of(path)).map_err(|e| {
        PresetError::new(
            e.raw_os_error().unwrap_or(0),
            format!("Stagerack Kit: cannot read preset file {shown}: {e}"),
        )
    })?;
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(parse_preset)
        .ok_or_else(|| {
            PresetError::new(
                0,
                format!(
                    "Stagerack Kit: preset file {shown} does not parse \
                     (expected level=<number>;tone=<number>)"
                ),
            )
        })
}

/// The `(level, tone)` a `preset-load` of `location` / `load_key` sets:
/// a factory preset by its key (plugin location), or a preset file (file
/// location, key ignored). Main thread (the kit's `preset-load`).
pub fn preset_values(
    location: Location,
    load_key: Option<&CStr>,
) -> Result<(f64, f64), PresetError> {
    match location {
        Location::Plugin => match load_key {
            Some(key) => factory_preset(key)
                .map(|p| (p.level, p.tone))
                .ok_or_else(|| {
                    PresetError::new(
                        0,
                        format!(
                            "Stagerack Kit: no factory preset with load key \"{}\"",
                            key.to_string_lossy()
                        ),
                    )
                }),
            None => Err(PresetError::new(
                0,
                "Stagerack Kit: a factory preset needs a load key".to_owned(),
            )),
        },
        Location::File { path } => read_preset_file(path),
    }
}

/// The kit's preset-discovery factory: one provider, [`PROVIDER_ID`].
/// Any thread.
pub struct KitPresetFactory {
    descriptor: ProviderDescriptor,
}

impl KitPresetFactory {
    /// The factory. Any thread.
    pub fn new() -> Self {
        Self {
            descriptor: ProviderDescriptor::new(PROVIDER_ID, PROVIDER_NAME)
                .with_vendor(PROVIDER_VENDOR),
        }
    }
}

impl Default for KitPresetFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl PresetDiscoveryFactoryImpl for KitPresetFactory {
    fn provider_count(&self) -> u32 {
        1
    }

    fn provider_descriptor(&self, index: u32) -> Option<&ProviderDescriptor> {
        (index == 0).then_some(&self.descriptor)
    }

    fn create_provider<'a>(
        &'a self,
        host_info: IndexerInfo<'a>,
        provider_id: &CStr,
    ) -> Option<ProviderInstance<'a>> {
        if Some(provider_id) != self.descriptor.id() {
            return None;
        }
        Some(ProviderInstance::new(
            host_info,
            &self.descriptor,
            KitPresetProvider::init,
        ))
    }
}

/// The provider (see the module docs). The thread the host runs the
/// provider on (one at a time).
pub struct KitPresetProvider;

impl KitPresetProvider {
    /// Declares the filetype and the locations to the indexer. The
    /// provider's thread (its `init`).
    fn init(mut indexer: Indexer) -> Result<Self, PluginError> {
        indexer.declare_filetype(FileType {
            name: FILETYPE_NAME,
            description: None,
            file_extension: Some(FILE_EXTENSION),
        })?;
        indexer.declare_location(LocationInfo {
            name: FACTORY_LOCATION_NAME,
            flags: Flags::IS_FACTORY_CONTENT,
            location: Location::Plugin,
        })?;
        let dir = std::env::var_os(PRESET_DIR_ENV)
            .filter(|dir| !dir.is_empty())
            .and_then(|dir| CString::new(dir.into_encoded_bytes()).ok());
        if let Some(dir) = dir {
            indexer.declare_location(LocationInfo {
                name: USER_LOCATION_NAME,
                flags: Flags::IS_USER_CONTENT,
                location: Location::File { path: &dir },
            })?;
        }
        Ok(Self)
    }
}

impl ProviderImpl<'_> for KitPresetProvider {
    fn get_metadata(
        &mut self,
        location: Location,
        receiver: &mut MetadataReceiver,
    ) -> Result<(), PluginError> {
        match location {
            Location::Plugin => {
                for preset in &FACTORY_PRESETS {
                    receiver
                        .begin_preset(Some(preset.name), Some(preset.load_key))?
                        .add_plugin_id(UniversalPluginId::clap(PLUGIN_ID))
                        .set_flags(Flags::IS_FACTORY_CONTENT);
                }
            }
            Location::File { path } => {
                // An error here reaches the receiver's `on_error` through
                // the clack wrapper (once, with its message, os error 0).
                read_preset_file(path)?;
                let file = path_of(path);
                let stem = file.file_stem().unwrap_or(file.as_os_str());
                let name = CString::new(stem.to_owned().into_encoded_bytes())
                    .map_err(|_| PluginError::Message("Stagerack Kit: bad preset file name"))?;
                receiver
                    .begin_preset(Some(&name), None)?
                    .add_plugin_id(UniversalPluginId::clap(PLUGIN_ID))
                    .set_flags(Flags::IS_USER_CONTENT);
            }
        }
        Ok(())
    }
}

/// The kit bundle's entry: the plugin factory of [`Kit`] and the
/// [`KitPresetFactory`]. Any thread (CLAP entry rules).
pub struct KitEntry {
    plugins: SinglePluginEntry<Kit>,
    presets: PresetDiscoveryFactoryWrapper<KitPresetFactory>,
}

impl Entry for KitEntry {
    fn new(bundle_path: Option<&CStr>) -> Result<Self, EntryLoadError> {
        Ok(Self {
            plugins: SinglePluginEntry::new(bundle_path)?,
            presets: PresetDiscoveryFactoryWrapper::new(KitPresetFactory::new()),
        })
    }

    fn declare_factories<'a>(&'a self, builder: &mut EntryFactories<'a>) {
        self.plugins.declare_factories(builder);
        builder.register_factory(&self.presets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_id_is_the_kits() {
        assert_eq!(PLUGIN_ID.to_str(), Ok(super::super::kit::ID));
    }

    #[test]
    fn preset_text_parses() {
        assert_eq!(parse_preset("level=0.4;tone=0.2"), Some((0.4, 0.2)));
        assert_eq!(parse_preset(" tone = 0.2 ; level=0.4;\n"), Some((0.4, 0.2)));
        assert_eq!(parse_preset("level=3;tone=-1"), Some((1.0, 0.0)));
        assert_eq!(parse_preset("level=0.4"), None);
        assert_eq!(parse_preset("level=x;tone=0.2"), None);
        assert_eq!(parse_preset("level=NaN;tone=0.2"), None);
        assert_eq!(parse_preset(""), None);
    }
}
