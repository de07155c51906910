//! The setlist window: open a setlist file, add, remove and reorder its
//! entries, set each entry's program/bank/note triggers and song notes,
//! save it. Every change is a protocol command (`edit_setlist`, …); what
//! the window shows is what the engine sent back. Triggers and notes play
//! at once; added, removed and moved entries play after Save setlist, in
//! place (the song playing goes on). Open setlist asks first: it replaces
//! what plays. UI thread.

use eframe::egui::{self, RichText};
use stagerack_session::control::{Command, SetlistEdit, SetlistEntry, SetlistView};

use crate::frame::Frame;
use crate::state::Level;
use crate::theme;

/// What the window says about when edits play.
pub const WHEN_EDITS_PLAY: &str = "Triggers and notes play at once. Added, removed or moved \
                                   entries play after Save setlist, in place: the song playing \
                                   goes on and stays current, every song still in the set keeps \
                                   its sound and unsaved edits, added songs are loaded and \
                                   removed ones unloaded. Remove the song playing only after \
                                   switching away from it. Relative paths are in the setlist's \
                                   folder.";

/// What the window says before Open setlist replaces what plays.
pub const OPEN_REPLACES: &str = "Open setlist replaces what plays: every song is loaded again \
                                 from its file and entry 1 becomes current (held notes, tails \
                                 and the backing track stop).";

/// The setlist window, when open. UI thread.
pub fn window(app: &mut Frame<'_>, ctx: &egui::Context) {
    let mut open = true;
    egui::Window::new("Setlist")
        .open(&mut open)
        .default_width(640.0)
        .default_pos(egui::pos2(120.0, 110.0))
        .show(ctx, |ui| body(app, ui));
    if !open {
        app.ui.setlist.open = false;
    }
}

fn body(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let view = app.state.setlist.clone();
    if app.ui.setlist.path.is_empty() {
        if let Some(v) = &view {
            app.ui.setlist.path = v.file.display().to_string();
        }
    }
    ui.horizontal(|ui| {
        let l = ui.label("Setlist file");
        ui.add(egui::TextEdit::singleline(&mut app.ui.setlist.path).desired_width(260.0))
            .labelled_by(l.id);
        let path = app.ui.setlist.path.trim().to_owned();
        if ui
            .button("Open setlist")
            .on_hover_text("Replace what plays with this setlist file (asks first)")
            .clicked()
        {
            if path.is_empty() {
                app.message(Level::Error, "type a setlist file name to open");
            } else {
                app.ui.setlist.confirm_open = Some(path.clone());
            }
        }
        let save = ui.add_enabled(view.is_some(), egui::Button::new("Save setlist"));
        if save
            .on_hover_text("Write the setlist to this file (atomically)")
            .clicked()
        {
            let own = view
                .as_ref()
                .is_some_and(|v| v.file.display().to_string() == path);
            let path = (!own && !path.is_empty()).then(|| path.into());
            app.send(Command::SaveSetlist { path });
        }
    });
    confirm_open(app, ui, view.as_ref());
    let Some(view) = view else {
        ui.label("A single preset plays: open a setlist file to edit it.");
        return;
    };
    let unsaved = if view.unsaved { " (unsaved)" } else { "" };
    ui.label(RichText::new(format!("{}{unsaved}", view.setlist.name)).strong());
    if view.pending {
        ui.label(
            RichText::new(
                "Entries were added, removed or moved: they play after Save setlist (the song \
                 playing goes on).",
            )
            .color(theme::WARN),
        );
    }
    ui.label(RichText::new(WHEN_EDITS_PLAY).small());
    ui.separator();
    entries(app, ui, &view);
    ui.horizontal(|ui| {
        let l = ui.label("Preset");
        ui.add(
            egui::TextEdit::singleline(&mut app.ui.setlist.add)
                .hint_text("file, relative to the setlist's folder")
                .desired_width(260.0),
        )
        .labelled_by(l.id);
        if ui.button("Add entry").clicked() {
            let preset = app.ui.setlist.add.trim().to_owned();
            if preset.is_empty() {
                app.message(Level::Error, "type the preset file of the entry to add");
            } else {
                app.send(edit(SetlistEdit::AddEntry {
                    preset: preset.into(),
                    index: None,
                }));
                app.ui.setlist.add.clear();
            }
        }
    });
    notes_editor(app, ui);
}

/// Asks before Open setlist replaces what plays: what is lost (unsaved
/// setlist and preset edits), open or cancel.
fn confirm_open(app: &mut Frame<'_>, ui: &mut egui::Ui, view: Option<&SetlistView>) {
    let Some(path) = app.ui.setlist.confirm_open.clone() else {
        return;
    };
    ui.separator();
    ui.label(RichText::new(format!("Open {path}?")).strong());
    ui.label(RichText::new(OPEN_REPLACES).color(theme::WARN));
    if view.is_some_and(|v| v.unsaved) {
        ui.label(
            RichText::new("Unsaved setlist edits are lost: Save setlist first to keep them.")
                .color(theme::WARN),
        );
    }
    if app.state.modified {
        ui.label(
            RichText::new(
                "Unsaved preset edits (and their undo) are lost: Save the preset first to keep \
                 them.",
            )
            .color(theme::WARN),
        );
    }
    ui.horizontal(|ui| {
        if ui.button("Open, replacing what plays").clicked() {
            app.ui.setlist.confirm_open = None;
            app.send(Command::OpenSetlist { path: path.into() });
        }
        if ui.button("Cancel").clicked() {
            app.ui.setlist.confirm_open = None;
        }
    });
    ui.separator();
}

