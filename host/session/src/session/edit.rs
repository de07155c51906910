//! Editing a running session: every change is made to the model on the
//! main thread and reaches the audio thread as a new plan (or, for a
//! parameter, through the parameter queue). Nothing here blocks the audio.

use std::sync::atomic::Ordering;

use super::{rack_gains, Session, SessionError, SlotModel};
use crate::preset::{PluginDef, RackDef, VelocityCurve};
use stagerack_core::plugin::{ParamId, PluginError};
use stagerack_engine::ParamChange;

/// Why an edit was refused. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// No rack with that index.
    #[error("there is no rack {0}; the session has {1} racks")]
    NoRack(usize, usize),
    /// No plugin at that position.
    #[error("rack {rack} has no plugin at position {index}; it has {len}")]
    NoPlugin {
        /// Rack index.
        rack: usize,
        /// Asked position.
        index: usize,
        /// Plugins in the rack.
        len: usize,
    },
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
    /// The plugin refused.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The engine refused the new plan.
    #[error(transparent)]
    Session(#[from] SessionError),
}

pub use crate::control::protocol::RackEdit;

/// What MIDI learn waits for, with the controller count when it started.
/// Main thread.
#[derive(Clone, Copy, Debug)]
pub(super) enum Learning {
    /// One parameter (rack, chain position, parameter).
    Param(usize, usize, ParamId, u64),
    /// A rack's bank of knobs: the first controller moved becomes knob 1,
    /// the next numbers the others (rack, knobs).
    Knobs(usize, u8, u64),
}

impl RackEdit {
    /// Applies the edit to a preset rack definition, checking ranges.
    /// Main thread.
    pub fn apply_to(&self, def: &mut RackDef) -> Result<(), EditError> {
        let bad = |m: String| Err(EditError::Invalid(m));
        if let Some(n) = &self.name {
            def.name = n.clone();
        }
        if let Some(from) = &self.midi_from {
            def.midi_from = (!from.is_empty()).then(|| from.clone());
        }
        if let Some(mode) = &self.mpe {
            def.mpe = match mode.as_str() {
                "off" => crate::preset::MpeMode::Off,
                "lower" => crate::preset::MpeMode::Lower,
                "upper" => crate::preset::MpeMode::Upper,
                "auto" => crate::preset::MpeMode::Auto,
                _ => return bad(format!("mpe `{mode}`: expected off, lower, upper or auto")),
            };
        }
        if let Some(range) = self.mpe_bend_range {
            if !(1..=96).contains(&range) {
                return bad(format!(
                    "mpe bend range {range}: expected 1 to 96 semitones"
                ));
            }
            def.mpe_bend_range = Some(range);
        }
        if let Some([lo, hi]) = self.keys {
            if lo > hi || hi > 127 {
                return bad(format!(
                    "keys [{lo}, {hi}]: expected 0 <= low <= high <= 127"
                ));
            }
            def.keys = Some([lo, hi]);
        }
        if let Some([lo, hi]) = self.velocity {
            if lo == 0 || lo > hi || hi > 127 {
                return bad(format!(
                    "velocity [{lo}, {hi}]: expected 1 <= low <= high <= 127"
                ));
            }
            def.velocity = Some([lo, hi]);
        }
        if let Some(ch) = &self.channels {
            if ch.iter().any(|c| !(1..=16).contains(c)) {
                return bad(format!("channels {ch:?}: expected 1 to 16"));
            }
            def.channels = if ch.is_empty() {
                None
            } else {
                Some(ch.clone())
            };
        }
        if let Some(t) = self.transpose {
            if !(-48..=48).contains(&t) {
                return bad(format!("transpose {t}: expected -48 to 48"));
            }
            def.transpose = t;
        }
        if let Some(o) = self.octave {
            if !(-4..=4).contains(&o) {
                return bad(format!("octave {o}: expected -4 to 4"));
            }
            def.octave = o;
        }
        if let Some(c) = &self.velocity_curve {
            def.velocity_curve = match c.as_str() {
                "linear" => VelocityCurve::Linear,
                "soft" => VelocityCurve::Soft,
                "hard" => VelocityCurve::Hard,
                _ => {
                    return bad(format!(
                        "velocity curve `{c}`: expected linear, soft or hard"
                    ))
                }
            };
        }
        if let Some(g) = self.gain_db {
            if !(-120.0..=24.0).contains(&g) {
                return bad(format!("gain {g} dB: expected -120 to 24"));
            }
            def.gain_db = g;
        }
        if let Some(p) = self.pan {
            if !(-1.0..=1.0).contains(&p) {
                return bad(format!("pan {p}: expected -1 to 1"));
            }
            def.pan = p;
        }
        if let Some(m) = self.mute {
            def.mute = m;
        }
        if let Some(s) = self.solo {
            def.solo = s;
        }
        if let Some(cc) = &self.cc_block {
            if let Some(c) = cc.iter().find(|c| **c > 127) {
                return bad(format!("cc_block {c}: expected 0 to 127"));
            }
            def.cc_block = cc.clone();
        }
        if let Some(pairs) = &self.cc_remap {
            if let Some([a, b]) = pairs.iter().find(|[a, b]| *a > 127 || *b > 127) {
                return bad(format!("cc_remap [{a}, {b}]: expected 0 to 127"));
            }
            def.cc_remap = pairs.clone();
        }
        if let Some(s) = self.sustain {
            def.sustain = s;
        }
        if let Some(maps) = &self.maps {
            def.mappings = maps.clone();
        }
        Ok(())
    }
}

