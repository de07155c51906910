//! The rack window's logic, driven headless with egui_kittest (no display):
//! build a rack with the built-in synth through the UI, change a parameter,
//! undo/redo it, save the preset, and check the file and the engine agree.

// The allocation guard in this test binary (see `install_guard!`).
stagerack_session::runtime::install_guard!();

mod kit;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use stagerack_session::control::{Command, Reply, Snapshot};
use stagerack_session::runtime::{AudioChoice, LoadedShow, Runtime};
use stagerack_ui::{Mode, RackApp};

/// The plugin browser also lists the user's scan cache: these tests use an
/// empty one, whatever the machine has scanned. (Every test here wants the
/// same value, so setting it from parallel tests is harmless.)
fn isolate_scan_cache() {
    static EMPTY: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = EMPTY.get_or_init(|| tempfile::tempdir().unwrap());
    std::env::set_var("STAGERACK_CACHE_DIR", dir.path());
}

fn demo() -> stagerack_session::preset::Preset {
    isolate_scan_cache();
    stagerack_session::preset::load_preset(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/demo.toml"),
    )
    .unwrap()
}

use kit::settle;

/// The demo preset playing on no device (the `dummy` backend).
fn start_demo() -> Runtime {
    Runtime::start(&LoadedShow::preset(demo()), &AudioChoice::NoDevice).unwrap()
}

/// An engine configuration for an offline session.
fn config() -> stagerack_session::runtime::EngineConfig {
    stagerack_session::runtime::EngineConfig {
        sample_rate: 48_000.0,
        max_block: 256,
        queues: Default::default(),
    }
}

/// The engine's own state, through a second client.
fn engine_state(engine: &Rc<RefCell<Runtime>>) -> Snapshot {
    let mut client = engine.borrow_mut().connect();
    client.send(Command::GetState {});
    engine.borrow_mut().pump();
    loop {
        match client.recv_timeout(Duration::from_secs(2)) {
            Some(Reply::State { state, .. }) => return state,
            Some(_) => continue,
            None => panic!("the engine did not answer get_state"),
        }
    }
}

fn cutoff(s: &Snapshot, rack: usize) -> f64 {
    s.racks[rack].plugins[0]
        .params
        .iter()
        .find(|p| p.name == "cutoff")
        .unwrap()
        .value
}

