//! The Audio & MIDI window: backend, output device, MIDI inputs and buffer
//! size, applied with `select_devices` (the engine keeps its plugins; a
//! device that cannot open leaves the old one playing, with the reason in
//! the message list). Main (UI) thread.

use eframe::egui::{self, RichText};
use stagerack_session::control::Command;

use crate::frame::Frame;
use crate::theme;

/// Draws the window. Main (UI) thread.
pub(crate) fn window(app: &mut Frame<'_>, ctx: &egui::Context) {
    let mut open = true;
    let mut apply = false;
    let mut refresh = false;
    egui::Window::new("Audio & MIDI")
        .open(&mut open)
        .collapsible(false)
        .show(ctx, |ui| {
            let Some((inventory, current)) = app.state.devices.clone() else {
                ui.label("Asking the engine for its devices...");
                return;
            };
            match &current {
                Some(c) => ui.label(
                    RichText::new(format!(
                        "Playing on {} at {} Hz, {} frames per buffer",
                        c.backend, c.sample_rate, c.buffer
                    ))
                    .color(theme::ACCENT),
                ),
                None => ui.label(
                    RichText::new(
                        "This engine cannot change devices while it runs (restart it with \
                         --backend/--connect/--midi-in).",
                    )
                    .color(theme::DANGER),
                ),
            };
            let choice = &mut app.ui.device_choice;
            if choice.backend.is_empty() {
                if let Some(c) = &current {
                    choice.backend = if c.backend == "none" {
                        "dummy".to_owned()
                    } else {
                        c.backend.clone()
                    };
                    choice.midi_in = c.midi_in.clone();
                }
            }
            egui::Grid::new("devices").num_columns(2).show(ui, |ui| {
                ui.label("Backend");
                egui::ComboBox::from_id_salt("backend")
                    .selected_text(choice.backend.clone())
                    .show_ui(ui, |ui| {
                        for b in &inventory.backends {
                            ui.selectable_value(&mut choice.backend, b.clone(), b);
                        }
                    });
                ui.end_row();
                ui.label("Output");
                let shown = if choice.output.is_empty() {
                    "auto".to_owned()
                } else {
                    choice.output.clone()
                };
                egui::ComboBox::from_id_salt("output")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut choice.output, String::new(), "auto");
                        for d in inventory
                            .outputs
                            .iter()
                            .filter(|d| d.backend == choice.backend)
                        {
                            ui.selectable_value(&mut choice.output, d.name.clone(), &d.name);
                        }
                    });
                ui.end_row();
                ui.label("Buffer");
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(&mut choice.buffer).range(0..=8192));
                    ui.label(RichText::new("frames (0: the device's choice)").small());
                });
                ui.end_row();
            });
            ui.separator();
            ui.label("MIDI inputs");
            let midi_backend = if choice.backend == "jack" {
                "jack"
            } else {
                "midir"
            };
            let sources: Vec<_> = inventory
                .midi_inputs
                .iter()
                .filter(|m| m.backend == midi_backend)
                .collect();
            if sources.is_empty() {
                ui.label(RichText::new("(none found)").small());
            }
            for m in sources {
                let mut on = choice.midi_in.contains(&m.name);
                if ui.checkbox(&mut on, &m.name).changed() {
                    choice.midi_in.retain(|n| n != &m.name);
                    if on {
                        choice.midi_in.push(m.name.clone());
                    }
                }
            }
            ui.separator();
            ui.horizontal(|ui| {
                apply = ui
                    .add_enabled(current.is_some(), egui::Button::new("Apply"))
                    .clicked();
                refresh = ui.button("Refresh").clicked();
            });
        });
    if apply {
        let c = app.ui.device_choice.clone();
        app.send(Command::SelectDevices {
            backend: c.backend,
            connect: if c.output.is_empty() {
                Vec::new()
            } else {
                vec![c.output]
            },
            midi_in: c.midi_in,
            buffer: (c.buffer > 0).then_some(c.buffer),
        });
    }
    if refresh {
        app.send(Command::ListDevices {});
    }
    if !open {
        app.ui.show_devices = false;
    }
}
