//! `stagerack-ui --stage` in a real window under Xvfb at 1280×720 and at
//! 3840×2160: the window fills the screen (full screen), draws the stage
//! view, and a screenshot of each (target/tmp/stage-*.png) is kept to look
//! at. The large type is sized from the window's height, so the 4K shot
//! holds the same layout three times as large.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use stagerack_tests::xvfb::Xvfb;

/// The example set's two songs with notes, the notes following CC 4.
fn set_with_notes(dir: &Path) -> std::path::PathBuf {
    let presets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets");
    let set = dir.join("set.toml");
    let notes: Vec<String> = (1..=12)
        .map(|i| format!("Verse {i}: Am  F  C  G   (watch the drummer)"))
        .collect();
    std::fs::write(
        &set,
        format!(
            "version = 1\nname = \"gig\"\n[triggers]\nnotes_cc = 4\n\
             [[entry]]\npreset = \"{}\"\nprogram = 0\nnotes = \"\"\"\n{}\n\"\"\"\n\
             [[entry]]\npreset = \"{}\"\nprogram = 1\nnotes = \"Bells solo after the bridge\"\n",
            presets.join("demo.toml").display(),
            notes.join("\n"),
            presets.join("bells.toml").display()
        ),
    )
    .unwrap();
    set
}

/// The window's size on `display`, from xdotool.
fn window_size(display: &str) -> Option<(u32, u32)> {
    let id = window_id(display)?;
    let out = Command::new("xdotool")
        .args(["getwindowgeometry", &id])
        .env("DISPLAY", display)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let geometry = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Geometry: "))?;
    let (w, h) = geometry.split_once('x')?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}

/// Distinct colours and the fraction of pixels that are not black in a
/// screenshot of `display` (`width`×`height`), saved as `name`.
fn shot(display: &str, width: u32, height: u32, name: &str) -> (usize, f64) {
    let (path, colours, lit) = screenshot_sized(display, width, height, name);
    eprintln!("{}", path.display());
    (colours, lit)
}

fn stage_at(width: u32, height: u32) {
    let x = Xvfb::start_sized(width, height);
    let dir = tempfile::tempdir().unwrap();
    let set = set_with_notes(dir.path());
    let mut ui = Guard::spawn(
        ui_command(&x.display)
            .arg("--setlist")
            .arg(&set)
            .args(["--no-audio", "--stage"]),
        "stagerack-ui",
    );
    wait_for(Duration::from_secs(60), "the window full screen", || {
        assert!(ui.alive(), "stagerack-ui exited early");
        window_size(&x.display) == Some((width, height))
    });
    // The software renderer draws a few frames; the stage view is white
    // and coloured type on black.
    let name = format!("stage-{width}x{height}.png");
    let mut last = (0, 0.0);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        last = shot(&x.display, width, height, &name);
        if last.0 >= 50 && last.1 > 0.03 {
            break;
        }
    }
    assert!(
        last.0 >= 50 && last.1 > 0.03,
        "the stage view drew nothing much at {width}x{height}: {} colours, {:.1}% lit",
        last.0,
        last.1 * 100.0
    );
    ui.signal("-TERM");
    let status = ui.wait(Duration::from_secs(20));
    assert!(status.success(), "stagerack-ui exit: {status}");
}

#[test]
fn the_stage_view_fills_a_1280x720_screen() {
    stage_at(1280, 720);
}

#[test]
fn the_stage_view_fills_a_4k_screen() {
    stage_at(3840, 2160);
}
