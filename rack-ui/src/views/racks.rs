//! The racks of the current preset: name, meter, mix, routing, and the
//! chain of plugins (select, bypass, reorder by drag or ▲/▼, remove, add).

use eframe::egui::{self, RichText};
use stagerack_session::control::protocol::RackSnapshot;
use stagerack_session::control::Command;
use stagerack_session::session::RackEdit;

use crate::frame::Frame;
use crate::state::UndoEntry;
use crate::theme;

/// Sends a rack edit from a widget: clicks and typed values are one undo
/// entry each; a drag is one entry from its start to its end.
fn rack_edit(app: &mut Frame<'_>, r: &egui::Response, rack: usize, edit: RackEdit) {
    let cmd = Command::EditRack { rack, edit };
    if r.drag_started() {
        let undo = app
            .state
            .snapshot
            .as_ref()
            .and_then(|s| crate::undo::inverse(s, &cmd))
            .unwrap_or_default();
        app.ui.rack_drag_origin = Some((r.id, undo));
    }
    let dragging = r.dragged()
        || app
            .ui
            .rack_drag_origin
            .as_ref()
            .is_some_and(|(id, _)| *id == r.id);
    if r.changed() {
        if dragging {
            app.send(cmd.clone());
        } else {
            app.edit(cmd.clone());
        }
    }
    if r.drag_stopped() {
        if let Some((id, undo)) = app.ui.rack_drag_origin.take() {
            if id == r.id && !undo.is_empty() {
                app.send(cmd.clone());
                app.push_undo(UndoEntry {
                    label: crate::state::describe(&cmd),
                    redo: vec![cmd],
                    undo,
                });
            }
        }
    }
}

/// Draws every rack of the current preset, then the "Add rack" row. UI thread.
pub(super) fn draw(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let Some(snapshot) = app.state.snapshot.clone() else {
        ui.label(RichText::new("Waiting for the engine's state...").size(20.0));
        return;
    };
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let names: Vec<String> = snapshot
                .racks
                .iter()
                .filter(|r| r.preset == snapshot.current)
                .map(|r| r.routing.name.clone())
                .collect();
            for (i, rack) in snapshot.racks.iter().enumerate() {
                if rack.preset != snapshot.current {
                    continue;
                }
                ui.push_id(("rack", i), |ui| rack_card(app, ui, i, rack, &names));
                ui.add_space(6.0);
            }
            // After the racks: the racks get the room at the top.
            add_rack_row(app, ui, &snapshot);
        });
}

/// "New rack name" and Add rack.
fn add_rack_row(
    app: &mut Frame<'_>,
    ui: &mut egui::Ui,
    snapshot: &stagerack_session::control::Snapshot,
) {
    ui.horizontal(|ui| {
        let l = ui.label("New rack name");
        ui.add(
            egui::TextEdit::singleline(&mut app.ui.new_rack_name)
                .desired_width(180.0)
                .hint_text(format!("rack {}", snapshot.racks.len() + 1)),
        )
        .labelled_by(l.id);
        if ui.button(RichText::new("Add rack").size(18.0)).clicked() {
            let name = match app.ui.new_rack_name.trim() {
                "" => format!("rack {}", snapshot.racks.len() + 1),
                n => n.to_owned(),
            };
            app.edit(Command::AddRack { name });
            app.ui.new_rack_name.clear();
            app.ui.selected_rack = Some(snapshot.racks.len());
        }
    });
}

