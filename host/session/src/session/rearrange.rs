//! A playing setlist rearranged in place (a setlist saved with entries
//! added, removed or moved): every preset still in the set keeps its racks,
//! plugins and unsaved edits; only added entries are loaded and removed
//! ones unloaded (their plugins deactivated here when their processors come
//! home, never on the audio thread). The groups are renumbered in the next
//! plan (`PlanBuilder::regroup`): the song playing goes on under its new
//! number, held notes and tails included, with no cue. Main thread.

use super::{edit::EditError, group_model, Session};
use crate::preset::Preset;
use stagerack_engine::SwitchTable;

/// One entry of a rearranged setlist. Main thread.
#[derive(Clone, Debug)]
pub enum SetlistPlace {
    /// The preset playing now as group (entry) `.0`, kept as it is.
    Kept(u16),
    /// A preset new to the set, loaded for it.
    Added(Box<Preset>),
}

/// The renumberings the engine may not have made yet. Main thread.
#[derive(Debug, Default)]
pub(super) struct Regroups {
    /// The last epoch given out.
    epoch: u32,
    /// (epoch, each older group's new number), oldest first.
    pending: Vec<(u32, Vec<u16>)>,
    /// The renumbering the next plan carries (old plan's numbering to the
    /// newest), if not sent yet.
    unsent: Option<(Vec<u16>, u32)>,
}

impl Regroups {
    /// Group `group`, as the engine reported it in numbering `epoch`, in
    /// the newest numbering. Main thread.
    pub(super) fn renumber(&self, epoch: u32, mut group: u16) -> u16 {
        for (e, map) in &self.pending {
            if *e > epoch {
                match map.get(usize::from(group)) {
                    Some(&g) if g != u16::MAX => group = g,
                    _ => {}
                }
            }
        }
        group
    }

    /// The engine reports numbering `epoch`: older renumberings are done.
    /// Main thread.
    pub(super) fn made(&mut self, epoch: u32) {
        self.pending.retain(|(e, _)| *e > epoch);
    }

    /// The renumbering for the plan being built. Main thread.
    pub(super) fn take_unsent(&mut self) -> Option<(Vec<u16>, u32)> {
        self.unsent.take()
    }

    /// The plan did not go: its renumbering goes with the next. Main
    /// thread.
    pub(super) fn put_back(&mut self, unsent: (Vec<u16>, u32)) {
        self.unsent = Some(unsent);
    }

    /// A new renumbering `map` (from the model's numbering now); returns
    /// its epoch. Main thread.
    fn push(&mut self, map: Vec<u16>) -> u32 {
        self.epoch += 1;
        let epoch = self.epoch;
        // A renumbering not sent yet is folded into this one: the engine
        // goes from the plan it has straight to the newest numbering.
        let sent_map = match self.unsent.take() {
            Some((older, _)) => older
                .iter()
                .map(|&g| {
                    map.get(usize::from(g))
                        .copied()
                        .filter(|_| g != u16::MAX)
                        .unwrap_or(u16::MAX)
                })
                .collect(),
            None => map.clone(),
        };
        self.pending.push((epoch, map));
        self.unsent = Some((sent_map, epoch));
        epoch
    }
}

