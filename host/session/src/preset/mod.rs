//! Presets: the TOML format (see `docs/PRESETS.md`), reading with precise
//! error positions, and atomic saving.

mod format;
mod save;
mod setlist;
mod setlist_save;

pub use format::{
    ControlsDef, Expressions, InputDef, MapCurveDef, MapDef, MapSourceDef, MasterDef, MpeMode,
    MpeSide, OutputDef, PluginDef, Preset, ProgramRef, RackDef, Rig, SandboxMode, SendDef,
    VelocityCurve, DEFAULT_SANDBOX, PRESET_VERSION,
};
pub use save::{save_atomically, write_atomically};
pub use setlist::{
    load_setlist, parse_setlist, resolve_setlist, LoadedSetlist, Setlist, SetlistEntry, Triggers,
};
pub use setlist_save::{save_setlist_atomically, setlist_text};

use std::path::{Path, PathBuf};

/// Why a preset could not be read or written. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    /// The file could not be read.
    #[error("cannot read preset {path}: {source}; check the path")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed or a value is invalid.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A `.vstpreset` file a plugin names could not be read.
    #[error(
        "cannot read {file}, the .vstpreset rack `{rack}` names in {path}: {source}; \
         fix the path (relative to the preset's folder) or remove `vstpreset`"
    )]
    VstPreset {
        /// The preset file.
        path: PathBuf,
        /// The rack (or "master").
        rack: String,
        /// The `.vstpreset` file, resolved.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The preset could not be written.
    #[error("cannot save preset {path}: {source}; choose a writable folder")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Reads and validates a preset file. Main thread.
pub fn load_preset(path: &Path) -> Result<Preset, PresetError> {
    load_preset_in(path, None)
}

/// [`load_preset`] for a setlist entry: `rig` (the setlist's) stands in
/// for a rig the preset does not name. Main thread.
pub(crate) fn load_preset_in(path: &Path, rig: Option<&Rig>) -> Result<Preset, PresetError> {
    let text = std::fs::read_to_string(path).map_err(|source| PresetError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_preset_in(&text, path, rig)
}

/// Parses preset text; `path` is only used in error messages. Never panics
/// on bad input. Main thread.
pub fn parse_preset(text: &str, path: &Path) -> Result<Preset, PresetError> {
    parse_preset_in(text, path, None)
}

fn parse_preset_in(text: &str, path: &Path, rig: Option<&Rig>) -> Result<Preset, PresetError> {
    let mut preset = toml::from_str::<Preset>(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((1, 1));
        PresetError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message: e.message().trim().replace('\n', " "),
        }
    })?;
    if preset.name.trim().is_empty() {
        // A preset is a file: without a name it is called after it.
        preset.name = path
            .file_stem()
            .map_or_else(|| "preset".to_owned(), |s| s.to_string_lossy().into_owned());
    }
    read_rig(&mut preset, path)?;
    if preset.rig_lists.is_none() {
        preset.rig_lists = rig.cloned();
    }
    check_midi_from(&preset, text)
        .and_then(|_| check_outputs(&preset, text))
        .map_err(|(offset, message)| {
            let (line, column) = line_column(text, offset);
            PresetError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        })?;
    read_vstpresets(&mut preset, path)?;
    // Files plugins play are relative to the preset's folder.
    let folder = path.parent().map(Path::to_owned);
    for def in preset
        .racks
        .iter_mut()
        .flat_map(|r| r.plugins.iter_mut())
        .chain(preset.master.iter_mut().flat_map(|m| m.plugins.iter_mut()))
    {
        if def.file.is_some() {
            def.file_base = folder.clone();
        }
    }
    Ok(preset)
}

/// Reads the rig file `preset` names (relative to its folder) into
/// `rig_lists`. Main thread.
fn read_rig(preset: &mut Preset, path: &Path) -> Result<(), PresetError> {
    let Some(rig) = &preset.rig else {
        return Ok(());
    };
    let file = path.parent().unwrap_or(Path::new("")).join(rig);
    preset.rig_lists = Some(load_rig(&file)?);
    Ok(())
}

/// Reads and checks a rig file (`[[output]]`, `[[input]]`). Main thread.
pub fn load_rig(file: &Path) -> Result<Rig, PresetError> {
    let text = std::fs::read_to_string(file).map_err(|source| PresetError::Read {
        path: file.to_owned(),
        source,
    })?;
    toml::from_str::<Rig>(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(&text, s.start))
            .unwrap_or((1, 1));
        PresetError::Invalid {
            path: file.to_owned(),
            line,
            column,
            message: e.message().trim().replace('\n', " "),
        }
    })
}