fn rack_card(
    app: &mut Frame<'_>,
    ui: &mut egui::Ui,
    i: usize,
    rack: &RackSnapshot,
    preset_racks: &[String],
) {
    let def = &rack.routing;
    let selected = app.ui.selected_rack == Some(i);
    let colour = theme::rack_colour(&def.name);
    let frame = egui::Frame::new()
        .fill(if selected {
            theme::SELECTED.gamma_multiply(0.5)
        } else {
            theme::PANEL
        })
        .stroke((2.0, colour))
        .corner_radius(6.0)
        .inner_margin(8.0);
    frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        // Header: name, meter, mute, solo, gain, pan (wrapping when narrow).
        ui.horizontal_wrapped(|ui| {
            let name_colour = if def.mute { theme::MUTED } else { colour };
            let name = ui.add(
                egui::Label::new(
                    RichText::new(&def.name)
                        .size(theme::RACK_NAME_SIZE)
                        .strong()
                        .color(name_colour),
                )
                .sense(egui::Sense::click()),
            );
            if name.clicked() {
                app.ui.selected_rack = Some(i);
            }
            let peaks = app.state.meters.racks.get(i).copied().unwrap_or([0.0; 2]);
            super::status::meter(ui, peaks, egui::vec2(150.0, 22.0));
            let mut mute = def.mute;
            let r = ui.toggle_value(&mut mute, RichText::new("Mute").strong());
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    mute: Some(mute),
                    ..Default::default()
                },
            );
            let mut solo = def.solo;
            let r = ui.toggle_value(&mut solo, RichText::new("Solo").strong());
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    solo: Some(solo),
                    ..Default::default()
                },
            );
            ui.separator();
            // Mix: in the header, so a card is one row shorter.
            ui.spacing_mut().slider_width = 130.0;
            let mut gain = def.gain_db;
            let l = ui.label("Gain");
            let r = ui
                .add(
                    egui::Slider::new(&mut gain, -60.0..=12.0)
                        .suffix(" dB")
                        .max_decimals(1),
                )
                .labelled_by(l.id);
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    gain_db: Some(gain),
                    ..Default::default()
                },
            );
            let mut pan = def.pan;
            let l = ui.label("Pan");
            let r = ui
                .add(egui::Slider::new(&mut pan, -1.0..=1.0).max_decimals(2))
                .labelled_by(l.id);
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    pan: Some(pan),
                    ..Default::default()
                },
            );
        });
        ui.horizontal_wrapped(|ui| {
            let mut t = def.transpose;
            let l = ui.label("Transpose");
            let r = ui
                .add(egui::DragValue::new(&mut t).range(-48..=48).suffix(" st"))
                .labelled_by(l.id);
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    transpose: Some(t),
                    ..Default::default()
                },
            );
            let mut o = def.octave;
            let l = ui.label("Octave");
            let r = ui
                .add(egui::DragValue::new(&mut o).range(-4..=4))
                .labelled_by(l.id);
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    octave: Some(o),
                    ..Default::default()
                },
            );
            let [mut lo, mut hi] = def.keys.unwrap_or([0, 127]);
            let l = ui.label("Keys");
            let r = ui.add(key_field(&mut lo, 0..=hi)).labelled_by(l.id);
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    keys: Some([lo, hi]),
                    ..Default::default()
                },
            );
            let l = ui.label("to");
            let r = ui.add(key_field(&mut hi, lo..=127)).labelled_by(l.id);
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    keys: Some([lo, hi]),
                    ..Default::default()
                },
            );
            let curve_label = ui.label("Velocity curve");
            let current = crate::undo::curve_name(&def.velocity_curve).unwrap_or("custom");
            let curve = egui::ComboBox::from_id_salt(("curve", i))
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for c in ["linear", "soft", "hard"] {
                        if ui.selectable_label(current == c, c).clicked() && current != c {
                            app.edit(Command::EditRack {
                                rack: i,
                                edit: RackEdit {
                                    velocity_curve: Some(c.into()),
                                    ..Default::default()
                                },
                            });
                        }
                    }
                });
            let _ = curve.response.labelled_by(curve_label.id);
            let shown = def
                .channels
                .as_ref()
                .map(|c| c.iter().map(u8::to_string).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            rack_field(
                app,
                ui,
                (i, "Channels"),
                &shown,
                "all",
                "MIDI channels 1-16, e.g. 1,2 (empty: all); Enter to apply",
                |t| {
                    parse_channels(t).map(|ch| RackEdit {
                        channels: Some(ch),
                        ..Default::default()
                    })
                },
            );
        });
        midi_row(app, ui, i, def);
        // Shown for the selected rack, and wherever it is not the default
        // (two whole racks still fit a 1280×800 window).
        if selected || def.midi_from.is_some() || def.mpe != stagerack_session::preset::MpeMode::Off
        {
            expression_row(app, ui, i, def, preset_racks);
        }
        maps(app, ui, i, rack);
        knobs(ui, rack);
        ui.separator();
        chain(app, ui, i, rack);
    });
}