impl Session {
    fn rack_index(&self, rack: usize) -> Result<usize, EditError> {
        if rack < self.racks.len() {
            Ok(rack)
        } else {
            Err(EditError::NoRack(rack, self.racks.len()))
        }
    }

    pub(super) fn slot_index(
        &self,
        rack: usize,
        index: usize,
    ) -> Result<(usize, usize), EditError> {
        let r = self.rack_index(rack)?;
        let len = self.racks[r].slots.len();
        if index < len {
            Ok((r, index))
        } else {
            Err(EditError::NoPlugin { rack, index, len })
        }
    }

    /// Hands a removed slot's instance over for deactivation once the audio
    /// thread gives its processor back. Main thread.
    pub(super) fn park(&mut self, mut slot: SlotModel) {
        slot.close_editor();
        if slot.running {
            self.parked.insert(slot.id, slot.instance);
        } else {
            drop(slot);
        }
    }

    /// Inserts a plugin into a rack's chain at `index` (end if `None`).
    /// Main thread.
    pub fn add_plugin(
        &mut self,
        rack: usize,
        index: Option<usize>,
        def: &PluginDef,
    ) -> Result<(), EditError> {
        let r = self.rack_index(rack)?;
        let home = std::mem::take(&mut self.racks[r].home);
        let slot = self.load_slot(def, &home);
        self.racks[r].home = home;
        let mut slot = slot?;
        slot.def_index = self.racks[r]
            .slots
            .iter()
            .map(|s| s.def_index + 1)
            .max()
            .unwrap_or(0);
        let at = index.unwrap_or(usize::MAX).min(self.racks[r].slots.len());
        self.racks[r].slots.insert(at, slot);
        self.commit()?;
        Ok(())
    }

    /// Removes a plugin from a rack. Main thread.
    pub fn remove_plugin(&mut self, rack: usize, index: usize) -> Result<(), EditError> {
        let (r, i) = self.slot_index(rack, index)?;
        let slot = self.racks[r].slots.remove(i);
        self.park(slot);
        self.clear_rack_fault(r);
        self.commit()?;
        Ok(())
    }

