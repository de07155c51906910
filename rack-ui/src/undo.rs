//! Inverse commands: what takes an edit back, computed from the snapshot
//! taken just before the edit. Main (UI) thread.

use stagerack_session::control::protocol::PluginSnapshot;
use stagerack_session::control::{Command, Snapshot};
use stagerack_session::preset::{MpeMode, RackDef, VelocityCurve};
use stagerack_session::session::RackEdit;

/// The commands that undo `command` applied to `before`; `None` when the
/// command is not an edit (save, panic, setlist moves) or cannot be
/// inverted from what the snapshot shows.
pub fn inverse(before: &Snapshot, command: &Command) -> Option<Vec<Command>> {
    Some(match command {
        Command::AddPlugin { rack, index, .. } => {
            let len = before.racks.get(*rack)?.plugins.len();
            vec![Command::RemovePlugin {
                rack: *rack,
                index: index.unwrap_or(len).min(len),
            }]
        }
        Command::RemovePlugin { rack, index } => {
            let p = before.racks.get(*rack)?.plugins.get(*index)?;
            recreate_plugin(*rack, *index, p)
        }
        Command::MovePlugin { rack, from, to } => vec![Command::MovePlugin {
            rack: *rack,
            from: *to,
            to: *from,
        }],
        Command::SetBypass {
            rack,
            index,
            bypass,
        } => vec![Command::SetBypass {
            rack: *rack,
            index: *index,
            bypass: !*bypass,
        }],
        Command::SetParam {
            rack, index, param, ..
        } => {
            let p = before
                .racks
                .get(*rack)?
                .plugins
                .get(*index)?
                .params
                .iter()
                .find(|p| p.id == *param)?;
            vec![Command::SetParam {
                rack: *rack,
                index: *index,
                param: *param,
                value: p.value,
                gesture: None,
            }]
        }
        Command::SelectProgram { rack, index, .. } => {
            // Back to the program before, and to the parameter values it
            // had (a program sets many): they are in the snapshot.
            let plugin = before.racks.get(*rack)?.plugins.get(*index)?;
            let mut back = vec![Command::SelectProgram {
                rack: *rack,
                index: *index,
                program: plugin.program?,
            }];
            back.extend(
                plugin
                    .params
                    .iter()
                    .filter(|p| !p.read_only)
                    .map(|p| Command::SetParam {
                        rack: *rack,
                        index: *index,
                        param: p.id,
                        value: p.value,
                        gesture: None,
                    }),
            );
            back
        }
        Command::EditRack { rack, edit } => {
            let def = &before.racks.get(*rack)?.routing;
            vec![Command::EditRack {
                rack: *rack,
                edit: old_values(def, edit),
            }]
        }
        Command::AddRack { .. } => vec![Command::RemoveRack {
            rack: before.racks.len(),
        }],
        Command::RemoveRack { rack } => {
            // The rack comes back at the end of the list, with its routing,
            // chain and parameter values (plugin state beyond parameters is
            // not in the snapshot).
            let r = before.racks.get(*rack)?;
            let new_index = before.racks.len() - 1;
            let mut cmds = vec![
                Command::AddRack {
                    name: r.routing.name.clone(),
                },
                Command::EditRack {
                    rack: new_index,
                    edit: full_edit(&r.routing),
                },
            ];
            for (i, p) in r.plugins.iter().enumerate() {
                cmds.extend(recreate_plugin(new_index, i, p));
            }
            cmds
        }
        _ => return None,
    })
}

fn recreate_plugin(rack: usize, index: usize, p: &PluginSnapshot) -> Vec<Command> {
    let mut cmds = vec![Command::AddPlugin {
        rack,
        index: Some(index),
        format: p.format,
        plugin: p.id.clone(),
        path: None,
    }];
    cmds.extend(p.params.iter().map(|q| Command::SetParam {
        rack,
        index,
        param: q.id,
        value: q.value,
        gesture: None,
    }));
    if p.bypass {
        cmds.push(Command::SetBypass {
            rack,
            index,
            bypass: true,
        });
    }
    cmds
}

/// The curve's name as `RackEdit` takes it (other curves stay as they are).
pub fn curve_name(c: &VelocityCurve) -> Option<&'static str> {
    match c {
        VelocityCurve::Linear => Some("linear"),
        VelocityCurve::Soft => Some("soft"),
        VelocityCurve::Hard => Some("hard"),
        _ => None,
    }
}

