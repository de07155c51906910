//! A plugin reference as a preset names it (format, id, path hint, state,
//! parameter values), read from and written to TOML by the session layer;
//! the loaders here take it. Main thread.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use stagerack_core::plugin::PluginFormat;

use crate::builtin::BUILTIN_IDS;

/// The most cue points a player takes (each holds its first second
/// decoded in memory, so a cue starts on its sample).
pub const MAX_CUES: usize = 16;

/// A plugin reference in a chain, with its saved state. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawPluginDef", into = "RawPluginDef")]
pub struct PluginDef {
    /// builtin, clap or vst3.
    pub format: PluginFormat,
    /// Built-in name, CLAP id, or VST3 class id (32 hex digits).
    pub id: String,
    /// Display name, for people reading the file.
    pub name: Option<String>,
    /// Where the plugin file was found; a hint, the search path is used too.
    pub path: Option<PathBuf>,
    /// The plugin's opaque state, base64.
    pub state: Option<String>,
    /// Parameter values by name or numeric id.
    pub params: BTreeMap<String, f64>,
    /// Skipped (audio passes through).
    pub bypass: bool,
    /// A `.vstpreset` file (VST3) giving the plugin's starting state when
    /// there is no `state`; as written (relative to the preset's folder).
    pub vstpreset: Option<PathBuf>,
    /// That file's bytes, read when the preset was loaded (not written
    /// back: `state`, once saved, wins).
    pub vstpreset_bytes: Option<Vec<u8>>,
    /// A factory program to start from (VST3 program lists), by name or
    /// index; `params` are applied after it.
    pub program: Option<ProgramRef>,
    /// How MPE notes' expressions reach it (see [`Expressions`]).
    pub expressions: Expressions,
    /// A file the plugin plays (`builtin:player`'s backing track), as
    /// written: relative to the preset's folder, or absolute.
    pub file: Option<PathBuf>,
    /// The folder `file` is relative to (the preset's, set when it was
    /// read; not written).
    pub file_base: Option<PathBuf>,
    /// Cue points of `builtin:player`'s track, in seconds from its start
    /// (`cues = [32.5, 61.0]`): the `cue_note` key and the ones above it
    /// start the track there, sample-exactly.
    pub cues: Vec<f64>,
    /// Its extra audio outputs played straight to outputs of the preset,
    /// by the plugin's name for each (`outputs = { "Kick" = "IEM" }`):
    /// output name by extra output name.
    pub outputs: BTreeMap<String, String>,
}

/// How an MPE rack's per-note expressions (member-channel pitch bend,
/// pressure, CC 74) reach a plugin: `expressions = "auto"` (default) or
/// `"midi"` on its entry. Main thread (read by the engine's plan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expressions {
    /// The best the plugin supports: CLAP note expressions to a note port
    /// preferring CLAP events, VST3 note expressions to a plugin with
    /// `INoteExpressionController`, else MPE as MIDI.
    #[default]
    Auto,
    /// Always MPE as MIDI: each member channel's bend, pressure and CC 74
    /// as the controller sent them (for a plugin with its own MPE engine,
    /// or one whose note expressions behave differently).
    Midi,
}

impl Expressions {
    fn is_auto(&self) -> bool {
        *self == Expressions::Auto
    }
}

/// A factory program as a preset names it: `program = "Brass 1"` or
/// `program = 3` (0 = the first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProgramRef {
    /// By position, 0 = the first.
    Index(u32),
    /// By name, as the plugin lists it.
    Name(String),
}

impl ProgramRef {
    /// The index of this program in `names`. Any thread.
    pub fn index_in(&self, names: &[String]) -> Option<usize> {
        match self {
            ProgramRef::Index(i) => Some(*i as usize).filter(|i| *i < names.len()),
            ProgramRef::Name(n) => names
                .iter()
                .position(|x| x == n)
                .or_else(|| names.iter().position(|x| x.eq_ignore_ascii_case(n.trim()))),
        }
    }
}

impl std::fmt::Display for ProgramRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProgramRef::Index(i) => write!(f, "number {i}"),
            ProgramRef::Name(n) => write!(f, "`{n}`"),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginDef {
    format: PluginFormat,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    bypass: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    params: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vstpreset: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    program: Option<ProgramRef>,
    #[serde(default, skip_serializing_if = "Expressions::is_auto")]
    expressions: Expressions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cues: Vec<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    outputs: BTreeMap<String, String>,
}