#[test]
fn build_a_rack_set_a_parameter_and_save_through_the_ui() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.toml");
    let (engine, mut h) = kit::window_on(start_demo(), saved.clone(), 1400.0, 900.0);
    assert_eq!(h.state().state.snapshot.as_ref().unwrap().racks.len(), 3);
    assert!(h.state().state.welcomed);
    assert!(
        !h.state().state.plugins.is_empty(),
        "the browser has plugins"
    );

    // A new rack named "lead" (the row is after the racks).
    h.get_by_label("New rack name").scroll_to_me();
    settle(&mut h);
    h.get_by_label("New rack name").focus();
    h.step();
    h.get_by_label("New rack name").type_text("lead");
    h.step();
    h.get_by_label("Add rack").click();
    settle(&mut h);
    let snap = h.state().state.snapshot.clone().unwrap();
    assert_eq!(snap.racks.len(), 4);
    assert_eq!(snap.racks[3].routing.name, "lead");

    // The built-in synth from the searchable browser.
    h.get_by_label("Add plugin to lead").scroll_to_me();
    settle(&mut h);
    h.get_by_label("Add plugin to lead").click();
    settle(&mut h);
    h.get_by_label("Search plugins").focus();
    h.step();
    h.get_by_label("Search plugins").type_text("synth");
    settle(&mut h);
    // The browser is the right-hand panel; the racks also list plugins.
    let in_browser = |h: &Harness<'_, RackApp>, name: &str| {
        h.get_all_by_label(name)
            .filter(|n| n.rect().left() > 900.0)
            .count()
    };
    assert_eq!(in_browser(&h, "Stagerack Gain"), 0, "search filters");
    assert_eq!(in_browser(&h, "Stagerack Synth"), 1);
    h.get_all_by_label("Stagerack Synth")
        .find(|n| n.rect().left() > 900.0)
        .unwrap()
        .click();
    settle(&mut h);
    let snap = h.state().state.snapshot.clone().unwrap();
    assert_eq!(snap.racks[3].plugins.len(), 1);
    assert_eq!(snap.racks[3].plugins[0].id, "synth");
    let default_cutoff = cutoff(&snap, 3);

    // A parameter typed into its entry (the new plugin is selected).
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "cutoff")
        .focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "cutoff")
        .type_text("1234");
    h.step();
    h.key_press(egui::Key::Enter);
    settle(&mut h);
    assert_eq!(
        cutoff(h.state().state.snapshot.as_ref().unwrap(), 3),
        1234.0
    );
    assert_eq!(cutoff(&engine_state(&engine), 3), 1234.0);

    // Undo and redo with the keyboard.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    settle(&mut h);
    assert_eq!(cutoff(&engine_state(&engine), 3), default_cutoff);
    h.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::Z,
    );
    settle(&mut h);
    assert_eq!(cutoff(&engine_state(&engine), 3), 1234.0);

    // Save through the UI; the file matches the engine.
    h.get_by_label("Save preset").click();
    settle(&mut h);
    assert!(
        h.state()
            .state
            .messages
            .iter()
            .any(|m| m.text.contains("preset saved")),
        "{:?}",
        h.state().state.messages
    );
    let preset = stagerack_session::preset::load_preset(&saved).unwrap();
    let state = engine_state(&engine);
    assert_eq!(preset.racks.len(), state.racks.len());
    for (def, rack) in preset.racks.iter().zip(&state.racks) {
        assert_eq!(def.name, rack.routing.name);
        assert_eq!(def.keys, rack.routing.keys);
        assert_eq!(def.gain_db, rack.routing.gain_db);
        assert_eq!(def.transpose, rack.routing.transpose);
        assert_eq!(def.plugins.len(), rack.plugins.len());
        for (pd, ps) in def.plugins.iter().zip(&rack.plugins) {
            assert_eq!(pd.id, ps.id);
            for p in &ps.params {
                let v = pd.params.get(&p.name).copied();
                assert!(
                    v.is_none_or(|v| (v - p.value).abs() < 1e-9),
                    "{}: file {v:?} engine {}",
                    p.name,
                    p.value
                );
            }
        }
    }
    assert_eq!(preset.racks[3].name, "lead");
    // Loaded into a fresh engine, the saved preset has the edited synth.
    let (session, _engine) =
        stagerack_session::session::Session::new(&preset, config(), true).unwrap();
    let reloaded = stagerack_session::control::snapshot(&session);
    assert_eq!(reloaded.racks[3].plugins[0].id, "synth");
    assert_eq!(cutoff(&reloaded, 3), 1234.0);

    // Remove the new rack, then "Open preset" (dropping that unsaved
    // removal when it asks) brings the saved file back into the running
    // engine (and empties the undo stack).
    h.state_mut().send(Command::RemoveRack { rack: 3 });
    settle(&mut h);
    assert_eq!(engine_state(&engine).racks.len(), 3);
    h.get_by_label("Open preset").click();
    settle(&mut h);
    h.get_by_label("Discard changes").click();
    settle(&mut h);
    settle(&mut h);
    let state = engine_state(&engine);
    assert_eq!(state.racks.len(), 4);
    assert_eq!(state.racks[3].routing.name, "lead");
    assert_eq!(cutoff(&state, 3), 1234.0);
    assert!(h.state().state.undo.is_empty());
    assert!(h
        .state()
        .state
        .messages
        .iter()
        .any(|m| m.text.contains("preset loaded from")));
}

/// The demo preset in an in-process engine (null driver) and a window on
/// it, settled.
fn window_on_demo() -> (kit::Engine, Harness<'static, RackApp>) {
    kit::window_on(start_demo(), "unused.toml", 1400.0, 900.0)
}