/// An MPE mode as `RackEdit` takes it.
pub fn mpe_name(mode: MpeMode) -> &'static str {
    match mode {
        MpeMode::Off => "off",
        MpeMode::Lower => "lower",
        MpeMode::Upper => "upper",
        MpeMode::Auto => "auto",
    }
}

/// The edit that puts back, field by field, what `edit` changes.
fn old_values(def: &RackDef, edit: &RackEdit) -> RackEdit {
    RackEdit {
        name: edit.name.as_ref().map(|_| def.name.clone()),
        keys: edit.keys.map(|_| def.keys.unwrap_or([0, 127])),
        velocity: edit.velocity.map(|_| def.velocity.unwrap_or([1, 127])),
        channels: edit
            .channels
            .as_ref()
            .map(|_| def.channels.clone().unwrap_or_default()),
        transpose: edit.transpose.map(|_| def.transpose),
        octave: edit.octave.map(|_| def.octave),
        velocity_curve: edit
            .velocity_curve
            .as_ref()
            .and_then(|_| curve_name(&def.velocity_curve).map(str::to_owned)),
        gain_db: edit.gain_db.map(|_| def.gain_db),
        pan: edit.pan.map(|_| def.pan),
        mute: edit.mute.map(|_| def.mute),
        solo: edit.solo.map(|_| def.solo),
        cc_block: edit.cc_block.as_ref().map(|_| def.cc_block.clone()),
        cc_remap: edit.cc_remap.as_ref().map(|_| def.cc_remap.clone()),
        sustain: edit.sustain.map(|_| def.sustain),
        maps: edit.maps.as_ref().map(|_| def.mappings.clone()),
        midi_from: edit
            .midi_from
            .as_ref()
            .map(|_| def.midi_from.clone().unwrap_or_default()),
        mpe: edit.mpe.as_ref().map(|_| mpe_name(def.mpe).to_owned()),
        mpe_bend_range: edit
            .mpe_bend_range
            .map(|_| def.mpe_bend_range.unwrap_or(48)),
    }
}

/// Every field of a rack's routing as an edit.
fn full_edit(def: &RackDef) -> RackEdit {
    RackEdit {
        name: None,
        keys: def.keys,
        velocity: def.velocity,
        channels: def.channels.clone(),
        transpose: Some(def.transpose),
        octave: Some(def.octave),
        velocity_curve: curve_name(&def.velocity_curve).map(str::to_owned),
        gain_db: Some(def.gain_db),
        pan: Some(def.pan),
        mute: Some(def.mute),
        solo: Some(def.solo),
        cc_block: Some(def.cc_block.clone()),
        cc_remap: Some(def.cc_remap.clone()),
        sustain: Some(def.sustain),
        // Maps name plugins by their place in the chain, which comes back
        // after this edit: not restored (as before).
        maps: None,
        midi_from: Some(def.midi_from.clone().unwrap_or_default()),
        mpe: Some(mpe_name(def.mpe).to_owned()),
        mpe_bend_range: def.mpe_bend_range,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stagerack_session::control::protocol::RackSnapshot;

    fn snap() -> Snapshot {
        let mut routing = RackDef::new("bass", Vec::new());
        routing.keys = Some([0, 59]);
        routing.gain_db = -2.0;
        Snapshot {
            presets: vec!["demo".into()],
            current: 0,
            racks: vec![RackSnapshot {
                preset: 0,
                routing,
                plugins: Vec::new(),
                latency: 0,
                knobs: None,
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn rack_edit_inverse_restores_only_the_changed_fields() {
        let cmd = Command::EditRack {
            rack: 0,
            edit: RackEdit {
                keys: Some([10, 20]),
                gain_db: Some(-6.0),
                ..RackEdit::default()
            },
        };
        let inv = inverse(&snap(), &cmd).unwrap();
        assert_eq!(
            inv,
            vec![Command::EditRack {
                rack: 0,
                edit: RackEdit {
                    keys: Some([0, 59]),
                    gain_db: Some(-2.0),
                    ..RackEdit::default()
                }
            }]
        );
    }

    #[test]
    fn add_plugin_is_undone_by_removing_it_where_it_landed() {
        let cmd = Command::AddPlugin {
            rack: 0,
            index: None,
            format: stagerack_session::control::PluginFormat::Builtin,
            plugin: "synth".into(),
            path: None,
        };
        assert_eq!(
            inverse(&snap(), &cmd).unwrap(),
            vec![Command::RemovePlugin { rack: 0, index: 0 }]
        );
        assert!(inverse(&snap(), &Command::Panic {}).is_none());
    }
}
