//! The preset file format, version 1. Field names are part of the
//! interface: scripts and later versions rely on them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

pub use stagerack_plugins::def::{Expressions, PluginDef, ProgramRef};
pub use stagerack_plugins::sandbox::SandboxMode;

/// Where plugins run when neither the rack, the preset's `[master]` nor
/// the command line says: in the engine's own process. Measured (`cargo
/// xtask bench`, section 9 "Sandboxes"; on this project's 2-core VM about
/// 40 us added per sandboxed plugin per buffer, 28 us when started early
/// behind another rack, and the demo's DSP load up from ~1.2 % to ~3.5 %
/// median): a sandbox costs a cross-process round trip per buffer and half
/// the period as its deadline. A player who has not asked for isolation
/// keeps the lowest latency and CPU; one `sandbox = "plugin"` line (or
/// `--sandbox plugin`) buys it.
pub const DEFAULT_SANDBOX: SandboxMode = SandboxMode::None;

/// The preset format version this build reads and writes.
pub const PRESET_VERSION: u32 = 1;

/// A whole preset. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Format version; must be 1.
    #[serde(deserialize_with = "de_version")]
    pub version: u32,
    /// Display name (a file without one is named after itself: `show.toml`
    /// is `show`).
    #[serde(default)]
    pub name: String,
    /// Tempo in BPM that plugins see (default 120).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_tempo"
    )]
    pub tempo: Option<f64>,
    /// A shared rig file (`rig = "rig.toml"`, relative to the preset)
    /// whose `[[output]]` and `[[input]]` lists this preset uses when it
    /// names none of its own: one file to edit for a new venue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rig: Option<std::path::PathBuf>,
    /// The stage's named outputs (`[[output]]`), in the order their
    /// channels are listed; none: the rig's, else one stereo output on
    /// channels 1 and 2.
    #[serde(default, rename = "output", skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputDef>,
    /// The stage's named inputs (`[[input]]`): a voice, a guitar, a
    /// backing-track player's return.
    #[serde(default, rename = "input", skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputDef>,
    /// The rig file's lists, read with the preset (not written back).
    #[serde(skip)]
    pub rig_lists: Option<Rig>,
    /// The racks, mixed together.
    #[serde(default, rename = "rack", skip_serializing_if = "Vec::is_empty")]
    pub racks: Vec<RackDef>,
    /// The master section after the mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<MasterDef>,
}

/// A named output (`[[output]] name = "IEM", channels = [3, 4]`): one or
/// two of the driver's channels (1-based; JACK: one port each, named
/// `IEM_L`/`IEM_R`, or `IEM` for a mono output). Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDef {
    /// Its name: letters, digits, `-` and `_`.
    #[serde(deserialize_with = "de_output_name")]
    pub name: String,
    /// Its driver channels, 1-based: `[left, right]`, or `[n]` for mono.
    #[serde(deserialize_with = "de_output_channels")]
    pub channels: Vec<u16>,
    /// Output gain in dB, -120..=24.
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        deserialize_with = "de_gain"
    )]
    pub gain_db: f64,
    /// Silenced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mute: bool,
    /// When any output is soloed, only soloed outputs are heard.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub solo: bool,
    /// The safety limiter (0 dBFS brick wall) guards it (default on).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub limiter: bool,
}

impl OutputDef {
    /// The port (JACK) or channel names of this output, in channel
    /// order: `NAME_L`, `NAME_R`, or `NAME` when mono. Any thread.
    pub fn channel_names(&self) -> Vec<String> {
        match self.channels.len() {
            1 => vec![self.name.clone()],
            _ => vec![format!("{}_L", self.name), format!("{}_R", self.name)],
        }
    }
}

/// A rig file: the stage's outputs and inputs, shared by presets and
/// setlists (`rig = "rig.toml"`). Main thread.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rig {
    /// Its outputs.
    #[serde(default, rename = "output")]
    pub outputs: Vec<OutputDef>,
    /// Its inputs.
    #[serde(default, rename = "input")]
    pub inputs: Vec<InputDef>,
}

impl Preset {
    /// The outputs it plays on: its own `[[output]]` list, else its rig's.
    /// Any thread.
    pub fn stage_outputs(&self) -> &[OutputDef] {
        match &self.rig_lists {
            Some(rig) if self.outputs.is_empty() => &rig.outputs,
            _ => &self.outputs,
        }
    }

    /// The inputs it takes: its own `[[input]]` list, else its rig's.
    /// Any thread.
    pub fn stage_inputs(&self) -> &[InputDef] {
        match &self.rig_lists {
            Some(rig) if self.inputs.is_empty() => &rig.inputs,
            _ => &self.inputs,
        }
    }
}