#[test]
fn rack_edits_from_the_ui_reach_the_engine_and_undo() {
    let (engine, mut h) = window_on_demo();
    // Mute the first rack, bypass its synth, then undo both.
    h.get_all_by_label("Mute").next().unwrap().click();
    settle(&mut h);
    h.get_all_by_label("Bypass").next().unwrap().click();
    settle(&mut h);
    let s = engine_state(&engine);
    assert!(s.racks[0].routing.mute);
    assert!(s.racks[0].plugins[0].bypass);
    h.get_by_label("Undo").click();
    settle(&mut h);
    h.get_by_label("Undo").click();
    settle(&mut h);
    let s = engine_state(&engine);
    assert!(!s.racks[0].routing.mute);
    assert!(!s.racks[0].plugins[0].bypass);
    // Meters and status arrive.
    for _ in 0..40 {
        settle(&mut h);
    }
    assert!(h
        .state()
        .state
        .status
        .as_ref()
        .is_some_and(|s| s.buffers > 0));
    // The panic button is there and answers.
    h.get_by_label("PANIC").click();
    settle(&mut h);
    assert!(h
        .state()
        .state
        .messages
        .iter()
        .any(|m| m.text.contains("panic")));
}

/// The Audio & MIDI window moves the in-process engine to another backend
/// (here from the null driver to the `dummy` backend, which needs no sound
/// card): the engine keeps its racks and keeps processing.
#[test]
fn the_devices_window_moves_the_engine_to_another_backend() {
    let (engine, mut h) = window_on_demo();
    assert!(engine.borrow().output().starts_with("no audio device"));
    h.get_by_label("Audio & MIDI").click();
    settle(&mut h);
    let (inventory, current) = h.state().state.devices.clone().expect("a device list");
    assert!(
        inventory.backends.iter().any(|b| b == "dummy"),
        "{inventory:?}"
    );
    assert_eq!(
        current.expect("in-process engines can switch").backend,
        "none"
    );
    h.get_by_label("Apply").click();
    settle(&mut h);
    settle(&mut h);
    let output = engine.borrow().output();
    assert!(output.starts_with("dummy (48000 Hz"), "{output}");
    assert!(
        h.state()
            .state
            .messages
            .iter()
            .any(|m| m.text.contains("now playing on dummy")),
        "no confirmation in the message list"
    );
    let (_, current) = h.state().state.devices.clone().unwrap();
    assert_eq!(current.unwrap().backend, "dummy");
    // Still the same engine: racks kept, buffers counting.
    assert_eq!(engine_state(&engine).racks.len(), 3);
    let before = engine.borrow_mut().buffers();
    std::thread::sleep(Duration::from_millis(300));
    let after = engine.borrow_mut().buffers();
    assert!(
        after > before + 10,
        "not processing on dummy: {before} -> {after}"
    );
}

/// Removing a rack asks first (Cancel keeps it; the second press removes
/// it), and the status line names the panic counter for what it counts.
#[test]
fn removing_a_rack_asks_first() {
    let (engine, mut h) = window_on_demo();
    let state = engine_state(&engine);
    let before = state.racks.len();
    let name = state.racks[0].routing.name.clone();
    h.get_by_label(&format!("Remove rack {name}")).click();
    settle(&mut h);
    assert_eq!(
        engine_state(&engine).racks.len(),
        before,
        "asked, not removed"
    );
    h.get_by_label("Cancel").click();
    settle(&mut h);
    assert_eq!(engine_state(&engine).racks.len(), before, "cancelled");
    h.get_by_label(&format!("Remove rack {name}")).click();
    settle(&mut h);
    h.get_by_label(&format!("Remove {name}")).click();
    settle(&mut h);
    settle(&mut h);
    let after = engine_state(&engine);
    assert_eq!(after.racks.len(), before - 1);
    assert!(after.racks.iter().all(|r| r.routing.name != name));
    // Undo brings it back.
    h.get_by_label("Undo").click();
    settle(&mut h);
    settle(&mut h);
    assert_eq!(engine_state(&engine).racks.len(), before);
    // Plugin panics the engine caught, named so nobody reads PANIC presses.
    h.get_by_label("plugin panics caught 0");
}

