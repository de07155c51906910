//! The bottom panel: master meter, DSP load, counters, and the message list.

use eframe::egui::{self, Color32, RichText, Sense};

use crate::frame::Frame;
use crate::state::Level;
use crate::theme;

/// Lowest level a meter shows, in dB.
const FLOOR_DB: f32 = -60.0;

/// Where a linear peak sits on a meter, 0..=1 (−60 dB .. 0 dB).
pub(super) fn meter_fraction(peak: f32) -> f32 {
    if peak <= 0.0 {
        return 0.0;
    }
    let db = 20.0 * peak.log10();
    ((db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0)
}

/// A stereo meter: two horizontal bars, green/yellow/red. UI thread.
pub(super) fn meter(ui: &mut egui::Ui, peaks: [f32; 2], size: egui::Vec2) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::BLACK);
    let h = (rect.height() - 2.0) / 2.0;
    for (i, p) in peaks.iter().enumerate() {
        let top = rect.top() + 1.0 + i as f32 * (h + 1.0) - if i == 1 { 1.0 } else { 0.0 };
        let bar = egui::Rect::from_min_size(
            egui::pos2(rect.left(), top),
            egui::vec2(rect.width() * meter_fraction(*p), h),
        );
        painter.rect_filled(bar, 1.0, theme::meter_colour(*p));
    }
    // 0 dB and −12 dB ticks.
    for db in [-12.0f32, -24.0, -48.0] {
        let x = rect.left() + rect.width() * (db - FLOOR_DB) / -FLOOR_DB;
        painter.line_segment(
            [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
            (1.0, Color32::from_gray(70)),
        );
    }
    let db = 20.0 * peaks[0].max(peaks[1]).max(1e-6).log10();
    response.on_hover_text(format!("peak {db:.1} dBFS"))
}

/// Height of the opened message list, pixels.
const MESSAGE_LIST_HEIGHT: f32 = 140.0;

/// Draws the status panel: the status line (wrapping, never cut, on a
/// narrow window), the web remote's address when it runs, then the newest
/// message on one line; the whole list only when opened. UI thread.
pub(super) fn draw(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Master").size(20.0).strong());
        meter(ui, app.state.meters.master, egui::vec2(240.0, 24.0));
        ui.separator();
        status_line(app, ui);
    });
    if let Some(url) = &app.state.web_remote {
        ui.add(egui::Label::new(RichText::new(format!("Web remote: {url}")).small()).truncate())
            .on_hover_text(
                "Open this address on a phone or tablet (with its token, when the web \
                 remote listens beyond this machine)",
            );
    }
    messages(app, ui);
}

fn status_line(app: &Frame<'_>, ui: &mut egui::Ui) {
    let Some(s) = &app.state.status else {
        ui.label("waiting for the engine...");
        return;
    };
    let load_colour = if s.dsp_peak >= 1.0 {
        theme::DANGER
    } else if s.dsp_peak >= 0.7 {
        theme::WARN
    } else {
        theme::ACCENT
    };
    ui.label(
        RichText::new(format!(
            "DSP {:>3.0}% (peak {:>3.0}%)",
            s.dsp_average * 100.0,
            s.dsp_peak * 100.0
        ))
        .size(18.0)
        .color(load_colour),
    )
    .on_hover_text(format!("{} buffers processed", s.buffers));
    if s.thread_loads.len() > 1 {
        let text = s
            .thread_loads
            .iter()
            .map(|l| format!("{:.0}", l * 100.0))
            .collect::<Vec<_>>()
            .join(" / ");
        ui.label(RichText::new(format!("threads {text} %")).small())
            .on_hover_text(
                "Peak load of each thread that runs racks: the audio callback's first, \
                 then the workers' (--threads)",
            );
    }
    ui.separator();
    let warn = |n: u64| if n > 0 { theme::DANGER } else { theme::TEXT };
    ui.label(RichText::new(format!("overloads {}", s.overloads)).color(warn(s.overloads)));
    ui.label(RichText::new(format!("xruns {}", s.xruns)).color(warn(s.xruns)));
    // Plugin panics the engine caught (not PANIC presses).
    ui.label(RichText::new(format!("plugin panics caught {}", s.panics)).color(warn(s.panics)))
        .on_hover_text(
            "Panics inside plugins that the engine caught and bypassed; \
             the PANIC button (all notes off) is not counted here",
        );
    ui.label(RichText::new(format!("MIDI {}", s.midi_events)).small());
    if let Some(h) = &s.heaviest {
        ui.label(RichText::new(format!("heaviest: {h}")).small())
            .on_hover_text("The plugin with the longest buffer since the last status");
    }
    if app.state.last_buffers == Some(s.buffers) && s.buffers > 0 {
        ui.label(RichText::new("engine stalled?").color(theme::WARN));
    }
}

fn level_tag(level: Level) -> (&'static str, Color32) {
    match level {
        Level::Info => ("info", theme::TEXT),
        Level::Warning => ("warning", theme::WARN),
        Level::Error => ("error", theme::DANGER),
    }
}

fn messages(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let errors = app
        .state
        .messages
        .iter()
        .filter(|m| m.level == Level::Error)
        .count();
    ui.horizontal(|ui| {
        let arrow = if app.ui.show_messages { "v" } else { ">" };
        let label = format!(
            "{arrow} Messages ({}, {errors} errors)",
            app.state.messages.len()
        );
        if ui
            .selectable_label(app.ui.show_messages, RichText::new(label).strong())
            .on_hover_text("Show or hide every message")
            .clicked()
        {
            app.ui.show_messages = !app.ui.show_messages;
        }
        if ui.small_button("Clear messages").clicked() {
            app.clear_messages();
        }
        if !app.ui.show_messages {
            if let Some(m) = app.state.messages.last() {
                let (tag, colour) = level_tag(m.level);
                let text = format!("{tag}: {}", m.text);
                ui.add(egui::Label::new(RichText::new(&text).color(colour)).truncate())
                    .on_hover_text(text);
            }
        }
    });
    if app.ui.show_messages {
        egui::ScrollArea::vertical()
            .stick_to_bottom(true)
            .max_height(MESSAGE_LIST_HEIGHT)
            .auto_shrink([false, true])
            .show(ui, |ui| {
                for m in &app.state.messages {
                    let (tag, colour) = level_tag(m.level);
                    ui.label(RichText::new(format!("{tag}: {}", m.text)).color(colour));
                }
            });
    }
}
