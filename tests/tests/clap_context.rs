//! The CLAP extensions that tell a plugin where it sits and let it say
//! what it is (#13), proven with `Stagerack Kit` (plugins-test/src/clap/
//! kit.rs), which reports in its state what its host told it:
//! - `track-info`: the rack's name, again after a rename;
//! - `param-indication`: the mapped parameter with its controller's label,
//!   cleared when the map goes;
//! - `state-context`: a preset file is saved as a project;
//! - `audio-ports-config`: the stereo configuration picked over the mono
//!   default before the first activation;
//! - `note-name` and `voice-info`: in the control snapshot (the window's
//!   keyboard strip and plugin row show them).

mod clap_support;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;

/// The kit in a rack named `Drums` with CC 74 mapped to its level; `rack`
/// adds lines to the rack (a sandbox).
fn kit_preset(rack: &str) -> String {
    format!(
        "version = 1\nname = \"kit\"\n\
         [[rack]]\nname = \"Drums\"\n{rack}\
         [[rack.map]]\ncc = 74\nplugin = 0\nparam = \"level\"\nmin = 0.0\nmax = 1.0\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.kit\"\npath = \"{}\"\n",
        bundle("stagerack-kit").display()
    )
}

/// The kit's state as text.
fn kit_state(s: &mut stagerack::session::Session) -> String {
    let bytes = s.plugin_mut(0, 0).expect("the kit").save_state().unwrap();
    String::from_utf8(bytes).expect("the kit's state is text")
}

#[test]
fn the_kit_learns_its_rack_its_maps_and_the_save_context_and_plays_stereo() {
    kit_learns_where_it_sits("");
}

/// The same told to the kit in a sandbox process (#14: everything that
/// works in process works sandboxed), and its key names, voices and
/// programs come back from there.
#[test]
fn a_sandboxed_kit_learns_where_it_sits_and_names_its_keys() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    kit_learns_where_it_sits("sandbox = \"plugin\"\n");
    snapshot_has_names_and_voices("sandbox = \"plugin\"\n");
}

fn kit_learns_where_it_sits(rack: &str) {
    let (mut s, mut e) = session(&preset(&kit_preset(rack)), 64);
    if rack.contains("sandbox") {
        stagerack_tests::assert_sandboxes_running();
    }
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(
        kit_state(&mut s),
        "context=project;track=Drums;config=stereo;mapped=0:CC 74;level=1;tone=0.5"
    );

    // A rename reaches it; a removed map is cleared.
    let edit = stagerack::session::RackEdit {
        name: Some("Beats".into()),
        maps: Some(Vec::new()),
        ..Default::default()
    };
    s.edit_rack(0, &edit).unwrap();
    assert_eq!(
        kit_state(&mut s),
        "context=project;track=Beats;config=stereo;mapped=;level=1;tone=0.5"
    );

    // Stereo: an impulse on both channels at the note's sample.
    let note = SampleEvent {
        frame: 100,
        event: Event::NoteOn {
            channel: 9,
            key: 36,
            velocity: 0.5,
            note_id: -1,
        },
    };
    let out = render(&mut s, &mut e, &[note], None, 64, 4_800);
    assert_eq!((out.left[100], out.right[100]), (0.5, 0.5));
    assert_eq!(out.left.iter().filter(|x| **x != 0.0).count(), 1);
    s.shutdown(e);
}

#[test]
fn note_names_and_voices_reach_the_snapshot() {
    snapshot_has_names_and_voices("");
}

fn snapshot_has_names_and_voices(rack: &str) {
    let (s, e) = session(&preset(&kit_preset(rack)), 64);
    let snap = stagerack::control::snapshot(&s);
    let kit = &snap.racks[0].plugins[0];
    assert_eq!(kit.voices, Some(12));
    assert_eq!(
        kit.note_names,
        vec![
            (36, "Kick".to_owned()),
            (38, "Snare".to_owned()),
            (42, "Closed Hat".to_owned())
        ]
    );
    s.shutdown(e);
}

/// CLAP factory presets (#13): the kit's preset-discovery provider lists
/// its three presets inside the plugin and the `.kitpreset` files of the
/// folder it declares (a file it cannot read is left out); a preset file's
/// `program = "Dark Kit"` starts it there through `preset-load`; while it
/// plays, `select_program` loads another and the snapshot names it; a
/// preset that fails to load is refused with the plugin's reason.
#[test]
fn kit_presets_are_discovered_and_loaded() {
    kit_presets("");
}

/// The same with the kit in a sandbox process.
#[test]
fn a_sandboxed_kit_lists_and_loads_its_presets() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    kit_presets("sandbox = \"plugin\"\n");
}

fn kit_presets(rack: &str) {
    // The folder is named by a variable of the whole process, and one
    // test removes a file for a while: one of these tests at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("stagerack-kit-presets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Warm.kitpreset"), "level=0.4;tone=0.2\n").unwrap();
    std::fs::write(dir.join("Broken.kitpreset"), "nonsense").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a preset").unwrap();
    // Set before the kit's provider starts; every test here sets the
    // same value.
    std::env::set_var("STAGERACK_TEST_KIT_PRESET_DIR", &dir);

    let text = kit_preset(rack).replace(
        "id = \"org.stagerack.test.kit\"\n",
        "id = \"org.stagerack.test.kit\"\nprogram = \"Dark Kit\"\n",
    );
    let (mut s, mut e) = session(&preset(&text), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert!(
        kit_state(&mut s).ends_with(";level=0.8;tone=0.1"),
        "{}",
        kit_state(&mut s)
    );
    let snap = stagerack::control::snapshot(&s);
    let kit = &snap.racks[0].plugins[0];
    assert_eq!(kit.programs, ["Soft Kit", "Loud Kit", "Dark Kit", "Warm"]);
    assert_eq!(kit.program, Some(2));
    assert_eq!(kit.program_param, None);

    // While it plays: the file preset, then a factory one.
    let _ = render(&mut s, &mut e, &[], None, 64, 256);
    s.select_program_of(0, 0, 3).expect("Warm");
    let _ = render(&mut s, &mut e, &[], None, 64, 256);
    assert!(kit_state(&mut s).ends_with(";level=0.4;tone=0.2"));
    assert_eq!(
        stagerack::control::snapshot(&s).racks[0].plugins[0].program,
        Some(3)
    );
    s.select_program_of(0, 0, 0).expect("Soft Kit");
    assert!(kit_state(&mut s).ends_with(";level=0.3;tone=0.5"));

    let err = s.select_program_of(0, 0, 9).unwrap_err().to_string();
    assert!(
        err.contains("no program 10") && err.contains("Warm"),
        "{err}"
    );
    // A preset whose file went away: the plugin's reason, by name.
    let gone = dir.join("Warm.kitpreset");
    std::fs::remove_file(&gone).unwrap();
    let err = s.select_program_of(0, 0, 3).unwrap_err().to_string();
    assert!(
        err.contains("could not load its preset `Warm`") && err.contains("Warm.kitpreset"),
        "{err}"
    );
    std::fs::write(&gone, "level=0.4;tone=0.2\n").unwrap();
    s.shutdown(e);
}
