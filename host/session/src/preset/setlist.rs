//! Setlists: an ordered list of presets with the MIDI that selects each.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Preset, PresetError};
use stagerack_engine::{EntryTrigger, SwitchTable};

/// A setlist file, version 1. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setlist {
    /// Format version; must be 1.
    pub version: u32,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Longest a switched-away preset may ring on (held notes, tails), in
    /// seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tail_seconds: Option<f64>,
    /// Keep only the current entry and this many on each side loaded
    /// (default: every entry loaded at start, so no switch ever waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbours: Option<usize>,
    /// The rig file (relative to the setlist) whose outputs and inputs
    /// every entry without its own `rig` or lists uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rig: Option<PathBuf>,
    /// How MIDI switches entries (left out of a saved file when unset).
    #[serde(default, skip_serializing_if = "Triggers::is_unset")]
    pub triggers: Triggers,
    /// The songs, in order.
    #[serde(rename = "entry")]
    pub entries: Vec<SetlistEntry>,
}

/// Setlist-wide triggers. Main thread.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// MIDI channel (1..=16) program changes and next/previous CCs must
    /// arrive on; default any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u8>,
    /// CC (value ≥ 64) stepping to the next entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cc: Option<u8>,
    /// CC (value ≥ 64) stepping to the previous entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cc: Option<u8>,
    /// MIDI channel (1..=16) whose notes select entries by their `note`
    /// (those notes are not played).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_channel: Option<u8>,
    /// CC (0..=119, any channel) that scrolls the current song's notes in
    /// the stage view: 0 the top, 127 the end (a pedal or a fader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes_cc: Option<u8>,
}

impl Triggers {
    /// Whether no setlist-wide trigger is set (the file needs no
    /// `[triggers]` table). Any thread.
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// One song. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetlistEntry {
    /// The preset file, relative to the setlist file.
    pub preset: PathBuf,
    /// Program change (0..=127) that selects it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<u8>,
    /// Bank (0..=16383, CC0 × 128 + CC32) the program change must come with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<u16>,
    /// Key on the trigger note channel that selects it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<u8>,
    /// The song's notes for the stage view: lyrics, chords, cues.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

/// A setlist with its presets read. Main thread.
#[derive(Clone, Debug)]
pub struct LoadedSetlist {
    /// The file as written.
    pub setlist: Setlist,
    /// Each entry's preset, in order.
    pub presets: Vec<Preset>,
    /// Each entry's preset path, resolved.
    pub paths: Vec<PathBuf>,
    /// The setlist file itself.
    pub file: PathBuf,
}

impl LoadedSetlist {
    /// The engine's switch table for this setlist at `sample_rate`. Main thread.
    pub fn switch_table(&self, sample_rate: f64) -> SwitchTable {
        self.setlist.switch_table(sample_rate)
    }
}

impl Setlist {
    /// The engine's switch table for these entries at `sample_rate`, entry
    /// `i` selecting preset `i`. Main thread.
    pub fn switch_table(&self, sample_rate: f64) -> SwitchTable {
        let s = self;
        SwitchTable {
            entries: s
                .entries
                .iter()
                .map(|e| EntryTrigger {
                    program: e.program,
                    bank: e.bank,
                    note: e.note,
                })
                .collect(),
            channel: s.triggers.channel.map(|c| c - 1),
            next_cc: s.triggers.next_cc,
            previous_cc: s.triggers.previous_cc,
            note_channel: s.triggers.note_channel.map(|c| c - 1),
            max_tail_frames: (s.max_tail_seconds.unwrap_or(30.0) * sample_rate) as u64,
        }
    }
}

/// Reads a setlist and every preset it names; errors name the file (and
/// the line for setlist mistakes). Main thread.
pub fn load_setlist(path: &Path) -> Result<LoadedSetlist, PresetError> {
    let text = std::fs::read_to_string(path).map_err(|source| PresetError::Read {
        path: path.to_owned(),
        source,
    })?;
    let setlist = parse_setlist(&text, path)?;
    resolve_setlist(setlist, path)
}

/// Reads every preset `setlist` names (relative to `path`, where the
/// setlist file is or will be written) and checks each entry plays on the
/// first one's stage; errors name the preset file. Main thread.
pub fn resolve_setlist(setlist: Setlist, path: &Path) -> Result<LoadedSetlist, PresetError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let rig = match &setlist.rig {
        Some(r) => Some(super::load_rig(&dir.join(r))?),
        None => None,
    };
    let mut presets = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in &setlist.entries {
        let p = dir.join(&entry.preset);
        let preset = super::load_preset_in(&p, rig.as_ref())?;
        if let (Some(first), Some(first_path)) = (presets.first(), paths.first()) {
            check_entry_routes(first, first_path, &preset, &p)?;
        }
        presets.push(preset);
        paths.push(p);
    }
    Ok(LoadedSetlist {
        setlist,
        presets,
        paths,
        file: path.to_owned(),
    })
}