/// In a setlist the preset field (what Save writes, what Open reads) is
/// the playing song's own file, and follows every switch: Save after a
/// switch rewrites that song's file and nothing else (it used to write
/// `./preset.toml`).
#[test]
fn save_goes_back_to_the_playing_songs_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets");
    for f in ["setlist.toml", "demo.toml", "bells.toml"] {
        std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
    }
    let show = stagerack_session::runtime::LoadedShow::load(
        &stagerack_session::runtime::Show::Setlist(dir.path().join("setlist.toml")),
    )
    .unwrap();
    let (_engine, mut h) = kit::window_on(
        Runtime::start(&show, &AudioChoice::NoDevice).unwrap(),
        "preset.toml",
        1400.0,
        900.0,
    );
    let field = |h: &Harness<'_, RackApp>| std::path::PathBuf::from(h.state().preset_path());
    assert_eq!(field(&h), dir.path().join("demo.toml"));
    h.state_mut().send(Command::SetlistNext {});
    settle(&mut h);
    settle(&mut h);
    assert_eq!(field(&h), dir.path().join("bells.toml"));
    let demo_before = std::fs::read_to_string(dir.path().join("demo.toml")).unwrap();
    h.get_by_label("Save preset").click();
    settle(&mut h);
    settle(&mut h);
    let bells = std::fs::read_to_string(dir.path().join("bells.toml")).unwrap();
    assert!(bells.contains("name = \"bells\""), "{bells}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("demo.toml")).unwrap(),
        demo_before,
        "the other song's file is untouched"
    );
    assert!(
        !Path::new("preset.toml").exists(),
        "nothing written to ./preset.toml"
    );
}

/// Open with unsaved edits asks first: Cancel keeps them, Discard opens
/// the file (and the undo stack, which edited racks now gone, is cleared).
#[test]
fn open_asks_before_discarding_unsaved_edits() {
    let (engine, mut h) = window_on_demo();
    assert!(!h.state().state.modified);
    h.state_mut().edit(Command::EditRack {
        rack: 0,
        edit: stagerack_session::session::RackEdit {
            gain_db: Some(-3.0),
            ..Default::default()
        },
    });
    settle(&mut h);
    assert!(
        h.state().state.modified,
        "an edit marks the preset modified"
    );
    assert_eq!(engine_state(&engine).racks[0].routing.gain_db, -3.0);
    let demo_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/demo.toml");
    h.state_mut().set_preset_path(demo_file.to_str().unwrap());
    settle(&mut h);
    h.get_by_label("Open preset").click();
    settle(&mut h);
    assert_eq!(
        engine_state(&engine).racks[0].routing.gain_db,
        -3.0,
        "nothing opened before the user answered"
    );
    h.get_by_label("Cancel").click();
    settle(&mut h);
    assert!(h.state().state.modified);
    h.get_by_label("Open preset").click();
    settle(&mut h);
    h.get_by_label("Discard changes").click();
    settle(&mut h);
    settle(&mut h);
    assert_ne!(
        engine_state(&engine).racks[0].routing.gain_db,
        -3.0,
        "opened"
    );
    assert!(!h.state().state.modified);
    assert!(h.state().state.undo.is_empty());
}

