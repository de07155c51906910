//! The generic parameter panel for the selected plugin: every parameter
//! with its name, the plugin's value text, a slider (double-click for the
//! default) and a typed entry (Enter sets it).

use eframe::egui::{self, RichText};
use stagerack_session::control::protocol::Gesture;
use stagerack_session::control::Command;

use crate::frame::Frame;
use crate::state::UndoEntry;
use crate::theme;

/// Draws the panel. UI thread.
pub(super) fn draw(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let Some((rack, index)) = app.ui.selected_plugin else {
        ui.heading("Parameters");
        ui.label("Click a plugin in a rack to edit its parameters here.");
        return;
    };
    let plugin = app
        .state
        .snapshot
        .as_ref()
        .and_then(|s| s.racks.get(rack))
        .and_then(|r| {
            r.plugins
                .get(index)
                .map(|p| (r.routing.name.clone(), p.clone()))
        });
    let Some((rack_name, plugin)) = plugin else {
        ui.heading("Parameters");
        ui.label("(waiting for the plugin to appear)");
        return;
    };
    ui.label(RichText::new(format!("{} - {}", rack_name, plugin.name)).heading());
    if plugin.failed {
        ui.label(
            RichText::new("This plugin failed and is bypassed by the engine.").color(theme::DANGER),
        );
    }
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.spacing_mut().slider_width = 180.0;
            egui::Grid::new(("params", rack, index))
                .num_columns(2)
                .min_col_width(110.0)
                .spacing(egui::vec2(10.0, 8.0))
                .show(ui, |ui| {
                    for p in &plugin.params {
                        let key = (rack, index, p.id);
                        let name_label = ui
                            .vertical(|ui| {
                                let l = ui.add(
                                    egui::Label::new(RichText::new(&p.name).strong()).extend(),
                                );
                                ui.add(
                                    egui::Label::new(
                                        RichText::new(&p.text).color(theme::ACCENT).monospace(),
                                    )
                                    .extend(),
                                );
                                l.id
                            })
                            .inner;
                        ui.vertical(|ui| {
                            if p.read_only {
                                // An output of the plugin (a meter): its
                                // value above, nothing to set.
                                ui.label(
                                    RichText::new("output of the plugin (read-only)")
                                        .small()
                                        .color(theme::MUTED),
                                );
                                return;
                            }
                            let mut v = p.value;
                            let mut slider =
                                egui::Slider::new(&mut v, p.min..=p.max).show_value(false);
                            if p.stepped {
                                slider = slider.step_by(1.0);
                            }
                            let r = ui
                                .add(slider)
                                .labelled_by(name_label)
                                .on_hover_text(format!(
                                    "{} ({}..{}, default {}); double-click for the default, right-click to MIDI learn",
                                    p.name, p.min, p.max, p.default
                                ));
                            // Right-click: MIDI learn (the next controller
                            // moved is mapped to this parameter).
                            r.context_menu(|ui| {
                                if ui.button("MIDI learn: move a controller").clicked() {
                                    app.send(Command::MidiLearn {
                                        rack,
                                        index,
                                        param: p.id,
                                    });
                                    ui.close();
                                }
                                if ui.button("Cancel MIDI learn").clicked() {
                                    app.send(Command::MidiLearnCancel {});
                                    ui.close();
                                }
                            });
                            if r.drag_started() {
                                app.ui.slider_origin = Some((key, p.value));
                            }
                            if r.double_clicked() {
                                app.edit(Command::SetParam {
                                    rack,
                                    index,
                                    param: p.id,
                                    value: p.default,
                                    gesture: None,
                                });
                            } else if r.changed() {
                                let gesture = if r.drag_started() {
                                    Some(Gesture::Begin)
                                } else {
                                    None
                                };
                                app.send(Command::SetParam {
                                    rack,
                                    index,
                                    param: p.id,
                                    value: v,
                                    gesture,
                                });
                                if !r.dragged() && !r.drag_stopped() {
                                    // A click or key step: one undo entry each.
                                    push_param_undo(app, rack, index, p.id, p.value, v);
                                }
                            }
                            if r.drag_stopped() {
                                if let Some((k, old)) = app.ui.slider_origin.take() {
                                    if k == key {
                                        app.send(Command::SetParam {
                                            rack,
                                            index,
                                            param: p.id,
                                            value: v,
                                            gesture: Some(Gesture::End),
                                        });
                                        push_param_undo(app, rack, index, p.id, old, v);
                                    }
                                }
                            }
                            // Typed entry.
                            let text =
                                app.ui.param_text.entry(key).or_insert_with(|| {
                                    crate::state::format_value(p.value, p.stepped)
                                });
                            let edit = ui
                                .add(
                                    egui::TextEdit::singleline(text)
                                        .desired_width(120.0)
                                        .hint_text("type a value"),
                                )
                                .labelled_by(name_label);
                            let entered =
                                edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                            if entered {
                                let typed = text.trim().to_owned();
                                match typed.parse::<f64>() {
                                    Ok(x) if x.is_finite() => {
                                        app.edit(Command::SetParam {
                                            rack,
                                            index,
                                            param: p.id,
                                            value: x.clamp(p.min, p.max),
                                            gesture: None,
                                        });
                                    }
                                    _ => app.message(
                                        crate::state::Level::Error,
                                        format!("{}: `{typed}` is not a number", p.name),
                                    ),
                                }
                                app.ui.param_text.remove(&key);
                            } else if !edit.has_focus() {
                                // Follow the engine's value when not typing.
                                app.ui.param_text.remove(&key);
                            }
                        });
                        ui.end_row();
                    }
                });
        });
}

fn push_param_undo(app: &mut Frame<'_>, rack: usize, index: usize, param: u32, old: f64, new: f64) {
    if old == new {
        return;
    }
    let cmd = |value| Command::SetParam {
        rack,
        index,
        param,
        value,
        gesture: None,
    };
    app.push_undo(UndoEntry {
        label: format!("set parameter {param} to {new}"),
        redo: vec![cmd(new)],
        undo: vec![cmd(old)],
    });
}
