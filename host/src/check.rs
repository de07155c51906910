//! `stagerack check FILE`: validate a preset or setlist and try every
//! plugin it names — for the night before the show.

use std::path::{Path, PathBuf};

use crate::plugin::loader::load_plugin;
use crate::preset::{load_preset, load_setlist, PluginDef, Preset, PresetError};

/// What checking found. Main thread.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// One line per preset and per plugin.
    pub lines: Vec<String>,
    /// Plugins that could not be loaded (or whose state/params were refused).
    pub problems: usize,
}

/// Checks a preset or a setlist (recognised by its `[[entry]]` tables).
/// Errors in the files themselves are returned as errors. Main thread.
pub fn check_file(path: &Path) -> Result<CheckReport, PresetError> {
    let text = std::fs::read_to_string(path).map_err(|source| PresetError::Read {
        path: path.to_owned(),
        source,
    })?;
    let is_setlist = text
        .parse::<toml::Table>()
        .map(|t| t.contains_key("entry"))
        .unwrap_or(false);
    let mut report = CheckReport::default();
    let presets: Vec<(PathBuf, Preset)> = if is_setlist {
        let loaded = load_setlist(path)?;
        report.lines.push(format!(
            "{}: setlist `{}`, {} entries",
            path.display(),
            loaded.setlist.name,
            loaded.presets.len()
        ));
        loaded.paths.into_iter().zip(loaded.presets).collect()
    } else {
        vec![(path.to_owned(), load_preset(path)?)]
    };
    for (file, preset) in &presets {
        report.lines.push(format!(
            "{}: preset `{}`, {} racks",
            file.display(),
            preset.name,
            preset.racks.len()
        ));
        let chains = preset
            .racks
            .iter()
            .map(|r| (r.name.as_str(), &r.plugins))
            .chain(preset.master.iter().map(|m| ("master", &m.plugins)));
        for (rack, plugins) in chains {
            for def in plugins {
                match try_plugin(def) {
                    Ok(name) => report.lines.push(format!("  rack `{rack}`: {name}: ok")),
                    Err(e) => {
                        report.problems += 1;
                        report.lines.push(format!(
                            "  rack `{rack}`: {}: MISSING or broken: {e} (the rack would play without it)",
                            def.label()
                        ));
                    }
                }
            }
        }
    }
    Ok(report)
}

fn try_plugin(def: &PluginDef) -> Result<String, String> {
    let mut inst = load_plugin(def).map_err(|e| e.to_string())?;
    if let Some(state) = def.state_bytes() {
        inst.load_state(&state).map_err(|e| e.to_string())?;
    }
    let params = inst.params();
    for (key, value) in &def.params {
        let p = params
            .iter()
            .find(|p| p.name == *key || key.parse::<u32>().ok() == Some(p.id))
            .ok_or_else(|| format!("no parameter `{key}`"))?;
        inst.set_param(p.id, *value).map_err(|e| e.to_string())?;
    }
    Ok(inst.descriptor().name.clone())
}