/// The rack's MIDI handling beyond the split: velocity range, the sustain
/// pedal, controllers blocked and renumbered. UI thread.
fn midi_row(
    app: &mut Frame<'_>,
    ui: &mut egui::Ui,
    i: usize,
    def: &stagerack_session::control::RackDef,
) {
    ui.horizontal_wrapped(|ui| {
        let [mut lo, mut hi] = def.velocity.unwrap_or([1, 127]);
        let l = ui.label("Velocity");
        let r = ui
            .add(egui::DragValue::new(&mut lo).range(1..=hi))
            .labelled_by(l.id);
        rack_edit(
            app,
            &r,
            i,
            RackEdit {
                velocity: Some([lo, hi]),
                ..Default::default()
            },
        );
        let l = ui.label("to");
        let r = ui
            .add(egui::DragValue::new(&mut hi).range(lo..=127))
            .labelled_by(l.id);
        rack_edit(
            app,
            &r,
            i,
            RackEdit {
                velocity: Some([lo, hi]),
                ..Default::default()
            },
        );
        let mut sustain = def.sustain;
        if ui
            .checkbox(&mut sustain, "Sustain pedal")
            .on_hover_text("Whether CC64 reaches this rack")
            .changed()
        {
            app.edit(Command::EditRack {
                rack: i,
                edit: RackEdit {
                    sustain: Some(sustain),
                    ..Default::default()
                },
            });
        }
        let blocked = def
            .cc_block
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",");
        rack_field(
            app,
            ui,
            (i, "CC blocked"),
            &blocked,
            "none",
            "Controllers kept from this rack, e.g. 1,64 (cc_block); Enter to apply",
            |t| {
                parse_cc_list(t).map(|cc| RackEdit {
                    cc_block: Some(cc),
                    ..Default::default()
                })
            },
        );
        let remapped = def
            .cc_remap
            .iter()
            .map(|[a, b]| format!("{a}>{b}"))
            .collect::<Vec<_>>()
            .join(",");
        rack_field(
            app,
            ui,
            (i, "CC renumbered"),
            &remapped,
            "none",
            "Controllers renumbered for this rack, FROM>TO, e.g. 11>7,1>74 (cc_remap); Enter to apply",
            |t| {
                parse_cc_remap(t).map(|pairs| RackEdit {
                    cc_remap: Some(pairs),
                    ..Default::default()
                })
            },
        );
    });
}

/// A typed rack field (`typed_field`): Enter turns the text into a rack
/// edit with `parse` and sends it (undoable), or reports why it cannot.
/// UI thread.
fn rack_field(
    app: &mut Frame<'_>,
    ui: &mut egui::Ui,
    key: (usize, &'static str),
    shown: &str,
    hint: &str,
    hover: &str,
    parse: impl FnOnce(&str) -> Result<RackEdit, String>,
) {
    let Some(typed) = typed_field(app, ui, key, shown, hint, hover) else {
        return;
    };
    match parse(&typed) {
        Ok(edit) => app.edit(Command::EditRack { rack: key.0, edit }),
        Err(e) => app.message(crate::state::Level::Error, e),
    }
}

/// A one-line entry labelled `key.1` (per rack `key.0`) showing `shown`; what is typed is kept while
/// the field has focus and returned when Enter is pressed (then forgotten,
/// so the field shows the engine's value again). UI thread.
fn typed_field(
    app: &mut Frame<'_>,
    ui: &mut egui::Ui,
    key: (usize, &'static str),
    shown: &str,
    hint: &str,
    hover: &str,
) -> Option<String> {
    let l = ui.label(key.1);
    let text = app
        .ui
        .typed_text
        .entry(key)
        .or_insert_with(|| shown.to_owned());
    let r = ui
        .add(
            egui::TextEdit::singleline(text)
                .desired_width(90.0)
                .hint_text(hint),
        )
        .labelled_by(l.id)
        .on_hover_text(hover);
    if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
        return app.ui.typed_text.remove(&key);
    }
    if !r.has_focus() {
        app.ui.typed_text.remove(&key);
    }
    None
}

/// Controller numbers as typed: "1, 64" (empty: none). UI thread.
pub fn parse_cc_list(text: &str) -> Result<Vec<u8>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<u8>() {
            Ok(c @ 0..=127) => Ok(c),
            _ => Err(format!(
                "CC blocked: `{s}` is not a controller number (0 to 127)"
            )),
        })
        .collect()
}

