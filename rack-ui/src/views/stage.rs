//! The stage view: the whole window for the player, readable from a metre
//! away. The song playing and its preset, the previous and next entries,
//! the song's notes (scrolled by a controller: `notes_cc`), the tempo with
//! a beat light, DSP load, lights for overloads, xruns and plugin faults
//! that stay lit until acknowledged, one big PANIC, and the set as a row
//! of entries to tap. Everything is sized from the window's height, so it
//! reads the same at 1280×720 and at 4K. UI thread.

use eframe::egui::{self, Align, Color32, Layout, RichText, Sense};
use stagerack_session::control::{Command, Snapshot};

use crate::frame::Frame;
use crate::theme;

/// Height the sizes below are written for; everything scales with the
/// window's height from there.
const DESIGN_HEIGHT: f32 = 720.0;
/// Black, white and signal colours: the contrast a dark stage needs.
const STAGE_BACKGROUND: Color32 = Color32::BLACK;
const STAGE_TEXT: Color32 = Color32::WHITE;
const STAGE_DIM: Color32 = Color32::from_rgb(170, 170, 180);
const LIGHT_OFF: Color32 = Color32::from_rgb(40, 40, 46);

/// Draws the stage view over the whole window. UI thread.
pub fn draw(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    egui::CentralPanel::default()
        .frame(egui::Frame::new().fill(STAGE_BACKGROUND).inner_margin(12.0))
        .show(ui, |ui| {
            let scale = (ui.available_height() / DESIGN_HEIGHT).max(0.6);
            // The state is borrowed apart from `app` (read-only for the
            // whole frame), so nothing is copied per frame.
            let state = app.state;
            let Some(snapshot) = state.snapshot.as_ref() else {
                ui.label(big("Waiting for the engine…", 32.0 * scale, STAGE_DIM));
                return;
            };
            header(app, ui, snapshot, scale);
            ui.add_space(8.0 * scale);
            let entries_height = 70.0 * scale;
            let body = ui.available_height() - entries_height - 12.0 * scale;
            ui.horizontal_top(|ui| {
                let width = ui.available_width();
                ui.allocate_ui(egui::vec2(width * 0.64, body), |ui| {
                    notes(app, ui, snapshot, scale);
                });
                ui.add_space(12.0 * scale);
                ui.allocate_ui(egui::vec2(ui.available_width(), body), |ui| {
                    side(app, ui, snapshot, scale);
                });
            });
            ui.add_space(8.0 * scale);
            entries(app, ui, snapshot, scale);
        });
}

fn big(text: impl Into<String>, size: f32, colour: Color32) -> RichText {
    RichText::new(text).size(size).color(colour).strong()
}

/// The song playing (large), its place in the set, the previous entry,
/// the tempo with its beat light and the DSP load.
fn header(app: &mut Frame<'_>, ui: &mut egui::Ui, s: &Snapshot, scale: f32) {
    let current = usize::from(s.current);
    let count = s.presets.len();
    let name = s.presets.get(current).map_or("", String::as_str);
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.label(big(
                format!("Song {} of {count}", current + 1),
                20.0 * scale,
                STAGE_DIM,
            ));
            ui.label(big(name, 64.0 * scale, STAGE_TEXT))
                .on_hover_text("The song playing");
            let previous = current
                .checked_sub(1)
                .and_then(|i| s.presets.get(i))
                .map_or("—", String::as_str);
            ui.label(big(
                format!("Previous: {previous}"),
                22.0 * scale,
                STAGE_DIM,
            ));
        });
        ui.with_layout(Layout::right_to_left(Align::Min), |ui| {
            if ui
                .button(RichText::new("Editor").size(16.0 * scale))
                .on_hover_text("Leave the stage view (Esc)")
                .clicked()
            {
                app.ui.stage = false;
            }
            ui.add_space(12.0 * scale);
            ui.allocate_ui_with_layout(
                egui::vec2(330.0 * scale, 90.0 * scale),
                Layout::top_down(Align::Min),
                |ui| {
                    tempo(app, ui, s, scale);
                    dsp(app, ui, scale);
                },
            );
        });
    });
}

