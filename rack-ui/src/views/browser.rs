//! The plugin browser: a searchable list fed by `list_plugins`; a click
//! adds the plugin to the end of the chosen rack's chain. Opened the first
//! time, it asks the engine for a background scan (files already in the
//! scan cache cost nothing) and shows its progress; Rescan asks again,
//! blacklisted files included. New plugins appear when the scan ends.

use eframe::egui::{self, RichText};
use stagerack_session::control::Command;

use crate::frame::Frame;

/// Whether `name`, `id` or `vendor` contains every word of `search`
/// (case-insensitive).
pub fn matches(search: &str, fields: &[&str]) -> bool {
    let hay = fields.join(" ").to_lowercase();
    search
        .split_whitespace()
        .all(|w| hay.contains(&w.to_lowercase()))
}

/// Draws the browser in the side panel. UI thread.
pub(super) fn draw(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let Some(rack) = app.ui.browser_rack else {
        return;
    };
    let rack_name = app
        .state
        .snapshot
        .as_ref()
        .and_then(|s| s.racks.get(rack))
        .map(|r| r.routing.name.clone());
    let Some(rack_name) = rack_name else {
        app.ui.browser_rack = None;
        return;
    };
    if !app.ui.scan_asked {
        app.ui.scan_asked = true;
        app.send(Command::ScanPlugins { rescan: false });
    }
    ui.horizontal(|ui| {
        ui.heading(format!("Add a plugin to {rack_name}"));
        if ui.button("Close browser").clicked() {
            app.ui.browser_rack = None;
        }
    });
    draw_scan(app, ui);
    let l = ui.label("Search plugins");
    let search = ui
        .add(egui::TextEdit::singleline(&mut app.ui.browser_search).desired_width(f32::INFINITY))
        .labelled_by(l.id);
    if app.ui.browser_search.is_empty() && !search.has_focus() {
        search.request_focus();
    }
    ui.separator();
    let found: Vec<_> = app
        .state
        .plugins
        .iter()
        .filter(|p| matches(&app.ui.browser_search, &[&p.name, &p.id, &p.vendor]))
        .cloned()
        .collect();
    if found.is_empty() {
        if app.state.scan.progress.is_some() {
            ui.label("No plugin matches yet: still scanning.");
        } else {
            ui.label("No plugin matches.");
        }
    }
    let mut chosen = None;
    egui::ScrollArea::vertical().show(ui, |ui| {
        for p in &found {
            let b = ui
                .add(
                    egui::Button::new(RichText::new(&p.name).size(19.0))
                        .min_size(egui::vec2(260.0, 30.0)),
                )
                .on_hover_text(format!(
                    "{} | {} | {:?} | {}",
                    p.vendor, p.format, p.kind, p.id
                ));
            ui.label(RichText::new(format!("{} | {:?} | {}", p.vendor, p.kind, p.format)).small());
            if b.clicked() {
                chosen = Some(p.clone());
            }
        }
    });
    if let Some(p) = chosen {
        app.edit(Command::AddPlugin {
            rack,
            index: None,
            format: p.format,
            plugin: p.id.clone(),
            path: p.path.clone(),
        });
        let len = app
            .state
            .snapshot
            .as_ref()
            .and_then(|s| s.racks.get(rack))
            .map_or(0, |r| r.plugins.len());
        app.ui.selected_plugin = Some((rack, len));
        app.ui.browser_rack = None;
        app.ui.browser_search.clear();
    }
}

/// The scan's progress bar, or what the last scan found and Rescan.
fn draw_scan(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    ui.horizontal(|ui| match &app.state.scan.progress {
        Some((done, total, file)) => {
            ui.spinner();
            let fraction = if *total == 0 {
                0.0
            } else {
                *done as f32 / *total as f32
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(160.0)
                    .text(format!("Scanning {}/{total}", done + 1)),
            );
            ui.label(RichText::new(file).small());
        }
        None => {
            if let Some(summary) = &app.state.scan.summary {
                ui.label(RichText::new(summary).small());
            }
            if ui
                .button("Rescan")
                .on_hover_text("Look for new plugins and try left-out files again")
                .clicked()
            {
                app.send(Command::ScanPlugins { rescan: true });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_matches_every_word_in_any_field() {
        assert!(super::matches(
            "stage synth",
            &["Stagerack Synth", "synth", "stagerack"]
        ));
        assert!(super::matches("", &["anything"]));
        assert!(!super::matches(
            "synth gain",
            &["Stagerack Synth", "synth", "stagerack"]
        ));
    }
}