/// Renumberings as typed: "11>7, 1>74" (`->` works too; empty: none).
/// UI thread.
pub fn parse_cc_remap(text: &str) -> Result<Vec<[u8; 2]>, String> {
    let cc = |s: &str| s.trim().parse::<u8>().ok().filter(|c| *c <= 127);
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (from, to) = pair
                .split_once("->")
                .or_else(|| pair.split_once('>'))
                .ok_or_else(|| format!("CC renumbered: `{pair}` is not FROM>TO, e.g. 11>7"))?;
            match (cc(from), cc(to)) {
                (Some(a), Some(b)) => Ok([a, b]),
                _ => Err(format!(
                    "CC renumbered: `{pair}` needs controller numbers 0 to 127"
                )),
            }
        })
        .collect()
}

/// Where the rack's MIDI comes from (the inputs or another rack's
/// plugins), its MPE zone, and MIDI learn of its knobs. UI thread.
fn expression_row(
    app: &mut Frame<'_>,
    ui: &mut egui::Ui,
    i: usize,
    def: &stagerack_session::control::RackDef,
    preset_racks: &[String],
) {
    ui.horizontal_wrapped(|ui| {
        let from_label = ui.label("MIDI from");
        let current = def.midi_from.as_deref().unwrap_or("");
        let shown = if current.is_empty() {
            "the inputs"
        } else {
            current
        };
        let from = egui::ComboBox::from_id_salt(("midi_from", i))
            .selected_text(shown)
            .show_ui(ui, |ui| {
                let choices = std::iter::once("")
                    .chain(preset_racks.iter().map(String::as_str))
                    .filter(|n| *n != def.name);
                for name in choices {
                    let text = if name.is_empty() { "the inputs" } else { name };
                    if ui.selectable_label(current == name, text).clicked() && current != name {
                        app.edit(Command::EditRack {
                            rack: i,
                            edit: RackEdit {
                                midi_from: Some(name.to_owned()),
                                ..Default::default()
                            },
                        });
                    }
                }
            });
        let _ = from_label;
        from.response
            .on_hover_text("Play the MIDI another rack's plugins emit (an arpeggiator)")
            .widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("MIDI from: {shown}"))
            });
        let mpe_label = ui.label("MPE");
        let mode = crate::undo::mpe_name(def.mpe);
        let mpe = egui::ComboBox::from_id_salt(("mpe", i))
            .selected_text(mode)
            .show_ui(ui, |ui| {
                for m in ["off", "lower", "upper", "auto"] {
                    if ui.selectable_label(mode == m, m).clicked() && mode != m {
                        app.edit(Command::EditRack {
                            rack: i,
                            edit: RackEdit {
                                mpe: Some(m.into()),
                                ..Default::default()
                            },
                        });
                    }
                }
            });
        let _ = mpe_label;
        mpe.response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("MPE: {mode}"))
        });
        if def.mpe != stagerack_session::preset::MpeMode::Off {
            let mut range = def.mpe_bend_range.unwrap_or(48);
            let l = ui.label("Bend range");
            let r = ui
                .add(egui::DragValue::new(&mut range).range(1..=96).suffix(" st"))
                .labelled_by(l.id);
            rack_edit(
                app,
                &r,
                i,
                RackEdit {
                    mpe_bend_range: Some(range),
                    ..Default::default()
                },
            );
        }
        if ui
            .button("Learn knobs")
            .on_hover_text(
                "Turn your controller's first knob: it and the 7 after it move the \
                 selected plugin's main controls, page by page",
            )
            .clicked()
        {
            app.send(Command::LearnKnobs { rack: i, knobs: 8 });
        }
    });
}

/// What the rack's hardware knobs (`[rack.controls]`) are on now: the
/// page of the plugin's main controls and each knob's parameter. UI
/// thread.
fn knobs(ui: &mut egui::Ui, rack: &RackSnapshot) {
    let (Some(k), Some(c)) = (&rack.knobs, &rack.routing.controls) else {
        return;
    };
    let ccs: Vec<String> = c.cc.iter().map(u8::to_string).collect();
    let names: Vec<&str> = k
        .knobs
        .iter()
        .map(|n| if n.is_empty() { "-" } else { n.as_str() })
        .collect();
    ui.label(format!(
        "Knobs (CC {}): {}, page {} of {}: {}",
        ccs.join(", "),
        k.page_name,
        k.page + 1,
        k.pages,
        names.join(" · ")
    ));
}