/// "120 BPM" and a light on each beat's first fifth.
fn tempo(app: &Frame<'_>, ui: &mut egui::Ui, s: &Snapshot, scale: f32) {
    let (beat, bpm) = app.state.stage.beat_now().unwrap_or_else(|| {
        let bpm = s
            .tempos
            .get(usize::from(s.current))
            .copied()
            .unwrap_or(120.0);
        (0.5, bpm)
    });
    ui.horizontal(|ui| {
        let size = 34.0 * scale;
        let (rect, _) = ui.allocate_exact_size(egui::vec2(size, size), Sense::hover());
        let on = beat.rem_euclid(1.0) < 0.2;
        let colour = if on {
            if beat.rem_euclid(4.0) < 1.0 {
                theme::WARN
            } else {
                theme::ACCENT
            }
        } else {
            LIGHT_OFF
        };
        ui.painter()
            .circle_filled(rect.center(), size * 0.45, colour);
        ui.label(big(format!("{bpm:.0} BPM"), 34.0 * scale, STAGE_TEXT))
            .on_hover_text("Tempo (the preset's, or the MIDI clock's)");
    });
}

/// The DSP load, as a bar and a number.
fn dsp(app: &Frame<'_>, ui: &mut egui::Ui, scale: f32) {
    let load = app.state.status.as_ref().map_or(0.0, |s| s.dsp_peak);
    let colour = if load > 0.9 {
        theme::DANGER
    } else if load > 0.7 {
        theme::WARN
    } else {
        theme::ACCENT
    };
    ui.horizontal(|ui| {
        ui.label(big("DSP", 20.0 * scale, STAGE_DIM));
        let (rect, _) =
            ui.allocate_exact_size(egui::vec2(120.0 * scale, 18.0 * scale), Sense::hover());
        ui.painter().rect_filled(rect, 3.0, LIGHT_OFF);
        let mut filled = rect;
        filled.set_width(rect.width() * load.clamp(0.0, 1.0));
        ui.painter().rect_filled(filled, 3.0, colour);
        ui.label(big(
            format!("{:.0}%", load * 100.0),
            20.0 * scale,
            STAGE_TEXT,
        ));
    });
}

/// The song's notes in large type; the notes controller scrolls them.
fn notes(app: &mut Frame<'_>, ui: &mut egui::Ui, s: &Snapshot, scale: f32) {
    let text = s
        .notes
        .get(usize::from(s.current))
        .map_or("", String::as_str);
    egui::Frame::new()
        .fill(Color32::from_rgb(14, 14, 18))
        .inner_margin(12.0 * scale)
        .corner_radius(6.0)
        .show(ui, |ui| {
            ui.set_min_size(ui.available_size());
            let mut area = egui::ScrollArea::vertical()
                .id_salt("stage notes")
                .auto_shrink([false, false]);
            // The controller moved since the last frame: scroll there
            // (0 the top, 127 the end); the user's own scrolling stays
            // until it moves again.
            if let Some((value, true)) = app.state.stage.notes_scroll {
                let offset = app.ui.stage_notes_max * f32::from(value) / 127.0;
                area = area.vertical_scroll_offset(offset);
                app.ui.stage_notes_scrolled = Some(value);
            }
            let out = area.show(ui, |ui| {
                if text.trim().is_empty() {
                    ui.label(big("No notes for this song", 28.0 * scale, STAGE_DIM));
                } else {
                    ui.label(
                        RichText::new(text)
                            .size(30.0 * scale)
                            .color(STAGE_TEXT)
                            .monospace(),
                    )
                    .on_hover_text("Song notes");
                }
            });
            app.ui.stage_notes_max = (out.content_size.y - out.inner_rect.height()).max(0.0);
            app.ui.stage_notes_offset = out.state.clamped_offset().y;
        });
}