impl Session {
    /// Rearranges the playing setlist in place: `order` is the new set,
    /// each entry a preset kept from what plays now (by its group) or one
    /// added; groups `order` does not name are removed. `switch` is the new
    /// set's switch table (in the new order). The song playing must be
    /// kept: it stays current and keeps sounding (held notes, tails, a
    /// backing track going on), as does every kept preset with its unsaved
    /// edits and file. Nothing is changed when it is refused. Main thread.
    pub fn rearrange_setlist(
        &mut self,
        order: Vec<SetlistPlace>,
        switch: SwitchTable,
    ) -> Result<(), EditError> {
        let old_len = self.groups.len();
        let mut map = vec![u16::MAX; old_len];
        for (new, place) in order.iter().enumerate() {
            if let SetlistPlace::Kept(g) = place {
                match map.get_mut(usize::from(*g)) {
                    Some(slot) if *slot == u16::MAX => *slot = new as u16,
                    Some(_) => {
                        return Err(EditError::Invalid(format!(
                            "setlist entry {} is named twice in the new order; name each \
                             playing preset once",
                            g + 1
                        )))
                    }
                    None => {
                        return Err(EditError::Invalid(format!(
                            "there is no setlist entry {} playing (the set has {old_len}); \
                             name the entries that play",
                            g + 1
                        )))
                    }
                }
            }
        }
        let current = self.current_group();
        let Some(&new_current) = map.get(usize::from(current)).filter(|g| **g != u16::MAX) else {
            let name = self
                .groups
                .get(usize::from(current))
                .map_or_else(String::new, |g| g.name.clone());
            return Err(EditError::Invalid(format!(
                "setlist entry {} (`{name}`) is playing and cannot be removed while it \
                 plays; switch to another song first, then save again",
                current + 1
            )));
        };

        // Removed presets: their plugins are deactivated when their
        // processors come home.
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.racks)
            .into_iter()
            .partition(|r| map[usize::from(r.group)] == u16::MAX);
        self.racks = kept;
        for rack in &mut self.racks {
            rack.group = map[usize::from(rack.group)];
        }
        for slot in gone.into_iter().flat_map(|r| r.slots) {
            self.park(slot);
        }
        let mut old_groups: Vec<Option<_>> = std::mem::take(&mut self.groups)
            .into_iter()
            .map(Some)
            .collect();
        for (g, group) in old_groups.iter_mut().enumerate() {
            if map[g] == u16::MAX {
                for slot in group.take().map(|g| g.master).unwrap_or_default() {
                    self.park(slot);
                }
            }
        }

        // Which added entries to load: all, or those within the setlist's
        // neighbours of the song playing.
        let keep = self.neighbours.as_ref().map(|n| n.keep());
        let near = |i: usize| keep.is_none_or(|k| i.abs_diff(usize::from(new_current)) <= k);
        if let Some(n) = self.neighbours.as_mut() {
            n.rearrange(&order, usize::from(new_current));
        }
        let mut groups = Vec::with_capacity(order.len());
        for (new, place) in order.into_iter().enumerate() {
            match place {
                SetlistPlace::Kept(g) => {
                    groups.push(old_groups[usize::from(g)].take().expect("named once"))
                }
                SetlistPlace::Added(preset) => {
                    let master = if near(new) {
                        self.load_racks(new as u16, &preset);
                        match &preset.master {
                            Some(m) => {
                                let home =
                                    self.home_for(m.sandbox, m.sandbox, "the master section");
                                self.load_chain(&m.plugins, "master", &home)
                            }
                            None => Vec::new(),
                        }
                    } else {
                        Vec::new()
                    };
                    groups.push(group_model(&preset, master));
                }
            }
        }
        self.groups = groups;
        if let Some(first) = self.groups.first() {
            self.handle.set_safety_limiter(first.limiter);
        }
        self.pending_select = self
            .pending_select
            .and_then(|g| map.get(usize::from(g)).copied())
            .filter(|g| *g != u16::MAX);
        // Rack positions moved.
        self.learning = None;
        self.switch = switch;
        self.regroups.push(map);
        self.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SetlistPlace;
    use crate::preset::{parse_preset, Preset};
    use crate::session::Session;
    use stagerack_core::midi::{Event, TimedEvent};
    use stagerack_engine::{EngineConfig, EntryTrigger, QueueCapacities, SwitchTable};
    use std::path::Path;

    const BLOCK: usize = 64;

    fn synth(name: &str) -> Preset {
        let text = format!(
            "version = 1\nname = \"{name}\"\n[[rack]]\nname = \"{name}\"\n[[rack.plugin]]\n\
             format = \"builtin\"\nid = \"synth\"\nparams = {{ release = 0.5, level = -20.0 }}\n"
        );
        parse_preset(&text, Path::new("x.toml")).unwrap()
    }

    fn table(programs: &[u8]) -> SwitchTable {
        SwitchTable {
            entries: programs
                .iter()
                .map(|p| EntryTrigger {
                    program: Some(*p),
                    bank: None,
                    note: None,
                })
                .collect(),
            max_tail_frames: 48_000 * 5,
            ..SwitchTable::default()
        }
    }