/// A rack's maps are listed with Forget (undoable), and its velocity
/// range, sustain pedal and controller handling are shown and edited.
#[test]
fn maps_and_midi_handling_are_shown_and_edited() {
    let text = "version = 1\nname = \"mapped\"\n\n[[rack]]\nname = \"lead\"\n\
                cc_block = [1]\ncc_remap = [[11, 7]]\n\n\
                [[rack.map]]\ncc = 74\nplugin = 0\nparam = \"cutoff\"\nmin = 200.0\nmax = 8000.0\n\n\
                [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n";
    let preset = stagerack_session::preset::parse_preset(text, Path::new("mapped.toml")).unwrap();
    let (engine, mut h) = kit::window_on(
        Runtime::start(&LoadedShow::preset(preset), &AudioChoice::NoDevice).unwrap(),
        "unused.toml",
        1400.0,
        900.0,
    );
    // Controllers blocked and renumbered: shown as the preset has them,
    // edited by typing (Enter applies; a bad entry is refused by name).
    let field = |h: &Harness<'_, RackApp>, label: &str| {
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, label)
            .value()
            .unwrap_or_default()
    };
    assert_eq!(field(&h, "CC blocked"), "1");
    assert_eq!(field(&h, "CC renumbered"), "11>7");
    let type_into = |h: &mut Harness<'_, RackApp>, label: &str, text: &str| {
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, label)
            .focus();
        h.step();
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        h.step();
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, label)
            .type_text(text);
        h.step();
        h.key_press(egui::Key::Enter);
        settle(h);
    };
    type_into(&mut h, "CC blocked", "1, 64");
    type_into(&mut h, "CC renumbered", "11>7, 1->74");
    let routing = engine_state(&engine).racks[0].routing.clone();
    assert_eq!(routing.cc_block, vec![1, 64]);
    assert_eq!(routing.cc_remap, vec![[11, 7], [1, 74]]);
    type_into(&mut h, "CC renumbered", "11 to 7");
    assert!(
        h.state()
            .state
            .messages
            .iter()
            .any(|m| m.text.contains("`11 to 7` is not FROM>TO")),
        "a bad entry is refused by name"
    );
    assert_eq!(
        engine_state(&engine).racks[0].routing.cc_remap,
        vec![[11, 7], [1, 74]]
    );
    h.get_by_label("Undo").click();
    settle(&mut h);
    assert_eq!(
        engine_state(&engine).racks[0].routing.cc_remap,
        vec![[11, 7]],
        "undone"
    );
    h.get_by_label("Sustain pedal").click();
    settle(&mut h);
    assert!(
        !engine_state(&engine).racks[0].routing.sustain,
        "sustain off"
    );
    assert_eq!(engine_state(&engine).racks[0].routing.mappings.len(), 1);
    h.get_by_label("Forget CC 74").click();
    settle(&mut h);
    settle(&mut h);
    assert!(
        engine_state(&engine).racks[0].routing.mappings.is_empty(),
        "forgotten"
    );
    h.get_by_label("Undo").click();
    settle(&mut h);
    settle(&mut h);
    assert_eq!(
        engine_state(&engine).racks[0].routing.mappings.len(),
        1,
        "undo brings the map back"
    );
}

/// The engine's meters as a test sets them: the engine's own meters events
/// are held back, the test's go through.
struct MetersTap {
    inner: stagerack_session::control::LocalClient,
    meters: Rc<RefCell<Vec<Reply>>>,
}

impl stagerack_session::control::ControlClient for MetersTap {
    fn send(&mut self, command: Command) -> u64 {
        self.inner.send(command)
    }
    fn try_recv(&mut self) -> Option<Reply> {
        if let Some(r) = self.meters.borrow_mut().pop() {
            return Some(r);
        }
        loop {
            match self.inner.try_recv()? {
                Reply::Meters { .. } => continue,
                other => return Some(other),
            }
        }
    }
}