/// A named input (`[[input]] name = "vocal", channels = [1]`): one or two
/// of the driver's input channels (1-based; JACK: one port each, `vocal`,
/// or `guitar_L`/`guitar_R`). Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDef {
    /// Its name: letters, digits, `-` and `_`.
    #[serde(deserialize_with = "de_output_name")]
    pub name: String,
    /// Its driver input channels, 1-based: `[left, right]` or `[mono]`.
    #[serde(deserialize_with = "de_output_channels")]
    pub channels: Vec<u16>,
}

impl InputDef {
    /// Its port names, in channel order (as [`OutputDef::channel_names`]).
    /// Any thread.
    pub fn channel_names(&self) -> Vec<String> {
        match self.channels.len() {
            1 => vec![self.name.clone()],
            _ => vec![format!("{}_L", self.name), format!("{}_R", self.name)],
        }
    }
}

fn de_output_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(serde::de::Error::custom(format!(
            "output name `{name}`: use 1 to 32 letters, digits, `-` or `_` (it names JACK ports)"
        )));
    }
    if ["midi_in", "in"].contains(&name.as_str()) || name.starts_with("midi_in_") {
        return Err(serde::de::Error::custom(format!(
            "output name `{name}` is taken by stagerack's own ports; choose another"
        )));
    }
    Ok(name)
}

fn de_output_channels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    let v = Vec::<i64>::deserialize(d)?;
    if v.is_empty() || v.len() > 2 || v.iter().any(|c| !(1..=64).contains(c)) {
        return Err(serde::de::Error::custom(format!(
            "channels = {v:?}: expected [left, right] or [mono], each 1 to 64"
        )));
    }
    if v.len() == 2 && v[0] == v[1] {
        return Err(serde::de::Error::custom(format!(
            "channels = {v:?}: left and right must differ (use [{}] for mono)",
            v[0]
        )));
    }
    Ok(v.into_iter().map(|c| c as u16).collect())
}

/// A rack's send to an output: `IEM = -6.0` (dB, after the rack's fader)
/// or `IEM = { db = -6.0, pre = true }` (before it). Main thread.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SendDef {
    /// Level in dB, post-fader.
    Level(f64),
    /// Level and where it is taken.
    Full {
        /// Level in dB.
        db: f64,
        /// Before the rack's gain and pan (mute still silences it).
        #[serde(default)]
        pre: bool,
    },
}

impl SendDef {
    /// Its level in dB. Any thread.
    pub fn db(&self) -> f64 {
        match *self {
            SendDef::Level(db) | SendDef::Full { db, .. } => db,
        }
    }

