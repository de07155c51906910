//! What each plugin is told about where it sits (CLAP `track-info`,
//! `param-indication`): its rack's name and which of its parameters the
//! rack's maps move. Sent at load and after every edit that changes it.

use stagerack_core::plugin::HostContext;

use super::Session;
use crate::preset::MapSourceDef;

impl Session {
    /// Tells every plugin whose context changed since it was last told.
    /// Main thread (from `commit`).
    pub(super) fn tell_host_contexts(&mut self) {
        for rack in &mut self.racks {
            for slot in &mut rack.slots {
                let params = if rack.def.mappings.iter().any(|m| m.plugin == slot.def_index) {
                    slot.instance.params()
                } else {
                    Vec::new()
                };
                let mapped = rack
                    .def
                    .mappings
                    .iter()
                    .filter(|m| m.plugin == slot.def_index)
                    .filter_map(|m| {
                        let p = params.iter().find(|p| {
                            p.name == m.param || m.param.parse::<u32>().ok() == Some(p.id)
                        })?;
                        Some((p.id, label(m.source)))
                    })
                    .collect();
                let context = HostContext {
                    rack: rack.name.clone(),
                    mapped,
                };
                if slot.told.as_ref() != Some(&context) {
                    slot.instance.set_host_context(&context);
                    slot.told = Some(context);
                }
            }
        }
    }
}

/// A short name for what moves a mapped parameter ("CC 74").
fn label(source: MapSourceDef) -> String {
    match source {
        MapSourceDef::Cc(n) => format!("CC {n}"),
        MapSourceDef::PitchBend => "Pitch bend".to_owned(),
        MapSourceDef::Aftertouch => "Aftertouch".to_owned(),
    }
}
