//! The window's layout at the sizes a laptop on stage has (#20 item 13),
//! measured on the widgets' own rectangles with egui_kittest: at 1280×800
//! two whole racks fit under the keyboard strip and the status panel is two
//! lines; at 1024×640 the toolbar keeps its two rows and the status line
//! and the rack cards fit the width; the side panel keeps its width when
//! the browser opens; the key-range handles are wide enough to grab.

stagerack_session::runtime::install_guard!();

mod kit;

use std::path::Path;

use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use stagerack_session::runtime::{AudioChoice, LoadedShow, Runtime};
use stagerack_ui::RackApp;

type Window = (kit::Engine, Harness<'static, RackApp>);

/// The demo preset in a window of `width`×`height`.
fn window(width: f32, height: f32) -> Window {
    // The browser lists the scan cache: none here. (Every test sets the
    // same value, so parallel tests do not disturb each other.)
    static EMPTY: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(|| tempfile::tempdir().unwrap());
    std::env::set_var("STAGERACK_CACHE_DIR", empty.path());
    let demo = stagerack_session::preset::load_preset(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/demo.toml"),
    )
    .unwrap();
    kit::window_on(
        Runtime::start(&LoadedShow::preset(demo), &AudioChoice::NoDevice).unwrap(),
        "unused.toml",
        width,
        height,
    )
}

/// The rectangle of the one widget labelled `label`.
fn rect(h: &Harness<'_, RackApp>, label: &str) -> egui::Rect {
    h.get_by_label(label).rect()
}

/// The toolbar's buttons: inside the window, in its two rows.
fn assert_toolbar_fits(h: &Harness<'_, RackApp>, width: f32) {
    for b in [
        "< Previous",
        "Next >",
        "Undo",
        "Redo",
        "PANIC",
        "Audio & MIDI",
        "Help",
        "Save preset",
        "Open preset",
    ] {
        let r = rect(h, b);
        assert!(r.right() <= width, "{b} is cut off at {width} px: {r:?}");
        assert!(r.bottom() <= 90.0, "{b} wrapped to a third row: {r:?}");
    }
}

#[test]
fn at_1280_by_800_two_whole_racks_fit_and_the_status_panel_is_small() {
    let (engine, h) = window(1280.0, 800.0);
    assert_toolbar_fits(&h, 1280.0);
    let status_top = rect(&h, "Master").top();
    assert!(
        status_top >= 800.0 - 80.0,
        "the status panel takes {} px",
        800.0 - status_top
    );
    // The second rack's last row (its Remove button) is above the status
    // panel: two whole racks on screen.
    let pad_end = rect(&h, "Remove rack pad").bottom();
    assert!(
        pad_end < status_top,
        "the second rack ends at {pad_end}, under the status panel at {status_top}"
    );
    engine.borrow_mut().shutdown();
}

#[test]
fn at_1024_by_640_nothing_is_cut_or_wrapped_away() {
    let (engine, h) = window(1024.0, 640.0);
    assert_toolbar_fits(&h, 1024.0);
    let side = rect(&h, "Parameters").left();
    // The status line fits (it wraps rather than cut).
    for l in ["overloads 0", "xruns 0", "plugin panics caught 0"] {
        let r = rect(&h, l);
        assert!(r.right() <= 1024.0, "{l} cut off: {r:?}");
    }
    // Rack cards stay left of the side panel: their rows wrap.
    for l in ["Channels", "Pan", "Velocity curve"] {
        for n in h.get_all_by_label(l) {
            let r = n.rect();
            assert!(
                r.right() <= side,
                "{l} at {r:?} runs under the side panel at {side}"
            );
        }
    }
    assert!(rect(&h, "Remove rack bass").right() <= side);
    engine.borrow_mut().shutdown();
}

#[test]
fn the_side_panel_keeps_its_width_when_the_browser_opens() {
    let (engine, mut h) = window(1280.0, 800.0);
    let side = rect(&h, "Parameters").left();
    let card_end = rect(&h, "Remove rack bass").right();
    h.get_by_label("Add plugin to bass").click();
    kit::settle(&mut h);
    let browser = rect(&h, "Add a plugin to bass").left();
    assert_eq!(
        browser, side,
        "the side panel moved when the browser opened"
    );
    assert_eq!(rect(&h, "Remove rack bass").right(), card_end);
    h.get_by_label("Close browser").click();
    kit::settle(&mut h);
    assert_eq!(rect(&h, "Parameters").left(), side);
    engine.borrow_mut().shutdown();
}

#[test]
fn key_range_handles_are_wide_enough_to_grab() {
    let (engine, h) = window(1280.0, 800.0);
    for rack in ["bass", "pad", "bell"] {
        for end in ["lowest", "highest"] {
            let r = rect(&h, &format!("{rack} {end} key"));
            assert!(
                r.width() >= 20.0 && r.height() >= 14.0,
                "{rack}'s {end}-key handle is {r:?}"
            );
        }
    }
    engine.borrow_mut().shutdown();
}