/// Keys the engine reports played light on the keyboard strip (and are
/// named for screen readers); released, they go dark.
#[test]
fn played_keys_light_on_the_keyboard_strip() {
    let engine = Rc::new(RefCell::new(start_demo()));
    let meters = Rc::new(RefCell::new(Vec::new()));
    let client = MetersTap {
        inner: engine.borrow_mut().connect(),
        meters: meters.clone(),
    };
    let app = RackApp::new(
        Box::new(client),
        Some(engine.clone()),
        Mode::InProcess { socket: None },
        "unused.toml".into(),
    );
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_ui_state(|ui, app: &mut RackApp| app.frame(ui), app);
    settle(&mut h);
    h.get_by_label("Keyboard: no key played");
    let keys = |ks: &[u8]| {
        let mut w = [0u64; 2];
        for k in ks {
            w[usize::from(k / 64)] |= 1 << (k % 64);
        }
        Reply::Meters {
            master: [0.0; 2],
            racks: Vec::new(),
            keys: w,
            beat: 0.0,
            tempo: 120.0,
            notes_scroll: None,
        }
    };
    meters.borrow_mut().push(keys(&[60, 64, 67, 100]));
    settle(&mut h);
    h.get_by_label("Keyboard: playing C4 E4 G4 E7");
    meters.borrow_mut().push(keys(&[]));
    settle(&mut h);
    h.get_by_label("Keyboard: no key played");
    engine.borrow_mut().shutdown();
}

/// A drum-kit plugin's key names (CLAP `note-name`) label the keyboard
/// strip, and its voice count (CLAP `voice-info`) shows in its plugin row
/// (`Stagerack Kit`, plugins-test/src/clap/kit.rs).
#[test]
fn a_drum_kits_key_names_voices_and_knob_page_are_shown() {
    isolate_scan_cache();
    // Built by `cargo xtask bundle`, which scripts/test runs first.
    let kit_bundle =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bundles/clap/stagerack-kit.clap");
    assert!(
        kit_bundle.exists(),
        "{} is missing: run `cargo xtask bundle`",
        kit_bundle.display()
    );
    let text = format!(
        "version = 1\nname = \"kit\"\n[[rack]]\nname = \"Drums\"\n\
         [rack.controls]\ncc = [21, 22]\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.kit\"\npath = \"{}\"\n",
        kit_bundle.display()
    );
    let preset =
        stagerack_session::preset::parse_preset(&text, Path::new("kit.toml")).expect("parses");
    let engine = Runtime::start(&LoadedShow::preset(preset), &AudioChoice::NoDevice).unwrap();
    let (_engine, mut h) = kit::window_on(engine, "kit.toml", 1400.0, 900.0);
    for _ in 0..5 {
        settle(&mut h);
    }
    assert!(
        h.query_by_label_contains("named keys: C2 Kick, D2 Snare, F#2 Closed Hat")
            .is_some(),
        "the keyboard strip names the kit's keys"
    );
    assert!(h.query_by_label("12 voices").is_some(), "the kit's voices");
    assert!(
        h.query_by_label("Knobs (CC 21, 22): Kit / Main, page 1 of 2: level · tone")
            .is_some(),
        "the rack's knobs and the page they are on"
    );
}

/// Each rack thread's load shows in the status bar (#15): with racks on
/// two threads, the status line lists two loads.
#[test]
fn the_status_bar_shows_each_rack_threads_load() {
    // Every test here may run on two threads; this one must.
    stagerack_session::runtime::set_threads(2);
    let (_engine, mut h) = window_on_demo();
    let mut shown = false;
    for _ in 0..100 {
        settle(&mut h);
        let two = h
            .state()
            .state
            .status
            .as_ref()
            .is_some_and(|s| s.thread_loads.len() == 2);
        if two && h.query_by_label_contains("threads ").is_some() {
            shown = true;
            break;
        }
    }
    assert!(shown, "no per-thread load in the status bar");
}

