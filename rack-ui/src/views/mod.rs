//! The window's panels. Each view reads the latest snapshot and turns
//! clicks into protocol commands through [`RackApp::edit`] (undoable) or
//! [`RackApp::send`]. UI thread.

mod browser;
pub(crate) mod devices;
mod keyboard;
mod params;
mod racks;
mod setlist;
mod stage;
mod status;

use eframe::egui::{self, Color32, RichText};
use stagerack_session::control::Command;

use crate::frame::Frame;
use crate::theme;
use crate::ui_state::Mode;

/// The keyboard shortcuts, shown in the help window.
pub const SHORTCUTS: &[(&str, &str)] = &[
    (
        "Space",
        "Panic: all notes off (when no text field has focus)",
    ),
    ("Ctrl+Z", "Undo the last edit"),
    ("Ctrl+Shift+Z / Ctrl+Y", "Redo"),
    ("Ctrl+S", "Save the preset to the path in the preset field"),
    (
        "Ctrl+O",
        "Open the preset file in the preset field (replaces what plays)",
    ),
    ("Page Up / Page Down", "Previous / next setlist entry"),
    ("F11", "Stage view on or off (full screen)"),
    (
        "Left / Right, Esc",
        "In the stage view: previous / next entry; back to editing",
    ),
    ("F1", "Show or hide this help"),
    (
        "Double-click a slider",
        "Reset the parameter to its default",
    ),
    ("Enter in a value field", "Set the typed value"),
];

/// The side panel's width until the user drags it, outer pixels.
pub const SIDE_PANEL_WIDTH: f32 = 400.0;

/// Draws the whole window. UI thread.
pub fn draw(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    if app.ui.stage {
        stage::draw(app, ui);
        return;
    }
    egui::Panel::top("top")
        .frame(egui::Frame::new().fill(theme::PANEL).inner_margin(8.0))
        .show(ui, |ui| top_bar(app, ui));
    // Sized to its content: one status line and one message line, more
    // only when the message list is opened.
    egui::Panel::bottom("status")
        .frame(egui::Frame::new().fill(theme::PANEL).inner_margin(6.0))
        .resizable(false)
        .show(ui, |ui| status::draw(app, ui));
    // The same width for the parameters and the browser (the user may
    // drag it): the racks and the keyboard strip keep their scale when the
    // browser opens.
    egui::Panel::right("params")
        .frame(egui::Frame::new().fill(theme::PANEL).inner_margin(8.0))
        .default_size(SIDE_PANEL_WIDTH)
        .size_range(320.0..=720.0)
        .resizable(true)
        .show(ui, |ui| {
            // egui sizes a panel to its content: filling the width here
            // keeps the panel as wide as it was (or as the user dragged
            // it), whatever the browser or the parameters hold.
            let width = ui.available_width();
            ui.set_min_width(width);
            ui.set_max_width(width);
            if app.ui.browser_rack.is_some() {
                browser::draw(app, ui);
            } else {
                params::draw(app, ui);
            }
        });
    egui::CentralPanel::default()
        .frame(egui::Frame::new().fill(theme::BACKGROUND).inner_margin(8.0))
        .show(ui, |ui| {
            keyboard::draw(app, ui);
            ui.add_space(6.0);
            racks::draw(app, ui);
        });
    if app.ui.show_help {
        help(app, ui.ctx());
    }
    if app.ui.show_devices {
        devices::window(app, ui.ctx());
    }
    if app.ui.setlist.open {
        setlist::window(app, ui.ctx());
    }
}

