//! The plugin browser on a machine that never ran `stagerack scan` (#20
//! item 3): opened the first time it scans in the background (progress
//! shown, the window keeps drawing), the zam-plugins appear when the scan
//! ends; Rescan finds a plugin file added afterwards, without a restart.
//!
//! One test in this binary: it sets the process's plugin-path and cache
//! variables. The scan's children are the real `stagerack-ui scan-one`.

stagerack_session::runtime::install_guard!();

mod kit;

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use stagerack_session::control::{Command, Reply};
use stagerack_session::runtime::{AudioChoice, LoadedShow, Runtime};
use stagerack_ui::RackApp;

fn demo() -> stagerack_session::preset::Preset {
    stagerack_session::preset::load_preset(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/demo.toml"),
    )
    .unwrap()
}

/// Steps the window until `done` or `timeout` (the engine is pumped by the
/// window's own frame).
fn step_until(
    h: &mut Harness<'_, RackApp>,
    timeout: Duration,
    what: &str,
    done: impl Fn(&RackApp) -> bool,
) {
    let end = Instant::now() + timeout;
    while !done(h.state()) {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
}

fn zam_in_list(app: &RackApp) -> usize {
    app.state
        .plugins
        .iter()
        .filter(|p| p.vendor.to_lowercase().contains("zam") || p.name.starts_with("Zam"))
        .count()
}

/// The browser lists a plugin from `folder`.
fn found_extra(app: &RackApp, folder: &Path) -> bool {
    app.state
        .plugins
        .iter()
        .any(|p| p.path.as_deref().is_some_and(|p| p.starts_with(folder)))
}

#[test]
fn the_browser_scans_in_the_background_and_rescan_finds_new_plugins() {
    assert!(
        Path::new("/usr/lib/clap/ZamComp.clap").exists(),
        "zam-plugins missing: run scripts/ensure-deps test"
    );
    let home = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let extra = tempfile::tempdir().unwrap();
    // A fresh machine: no scan cache, no plugins in the user's folders;
    // the system folders hold Debian's zam-plugins. (Only test here.)
    std::env::set_var("STAGERACK_CACHE_DIR", cache.path());
    std::env::set_var("HOME", home.path());
    std::env::set_var("CLAP_PATH", extra.path());
    std::env::remove_var("VST3_PATH");

    let mut engine = Runtime::start(&LoadedShow::preset(demo()), &AudioChoice::NoDevice).unwrap();
    engine.set_scanner(env!("CARGO_BIN_EXE_stagerack-ui").into());
    let (engine, mut h) = kit::window_on(engine, "unused.toml", 1400.0, 900.0);
    step_until(&mut h, Duration::from_secs(5), "the state", |a| {
        a.state.snapshot.is_some() && !a.state.plugins.is_empty()
    });
    assert_eq!(zam_in_list(h.state()), 0, "nothing scanned yet");

    // First open: the scan starts and shows its progress while the window
    // keeps drawing frames.
    let rack = h.state().state.snapshot.as_ref().unwrap().racks[0]
        .routing
        .name
        .clone();
    h.get_by_label(&format!("Add plugin to {rack}")).click();
    h.step();
    step_until(&mut h, Duration::from_secs(20), "scan progress", |a| {
        a.state.scan.progress.is_some()
    });
    h.step();
    assert!(
        h.query_by_label_contains("Scanning").is_some(),
        "the browser shows the scan's progress"
    );
    step_until(&mut h, Duration::from_secs(120), "the scan's end", |a| {
        a.state.scan.progress.is_none() && a.state.scan.summary.is_some()
    });
    step_until(&mut h, Duration::from_secs(5), "the new list", |a| {
        zam_in_list(a) > 0
    });
    // 17 zam-plugins, each as CLAP and as VST3.
    assert!(zam_in_list(h.state()) >= 34, "{}", zam_in_list(h.state()));
    let summary = h.state().state.scan.summary.clone().unwrap();
    assert!(summary.contains("34 opened"), "{summary}");

    // Searching "zam" lists them in the browser.
    h.get_by_label("Search plugins").focus();
    h.step();
    h.get_by_label("Search plugins").type_text("zamcomp");
    h.step();
    h.step();
    let shown = h
        .get_all_by_label("ZamComp")
        .filter(|n| n.rect().left() > 900.0)
        .count();
    assert_eq!(shown, 2, "ZamComp as CLAP and as VST3 in the browser");

    // The scan went to the cache `stagerack scan` uses.
    let cached = std::fs::read_to_string(cache.path().join("scan-cache.json")).unwrap();
    assert!(cached.contains("ZamComp"), "{cached}");

    // A plugin file added now is found by Rescan, without a restart; the
    // files already scanned come from the cache.
    std::fs::copy(
        "/usr/lib/clap/ZamGate.clap",
        extra.path().join("MyGate.clap"),
    )
    .unwrap();
    h.get_by_label("Rescan").click();
    h.step();
    // A rescan served mostly from the cache may start and end between two
    // frames: either its progress shows or its result is already there.
    step_until(&mut h, Duration::from_secs(20), "the rescan", |a| {
        a.state.scan.progress.is_some() || found_extra(a, extra.path())
    });
    step_until(&mut h, Duration::from_secs(120), "the rescan's end", |a| {
        a.state.scan.progress.is_none() && found_extra(a, extra.path())
    });
    let summary = h.state().state.scan.summary.clone().unwrap();
    assert!(summary.contains("1 opened"), "{summary}");

    // An engine given no scanner program refuses, naming the way out.
    let mut bare = Runtime::start(&LoadedShow::preset(demo()), &AudioChoice::NoDevice).unwrap();
    let mut c = bare.connect();
    let id = c.send(Command::ScanPlugins { rescan: false });
    bare.pump();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < end, "no answer to scan_plugins");
        match c.recv_timeout(Duration::from_millis(100)) {
            Some(Reply::Error { id: got, message }) if got == id => {
                assert!(message.contains("stagerack scan"), "{message}");
                break;
            }
            Some(Reply::Ok { id: got }) if got == id => panic!("scan accepted without a scanner"),
            _ => {
                bare.pump();
            }
        }
    }
    bare.shutdown();
    engine.borrow_mut().shutdown();
}