fn edit(edit: SetlistEdit) -> Command {
    Command::EditSetlist { edit }
}

/// The entries' grid: number, preset, triggers, buttons.
fn entries(app: &mut Frame<'_>, ui: &mut egui::Ui, view: &SetlistView) {
    let current = app.state.snapshot.as_ref().map(|s| s.current);
    let count = view.setlist.entries.len();
    egui::ScrollArea::vertical()
        .max_height(320.0)
        .show(ui, |ui| {
            egui::Grid::new("setlist entries")
                .striped(true)
                .show(ui, |ui| {
                    for h in ["#", "Preset", "Program", "Bank", "Note", ""] {
                        ui.label(RichText::new(h).small());
                    }
                    ui.end_row();
                    for (i, entry) in view.setlist.entries.iter().enumerate() {
                        let playing = view.playing.get(i).copied().flatten();
                        let mut number = RichText::new(format!("{}", i + 1));
                        if playing.is_some() && playing == current {
                            number = number.strong().color(theme::ACCENT);
                        }
                        ui.label(number);
                        let mut name = entry.preset.display().to_string();
                        if playing.is_none() {
                            name.push_str(" (new)");
                        }
                        ui.label(name);
                        triggers(app, ui, i, entry);
                        ui.horizontal(|ui| {
                            if ui
                                .add_enabled(i > 0, egui::Button::new("Earlier"))
                                .clicked()
                            {
                                app.send(edit(SetlistEdit::MoveEntry { from: i, to: i - 1 }));
                            }
                            if ui
                                .add_enabled(i + 1 < count, egui::Button::new("Later"))
                                .clicked()
                            {
                                app.send(edit(SetlistEdit::MoveEntry { from: i, to: i + 1 }));
                            }
                            let notes = if entry.notes.is_empty() {
                                "Notes"
                            } else {
                                "Notes*"
                            };
                            if ui
                                .button(notes)
                                .on_hover_text("The song's notes for the stage view")
                                .clicked()
                            {
                                app.ui.setlist.notes = Some((i, entry.notes.clone()));
                            }
                            if ui
                                .add_enabled(count > 1, egui::Button::new("Remove"))
                                .clicked()
                            {
                                app.send(edit(SetlistEdit::RemoveEntry { index: i }));
                            }
                        });
                        ui.end_row();
                    }
                });
        });
}

/// An entry's program, bank and note fields: typed, then set on Enter or
/// when the field loses focus (empty: none).
fn triggers(app: &mut Frame<'_>, ui: &mut egui::Ui, i: usize, entry: &SetlistEntry) {
    let values = [
        ("program", entry.program.map(u32::from)),
        ("bank", entry.bank.map(u32::from)),
        ("note", entry.note.map(u32::from)),
    ];
    let mut done = false;
    for (field, value) in values {
        let key = (i, field);
        let mut text = app
            .ui
            .setlist
            .fields
            .get(&key)
            .cloned()
            .unwrap_or_else(|| value.map_or_else(String::new, |v| v.to_string()));
        let r = ui.add(egui::TextEdit::singleline(&mut text).desired_width(48.0));
        if r.changed() {
            app.ui.setlist.fields.insert(key, text);
        }
        done |= r.lost_focus() && app.ui.setlist.fields.contains_key(&key);
    }
    if !done {
        return;
    }
    let mut parsed = Vec::new();
    for (field, value) in values {
        let typed = app.ui.setlist.fields.remove(&(i, field));
        let text = typed.unwrap_or_else(|| value.map_or_else(String::new, |v| v.to_string()));
        let text = text.trim();
        match text.parse::<u16>() {
            _ if text.is_empty() => parsed.push(None),
            Ok(v) => parsed.push(Some(v)),
            Err(_) => {
                app.message(
                    Level::Error,
                    format!(
                        "entry {}: {field} must be a number (or empty for none)",
                        i + 1
                    ),
                );
                return;
            }
        }
    }
    let small = |v: Option<u16>| v.map(|v| u8::try_from(v).unwrap_or(u8::MAX));
    let (program, bank, note) = (small(parsed[0]), parsed[1], small(parsed[2]));
    if (program, bank, note) != (entry.program, entry.bank, entry.note) {
        app.send(edit(SetlistEdit::SetTriggers {
            index: i,
            program,
            bank,
            note,
        }));
    }
}

/// The notes of one entry being edited, applied with a button.
fn notes_editor(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let Some((i, mut text)) = app.ui.setlist.notes.take() else {
        return;
    };
    ui.separator();
    ui.label(format!(
        "Notes of entry {} (lyrics, chords, cues; shown on the stage view)",
        i + 1
    ));
    ui.add(
        egui::TextEdit::multiline(&mut text)
            .desired_rows(6)
            .desired_width(f32::INFINITY),
    );
    let mut keep = true;
    ui.horizontal(|ui| {
        if ui.button("Apply notes").clicked() {
            app.send(edit(SetlistEdit::SetNotes {
                index: i,
                notes: text.clone(),
            }));
            keep = false;
        }
        if ui.button("Cancel").clicked() {
            keep = false;
        }
    });
    if keep {
        app.ui.setlist.notes = Some((i, text));
    }
}
