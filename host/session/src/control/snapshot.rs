//! Building the state snapshot clients display. Main thread.

use std::sync::atomic::Ordering;

use super::protocol::{KnobsSnapshot, ParamSnapshot, PluginSnapshot, RackSnapshot, Snapshot};
use crate::session::Session;

/// The session as clients see it. Main thread.
pub fn snapshot(session: &Session) -> Snapshot {
    Snapshot {
        presets: session.groups().iter().map(|g| g.name.clone()).collect(),
        files: session.groups().iter().map(|g| g.file.clone()).collect(),
        notes: session.song_notes().to_vec(),
        tempos: session.groups().iter().map(|g| g.tempo).collect(),
        current: session.current_group(),
        racks: session
            .racks()
            .iter()
            .map(|r| {
                let mut routing = r.def.clone();
                routing.plugins.clear();
                routing.name = r.name.clone();
                routing.gain_db = r.gain_db;
                RackSnapshot {
                    knobs: crate::session::knobs_now(r).map(|k| KnobsSnapshot {
                        plugin: k.plugin,
                        page: k.page,
                        pages: k.pages,
                        page_name: k.page_name,
                        knobs: k.knobs,
                    }),
                    latency: r.latency(),
                    preset: r.group,
                    routing,
                    plugins: r
                        .slots
                        .iter()
                        .map(|s| {
                            let d = s.instance.descriptor();
                            let programs = s.instance.programs();
                            PluginSnapshot {
                                name: d.name.clone(),
                                format: d.format,
                                id: d.id.clone(),
                                bypass: s.bypass,
                                failed: s.status.failed.load(Ordering::Relaxed),
                                has_editor: s.instance.has_editor(),
                                editor_open: s.editor().is_some(),
                                voices: s.instance.voice_capacity(),
                                programs: programs
                                    .as_ref()
                                    .map_or_else(Vec::new, |p| p.names.clone()),
                                program_param: programs.as_ref().and_then(|p| p.param),
                                program: s.instance.current_program(),
                                note_names: s
                                    .instance
                                    .note_names()
                                    .into_iter()
                                    .filter(|n| n.channel.is_none_or(|c| c == 0))
                                    .map(|n| (n.key, n.name))
                                    .collect(),
                                params: s
                                    .instance
                                    .params()
                                    .into_iter()
                                    .map(|p| {
                                        let value =
                                            s.instance.param_value(p.id).unwrap_or(p.default);
                                        ParamSnapshot {
                                            text: s
                                                .instance
                                                .param_text(p.id, value)
                                                .unwrap_or_default(),
                                            id: p.id,
                                            name: p.name,
                                            min: p.min,
                                            max: p.max,
                                            default: p.default,
                                            stepped: p.stepped,
                                            read_only: p.read_only,
                                            value,
                                        }
                                    })
                                    .collect(),
                            }
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}