impl TryFrom<RawPluginDef> for PluginDef {
    type Error = String;
    fn try_from(r: RawPluginDef) -> Result<Self, String> {
        match r.format {
            PluginFormat::Builtin if !BUILTIN_IDS.contains(&r.id.as_str()) => {
                return Err(format!(
                    "unknown built-in plugin `{}`; expected one of: {}",
                    r.id,
                    BUILTIN_IDS.join(", ")
                ))
            }
            PluginFormat::Vst3
                if r.id.len() != 32 || !r.id.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                return Err(format!(
                    "VST3 id `{}` must be the class id as 32 hex digits (see `stagerack scan --json`)",
                    r.id
                ))
            }
            _ if r.id.trim().is_empty() => return Err("plugin id must not be empty".into()),
            _ => {}
        }
        if r.file.is_some() && !(r.format == PluginFormat::Builtin && r.id == "player") {
            return Err(
                "`file` is for the built-in player (format = \"builtin\", id = \"player\")".into(),
            );
        }
        let player = r.format == PluginFormat::Builtin && r.id == "player";
        if !r.cues.is_empty() && !player {
            return Err(
                "`cues` are for the built-in player (format = \"builtin\", id = \"player\")".into(),
            );
        }
        if r.cues.len() > MAX_CUES {
            return Err(format!(
                "{} cues: the player takes at most {MAX_CUES}",
                r.cues.len()
            ));
        }
        if let Some(c) = r.cues.iter().find(|c| !c.is_finite() || **c < 0.0) {
            return Err(format!(
                "cue {c} is not a time in seconds from the track's start (0 or more)"
            ));
        }
        if r.vstpreset.is_some() && r.format != PluginFormat::Vst3 {
            return Err(
                "`vstpreset` is for VST3 plugins; give this plugin's state with `state` or `params`"
                    .into(),
            );
        }
        if let Some((k, v)) = r.params.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("parameter `{k}` = {v} is not a finite number"));
        }
        if let Some(state) = &r.state {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(state)
                .map_err(|e| {
                    format!("`state` is not valid base64 ({e}); remove it to start from defaults")
                })?;
        }
        Ok(PluginDef {
            format: r.format,
            id: r.id,
            name: r.name,
            path: r.path,
            state: r.state,
            params: r.params,
            bypass: r.bypass,
            vstpreset: r.vstpreset,
            vstpreset_bytes: None,
            program: r.program,
            expressions: r.expressions,
            file: r.file,
            file_base: None,
            cues: r.cues,
            outputs: r.outputs,
        })
    }
}

impl From<PluginDef> for RawPluginDef {
    fn from(p: PluginDef) -> Self {
        RawPluginDef {
            format: p.format,
            id: p.id,
            name: p.name,
            path: p.path,
            bypass: p.bypass,
            params: p.params,
            state: p.state,
            vstpreset: p.vstpreset,
            program: p.program,
            expressions: p.expressions,
            file: p.file,
            cues: p.cues,
            outputs: p.outputs,
        }
    }
}

impl PluginDef {
    /// A built-in with default settings. Main thread.
    pub fn builtin(id: &str) -> Self {
        PluginDef {
            format: PluginFormat::Builtin,
            id: id.to_owned(),
            name: None,
            path: None,
            state: None,
            params: BTreeMap::new(),
            bypass: false,
            vstpreset: None,
            vstpreset_bytes: None,
            program: None,
            expressions: Expressions::Auto,
            file: None,
            file_base: None,
            cues: Vec::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Where `file` is: joined to the preset's folder when relative.
    /// Main thread.
    pub fn file_path(&self) -> Option<PathBuf> {
        let file = self.file.as_ref()?;
        Some(match &self.file_base {
            Some(base) if file.is_relative() => base.join(file),
            _ => file.clone(),
        })
    }

    /// The decoded state blob, if any (validated when parsed), else the
    /// `.vstpreset` file's bytes. Main thread.
    pub fn state_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        self.state
            .as_ref()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .or_else(|| self.vstpreset_bytes.clone())
    }

    /// Sets the state from raw bytes (stored as base64). Main thread.
    pub fn set_state_bytes(&mut self, bytes: &[u8]) {
        use base64::Engine;
        self.state = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
    }

    /// How people should see it: name if set, else format:id. Main thread.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{}:{}", self.format, self.id),
        }
    }
}