/// Output names are unique and at most 16, and every rack's `output` and
/// `sends` name one of them. On error: where in `text` (a byte offset, or
/// 0) and what to change. Main thread.
fn check_outputs(preset: &Preset, text: &str) -> Result<(), (usize, String)> {
    let at = |key: &str, name: &str| {
        text.match_indices(key)
            .find_map(|(i, _)| {
                let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                text[i..line_end].contains(name).then_some(i)
            })
            .unwrap_or(0)
    };
    let names: Vec<&str> = preset
        .stage_outputs()
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    if names.len() > stagerack_engine::MAX_OUTPUTS {
        return Err((
            0,
            format!(
                "{} outputs: at most {} are mixed; join some",
                names.len(),
                stagerack_engine::MAX_OUTPUTS
            ),
        ));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err((
                at("name", name),
                format!("two outputs are called `{name}`; give each its own name"),
            ));
        }
    }
    let known = || {
        if names.is_empty() {
            "this preset has no [[output]]; add one with that name".to_owned()
        } else {
            format!("use one of: {}", names.join(", "))
        }
    };
    let inputs: Vec<&str> = preset
        .stage_inputs()
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    for (i, name) in inputs.iter().enumerate() {
        if inputs[..i].contains(name) || names.contains(name) {
            return Err((
                at("name", name),
                format!("two inputs or outputs are called `{name}`; give each its own name"),
            ));
        }
    }
    for rack in &preset.racks {
        if let Some(name) = &rack.input_audio {
            if !inputs.contains(&name.as_str()) {
                return Err((
                    at("input_audio", name),
                    format!(
                        "rack `{}`: input_audio names input `{name}`, which this preset does not have; {}",
                        rack.name,
                        if inputs.is_empty() {
                            "add an [[input]] with that name".to_owned()
                        } else {
                            format!("use one of: {}", inputs.join(", "))
                        }
                    ),
                ));
            }
        }
    }
    if let Some(p) = preset
        .master
        .iter()
        .flat_map(|m| &m.plugins)
        .find(|p| !p.outputs.is_empty())
    {
        return Err((
            at("outputs", ""),
            format!(
                "[master]: {} has `outputs`, which only plugins in racks have (the master \
                 chain plays to the first output); move the plugin into a rack",
                p.label()
            ),
        ));
    }
    for rack in &preset.racks {
        let wanted = rack
            .output
            .iter()
            .map(|o| ("output", o))
            .chain(rack.sends.keys().map(|o| ("sends", o)))
            .chain(
                rack.plugins
                    .iter()
                    .flat_map(|p| p.outputs.values())
                    .map(|o| ("outputs", o)),
            );
        for (key, name) in wanted {
            if !names.contains(&name.as_str()) {
                return Err((
                    at(key, name),
                    format!(
                        "rack `{}`: {key} names output `{name}`, which this preset does not have; {}",
                        rack.name,
                        known()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Every `midi_from` names another rack of the preset, and following them
/// never comes back to where it started. On error: where in `text` the
/// offending `midi_from` is (its byte offset, or 0) and what to change.
/// Main thread.
fn check_midi_from(preset: &Preset, text: &str) -> Result<(), (usize, String)> {
    let index_of = |name: &str| preset.racks.iter().position(|r| r.name == name);
    for rack in &preset.racks {
        let Some(from) = &rack.midi_from else {
            continue;
        };
        let place = || {
            let needle = format!("\"{from}\"");
            text.match_indices("midi_from")
                .find_map(|(i, _)| {
                    let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                    text[i..line_end].find(&needle).map(|_| i)
                })
                .unwrap_or(0)
        };
        if index_of(from).is_none() {
            let names: Vec<&str> = preset.racks.iter().map(|r| r.name.as_str()).collect();
            return Err((
                place(),
                format!(
                    "rack `{}`: midi_from = \"{from}\" names no rack of this preset; \
                     use one of: {}",
                    rack.name,
                    names.join(", ")
                ),
            ));
        }
        let mut at = Some(from.as_str());
        let mut steps = 0;
        while let Some(name) = at {
            if name == rack.name || steps > preset.racks.len() {
                return Err((
                    place(),
                    format!(
                        "rack `{}`: midi_from = \"{from}\" makes a loop (its MIDI would come \
                         back to it); remove one `midi_from` of the loop",
                        rack.name
                    ),
                ));
            }
            at = index_of(name).and_then(|i| preset.racks[i].midi_from.as_deref());
            steps += 1;
        }
    }
    Ok(())
}

/// Reads the `.vstpreset` files the preset's plugins name (relative to
/// the preset's folder) into their definitions. Main thread.
fn read_vstpresets(preset: &mut Preset, path: &Path) -> Result<(), PresetError> {
    let folder = path.parent().unwrap_or(Path::new(""));
    let chains = preset
        .racks
        .iter_mut()
        .map(|r| (r.name.clone(), &mut r.plugins))
        .chain(
            preset
                .master
                .iter_mut()
                .map(|m| ("master".to_owned(), &mut m.plugins)),
        );
    for (rack, plugins) in chains {
        for def in plugins.iter_mut() {
            let Some(file) = &def.vstpreset else {
                continue;
            };
            let file = folder.join(file);
            let bytes = std::fs::read(&file).map_err(|source| PresetError::VstPreset {
                path: path.to_owned(),
                rack: rack.clone(),
                file: file.clone(),
                source,
            })?;
            def.vstpreset_bytes = Some(bytes);
        }
    }
    Ok(())
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