/// A plugin's factory programs (#13) are a drop-down in its row: choosing
/// one selects it in the engine (the VST3 probe loads its level), the
/// drop-down then names it, and Undo goes back to the program and the
/// values before.
#[test]
fn a_factory_program_is_picked_from_the_plugin_row_and_undone() {
    isolate_scan_cache();
    // Built by `cargo xtask bundle-vst3`, which scripts/test runs first.
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bundles/vst3/Stagerack VST3 Probe.vst3");
    assert!(
        bundle.exists(),
        "{} is missing: run `cargo xtask bundle-vst3`",
        bundle.display()
    );
    let text = format!(
        "version = 1\nname = \"programs\"\n[[rack]]\nname = \"Keys\"\n\
         [[rack.plugin]]\nformat = \"vst3\"\nid = \"53524B56335052420000000000000001\"\n\
         path = \"{}\"\nprogram = \"Full\"\n",
        bundle.display()
    );
    let preset =
        stagerack_session::preset::parse_preset(&text, Path::new("programs.toml")).expect("parses");
    let engine = Runtime::start(&LoadedShow::preset(preset), &AudioChoice::NoDevice).unwrap();
    let (engine, mut h) = kit::window_on(engine, "programs.toml", 1400.0, 900.0);
    settle(&mut h);
    let level = |s: &Snapshot| {
        s.racks[0].plugins[0]
            .params
            .iter()
            .find(|p| p.id == 0)
            .unwrap()
            .value
    };
    let before = engine_state(&engine);
    assert_eq!(
        before.racks[0].plugins[0].program,
        Some(2),
        "Full, from the preset"
    );
    assert_eq!(level(&before), 1.0);

    h.get_by_label("Program: Full").click();
    settle(&mut h);
    h.get_by_label("Quiet").click();
    for _ in 0..3 {
        settle(&mut h);
    }
    let after = engine_state(&engine);
    assert_eq!(after.racks[0].plugins[0].program, Some(0), "Quiet chosen");
    assert_eq!(level(&after), 0.25, "the controller loaded Quiet");
    assert!(
        h.query_by_label("Program: Quiet").is_some(),
        "the drop-down names the program now"
    );

    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    for _ in 0..3 {
        settle(&mut h);
    }
    let undone = engine_state(&engine);
    assert_eq!(undone.racks[0].plugins[0].program, Some(2), "Full again");
    assert_eq!(level(&undone), 1.0);
}

/// A rack's MIDI source, MPE zone and bend range are picked on its card;
/// Learn knobs starts MIDI learn of its knobs. The row shows on a rack
/// whose settings are not the defaults (here the MPE rack).
#[test]
fn midi_source_mpe_and_knob_learn_are_edited_on_the_rack_card() {
    isolate_scan_cache();
    let text = "version = 1\nname = \"arp\"\n\
                [[rack]]\nname = \"arp\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\
                [[rack]]\nname = \"lead\"\nmpe = \"lower\"\n\
                [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n";
    let preset = stagerack_session::preset::parse_preset(text, Path::new("arp.toml")).unwrap();
    let engine = Runtime::start(&LoadedShow::preset(preset), &AudioChoice::NoDevice).unwrap();
    let (engine, mut h) = kit::window_on(engine, "arp.toml", 1400.0, 900.0);
    settle(&mut h);
    h.get_by_label("MIDI from: the inputs").click();
    settle(&mut h);
    h.get_all_by_label("arp").last().unwrap().click();
    settle(&mut h);
    assert_eq!(
        engine_state(&engine).racks[1].routing.midi_from.as_deref(),
        Some("arp")
    );
    h.get_by_label("MPE: lower").click();
    settle(&mut h);
    h.get_by_label("upper").click();
    settle(&mut h);
    assert_eq!(
        engine_state(&engine).racks[1].routing.mpe,
        stagerack_session::preset::MpeMode::Upper
    );
    h.get_by_label("Undo").click();
    settle(&mut h);
    assert_eq!(
        engine_state(&engine).racks[1].routing.mpe,
        stagerack_session::preset::MpeMode::Lower,
        "undone"
    );
    h.get_by_label("Learn knobs").click();
    settle(&mut h);
    assert!(
        !h.state()
            .state
            .messages
            .iter()
            .any(|m| m.text.contains("knobs") && m.text.contains("cannot")),
        "{:?}",
        h.state().state.messages
    );
}