    /// A rack muted for a plugin's bad output plays again once its chain
    /// changed (the plugin removed or bypassed). Main thread.
    fn clear_rack_fault(&mut self, r: usize) {
        self.racks[r]
            .status
            .fault_muted
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Moves a plugin within its rack's chain. Main thread.
    pub fn move_plugin(&mut self, rack: usize, from: usize, to: usize) -> Result<(), EditError> {
        let (r, i) = self.slot_index(rack, from)?;
        let slot = self.racks[r].slots.remove(i);
        let to = to.min(self.racks[r].slots.len());
        self.racks[r].slots.insert(to, slot);
        self.commit()?;
        Ok(())
    }

    /// Bypasses (or un-bypasses) a plugin. Main thread.
    pub fn set_bypass(&mut self, rack: usize, index: usize, bypass: bool) -> Result<(), EditError> {
        let (r, i) = self.slot_index(rack, index)?;
        self.racks[r].slots[i].bypass = bypass;
        if bypass {
            self.clear_rack_fault(r);
        }
        self.commit()?;
        Ok(())
    }

    /// The plugin's own text for `value` of `param` ("-6.0 dB"), for
    /// clients. Main thread.
    pub fn param_text(
        &self,
        rack: usize,
        index: usize,
        param: ParamId,
        value: f64,
    ) -> Option<String> {
        let (r, i) = self.slot_index(rack, index).ok()?;
        self.racks[r].slots[i].instance.param_text(param, value)
    }

    /// Selects a plugin's factory program by its place in the plugin's
    /// program list, through its program-change parameter (hidden from the
    /// parameter list, so [`Session::set_param`] does not take it). While
    /// the plugin plays the change lands at the start of the next buffer.
    /// Main thread.
    pub fn select_program_of(
        &mut self,
        rack: usize,
        index: usize,
        program: usize,
    ) -> Result<(), EditError> {
        let (r, i) = self.slot_index(rack, index)?;
        let slot = &mut self.racks[r].slots[i];
        let name = slot.instance.descriptor().name.clone();
        let Some(list) = slot.instance.programs() else {
            return Err(EditError::Invalid(format!(
                "{name} has no factory programs"
            )));
        };
        if program >= list.names.len() {
            return Err(EditError::Invalid(format!(
                "{name} has no program {} (it has {}: {})",
                program + 1,
                list.names.len(),
                list.names.join(", ")
            )));
        }
        match list.param {
            Some(param) => self.apply_param(r, i, param, program as f64),
            // Loaded by the plugin itself (CLAP preset-load), on this
            // thread; its parameters' new values come back as its own
            // changes.
            None => self.racks[r].slots[i]
                .instance
                .load_program(program)
                .map_err(EditError::from),
        }
    }

    /// Hands a checked value to a plugin: through the engine's queue to the
    /// start of the next buffer while it plays (its main-thread side told
    /// too), else straight to the instance. Main thread.
    fn apply_param(
        &mut self,
        r: usize,
        i: usize,
        param: ParamId,
        value: f64,
    ) -> Result<(), EditError> {
        let slot = &mut self.racks[r].slots[i];
        if slot.running {
            let change = ParamChange {
                processor: slot.id,
                param,
                value,
            };
            self.handle.send_param(change).map_err(|_| {
                EditError::Invalid("the engine's parameter queue is full; try again".into())
            })?;
            slot.instance.host_changed_param(param, value);
        } else {
            slot.instance.set_param(param, value)?;
        }
        Ok(())
    }

    /// Sets a plugin parameter. While the plugin plays the change goes
    /// through the engine's queue and lands at the start of the next buffer;
    /// otherwise it is set directly. Main thread.
    pub fn set_param(
        &mut self,
        rack: usize,
        index: usize,
        param: ParamId,
        value: f64,
    ) -> Result<(), EditError> {
        let (r, i) = self.slot_index(rack, index)?;
        let slot = &mut self.racks[r].slots[i];
        let info = slot
            .instance
            .params()
            .into_iter()
            .find(|p| p.id == param)
            .ok_or_else(|| PluginError::UnknownParam {
                plugin: slot.instance.descriptor().name.clone(),
                param: param.to_string(),
            })?;
        if info.read_only {
            return Err(EditError::Invalid(format!(
                "`{}` of {} is an output of the plugin (read-only); it cannot be set",
                info.name,
                slot.instance.descriptor().name
            )));
        }
        let value = value.clamp(info.min, info.max);
        self.apply_param(r, i, param, value)
    }

    /// Changes a rack's routing or mix. Main thread.
    pub fn edit_rack(&mut self, rack: usize, edit: &RackEdit) -> Result<(), EditError> {
        let r = self.rack_index(rack)?;
        let mut def = self.racks[r].def.clone();
        edit.apply_to(&mut def)?;
        // A map names a plugin of this rack by its place in the preset's
        // chain: it must still be there.
        if let Some(m) = def
            .mappings
            .iter()
            .find(|m| !self.racks[r].slots.iter().any(|s| s.def_index == m.plugin))
        {
            return Err(EditError::Invalid(format!(
                "a map names plugin {} of rack {}, which is not in its chain",
                m.plugin + 1,
                rack + 1
            )));
        }
        let group = self.racks[r].group;
        if let Some(from) = &def.midi_from {
            // The source must be another rack of the same preset, and
            // following sources from it must not come back here.
            let mut at = Some(from.clone());
            let mut steps = 0;
            while let Some(name) = at {
                if name == def.name || steps > self.racks.len() {
                    return Err(EditError::Invalid(format!(
                        "rack `{}` cannot take MIDI from `{from}`: that makes a loop of racks",
                        def.name
                    )));
                }
                let Some(source) = self
                    .racks
                    .iter()
                    .enumerate()
                    .find(|(i, x)| *i != r && x.group == group && x.name == name)
                else {
                    return Err(EditError::Invalid(format!(
                        "rack `{}` cannot take MIDI from `{from}`: no rack of its preset has that name",
                        def.name
                    )));
                };
                at = source.1.def.midi_from.clone();
                steps += 1;
            }
        }
        // Racks listening to this one follow its new name.
        let old_name = self.racks[r].name.clone();
        if old_name != def.name {
            for other in self.racks.iter_mut().filter(|x| x.group == group) {
                if other.def.midi_from.as_deref() == Some(old_name.as_str()) {
                    other.def.midi_from = Some(def.name.clone());
                }
            }
        }
        let model = &mut self.racks[r];
        model.name = def.name.clone();
        model.gain_db = def.gain_db;
        model.filter = super::filter_of(&def);
        model.def = def;
        self.commit()?;
        Ok(())
    }

    /// Adds an empty rack to preset `group`. Returns its index. Main thread.
    pub fn add_rack(&mut self, name: &str, group: u16) -> Result<usize, EditError> {
        if usize::from(group) >= self.groups.len() {
            return Err(EditError::Invalid(format!(
                "there is no preset {group} in this session"
            )));
        }
        let def = RackDef::new(name, Vec::new());
        let default = self.groups[usize::from(group)].sandbox;
        let home = self.home_for(None, default, &format!("rack `{name}`"));
        let id = stagerack_engine::RackId(self.fresh_id());
        self.racks.push(super::RackModel {
            id,
            name: name.to_owned(),
            filter: super::filter_of(&def),
            gain_db: 0.0,
            slots: Vec::new(),
            status: Default::default(),
            def,
            group,
            home,
        });
        self.commit()?;
        Ok(self.racks.len() - 1)
    }

    /// Replaces everything the session holds (every preset of a setlist
    /// included) with `preset`: its plugins are loaded here, the next plan
    /// plays it from a buffer boundary, and the old plugins are deactivated
    /// on this thread when their processors come home. A plugin that cannot
    /// load is left out with a warning, as at start-up. Main thread.
    pub fn replace_with(&mut self, preset: &crate::preset::Preset) -> Result<(), EditError> {
        self.park_everything();
        self.switch = stagerack_engine::SwitchTable::default();
        self.neighbours = None;
        // One preset: no setlist, so no song notes.
        self.set_song_notes(Vec::new(), None);
        self.learning = None;
        self.add_preset(0, preset);
        self.pending_select = Some(0);
        self.commit()?;
        Ok(())
    }

    /// Replaces everything the session holds with a setlist's `presets`
    /// switched by `switch`, entry `start` current (the others within
    /// `keep` of it loaded when `keep` is given, all otherwise), as
    /// [`replace_with`](Self::replace_with) does for one preset. Main
    /// thread.
    pub fn replace_with_setlist(
        &mut self,
        presets: &[crate::preset::Preset],
        switch: stagerack_engine::SwitchTable,
        keep: Option<usize>,
        start: u16,
    ) -> Result<(), EditError> {
        self.park_everything();
        let start = start.min(presets.len().saturating_sub(1) as u16);
        let keep = keep.filter(|k| k + 1 < presets.len());
        for (g, preset) in presets.iter().enumerate() {
            if keep.is_none_or(|k| g.abs_diff(usize::from(start)) <= k) {
                self.add_preset(g as u16, preset);
            } else {
                self.add_group_unloaded(g as u16, preset);
            }
        }
        if let Some(first) = presets.first() {
            self.handle
                .set_safety_limiter(first.master.as_ref().is_none_or(|m| m.limiter));
        }
        self.neighbours = keep.map(|k| super::neighbours::Neighbours::around(presets, k, start));
        self.switch = switch;
        self.learning = None;
        self.pending_select = Some(start);
        self.commit()?;
        Ok(())
    }

    /// How MIDI switches presets from the next plan on (a setlist's
    /// triggers edited while it plays). Main thread.
    pub fn set_switch(&mut self, switch: stagerack_engine::SwitchTable) -> Result<(), EditError> {
        if switch != self.switch {
            self.switch = switch;
            self.commit()?;
        }
        Ok(())
    }

    /// Takes every rack and master section out of the model; their
    /// plugins are deactivated when their processors come home. Main
    /// thread.
    fn park_everything(&mut self) {
        for rack in std::mem::take(&mut self.racks) {
            for slot in rack.slots {
                self.park(slot);
            }
        }
        for group in std::mem::take(&mut self.groups) {
            for slot in group.master {
                self.park(slot);
            }
        }
    }

    /// How MIDI switches presets now. Main thread.
    pub fn switch_table(&self) -> &stagerack_engine::SwitchTable {
        &self.switch
    }

    /// Removes a rack and its plugins. Main thread.
    pub fn remove_rack(&mut self, rack: usize) -> Result<(), EditError> {
        let r = self.rack_index(rack)?;
        let model = self.racks.remove(r);
        // Racks that played its MIDI play the inputs again.
        for other in self.racks.iter_mut().filter(|x| x.group == model.group) {
            if other.def.midi_from.as_deref() == Some(model.name.as_str()) {
                other.def.midi_from = None;
            }
        }
        for slot in model.slots {
            self.park(slot);
        }
        self.commit()?;
        Ok(())
    }

    /// Starts MIDI learn: the next controller received is mapped to this
    /// parameter over its whole range (replacing an earlier mapping of that
    /// controller in the rack). Main thread.
    pub fn start_learn(
        &mut self,
        rack: usize,
        index: usize,
        param: ParamId,
    ) -> Result<(), EditError> {
        let (r, i) = self.slot_index(rack, index)?;
        let instance = &self.racks[r].slots[i].instance;
        let Some(info) = instance.params().into_iter().find(|p| p.id == param) else {
            return Err(PluginError::UnknownParam {
                plugin: instance.descriptor().name.clone(),
                param: param.to_string(),
            }
            .into());
        };
        if info.read_only {
            return Err(EditError::Invalid(format!(
                "`{}` of {} is an output of the plugin (read-only); a controller cannot move it",
                info.name,
                instance.descriptor().name
            )));
        }
        let (count, _, _) = self.handle.shared().last_controller();
        self.learning = Some(Learning::Param(r, i, param, count));
        Ok(())
    }

    /// Starts MIDI learn of a rack's knobs (`[rack.controls]`): the next
    /// controller moved becomes the first of `knobs` (1 to 8) knobs on
    /// consecutive controllers, as most controllers number their knobs.
    /// Its page controllers and plugin stay as they were. Main thread.
    pub fn start_knob_learn(&mut self, rack: usize, knobs: u8) -> Result<(), EditError> {
        let r = self.rack_index(rack)?;
        if !(1..=8).contains(&knobs) {
            return Err(EditError::Invalid(format!(
                "a bank of {knobs} knobs: expected 1 to 8"
            )));
        }
        let (count, _, _) = self.handle.shared().last_controller();
        self.learning = Some(Learning::Knobs(r, knobs, count));
        Ok(())
    }

    /// Stops MIDI learn without mapping anything. Main thread.
    pub fn cancel_learn(&mut self) {
        self.learning = None;
    }

    /// What MIDI learn bound since the last call ("CC 74 → Stagerack Synth
    /// cutoff"). Main thread.
    pub fn take_learned(&mut self) -> Option<String> {
        self.learned.take()
    }

    /// Called from the pump: binds the first controller received since
    /// learn started. Main thread.
    pub(super) fn poll_learn(&mut self) {
        let Some(learning) = self.learning else {
            return;
        };
        let since = match learning {
            Learning::Param(.., since) | Learning::Knobs(.., since) => since,
        };
        let (count, _channel, cc) = self.handle.shared().last_controller();
        if count == since || cc > 119 {
            return;
        }
        self.learning = None;
        let text = match learning {
            Learning::Param(r, i, param, _) => self.learn_param(r, i, param, cc),
            Learning::Knobs(r, knobs, _) => self.learn_knobs(r, knobs, cc),
        };
        let Some(text) = text else {
            return;
        };
        tracing::info!("MIDI learn: {text}");
        self.learned = Some(text);
        if let Err(e) = self.commit() {
            tracing::error!("{e}");
        }
    }

    /// Maps controller `cc` onto a parameter over its whole range. Main
    /// thread.
    fn learn_param(&mut self, r: usize, i: usize, param: ParamId, cc: u8) -> Option<String> {
        let rack = self.racks.get_mut(r)?;
        let slot = rack.slots.get(i)?;
        let info = slot.instance.params().into_iter().find(|p| p.id == param)?;
        let text = format!(
            "CC {cc} → {} {}",
            slot.instance.descriptor().name,
            info.name
        );
        let plugin = slot.def_index;
        rack.def
            .mappings
            .retain(|m| m.source != crate::preset::MapSourceDef::Cc(cc));
        rack.def.mappings.push(crate::preset::MapDef {
            source: crate::preset::MapSourceDef::Cc(cc),
            plugin,
            param: info.id.to_string(),
            min: info.min,
            max: info.max,
            curve: crate::preset::MapCurveDef::Linear,
        });
        Some(text)
    }

    /// Makes `cc` the first of a rack's `knobs` knobs, the others on the
    /// controllers after it (fewer when they would pass 119). Main thread.
    fn learn_knobs(&mut self, r: usize, knobs: u8, cc: u8) -> Option<String> {
        let rack = self.racks.get_mut(r)?;
        let last = cc.saturating_add(knobs - 1).min(119);
        let ccs: Vec<u8> = (cc..=last).collect();
        let controls = rack.def.controls.get_or_insert(crate::preset::ControlsDef {
            cc: Vec::new(),
            plugin: None,
            next_page: None,
            previous_page: None,
        });
        controls.cc = ccs;
        Some(format!(
            "CC {cc}–{last} → the knobs of rack `{}`",
            rack.name
        ))
    }

    /// All notes off, sustain released and every voice silenced in every
    /// rack, at the next buffer. Main thread.
    pub fn panic(&self) {
        self.handle
            .shared()
            .panic_request
            .store(true, Ordering::Release);
    }

    /// The linear gains a rack would get now (for displays). Main thread.
    pub fn rack_gains_now(&self, rack: usize) -> Option<[f32; 2]> {
        let r = self.racks.get(rack)?;
        let any_solo = self.racks.iter().any(|o| o.group == r.group && o.def.solo);
        Some(rack_gains(&r.def, r.gain_db, any_solo))
    }
}