    /// Taken before the rack's fader. Any thread.
    pub fn pre(&self) -> bool {
        matches!(self, SendDef::Full { pre: true, .. })
    }
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
    /// Octaves added to every note (on top of `transpose`), -4..=4.
    #[serde(
        default,
        skip_serializing_if = "is_zero_i8",
        deserialize_with = "de_octave"
    )]
    pub octave: i8,
    /// How played velocity maps to the velocity the chain gets.
    #[serde(default, skip_serializing_if = "VelocityCurve::is_linear")]
    pub velocity_curve: VelocityCurve,
    /// Controllers the rack ignores (0..=119), e.g. `[1]` blocks the mod wheel.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_cc_list"
    )]
    pub cc_block: Vec<u8>,
    /// Controllers renamed on the way in: `[[from, to]]`, e.g. `[[11, 7]]`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_cc_pairs"
    )]
    pub cc_remap: Vec<[u8; 2]>,
    /// Whether the sustain pedal (CC64) reaches this rack (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub sustain: bool,
    /// The MIDI input devices this rack hears, by name pattern (a
    /// case-insensitive part of the device name, e.g. `"keystation"`);
    /// empty: every input. Where the backend merges its inputs into one
    /// (JACK's `midi_in`, offline renders) the patterns are not applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<String>,
    /// The rack (by name, in this preset) whose plugins' MIDI output this
    /// rack plays instead of the MIDI inputs: `midi_from = "arp"` lets an
    /// arpeggiator rack drive this one. Its keys, channels, transpose and
    /// velocity settings apply to that MIDI as to the inputs'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midi_from: Option<String>,
    /// The input (an `[[input]]` name) its chain processes instead of
    /// silence, a mono input on both sides; the driver's own latency only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_audio: Option<String>,
    /// The output it plays to (an `[[output]]` name); default the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Its sends to other outputs, by output name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sends: BTreeMap<String, SendDef>,
    /// Output gain in dB, -120..=24.
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        deserialize_with = "de_gain"
    )]
    pub gain_db: f64,
    /// Stereo balance, -1 (left) ..= 1 (right).
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        deserialize_with = "de_pan"
    )]
    pub pan: f64,
    /// Silenced (still playing, so unmuting resumes held notes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mute: bool,
    /// When any rack is soloed, only soloed racks are heard.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub solo: bool,
    /// Where its plugins run: `none` (in the engine), `rack` (the chain in
    /// one child process), `plugin` (each plugin in its own); default the
    /// preset's `[master] sandbox`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    /// The MPE zone it plays: `"lower"` (master channel 1, members 2–16),
    /// `"upper"` (master 16, members 1–15), `"auto"` (whatever zone the
    /// controller's MPE Configuration Message sets) or `"off"` (default): each
    /// member channel's pitch bend, pressure and CC 74 belong to its note.
    #[serde(default, skip_serializing_if = "MpeMode::is_off")]
    pub mpe: MpeMode,
    /// The zone its plugins play, `"lower"` or `"upper"`: an MPE stream of
    /// the other zone is mirrored onto it (master to master, each member
    /// to its counterpart), e.g. an upper-zone controller layered onto a
    /// plugin that knows only the lower zone. Default: as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpe_out: Option<MpeSide>,
    /// Semitones a full member-channel pitch bend reaches, 1..=96
    /// (default 48, as MPE says).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_mpe_bend_range"
    )]
    pub mpe_bend_range: Option<u8>,
    /// A bank of hardware knobs on "the current page of a plugin's main
    /// controls" (CLAP remote-controls pages; other plugins' parameters
    /// eight at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls: Option<ControlsDef>,
    /// MIDI-to-parameter mappings.
    #[serde(default, rename = "map", skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<MapDef>,
    /// The chain, in order.
    #[serde(default, rename = "plugin", skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginDef>,
}

/// A controller (or pitch bend, or aftertouch) moving a plugin parameter:
/// `{ cc = 11, plugin = 0, param = "cutoff", min = 200.0, max = 8000.0,
/// curve = "exponential" }`. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawMapDef", into = "RawMapDef")]
pub struct MapDef {
    /// What moves it: a CC number, `pitchbend` or `aftertouch`.
    pub source: MapSourceDef,
    /// Index of the plugin in the rack's chain (0 = first).
    pub plugin: usize,
    /// Parameter name or numeric id.
    pub param: String,
    /// Value at the source's bottom.
    pub min: f64,
    /// Value at the source's top.
    pub max: f64,
    /// `linear` or `exponential`.
    pub curve: MapCurveDef,
}

/// What moves a mapped parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSourceDef {
    /// Control change number.
    Cc(u8),
    /// Pitch bend.
    PitchBend,
    /// Channel pressure.
    Aftertouch,
}

/// Shape of a mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapCurveDef {
    /// Straight line.
    #[default]
    Linear,
    /// Equal ratios per step.
    Exponential,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cc: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    plugin: usize,
    param: String,
    min: f64,
    max: f64,
    #[serde(default)]
    curve: MapCurveDef,
}

impl TryFrom<RawMapDef> for MapDef {
    type Error = String;
    fn try_from(r: RawMapDef) -> Result<Self, String> {
        let source = match (r.cc, r.source.as_deref()) {
            (Some(cc), None) if (0..=119).contains(&cc) => MapSourceDef::Cc(cc as u8),
            (Some(cc), None) => return Err(format!("map: cc = {cc} must be 0 to 119")),
            (None, Some("pitchbend")) => MapSourceDef::PitchBend,
            (None, Some("aftertouch")) => MapSourceDef::Aftertouch,
            _ => {
                return Err(
                    "map needs exactly one of `cc = 0..119` or `source = \"pitchbend\"` / `\"aftertouch\"`"
                        .into(),
                )
            }
        };
        if !(r.min.is_finite() && r.max.is_finite()) {
            return Err("map: min and max must be finite numbers".into());
        }
        Ok(MapDef {
            source,
            plugin: r.plugin,
            param: r.param,
            min: r.min,
            max: r.max,
            curve: r.curve,
        })
    }
}

impl From<MapDef> for RawMapDef {
    fn from(m: MapDef) -> Self {
        let (cc, source) = match m.source {
            MapSourceDef::Cc(n) => (Some(i64::from(n)), None),
            MapSourceDef::PitchBend => (None, Some("pitchbend".to_owned())),
            MapSourceDef::Aftertouch => (None, Some("aftertouch".to_owned())),
        };
        RawMapDef {
            cc,
            source,
            plugin: m.plugin,
            param: m.param,
            min: m.min,
            max: m.max,
            curve: m.curve,
        }
    }
}

