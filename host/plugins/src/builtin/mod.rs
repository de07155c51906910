//! Built-in processors, so the demo plays on a machine with no plugins:
//! `synth` (polyphonic sine/saw), `gain` (smoothed gain), `probe` (an
//! impulse per note-on, for timing tests) and `click` (a metronome on the
//! transport's beats).

pub mod click;
mod gain;
mod params;
mod player;
pub mod player_stream;
mod probe;
mod synth;

use std::sync::Arc;

pub use params::{ParamSpec, ParamStore};

use stagerack_core::plugin::{
    AudioProcessor, ParamId, ParamInfo, PluginDescriptor, PluginError, PluginFormat,
    PluginInstance, PluginKind, ProcessConfig,
};

/// The ids a preset may use with `format = "builtin"`.
pub const BUILTIN_IDS: &[&str] = &["synth", "gain", "probe", "click", "player"];

/// Prefix of a built-in's saved state, so a blob from another plugin is
/// recognised as foreign rather than misread.
const STATE_MAGIC: &str = "stagerack-builtin-state-v1\n";

type MakeProcessor = fn(&ProcessConfig, Arc<ParamStore>) -> Box<dyn AudioProcessor>;

/// A built-in plugin's main-thread handle. Main thread.
pub struct BuiltinInstance {
    descriptor: PluginDescriptor,
    specs: &'static [ParamSpec],
    store: Arc<ParamStore>,
    make: MakeProcessor,
    /// A player's backing track (see [`instantiate_def`]).
    track: Option<player::Track>,
}

/// Creates the built-in named `id`. Main thread.
pub fn instantiate(id: &str) -> Result<BuiltinInstance, PluginError> {
    let (name, kind, specs, make): (&str, PluginKind, &'static [ParamSpec], MakeProcessor) =
        match id {
            "synth" => (
                "Stagerack Synth",
                PluginKind::Instrument,
                synth::PARAMS,
                synth::make,
            ),
            "gain" => (
                "Stagerack Gain",
                PluginKind::Effect,
                gain::PARAMS,
                gain::make,
            ),
            "probe" => (
                "Stagerack Probe",
                PluginKind::Instrument,
                probe::PARAMS,
                probe::make,
            ),
            "click" => (
                "Stagerack Click",
                PluginKind::Instrument,
                click::PARAMS,
                click::make,
            ),
            "player" => (
                "Stagerack Player",
                PluginKind::Instrument,
                player::PARAMS,
                // Never called: a player's processors come from its track.
                click::make,
            ),
            _ => {
                return Err(PluginError::UnknownBuiltin {
                    id: id.to_owned(),
                    known: BUILTIN_IDS.join(", "),
                })
            }
        };
    Ok(BuiltinInstance {
        descriptor: PluginDescriptor {
            format: PluginFormat::Builtin,
            id: id.to_owned(),
            name: name.to_owned(),
            vendor: "stagerack".to_owned(),
            kind,
            path: None,
        },
        specs,
        store: Arc::new(ParamStore::new(specs)),
        make,
        track: None,
    })
}

/// Creates the built-in a preset entry names: a `player` opens its `file`
/// (relative to the preset's folder) here, so a missing or unreadable
/// file is an error at load. Main thread.
pub fn instantiate_def(def: &crate::def::PluginDef) -> Result<BuiltinInstance, PluginError> {
    let mut instance = instantiate(&def.id)?;
    if def.id == "player" {
        let path = def.file_path().ok_or_else(|| PluginError::Other {
            plugin: "Stagerack Player".to_owned(),
            reason: "it needs the track to play: add `file = \"backing.flac\"` (WAV, FLAC, MP3 \
                     or Ogg, relative to the preset) to its entry"
                .to_owned(),
        })?;
        instance.track = Some(player::Track::open(&path, &def.cues)?);
    }
    Ok(instance)
}

impl BuiltinInstance {
    fn spec(&self, id: ParamId) -> Option<&'static ParamSpec> {
        self.specs.iter().find(|s| s.id == id)
    }
}

impl PluginInstance for BuiltinInstance {
    fn descriptor(&self) -> &PluginDescriptor {
        &self.descriptor
    }

    fn params(&self) -> Vec<ParamInfo> {
        self.specs.iter().map(ParamSpec::info).collect()
    }

    fn param_value(&self, id: ParamId) -> Option<f64> {
        self.spec(id)?;
        Some(self.store.get(id))
    }

    fn param_text(&self, id: ParamId, value: f64) -> Option<String> {
        Some(self.spec(id)?.format(value))
    }

    fn set_param(&mut self, id: ParamId, value: f64) -> Result<(), PluginError> {
        let spec = self.spec(id).ok_or_else(|| PluginError::UnknownParam {
            plugin: self.descriptor.name.clone(),
            param: id.to_string(),
        })?;
        self.store.set(id, spec.clamp(value));
        Ok(())
    }

    fn activate(&mut self, config: &ProcessConfig) -> Result<Box<dyn AudioProcessor>, PluginError> {
        match self.track.as_mut() {
            Some(track) => track.activate(config, self.store.clone()),
            None if self.descriptor.id == "player" => Err(PluginError::Other {
                plugin: self.descriptor.name.clone(),
                reason: "it has no track to play; give its entry `file = ...`".to_owned(),
            }),
            None => Ok((self.make)(config, self.store.clone())),
        }
    }

    fn take_notices(&mut self, out: &mut Vec<String>) {
        if let Some(track) = self.track.as_mut() {
            track.take_notices(out);
        }
    }

    fn deactivate(&mut self, processor: Box<dyn AudioProcessor>) {
        drop(processor);
    }

    fn save_state(&mut self) -> Result<Vec<u8>, PluginError> {
        let map: std::collections::BTreeMap<&str, f64> = self
            .specs
            .iter()
            .map(|s| (s.name, self.store.get(s.id)))
            .collect();
        let mut out = STATE_MAGIC.as_bytes().to_vec();
        out.extend_from_slice(
            serde_json::to_string(&map)
                .map_err(|e| PluginError::Other {
                    plugin: self.descriptor.name.clone(),
                    reason: e.to_string(),
                })?
                .as_bytes(),
        );
        Ok(out)
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), PluginError> {
        let bad = |reason: String| PluginError::BadState {
            plugin: self.descriptor.name.clone(),
            reason,
        };
        let body = state
            .strip_prefix(STATE_MAGIC.as_bytes())
            .ok_or_else(|| bad("not a stagerack built-in state".into()))?;
        let map: std::collections::BTreeMap<String, f64> =
            serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        for (name, value) in map {
            let spec = self
                .specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| bad(format!("unknown parameter `{name}`")))?;
            self.store.set(spec.id, spec.clamp(value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let mut a = instantiate("synth").unwrap();
        a.set_param(0, 0.25).unwrap();
        let blob = a.save_state().unwrap();
        let mut b = instantiate("synth").unwrap();
        b.load_state(&blob).unwrap();
        assert_eq!(b.param_value(0), Some(0.25));
        assert!(instantiate("gain").unwrap().load_state(&blob).is_err());
        assert!(b.load_state(b"junk").is_err());
    }

    #[test]
    fn unknown_builtin_names_the_choices() {
        let err = instantiate("organ").err().unwrap().to_string();
        assert!(
            err.contains("organ") && err.contains("synth, gain, probe"),
            "{err}"
        );
    }
}