/// The toolbar: two fixed rows, so nothing wraps or moves down to 1024 px
/// wide. Row 1: the song and its switches, undo, and the buttons a player
/// reaches for (PANIC at the right edge); row 2: the preset file and where
/// the engine plays.
fn top_bar(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("stagerack").heading().strong());
        ui.separator();
        // Setlist.
        if ui
            .button("< Previous")
            .on_hover_text("Previous setlist entry (Page Up)")
            .clicked()
        {
            app.send(Command::SetlistPrevious {});
        }
        ui.label(RichText::new(app.state.song_label()).size(20.0).strong());
        if ui
            .button("Next >")
            .on_hover_text("Next setlist entry (Page Down)")
            .clicked()
        {
            app.send(Command::SetlistNext {});
        }
        ui.separator();
        undo_buttons(app, ui);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Help").on_hover_text("F1").clicked() {
                app.ui.show_help = !app.ui.show_help;
            }
            if ui
                .button("Stage")
                .on_hover_text("The stage view: song, notes, next, lights (F11)")
                .clicked()
            {
                app.ui.stage = true;
            }
            if ui
                .button("Audio & MIDI")
                .on_hover_text("Backend, output device and MIDI inputs")
                .clicked()
            {
                app.ui.show_devices = !app.ui.show_devices;
                if app.ui.show_devices {
                    app.send(Command::ListDevices {});
                }
            }
            let panic = egui::Button::new(
                RichText::new("PANIC")
                    .size(20.0)
                    .strong()
                    .color(Color32::WHITE),
            )
            .fill(theme::DANGER)
            .min_size(egui::vec2(110.0, 34.0));
            if ui
                .add(panic)
                .on_hover_text("All notes off everywhere (Space)")
                .clicked()
            {
                app.panic();
            }
        });
    });
    ui.horizontal(|ui| {
        let l = ui.label("Preset file");
        ui.add(egui::TextEdit::singleline(&mut app.ui.preset_path).desired_width(240.0))
            .labelled_by(l.id);
        if ui.button("Save preset").on_hover_text("Ctrl+S").clicked() {
            app.save_preset();
        }
        if ui
            .button("Open preset")
            .on_hover_text("Ctrl+O: replace what plays with the preset file")
            .clicked()
        {
            app.open_preset();
        }
        if ui
            .button("Setlist")
            .on_hover_text("Open, edit and save the setlist")
            .clicked()
        {
            app.ui.setlist.open = !app.ui.setlist.open;
            app.send(Command::GetSetlist {});
        }
        if app.ui.confirm_open {
            ui.label(RichText::new("Unsaved edits:").color(theme::WARN));
            if ui
                .button("Save, then open")
                .on_hover_text("Save the edits to this song's own file, then open")
                .clicked()
            {
                app.save_then_open();
            }
            if ui.button("Discard changes").clicked() {
                app.open_preset_discarding();
            }
            if ui.button("Cancel").clicked() {
                app.ui.confirm_open = false;
            }
        } else {
            let (text, colour) = engine_line(app);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.add(egui::Label::new(RichText::new(&text).color(colour).small()).truncate())
                    .on_hover_text(text);
            });
        }
    });
}

/// Where the engine runs and plays, and its colour (red: disconnected).
fn engine_line(app: &Frame<'_>) -> (String, Color32) {
    match app.mode() {
        Mode::InProcess { socket: None } => (
            format!(
                "engine in this window, {}",
                app.audio_output().unwrap_or_default()
            ),
            theme::ACCENT,
        ),
        Mode::InProcess { socket: Some(s) } => (
            format!(
                "engine in this window, {}, listening on {}",
                app.audio_output().unwrap_or_default(),
                s.display()
            ),
            theme::ACCENT,
        ),
        Mode::Attached { socket } => {
            if app.connected() {
                (format!("attached to {}", socket.display()), theme::ACCENT)
            } else {
                (
                    format!("DISCONNECTED from {}", socket.display()),
                    theme::DANGER,
                )
            }
        }
    }
}

fn undo_buttons(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let undo_tip = app
        .state
        .undo
        .last()
        .map(|e| format!("Undo {} (Ctrl+Z)", e.label));
    if ui
        .add_enabled(undo_tip.is_some(), egui::Button::new("Undo"))
        .on_hover_text(undo_tip.unwrap_or_default())
        .clicked()
    {
        app.undo();
    }
    let redo_tip = app
        .state
        .redo
        .last()
        .map(|e| format!("Redo {} (Ctrl+Shift+Z)", e.label));
    if ui
        .add_enabled(redo_tip.is_some(), egui::Button::new("Redo"))
        .on_hover_text(redo_tip.unwrap_or_default())
        .clicked()
    {
        app.redo();
    }
}

fn help(app: &mut Frame<'_>, ctx: &egui::Context) {
    let mut open = true;
    egui::Window::new("Help")
        .open(&mut open)
        .collapsible(false)
        .show(ctx, |ui| {
            ui.label("Keyboard shortcuts:");
            egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                for (k, what) in SHORTCUTS {
                    ui.label(RichText::new(*k).monospace().strong());
                    ui.label(*what);
                    ui.end_row();
                }
            });
            ui.separator();
            ui.label(
                "Racks: drag the ends of a rack's bar on the keyboard strip to change its key \
                 range. Drag a plugin by its :: handle (or use Up and Down) to reorder a chain. Click a \
                 plugin to edit its parameters on the right.",
            );
            ui.label(
                "Closing the window: in-process, notes are released and plugins deactivated \
                 before the process exits (with --keep-running the engine keeps playing \
                 headless until Ctrl+C). Attached to another engine, closing or killing the \
                 window leaves that engine playing.",
            );
        });
    if !open {
        app.ui.show_help = false;
    }
}