/// A velocity curve: `"linear"`, `"soft"` (loud with less force), `"hard"`
/// (needs more force), `{ fixed = 100 }`, or `{ points = [[in, out], ...] }`
/// (straight lines between points, flat beyond the ends).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum VelocityCurve {
    /// Out = in.
    #[default]
    Linear,
    /// Out = 127 × (in/127)^0.6.
    Soft,
    /// Out = 127 × (in/127)^1.6.
    Hard,
    /// Every note at this velocity (1..=127).
    Fixed(u8),
    /// Piecewise linear through these (in, out) points, sorted by `in`.
    Points(Vec<[u8; 2]>),
}

impl VelocityCurve {
    fn is_linear(&self) -> bool {
        *self == VelocityCurve::Linear
    }

    /// The velocity sent for each velocity played (index 0 unused), never
    /// 0 for a note-on. Main thread.
    pub fn table(&self) -> [u8; 128] {
        let mut t = [0u8; 128];
        for (v, out) in t.iter_mut().enumerate() {
            let x = v as f64;
            let y = match self {
                VelocityCurve::Linear => x,
                VelocityCurve::Soft => 127.0 * (x / 127.0).powf(0.6),
                VelocityCurve::Hard => 127.0 * (x / 127.0).powf(1.6),
                VelocityCurve::Fixed(f) => f64::from(*f),
                VelocityCurve::Points(p) => interpolate(p, x),
            };
            *out = y.round().clamp(1.0, 127.0) as u8;
        }
        t[0] = 0;
        t
    }
}

fn interpolate(points: &[[u8; 2]], x: f64) -> f64 {
    let first = points[0];
    let last = points[points.len() - 1];
    if x <= f64::from(first[0]) {
        return f64::from(first[1]);
    }
    for w in points.windows(2) {
        let (x0, y0, x1, y1) = (
            f64::from(w[0][0]),
            f64::from(w[0][1]),
            f64::from(w[1][0]),
            f64::from(w[1][1]),
        );
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    f64::from(last[1])
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawCurve {
    Name(String),
    Fixed { fixed: i64 },
    Points { points: Vec<[i64; 2]> },
}

const CURVE_HELP: &str = "velocity_curve must be \"linear\", \"soft\", \"hard\", { fixed = 1..127 } or { points = [[in, out], ...] } with in and out in 1..127 and in increasing";

impl<'de> Deserialize<'de> for VelocityCurve {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawCurve::deserialize(d).map_err(|_| D::Error::custom(CURVE_HELP))?;
        let ok = |v: i64| (1..=127).contains(&v);
        match raw {
            RawCurve::Name(n) => match n.as_str() {
                "linear" => Ok(VelocityCurve::Linear),
                "soft" => Ok(VelocityCurve::Soft),
                "hard" => Ok(VelocityCurve::Hard),
                _ => Err(D::Error::custom(format!(
                    "unknown curve `{n}`: {CURVE_HELP}"
                ))),
            },
            RawCurve::Fixed { fixed } if ok(fixed) => Ok(VelocityCurve::Fixed(fixed as u8)),
            RawCurve::Points { points }
                if !points.is_empty()
                    && points.iter().all(|p| ok(p[0]) && ok(p[1]))
                    && points.windows(2).all(|w| w[0][0] < w[1][0]) =>
            {
                Ok(VelocityCurve::Points(
                    points.iter().map(|p| [p[0] as u8, p[1] as u8]).collect(),
                ))
            }
            _ => Err(D::Error::custom(CURVE_HELP)),
        }
    }
}

impl Serialize for VelocityCurve {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            VelocityCurve::Linear => RawCurve::Name("linear".into()),
            VelocityCurve::Soft => RawCurve::Name("soft".into()),
            VelocityCurve::Hard => RawCurve::Name("hard".into()),
            VelocityCurve::Fixed(f) => RawCurve::Fixed {
                fixed: i64::from(*f),
            },
            VelocityCurve::Points(p) => RawCurve::Points {
                points: p
                    .iter()
                    .map(|q| [i64::from(q[0]), i64::from(q[1])])
                    .collect(),
            },
        }
        .serialize(s)
    }
}