/// The stage a setlist plays on is its first preset's (its outputs and
/// inputs, or its rig file's): every output and input a later entry's racks
/// name must be one of those, or that entry would play somewhere else than
/// written. On error: the entry's file, line and what to change. Main
/// thread.
fn check_entry_routes(
    first: &super::Preset,
    first_path: &Path,
    entry: &super::Preset,
    path: &Path,
) -> Result<(), PresetError> {
    let outputs: Vec<&str> = first
        .stage_outputs()
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    let inputs: Vec<&str> = first
        .stage_inputs()
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    for rack in &entry.racks {
        let named_outputs = rack
            .output
            .iter()
            .chain(rack.sends.keys())
            .chain(rack.plugins.iter().flat_map(|p| p.outputs.values()));
        let wanted = named_outputs
            .map(|o| ("output", o, &outputs))
            .chain(rack.input_audio.iter().map(|i| ("input", i, &inputs)));
        for (kind, name, stage) in wanted {
            if stage.contains(&name.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let (line, column) = text
                .find(&format!("\"{name}\""))
                .map_or((1, 1), |o| super::line_column(&text, o));
            return Err(PresetError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message: format!(
                    "rack `{}`: {kind} `{name}` is not on this setlist's stage (a setlist \
                     plays to its first preset's outputs and inputs, {}: {}); add it there \
                     or to the shared rig file",
                    rack.name,
                    first_path.display(),
                    if stage.is_empty() {
                        "none".to_owned()
                    } else {
                        stage.join(", ")
                    }
                ),
            });
        }
    }
    Ok(())
}

/// Parses setlist text and checks its values; `path` is for messages.
/// Never panics on bad input. Main thread.
pub fn parse_setlist(text: &str, path: &Path) -> Result<Setlist, PresetError> {
    let invalid = |offset: Option<usize>, message: String| {
        let (line, column) = offset.map_or((1, 1), |o| super::line_column(text, o));
        PresetError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    };
    let s: Setlist = toml::from_str(text).map_err(|e| {
        invalid(
            e.span().map(|s| s.start),
            e.message().trim().replace('\n', " "),
        )
    })?;
    let at = |needle: &str| text.find(needle);
    if s.version != 1 {
        return Err(invalid(
            at("version"),
            format!(
                "unsupported setlist version {}; this stagerack reads version 1",
                s.version
            ),
        ));
    }
    if s.entries.is_empty() {
        return Err(invalid(
            None,
            "a setlist needs at least one [[entry]] with a `preset`".into(),
        ));
    }
    for (what, ch) in [
        ("channel", s.triggers.channel),
        ("note_channel", s.triggers.note_channel),
    ] {
        if ch.is_some_and(|c| !(1..=16).contains(&c)) {
            return Err(invalid(
                at(what),
                format!("{what} must be a MIDI channel 1 to 16"),
            ));
        }
    }
    for (what, cc) in [
        ("next_cc", s.triggers.next_cc),
        ("previous_cc", s.triggers.previous_cc),
        ("notes_cc", s.triggers.notes_cc),
    ] {
        if cc.is_some_and(|c| c > 119) {
            return Err(invalid(
                at(what),
                format!("{what} must be a controller 0 to 119"),
            ));
        }
    }
    if let Some(t) = s.max_tail_seconds {
        if !(0.0..=3600.0).contains(&t) {
            return Err(invalid(
                at("max_tail_seconds"),
                "max_tail_seconds must be 0 to 3600".into(),
            ));
        }
    }
    if s.neighbours.is_some_and(|n| n > 1000) {
        return Err(invalid(
            at("neighbours"),
            "neighbours must be 0 to 1000 (leave it out to keep every entry loaded)".into(),
        ));
    }
    for (i, e) in s.entries.iter().enumerate() {
        let n = i + 1;
        if e.program.is_some_and(|p| p > 127) || e.note.is_some_and(|k| k > 127) {
            return Err(invalid(
                None,
                format!("entry {n}: program and note must be 0 to 127"),
            ));
        }
        if e.bank.is_some_and(|b| b > 16383) {
            return Err(invalid(None, format!("entry {n}: bank must be 0 to 16383")));
        }
        if e.program.is_some() {
            if let Some(j) = s.entries[..i]
                .iter()
                .position(|o| o.program == e.program && o.bank == e.bank)
            {
                return Err(invalid(
                    None,
                    format!(
                        "entries {} and {n} share program {:?}; give each its own",
                        j + 1,
                        e.program.unwrap_or(0)
                    ),
                ));
            }
        }
    }
    Ok(s)
}