/// Next entry, trouble lights, muted racks and PANIC.
fn side(app: &mut Frame<'_>, ui: &mut egui::Ui, s: &Snapshot, scale: f32) {
    let current = usize::from(s.current);
    let next = s
        .presets
        .get(current + 1)
        .map_or("— end of set —", String::as_str);
    ui.vertical(|ui| {
        ui.label(big("Next", 22.0 * scale, STAGE_DIM));
        ui.label(big(next, 44.0 * scale, theme::WARN))
            .on_hover_text("The next song");
        ui.add_space(16.0 * scale);
        lights(app, ui, s, scale);
        let muted: Vec<&str> = s
            .racks
            .iter()
            .filter(|r| usize::from(r.preset) == current && r.routing.mute)
            .map(|r| r.routing.name.as_str())
            .collect();
        if !muted.is_empty() {
            ui.add_space(8.0 * scale);
            ui.label(big(
                format!("Muted: {}", muted.join(", ")),
                22.0 * scale,
                theme::WARN,
            ));
        }
        // Prev/Next and PANIC at the bottom of the column.
        let buttons = (64.0 + 10.0 + 110.0) * scale;
        ui.add_space((ui.available_height() - buttons).max(8.0 * scale));
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                let button = |label: &str| {
                    egui::Button::new(big(label, 28.0 * scale, STAGE_TEXT))
                        .min_size(egui::vec2(150.0 * scale, 64.0 * scale))
                };
                if ui
                    .add(button("< Prev"))
                    .on_hover_text("Previous entry (Left, Page Up)")
                    .clicked()
                {
                    app.send(Command::SetlistPrevious {});
                }
                if ui
                    .add(button("Next >"))
                    .on_hover_text("Next entry (Right, Page Down)")
                    .clicked()
                {
                    app.send(Command::SetlistNext {});
                }
            });
            ui.add_space(10.0 * scale);
            let panic = egui::Button::new(big("PANIC", 48.0 * scale, Color32::WHITE))
                .fill(theme::DANGER)
                .min_size(egui::vec2(ui.available_width(), 110.0 * scale));
            if ui
                .add(panic)
                .on_hover_text("All notes off everywhere (Space)")
                .clicked()
            {
                app.panic();
            }
        });
    });
}

/// OVERLOAD, XRUN and FAULT: lit until "Acknowledge" is pressed.
fn lights(app: &mut Frame<'_>, ui: &mut egui::Ui, s: &Snapshot, scale: f32) {
    let lights = &app.state.stage.lights;
    let fault = lights.fault.clone();
    let items = [
        (
            "OVERLOAD",
            lights.overload,
            "Buffers went over the DSP budget",
        ),
        ("XRUN", lights.xrun, "The audio driver reported an xrun"),
        ("FAULT", fault.is_some(), "A plugin failed and is bypassed"),
    ];
    let any = items.iter().any(|i| i.1);
    ui.horizontal(|ui| {
        for (name, on, what) in items {
            let (fill, text) = if on {
                (theme::DANGER, Color32::WHITE)
            } else {
                (LIGHT_OFF, STAGE_DIM)
            };
            let light = egui::Button::new(big(name, 22.0 * scale, text))
                .fill(fill)
                .min_size(egui::vec2(120.0 * scale, 48.0 * scale));
            let hover = if on {
                format!("{what} (lit)")
            } else {
                format!("{what} (off)")
            };
            if ui.add(light).on_hover_text(hover).clicked() && on {
                app.acknowledge_lights(crate::state::failed_plugins(s));
            }
        }
    });
    if let Some(f) = fault {
        ui.label(big(f, 18.0 * scale, theme::DANGER));
    }
    if any
        && ui
            .button(RichText::new("Acknowledge").size(20.0 * scale))
            .on_hover_text("Turn the lights off (they light again on new trouble)")
            .clicked()
    {
        app.acknowledge_lights(crate::state::failed_plugins(s));
    }
}

/// The set, one button per entry (the current one lit): a tap jumps there.
fn entries(app: &mut Frame<'_>, ui: &mut egui::Ui, s: &Snapshot, scale: f32) {
    egui::ScrollArea::horizontal()
        .id_salt("stage entries")
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                for (i, name) in s.presets.iter().enumerate() {
                    let current = i == usize::from(s.current);
                    let entry = egui::Button::new(big(
                        format!("{}. {name}", i + 1),
                        24.0 * scale,
                        if current { Color32::BLACK } else { STAGE_TEXT },
                    ))
                    .fill(if current { theme::ACCENT } else { LIGHT_OFF })
                    .min_size(egui::vec2(0.0, 56.0 * scale));
                    if ui
                        .add(entry)
                        .on_hover_text(format!("Jump to song {}", i + 1))
                        .clicked()
                    {
                        app.send(Command::SetlistSelect { index: i as u16 });
                    }
                }
            });
        });
}