/// The rack's MIDI-to-parameter maps, each with Forget; MIDI learn on a
/// parameter (right-click it) adds one. UI thread.
fn maps(app: &mut Frame<'_>, ui: &mut egui::Ui, i: usize, rack: &RackSnapshot) {
    let all = &rack.routing.mappings;
    if all.is_empty() {
        return;
    }
    for (k, m) in all.iter().enumerate() {
        ui.horizontal(|ui| {
            let source = match m.source {
                stagerack_session::control::MapSourceDef::Cc(cc) => format!("CC {cc}"),
                stagerack_session::control::MapSourceDef::PitchBend => "pitch bend".into(),
                stagerack_session::control::MapSourceDef::Aftertouch => "aftertouch".into(),
            };
            let plugin = rack
                .plugins
                .get(m.plugin)
                .map_or_else(|| format!("plugin {}", m.plugin + 1), |p| p.name.clone());
            ui.label(format!(
                "{source} -> {plugin} `{}` {}..{}",
                m.param, m.min, m.max
            ));
            if ui.small_button(format!("Forget {source}")).clicked() {
                let mut rest = all.clone();
                rest.remove(k);
                app.edit(Command::EditRack {
                    rack: i,
                    edit: RackEdit {
                        maps: Some(rest),
                        ..Default::default()
                    },
                });
            }
        });
    }
}

/// "1, 2,16" → [1, 2, 16]; empty → all channels.
pub fn parse_channels(text: &str) -> Result<Vec<u8>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<u8>() {
            Ok(c @ 1..=16) => Ok(c),
            _ => Err(format!("channels: `{s}` is not a MIDI channel (1 to 16)")),
        })
        .collect()
}

/// The plugin's factory programs (VST3 program lists) as a drop-down
/// named "Program"; choosing one selects it in the plugin. UI thread.
fn program_picker(
    app: &mut Frame<'_>,
    ui: &mut egui::Ui,
    rack: usize,
    index: usize,
    p: &stagerack_session::control::protocol::PluginSnapshot,
) {
    let current = p
        .program
        .and_then(|i| p.programs.get(i))
        .map_or("(program)", String::as_str);
    let mut chosen = None;
    let combo = egui::ComboBox::from_id_salt(("program", rack, index))
        .selected_text(current)
        .show_ui(ui, |ui| {
            for (i, name) in p.programs.iter().enumerate() {
                if ui.selectable_label(p.program == Some(i), name).clicked() {
                    chosen = Some(i);
                }
            }
        });
    combo
        .response
        .on_hover_text(format!("Factory programs of {}", p.name))
        .widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::ComboBox, true, format!("Program: {current}"))
        });
    if let Some(program) = chosen {
        app.edit(Command::SelectProgram {
            rack,
            index,
            program,
        });
    }
}

