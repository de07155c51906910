//! Setlists that keep only the current preset and N neighbours on each
//! side loaded (`neighbours = N` in the setlist), for sets too big to hold
//! every plugin in memory at once.
//!
//! The engine switches on the MIDI trigger at its exact sample as always;
//! the main thread's pump sees the new current preset, loads the presets
//! that came within N, and unloads (deactivates here, never on the audio
//! thread) those that moved further away. Stepping through the set never
//! waits: the next song was loaded while the previous one played. A jump to
//! a preset that was not loaded still works: it is loaded at once, with a
//! warning that it waited (notes played before it was ready are not
//! heard). Main thread.

use super::{Session, SlotModel};
use crate::preset::Preset;

/// Which setlist entries are loaded, and the entries to load from.
#[derive(Debug)]
pub(crate) struct Neighbours {
    presets: Vec<Preset>,
    keep: usize,
    loaded: Vec<bool>,
    /// The current entry the loaded set was last arranged around.
    around: u16,
}

impl Neighbours {
    /// Entry 0 current, entries 0..=keep loaded.
    pub(crate) fn new(presets: &[Preset], keep: usize) -> Self {
        Self::around(presets, keep, 0)
    }

    /// Entry `current` current, the entries within `keep` of it loaded.
    pub(crate) fn around(presets: &[Preset], keep: usize, current: u16) -> Self {
        Self {
            presets: presets.to_vec(),
            keep,
            loaded: (0..presets.len())
                .map(|g| g.abs_diff(usize::from(current)) <= keep)
                .collect(),
            around: current,
        }
    }

    /// How many neighbours on each side stay loaded. Main thread.
    pub(crate) fn keep(&self) -> usize {
        self.keep
    }

    /// Follows the setlist rearranged to `order` (see `rearrange.rs`),
    /// entry `current` playing: a kept entry stays as loaded as it was, an
    /// added one is loaded when within `keep` of `current`. The next pump
    /// loads and unloads around `current`. Main thread.
    pub(crate) fn rearrange(&mut self, order: &[super::SetlistPlace], current: usize) {
        let (presets, loaded) = order
            .iter()
            .enumerate()
            .map(|(i, place)| match place {
                super::SetlistPlace::Kept(g) => {
                    let g = usize::from(*g);
                    (self.presets[g].clone(), self.loaded[g])
                }
                super::SetlistPlace::Added(p) => ((**p).clone(), i.abs_diff(current) <= self.keep),
            })
            .unzip();
        self.presets = presets;
        self.loaded = loaded;
        // Arranged around no entry: the next pump arranges it.
        self.around = u16::MAX;
    }
}

impl Session {
    /// Which setlist entries have their plugins loaded now (all true
    /// without `neighbours`). Main thread.
    pub fn loaded_presets(&self) -> Vec<bool> {
        match &self.neighbours {
            Some(n) => n.loaded.clone(),
            None => vec![true; self.groups.len()],
        }
    }

    /// Loads and unloads entries around the current one (called by the
    /// pump). Main thread.
    pub(super) fn follow_setlist(&mut self) {
        let current = self.current_group();
        let Some(n) = self.neighbours.as_mut() else {
            return;
        };
        if current == n.around {
            return;
        }
        n.around = current;
        let keep = n.keep;
        let cur = usize::from(current);
        let mut changed = false;
        if !n.loaded.get(cur).copied().unwrap_or(true) {
            let name = n.presets[cur].name.clone();
            let msg = format!(
                "setlist entry {} (`{name}`) was not loaded (the setlist keeps {keep} \\
                 neighbour(s) loaded): loading it now; notes played before it is ready are not \\
                 heard",
                cur + 1
            );
            tracing::warn!("{msg}");
            self.warnings.push(msg);
        }
        let todo: Vec<(usize, bool)> = n
            .loaded
            .iter()
            .enumerate()
            .filter_map(|(g, &loaded)| {
                let near = g.abs_diff(cur) <= keep;
                (near != loaded).then_some((g, near))
            })
            .collect();
        for (g, load) in todo {
            changed = true;
            if load {
                self.load_entry(g);
            } else {
                self.unload_entry(g);
            }
        }
        if changed {
            if let Err(e) = self.commit() {
                tracing::warn!("setlist neighbours not (un)loaded yet: {e}");
            }
        }
    }

    fn load_entry(&mut self, g: usize) {
        let Some(n) = self.neighbours.as_mut() else {
            return;
        };
        let preset = n.presets[g].clone();
        n.loaded[g] = true;
        self.load_racks(g as u16, &preset);
        if let Some(m) = &preset.master {
            let home = self.home_for(m.sandbox, m.sandbox, "the master section");
            let master = self.load_chain(&m.plugins, "master", &home);
            self.groups[g].master = master;
        }
        tracing::info!("setlist entry {} (`{}`) loaded", g + 1, preset.name);
    }

    fn unload_entry(&mut self, g: usize) {
        if let Some(n) = self.neighbours.as_mut() {
            n.loaded[g] = false;
        }
        let group = g as u16;
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.racks)
            .into_iter()
            .partition(|r| r.group == group);
        self.racks = kept;
        let mut slots: Vec<SlotModel> = gone.into_iter().flat_map(|r| r.slots).collect();
        slots.append(&mut self.groups[g].master);
        for slot in slots {
            self.park(slot);
        }
        tracing::info!("setlist entry {} unloaded", g + 1);
    }
}
