//! The preset file format, version 1. Field names are part of the
//! interface: scripts and later versions rely on them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use crate::plugin::builtin::BUILTIN_IDS;
use crate::plugin::PluginFormat;

/// The preset format version this build reads and writes.
pub const PRESET_VERSION: u32 = 1;

/// A whole preset. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Format version; must be 1.
    #[serde(deserialize_with = "de_version")]
    pub version: u32,
    /// Display name.
    pub name: String,
    /// Tempo in BPM that plugins see (default 120).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_tempo"
    )]
    pub tempo: Option<f64>,
    /// The racks, mixed together.
    #[serde(default, rename = "rack", skip_serializing_if = "Vec::is_empty")]
    pub racks: Vec<RackDef>,
    /// The master section after the mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<MasterDef>,
}

/// One rack: a MIDI filter, a chain, a gain. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackDef {
    /// Display name.
    pub name: String,
    /// Lowest and highest key taken, inclusive, 0..=127 (default all).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_keys"
    )]
    pub keys: Option<[u8; 2]>,
    /// Lowest and highest velocity taken, 1..=127 (default all).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_velocity"
    )]
    pub velocity: Option<[u8; 2]>,
    /// MIDI channels taken, 1..=16 (default all).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_channels"
    )]
    pub channels: Option<Vec<u8>>,
    /// Semitones added to every note, -48..=48.
    #[serde(
        default,
        skip_serializing_if = "is_zero_i8",
        deserialize_with = "de_transpose"
    )]
    pub transpose: i8,
    /// Output gain in dB, -120..=24.
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        deserialize_with = "de_gain"
    )]
    pub gain_db: f64,
    /// The chain, in order.
    #[serde(default, rename = "plugin", skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginDef>,
}

/// The master section. Main thread.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterDef {
    /// Master gain in dB, -120..=24.
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        deserialize_with = "de_gain"
    )]
    pub gain_db: f64,
    /// The master chain, in order.
    #[serde(default, rename = "plugin", skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginDef>,
}

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
        }
    }

    /// The decoded state blob, if any (validated when parsed). Main thread.
    pub fn state_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        self.state
            .as_ref()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
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

impl RackDef {
    /// A rack taking everything, with the given chain. Main thread.
    pub fn new(name: &str, plugins: Vec<PluginDef>) -> Self {
        RackDef {
            name: name.to_owned(),
            keys: None,
            velocity: None,
            channels: None,
            transpose: 0,
            gain_db: 0.0,
            plugins,
        }
    }
}

fn is_zero_i8(v: &i8) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v != PRESET_VERSION {
        return Err(serde::de::Error::custom(format!(
            "unsupported preset version {v}; this stagerack reads version {PRESET_VERSION}"
        )));
    }
    Ok(v)
}

fn de_tempo<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = f64::deserialize(d)?;
    if !(10.0..=999.0).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "tempo {v} is out of range; expected 10 to 999 BPM"
        )));
    }
    Ok(Some(v))
}

fn de_range<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    lo: u8,
    hi: u8,
) -> Result<Option<[u8; 2]>, D::Error> {
    let v = <[i64; 2]>::deserialize(d)?;
    let ok = |x: i64| (i64::from(lo)..=i64::from(hi)).contains(&x);
    if !ok(v[0]) || !ok(v[1]) || v[0] > v[1] {
        return Err(serde::de::Error::custom(format!(
            "{what} = [{}, {}] is invalid; expected [low, high] with {lo} <= low <= high <= {hi}",
            v[0], v[1]
        )));
    }
    Ok(Some([v[0] as u8, v[1] as u8]))
}

fn de_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 2]>, D::Error> {
    de_range(d, "keys", 0, 127)
}

fn de_velocity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 2]>, D::Error> {
    de_range(d, "velocity", 1, 127)
}

fn de_channels<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let v = Vec::<i64>::deserialize(d)?;
    if v.is_empty() || v.iter().any(|c| !(1..=16).contains(c)) {
        return Err(serde::de::Error::custom(format!(
            "channels = {v:?} is invalid; expected a non-empty list of MIDI channels 1 to 16"
        )));
    }
    Ok(Some(v.into_iter().map(|c| c as u8).collect()))
}

fn de_transpose<'de, D: Deserializer<'de>>(d: D) -> Result<i8, D::Error> {
    let v = i64::deserialize(d)?;
    if !(-48..=48).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "transpose = {v} is out of range; expected -48 to 48 semitones"
        )));
    }
    Ok(v as i8)
}

fn de_gain<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(-120.0..=24.0).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "gain_db = {v} is out of range; expected -120 to 24 dB"
        )));
    }
    Ok(v)
}