fn chain(app: &mut Frame<'_>, ui: &mut egui::Ui, rack: usize, r: &RackSnapshot) {
    let len = r.plugins.len();
    if len == 0 {
        ui.label(RichText::new("(empty chain: add an instrument)").color(theme::MUTED));
    }
    let mut moved = None;
    for (index, p) in r.plugins.iter().enumerate() {
        let row = ui.horizontal(|ui| {
            ui.dnd_drag_source(ui.scope_id().with(("drag", index)), (rack, index), |ui| {
                ui.label(RichText::new("::").size(20.0));
            })
            .response
            .on_hover_text("Drag to reorder");
            let selected = app.ui.selected_plugin == Some((rack, index));
            let mut label = RichText::new(&p.name).size(18.0);
            if p.failed {
                label = label.color(theme::DANGER);
            } else if p.bypass {
                label = label.color(theme::MUTED);
            }
            if ui.selectable_label(selected, label).clicked() {
                app.ui.selected_plugin = Some((rack, index));
                app.ui.selected_rack = Some(rack);
                app.ui.browser_rack = None;
            }
            if p.failed {
                ui.label(RichText::new("FAILED").color(theme::DANGER).strong());
            }
            if let Some(voices) = p.voices {
                ui.label(RichText::new(format!("{voices} voices")).small())
                    .on_hover_text("How many notes it can play at once (the plugin says)");
            }
            if !p.programs.is_empty() {
                program_picker(app, ui, rack, index, p);
            }
            if p.has_editor {
                // The plugin's own GUI, in a window of the engine's process.
                let (text, hint) = if p.editor_open {
                    ("Close editor", format!("Close the editor of {}", p.name))
                } else {
                    ("Editor", format!("Open the editor of {}", p.name))
                };
                if ui.button(text).on_hover_text(hint).clicked() {
                    if p.editor_open {
                        app.send(Command::CloseEditor { rack, index });
                    } else {
                        app.send(Command::OpenEditor { rack, index });
                    }
                }
            }
            let mut bypass = p.bypass;
            if ui.checkbox(&mut bypass, "Bypass").changed() {
                app.edit(Command::SetBypass {
                    rack,
                    index,
                    bypass,
                });
            }
            if ui
                .add_enabled(index > 0, egui::Button::new("Up"))
                .on_hover_text("Move up")
                .clicked()
            {
                moved = Some((index, index - 1));
            }
            if ui
                .add_enabled(index + 1 < len, egui::Button::new("Down"))
                .on_hover_text("Move down")
                .clicked()
            {
                moved = Some((index, index + 1));
            }
            if ui
                .button("X")
                .on_hover_text(format!("Remove {}", p.name))
                .clicked()
            {
                app.edit(Command::RemovePlugin { rack, index });
                app.ui.selected_plugin = None;
            }
        });
        if let Some(payload) = row.response.dnd_release_payload::<(usize, usize)>() {
            let (from_rack, from) = *payload;
            if from_rack == rack && from != index {
                moved = Some((from, index));
            }
        }
    }
    if let Some((from, to)) = moved {
        app.edit(Command::MovePlugin { rack, from, to });
        if app.ui.selected_plugin == Some((rack, from)) {
            app.ui.selected_plugin = Some((rack, to));
        }
    }
    ui.horizontal(|ui| {
        if ui
            .button(format!("Add plugin to {}", r.routing.name))
            .clicked()
        {
            app.ui.browser_rack = Some(rack);
            app.ui.browser_search.clear();
        }
        remove_rack(app, ui, rack, r);
    });
}

/// Remove rack, at the right end of the card's last row: asks first (the
/// rack's plugins and their settings go with it; Undo brings them back).
fn remove_rack(app: &mut Frame<'_>, ui: &mut egui::Ui, i: usize, rack: &RackSnapshot) {
    let def = &rack.routing;
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
        if app.ui.confirm_remove == Some(i) {
            if ui.button("Cancel").clicked() {
                app.ui.confirm_remove = None;
            }
            if ui
                .button(RichText::new(format!("Remove {}", def.name)).color(theme::DANGER))
                .clicked()
            {
                app.edit(Command::RemoveRack { rack: i });
                app.ui.confirm_remove = None;
                app.ui.selected_plugin = None;
                app.ui.selected_rack = None;
            }
            ui.label(format!(
                "Remove rack {} and its {} plugin(s)?",
                def.name,
                rack.plugins.len()
            ));
        } else if ui.button(format!("Remove rack {}", def.name)).clicked() {
            app.ui.confirm_remove = Some(i);
        }
    });
}

/// A key field: shows note names ("C4") and takes a typed name or number.
/// UI thread.
fn key_field(key: &mut u8, range: std::ops::RangeInclusive<u8>) -> egui::DragValue<'_> {
    egui::DragValue::new(key)
        .range(range)
        .custom_formatter(|v, _| super::keyboard::key_name(v.round().clamp(0.0, 127.0) as u8))
        .custom_parser(|text| super::keyboard::parse_key(text).map(f64::from))
}

#[cfg(test)]
mod tests {
    #[test]
    fn channel_lists_parse_and_refuse_bad_channels() {
        assert_eq!(super::parse_channels("1, 2,16").unwrap(), vec![1, 2, 16]);
        assert_eq!(super::parse_channels("").unwrap(), Vec::<u8>::new());
        assert!(super::parse_channels("0").is_err());
        assert!(super::parse_channels("17").is_err());
    }
}
