//! The keyboard strip: MIDI keys 0..=127 (keys played on the MIDI input
//! lit, from the meters events) with each rack's key range as a coloured
//! bar underneath; drag a bar's ends to change the range (`edit_rack {
//! keys }`, undoable).

use eframe::egui::{self, Color32, FontId, RichText, Sense};
use stagerack_session::control::Command;
use stagerack_session::session::RackEdit;

use crate::frame::Frame;
use crate::theme;
use crate::ui_state::KeyDrag;

const KEYS_HEIGHT: f32 = 46.0;
const LANE_HEIGHT: f32 = 20.0;
const HANDLE_WIDTH: f32 = 14.0;

/// Whether MIDI key `k` is a black key.
fn is_black(k: u8) -> bool {
    matches!(k % 12, 1 | 3 | 6 | 8 | 10)
}

/// The key name: 60 = C4.
pub fn key_name(k: u8) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!("{}{}", NAMES[usize::from(k % 12)], i32::from(k / 12) - 1)
}

/// A key from what a musician types: a name ("C4", "c#5", "Db3", "C-1";
/// 60 = C4) or a MIDI number ("60"). None when it is neither or out of
/// 0..=127. UI thread.
pub fn parse_key(text: &str) -> Option<u8> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u8>() {
        return (n <= 127).then_some(n);
    }
    let mut chars = t.chars();
    let base: i32 = match chars.next()?.to_ascii_uppercase() {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let rest = chars.as_str();
    let (shift, octave) = match rest.chars().next() {
        Some('#') => (1, &rest[1..]),
        Some('b') if rest.len() > 1 => (-1, &rest[1..]),
        _ => (0, rest),
    };
    let octave: i32 = octave.parse().ok()?;
    u8::try_from(base + shift + (octave + 1) * 12)
        .ok()
        .filter(|k| *k <= 127)
}

