//! A dark, high-contrast theme legible on a dim stage: near-black
//! background, white text, large type, saturated state colours.

use eframe::egui::{self, Color32, FontFamily, FontId, TextStyle};

/// Window background.
pub const BACKGROUND: Color32 = Color32::from_rgb(10, 11, 14);
/// Panels and rack cards.
pub const PANEL: Color32 = Color32::from_rgb(22, 24, 30);
/// Selected rack or plugin.
pub const SELECTED: Color32 = Color32::from_rgb(40, 70, 120);
/// Accent (key ranges, meter body).
pub const ACCENT: Color32 = Color32::from_rgb(70, 200, 120);
/// Warnings and meters near full scale.
pub const WARN: Color32 = Color32::from_rgb(255, 190, 40);
/// Errors, clipping, the panic button.
pub const DANGER: Color32 = Color32::from_rgb(230, 50, 50);
/// Muted racks.
pub const MUTED: Color32 = Color32::from_rgb(120, 120, 130);
/// Text.
pub const TEXT: Color32 = Color32::from_rgb(240, 240, 240);
/// A rack's colour, from its name: it stays with the rack when others are
/// added, removed or moved, and comes back with it on undo. UI thread.
pub fn rack_colour(name: &str) -> Color32 {
    // FNV-1a: small, stable across runs and platforms.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    RACK_COLOURS[hash as usize % RACK_COLOURS.len()]
}

/// The colours racks take (see [`rack_colour`]).
const RACK_COLOURS: [Color32; 6] = [
    Color32::from_rgb(80, 170, 255),
    Color32::from_rgb(255, 140, 60),
    Color32::from_rgb(120, 220, 110),
    Color32::from_rgb(230, 90, 200),
    Color32::from_rgb(250, 220, 70),
    Color32::from_rgb(90, 220, 220),
];

/// Font size of rack names.
pub const RACK_NAME_SIZE: f32 = 24.0;

/// Installs the theme. UI thread.
pub fn apply(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|style| {
        style.visuals = egui::Visuals::dark();
        style.text_styles = [
            (
                TextStyle::Heading,
                FontId::new(26.0, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(17.0, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(17.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(16.0, FontFamily::Monospace),
            ),
            (
                TextStyle::Small,
                FontId::new(13.0, FontFamily::Proportional),
            ),
        ]
        .into();
        let v = &mut style.visuals;
        v.panel_fill = BACKGROUND;
        v.window_fill = PANEL;
        v.extreme_bg_color = Color32::from_rgb(0, 0, 0);
        v.faint_bg_color = PANEL;
        v.override_text_color = Some(TEXT);
        v.selection.bg_fill = SELECTED;
        v.widgets.inactive.bg_fill = Color32::from_rgb(45, 48, 58);
        v.widgets.inactive.weak_bg_fill = Color32::from_rgb(45, 48, 58);
        v.widgets.hovered.bg_fill = Color32::from_rgb(65, 70, 85);
        v.widgets.hovered.weak_bg_fill = Color32::from_rgb(65, 70, 85);
        v.widgets.active.bg_fill = Color32::from_rgb(85, 95, 120);
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(8.0, 4.0);
        style.spacing.slider_width = 220.0;
    });
}

/// A meter colour for a linear peak.
pub fn meter_colour(peak: f32) -> Color32 {
    if peak >= 1.0 {
        DANGER
    } else if peak >= 0.5 {
        WARN
    } else {
        ACCENT
    }
}

#[cfg(test)]
mod tests {
    use super::rack_colour;

    #[test]
    fn a_racks_colour_depends_on_it_alone() {
        // Removing `keys` leaves the others' colours as they were (they used
        // to follow list positions and shift).
        let names = ["keys", "bass", "pad", "lead"];
        let colours: Vec<_> = names.iter().map(|n| rack_colour(n)).collect();
        let without_keys: Vec<_> = names[1..].iter().map(|n| rack_colour(n)).collect();
        assert_eq!(colours[1..], without_keys[..]);
        assert_ne!(
            rack_colour("keys"),
            rack_colour("bass"),
            "different racks differ here"
        );
    }
}