/// The master section. Main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterDef {
    /// Master gain in dB, -120..=24.
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        deserialize_with = "de_gain"
    )]
    pub gain_db: f64,
    /// The safety limiter at 0 dBFS after the mix (default on). Engine-wide:
    /// a setlist uses its first preset's setting.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub limiter: bool,
    /// Delay every rack to the slowest rack's reported latency, so layers
    /// stay in phase (default off: players want the lowest latency).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub align_latency: bool,
    /// Where plugins run unless a rack says otherwise (see
    /// [`RackDef::sandbox`]); also the master chain's own setting.
    /// Default: [`DEFAULT_SANDBOX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
    /// The master chain, in order.
    #[serde(default, rename = "plugin", skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginDef>,
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
            octave: 0,
            velocity_curve: VelocityCurve::Linear,
            cc_block: Vec::new(),
            cc_remap: Vec::new(),
            sustain: true,
            input: Vec::new(),
            midi_from: None,
            input_audio: None,
            output: None,
            sends: BTreeMap::new(),
            gain_db: 0.0,
            pan: 0.0,
            mute: false,
            solo: false,
            sandbox: None,
            mpe: MpeMode::Off,
            mpe_out: None,
            mpe_bend_range: None,
            controls: None,
            mappings: Vec::new(),
            plugins,
        }
    }
}

/// `[rack.controls]`: knobs turning the current page of a plugin's main
/// controls: `cc = [21, 22, 23, 24, 25, 26, 27, 28]`, `next_page = 31`,
/// `previous_page = 30`, `plugin = 0`. Main thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlsDef {
    /// The knobs' controllers, 1 to 8 of them (0..=119).
    #[serde(deserialize_with = "de_knobs")]
    pub cc: Vec<u8>,
    /// The plugin (index in the chain); default the first that has pages
    /// of main controls, else the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<usize>,
    /// The controller (pressed: value 64 and up) that goes to the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<u8>,
    /// The controller that goes to the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_page: Option<u8>,
}

fn de_knobs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let v = Vec::<i64>::deserialize(d)?
        .into_iter()
        .map(|v| check_cc("controls cc", v))
        .collect::<Result<Vec<u8>, D::Error>>()?;
    if v.is_empty() || v.len() > 8 {
        return Err(serde::de::Error::custom(format!(
            "controls need 1 to 8 knob controllers, not {}",
            v.len()
        )));
    }
    Ok(v)
}

/// A rack's MPE zone (see [`RackDef::mpe`]). Any thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MpeMode {
    /// Not MPE: every channel is a channel.
    #[default]
    Off,
    /// Master channel 1, member channels 2–16.
    Lower,
    /// Master channel 16, member channels 1–15.
    Upper,
    /// No zone until the controller sends the MPE Configuration Message
    /// (RPN 6 on channel 1 or 16), which sets it.
    Auto,
}

/// An MPE zone by its end of the channels (see [`RackDef::mpe_out`]).
/// Any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MpeSide {
    /// Master channel 1, members 2 up.
    Lower,
    /// Master channel 16, members 15 down.
    Upper,
}

impl MpeMode {
    fn is_off(&self) -> bool {
        *self == MpeMode::Off
    }
}

fn de_mpe_bend_range<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let v = i64::deserialize(d)?;
    if !(1..=96).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "mpe_bend_range = {v} is out of range; expected 1 to 96 semitones (MPE's default \
             is 48)"
        )));
    }
    Ok(Some(v as u8))
}

fn is_zero_i8(v: &i8) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_true(v: &bool) -> bool {
    *v
}

fn yes() -> bool {
    true
}

fn de_octave<'de, D: Deserializer<'de>>(d: D) -> Result<i8, D::Error> {
    let v = i64::deserialize(d)?;
    if !(-4..=4).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "octave = {v} is out of range; expected -4 to 4"
        )));
    }
    Ok(v as i8)
}

fn de_pan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(-1.0..=1.0).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "pan = {v} is out of range; expected -1 (left) to 1 (right)"
        )));
    }
    Ok(v)
}

fn check_cc<E: serde::de::Error>(what: &str, v: i64) -> Result<u8, E> {
    if (0..=119).contains(&v) {
        Ok(v as u8)
    } else {
        Err(E::custom(format!(
            "{what}: controller {v} is invalid; expected 0 to 119 (120-127 are channel mode messages)"
        )))
    }
}

fn de_cc_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Vec::<i64>::deserialize(d)?
        .into_iter()
        .map(|v| check_cc("cc_block", v))
        .collect()
}

fn de_cc_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 2]>, D::Error> {
    Vec::<[i64; 2]>::deserialize(d)?
        .into_iter()
        .map(|[a, b]| Ok([check_cc("cc_remap", a)?, check_cc("cc_remap", b)?]))
        .collect()
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