/// Draws the strip. UI thread.
pub(super) fn draw(app: &mut Frame<'_>, ui: &mut egui::Ui) {
    let Some(snapshot) = app.state.snapshot.clone() else {
        return;
    };
    let lanes: Vec<(usize, String, [u8; 2])> = snapshot
        .racks
        .iter()
        .enumerate()
        .filter(|(_, r)| r.preset == snapshot.current)
        .map(|(i, r)| {
            (
                i,
                r.routing.name.clone(),
                r.routing.keys.unwrap_or([0, 127]),
            )
        })
        .collect();
    // Names the current preset's plugins give keys (drum maps), the first
    // plugin's first.
    let mut named: Vec<(u8, String)> = Vec::new();
    for r in snapshot
        .racks
        .iter()
        .filter(|r| r.preset == snapshot.current)
    {
        for (key, name) in r.plugins.iter().flat_map(|p| p.note_names.iter()) {
            if !named.iter().any(|(k, _)| k == key) {
                named.push((*key, name.clone()));
            }
        }
    }
    named.sort_by_key(|(k, _)| *k);
    ui.label(RichText::new("Key ranges").strong());
    let width = ui.available_width();
    let height = KEYS_HEIGHT + LANE_HEIGHT * lanes.len().max(1) as f32 + 4.0;
    let (rect, strip) = ui.allocate_exact_size(egui::vec2(width, height), Sense::hover());
    // Which keys are down, in words (screen readers, and the tests).
    let lit: Vec<String> = (0u8..=127)
        .filter(|k| app.state.meters.key_lit(*k))
        .map(key_name)
        .collect();
    strip.widget_info(|| {
        let held = if lit.is_empty() {
            "no key played".to_owned()
        } else {
            format!("playing {}", lit.join(" "))
        };
        let names = if named.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = named
                .iter()
                .map(|(k, n)| format!("{} {n}", key_name(*k)))
                .collect();
            format!("; named keys: {}", list.join(", "))
        };
        egui::WidgetInfo::labeled(
            egui::accesskit::Role::Group,
            true,
            format!("Keyboard: {held}{names}"),
        )
    });
    let painter = ui.painter_at(rect);
    let key_w = rect.width() / 128.0;
    let x_of = |k: f32| rect.left() + k * key_w;
    let key_at = |x: f32| ((x - rect.left()) / key_w).floor().clamp(0.0, 127.0) as u8;
    // Keys.
    for k in 0u8..=127 {
        let r = egui::Rect::from_min_size(
            egui::pos2(x_of(f32::from(k)), rect.top()),
            egui::vec2(key_w, KEYS_HEIGHT),
        );
        let (fill, h) = if is_black(k) {
            (Color32::from_gray(25), KEYS_HEIGHT * 0.62)
        } else {
            (Color32::from_gray(225), KEYS_HEIGHT)
        };
        let fill = if app.state.meters.key_lit(k) {
            theme::ACCENT
        } else {
            fill
        };
        painter.rect_filled(
            egui::Rect::from_min_size(r.min, egui::vec2(key_w - 0.5, h)),
            0.0,
            fill,
        );
    }
    // A named key (a drum map) has a mark under it and says its name when
    // pointed at.
    for (k, _) in &named {
        let x = x_of(f32::from(*k) + 0.5);
        painter.circle_filled(
            egui::pos2(x, rect.top() + KEYS_HEIGHT + 1.5),
            (key_w * 0.3).clamp(1.0, 3.0),
            theme::ACCENT,
        );
    }
    if let Some(pos) = strip.hover_pos().filter(|p| p.y < rect.top() + KEYS_HEIGHT) {
        let k = key_at(pos.x);
        if let Some((_, name)) = named.iter().find(|(key, _)| *key == k) {
            strip
                .clone()
                .on_hover_text_at_pointer(format!("{} ({k}): {name}", key_name(k)));
        }
    }
    // Octave names on a light label of their own, over the keys: drawn
    // with them, the next key covered all but the "C", and the octave
    // digit fell on a dark black-key slot.
    for k in (0u8..=127).step_by(12) {
        let galley =
            painter.layout_no_wrap(key_name(k), FontId::proportional(11.0), Color32::BLACK);
        let at = egui::pos2(
            x_of(f32::from(k)) + 1.0,
            rect.top() + KEYS_HEIGHT - 2.0 - galley.size().y,
        );
        let back = egui::Rect::from_min_size(at, galley.size()).expand(1.0);
        painter.rect_filled(back, 2.0, Color32::from_gray(225));
        painter.galley(at, galley, Color32::BLACK);
    }
    // Lanes.
    for (lane, (rack, name, keys)) in lanes.iter().enumerate() {
        let keys = match app.ui.key_drag {
            Some(d) if d.rack == *rack => d.keys,
            _ => *keys,
        };
        let top = rect.top() + KEYS_HEIGHT + 4.0 + lane as f32 * LANE_HEIGHT;
        let colour = theme::rack_colour(name);
        let bar = egui::Rect::from_min_max(
            egui::pos2(x_of(f32::from(keys[0])), top),
            egui::pos2(x_of(f32::from(keys[1]) + 1.0), top + LANE_HEIGHT - 3.0),
        );
        painter.rect_filled(bar, 3.0, colour.gamma_multiply(0.8));
        painter.text(
            bar.left_center() + egui::vec2(HANDLE_WIDTH + 2.0, 0.0),
            egui::Align2::LEFT_CENTER,
            format!("{name}  {}-{}", key_name(keys[0]), key_name(keys[1])),
            FontId::proportional(14.0),
            Color32::BLACK,
        );
        for end in 0..2 {
            let x = if end == 0 {
                bar.left()
            } else {
                bar.right() - HANDLE_WIDTH
            };
            let handle = egui::Rect::from_min_size(
                egui::pos2(x, bar.top()),
                egui::vec2(HANDLE_WIDTH, bar.height()),
            );
            painter.rect_filled(handle, 2.0, Color32::WHITE);
            // Two grip lines say "drag me".
            for dx in [-2.5, 2.5] {
                let x = handle.center().x + dx;
                painter.line_segment(
                    [
                        egui::pos2(x, handle.top() + 4.0),
                        egui::pos2(x, handle.bottom() - 4.0),
                    ],
                    (1.0, Color32::from_gray(110)),
                );
            }
            let id = ui.scope_id().with(("key-handle", *rack, end));
            // The grab area reaches a little past the drawn handle.
            let r = ui
                .interact(handle.expand2(egui::vec2(4.0, 0.0)), id, Sense::drag())
                .on_hover_cursor(egui::CursorIcon::ResizeHorizontal)
                .on_hover_text(format!(
                    "Drag to change {name}'s {} key",
                    ["lowest", "highest"][end]
                ));
            // Named for screen readers (and the layout test).
            let which = ["lowest", "highest"][end];
            r.widget_info(|| {
                egui::WidgetInfo::labeled(
                    egui::accesskit::Role::Slider,
                    true,
                    format!("{name} {which} key"),
                )
            });
            if r.drag_started() {
                app.ui.key_drag = Some(KeyDrag {
                    rack: *rack,
                    end,
                    keys,
                });
            }
            if r.dragged() {
                if let (Some(pos), Some(d)) = (r.interact_pointer_pos(), app.ui.key_drag.as_mut()) {
                    let k = key_at(pos.x);
                    if d.end == 0 {
                        d.keys[0] = k.min(d.keys[1]);
                    } else {
                        d.keys[1] = k.max(d.keys[0]);
                    }
                }
            }
            if r.drag_stopped() {
                if let Some(d) = app.ui.key_drag.take() {
                    app.edit(Command::EditRack {
                        rack: d.rack,
                        edit: RackEdit {
                            keys: Some(d.keys),
                            ..RackEdit::default()
                        },
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn typed_key_names_and_numbers_become_keys() {
        use super::{key_name, parse_key};
        assert_eq!(parse_key("C5"), Some(72));
        assert_eq!(parse_key("c#4"), Some(61));
        assert_eq!(parse_key("Db4"), Some(61));
        assert_eq!(parse_key("C-1"), Some(0));
        assert_eq!(parse_key(" 60 "), Some(60));
        assert_eq!(parse_key("G9"), Some(127));
        assert_eq!(parse_key("G#9"), None, "above 127");
        assert_eq!(parse_key("128"), None);
        assert_eq!(parse_key("H2"), None);
        for k in 0..=127 {
            assert_eq!(parse_key(&key_name(k)), Some(k), "{}", key_name(k));
        }
    }

    #[test]
    fn key_names_put_middle_c_at_60() {
        assert_eq!(super::key_name(60), "C4");
        assert_eq!(super::key_name(0), "C-1");
        assert_eq!(super::key_name(127), "G9");
        assert!(super::is_black(61) && !super::is_black(64));
    }
}
