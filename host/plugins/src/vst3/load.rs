//! Finding a VST3 class (the preset's path hint, then the search path;
//! never a blacklisted bundle) and loading it. Main thread.

use std::path::{Path, PathBuf};

use super::module::{bundle_binary, hex_to_tuid, Module};

use super::error::Vst3Error;
use super::instance::Vst3Instance;
use crate::def::PluginDef;
use crate::discovery::{files_in, search_paths};
use stagerack_core::plugin::PluginFormat;
use stagerack_core::plugin::{PluginError, PluginInstance};

/// Loads the VST3 class a preset entry names (not yet activated). Main
/// thread.
pub fn load(def: &PluginDef) -> Result<Vst3Instance, PluginError> {
    load_inner(def).map_err(|e| e.into_plugin_error(def.label()))
}

fn candidate_bundles(def: &PluginDef) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = &def.path {
        if p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("vst3"))
            || !p.is_dir()
        {
            out.push(p.clone());
        } else {
            out.extend(files_in(PluginFormat::Vst3, p));
        }
    }
    let mut rest = crate::discovery::installed(PluginFormat::Vst3);
    // Bundles named like the plugin first: most presets name it.
    if let Some(name) = &def.name {
        rest.sort_by_key(|b| b.file_stem().is_none_or(|s| s.to_string_lossy() != *name));
    }
    for b in rest {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

fn load_inner(def: &PluginDef) -> Result<Vst3Instance, Vst3Error> {
    let cid = hex_to_tuid(&def.id).ok_or_else(|| Vst3Error::BadId { id: def.id.clone() })?;
    let mut hint_error = None;
    // Like CLAP: a bundle the scanner blacklisted is never opened in this
    // process; named by the preset it is refused with the scanner's reason,
    // found on the search path it is passed over.
    let cache = crate::discovery::cache::ScanCache::load();
    for (i, bundle) in candidate_bundles(def).iter().enumerate() {
        let hinted = i == 0 && def.path.is_some();
        if let Some(reason) = cache.blacklisted(bundle) {
            if hinted {
                return Err(Vst3Error::Blacklisted {
                    bundle: bundle.clone(),
                    id: def.id.clone(),
                    reason: reason.to_owned(),
                });
            }
            tracing::debug!("skipping {}: blacklisted ({reason})", bundle.display());
            continue;
        }
        let module = match Module::shared(bundle) {
            Ok(m) => m,
            Err(e) => {
                if hinted {
                    hint_error = Some(e);
                } else {
                    tracing::debug!("skipping {}: {e}", bundle.display());
                }
                continue;
            }
        };
        let classes = module.classes();
        if let Some(class) = classes.iter().find(|c| c.cid == cid) {
            return Vst3Instance::create(module, class.clone());
        }
    }
    if let Some(e) = hint_error {
        return Err(e);
    }
    let mut folders: Vec<String> = def.path.iter().map(|p| p.display().to_string()).collect();
    folders.extend(
        search_paths(PluginFormat::Vst3)
            .iter()
            .map(|p| p.display().to_string()),
    );
    Err(Vst3Error::ClassNotFound {
        id: def.id.clone(),
        name: def.name.clone(),
        searched: folders.join(", "),
    })
}

/// The binary a bundle would load on this platform, for diagnostics. Main
/// thread.
pub fn bundle_binary_path(bundle: &Path) -> Result<PathBuf, Vst3Error> {
    bundle_binary(bundle)
}

/// Creates the VST3 instance a preset names, as a trait object. Main thread.
pub fn load_boxed(def: &PluginDef) -> Result<Box<dyn PluginInstance>, PluginError> {
    Ok(Box::new(load(def)?))
}