    /// B made current, a note held on it, then `change` (at block 40);
    /// returns the left channel and the session's current group after each
    /// block, and the held note's plugin instance's address before and
    /// after.
    fn render(change: impl FnOnce(&mut Session)) -> (Vec<f32>, Vec<u16>, [*const (); 2]) {
        let config = EngineConfig {
            sample_rate: 48_000.0,
            max_block: BLOCK,
            queues: QueueCapacities::default(),
        };
        let presets = [synth("A"), synth("B"), synth("C")];
        let (mut session, mut engine) =
            Session::with_presets(&presets, table(&[1, 2, 3]), config, true).unwrap();
        let (mut l, mut r) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
        let mut out = Vec::new();
        let mut current = Vec::new();
        let address = |s: &Session| {
            let rack = s.racks().iter().find(|r| r.name == "B").unwrap();
            &*rack.slots[0].instance as *const _ as *const ()
        };
        let mut change = Some(change);
        let mut before = std::ptr::null();
        for block in 0..120 {
            session.pump();
            let mut events = Vec::new();
            if block == 2 {
                events.push(TimedEvent::new(5, Event::from_midi(&[0xC0, 2]).unwrap()));
            }
            if block == 10 {
                events.push(TimedEvent::new(
                    7,
                    Event::from_midi(&[0x90, 57, 100]).unwrap(),
                ));
            }
            if block == 40 {
                before = address(&session);
                (change.take().unwrap())(&mut session);
                current.push(session.current_group());
            }
            engine.process(&events, None, &mut l, &mut r);
            out.extend_from_slice(&l);
            current.push(session.current_group());
        }
        let after = address(&session);
        session.shutdown(engine);
        (out, current, [before, after])
    }

    #[test]
    fn a_rearranged_setlist_keeps_the_held_note_sounding_sample_for_sample() {
        let (reference, current, _) = render(|_| {});
        assert!(current[20..].iter().all(|g| *g == 1), "{current:?}");
        // B moved first, A second, C removed while B's note is held.
        let (out, current, [before, after]) = render(|s| {
            s.rearrange_setlist(
                vec![SetlistPlace::Kept(1), SetlistPlace::Kept(0)],
                table(&[2, 1]),
            )
            .unwrap();
            assert_eq!(s.groups().len(), 2);
            assert_eq!(s.groups()[0].name, "B");
        });
        assert_eq!(
            before, after,
            "the playing song's plugin is the same instance"
        );
        // B is current under its new number from the rearrangement on,
        // with no moment in the old numbering.
        assert!(current[42..].iter().all(|g| *g == 0), "{current:?}");
        let tail = &out[100 * BLOCK..];
        assert!(
            tail.iter().map(|s| s.abs()).fold(0.0, f32::max) > 1e-3,
            "the held note still sounds"
        );
        assert_eq!(
            out, reference,
            "the audio goes on sample for sample as if nothing had changed"
        );
    }

    #[test]
    fn removing_the_song_playing_is_refused_with_nothing_changed() {
        let (out, current, [before, after]) = render(|s| {
            let err = s
                .rearrange_setlist(
                    vec![
                        SetlistPlace::Kept(0),
                        SetlistPlace::Added(Box::new(synth("D"))),
                    ],
                    table(&[1, 4]),
                )
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("entry 2 (`B`) is playing") && err.contains("switch to another"),
                "{err}"
            );
            assert_eq!(s.groups().len(), 3);
        });
        assert_eq!(before, after);
        assert!(current[20..].iter().all(|g| *g == 1), "{current:?}");
        assert!(out[100 * BLOCK..].iter().any(|s| s.abs() > 1e-3));
    }

    #[test]
    fn an_added_entry_is_loaded_and_the_others_kept() {
        let (_, current, [before, after]) = render(|s| {
            s.rearrange_setlist(
                vec![
                    SetlistPlace::Added(Box::new(synth("D"))),
                    SetlistPlace::Kept(1),
                    SetlistPlace::Kept(2),
                ],
                table(&[4, 2, 3]),
            )
            .unwrap();
            let names: Vec<_> = s.groups().iter().map(|g| g.name.clone()).collect();
            assert_eq!(names, ["D", "B", "C"]);
            let groups: Vec<_> = s
                .racks()
                .iter()
                .map(|r| (r.name.clone(), r.group))
                .collect();
            assert_eq!(
                groups,
                [("B".into(), 1), ("C".into(), 2), ("D".into(), 0)],
                "{groups:?}"
            );
        });
        assert_eq!(before, after);
        assert!(current[42..].iter().all(|g| *g == 1), "{current:?}");
    }
}
