//! The routing matrix through real presets: curves, octave, blocks, layers.

mod common;
use common::*;
use stagerack::session::Session;

fn impulse_for(rack_lines: &str, key: u8, vel: u8) -> f32 {
    let text = format!(
        "version = 1\nname = \"r\"\n[[rack]]\nname = \"r\"\n{rack_lines}\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n"
    );
    let (mut session, mut engine) = Session::new(&preset(&text), config(64), true).unwrap();
    let out = render_frames(&mut engine, &mut session, &[note_on(5, key, vel)], 64, 64);
    session.shutdown(engine);
    out.left[5]
}

#[test]
fn velocity_curves() {
    let v = |curve: &str, vel| impulse_for(&format!("velocity_curve = {curve}"), 60, vel) * 127.0;
    assert!((v("\"linear\"", 64) - 64.0).abs() < 1e-3);
    let soft = v("\"soft\"", 64);
    let hard = v("\"hard\"", 64);
    assert!(
        (soft - (127.0 * (64.0f32 / 127.0).powf(0.6)).round()).abs() < 1e-3,
        "{soft}"
    );
    assert!(
        (hard - (127.0 * (64.0f32 / 127.0).powf(1.6)).round()).abs() < 1e-3,
        "{hard}"
    );
    assert!(soft > 64.0 && hard < 64.0);
    assert!((v("{ fixed = 100 }", 3) - 100.0).abs() < 1e-3);
    let pts = "{ points = [[1, 1], [64, 100], [127, 127]] }";
    assert!((v(pts, 64) - 100.0).abs() < 1e-3);
    assert!((v(pts, 32) - (1.0f32 + 99.0 * 31.0 / 63.0).round()).abs() < 1e-3);
}

#[test]
fn split_edges_velocity_ranges_and_octave() {
    assert_eq!(impulse_for("keys = [48, 59]", 59, 127), 1.0);
    assert_eq!(impulse_for("keys = [48, 59]", 60, 127), 0.0);
    assert_eq!(impulse_for("keys = [48, 59]", 47, 127), 0.0);
    assert_eq!(impulse_for("velocity = [1, 100]", 60, 101), 0.0);
    assert!(impulse_for("velocity = [1, 100]", 60, 100) > 0.0);
    // Octave shift moves notes; shifted past 127 they are dropped.
    assert_eq!(impulse_for("octave = 2", 100, 127), 1.0);
    assert_eq!(impulse_for("octave = 3", 100, 127), 0.0);
    assert_eq!(impulse_for("mute = true", 60, 127), 0.0);
    let left_only = impulse_for("pan = -1.0", 60, 127);
    assert_eq!(left_only, 1.0);
}

#[test]
fn solo_silences_the_other_racks_of_the_preset() {
    let text = r#"
version = 1
name = "solo"
[[rack]]
name = "a"
solo = true
[[rack.plugin]]
format = "builtin"
id = "probe"
params = { level = 0.25 }
[[rack]]
name = "b"
[[rack.plugin]]
format = "builtin"
id = "probe"
"#;
    let (mut session, mut engine) = Session::new(&preset(text), config(64), true).unwrap();
    let out = render_frames(&mut engine, &mut session, &[note_on(5, 60, 127)], 64, 64);
    assert_eq!(out.left[5], 0.25);
    session.shutdown(engine);
}

#[test]
fn a_mapped_controller_moves_a_parameter_on_its_exact_sample() {
    let text = r#"
version = 1
name = "map"
[[rack]]
name = "probe"
[[rack.map]]
cc = 1
plugin = 0
param = "level"
min = 0.0
max = 1.0
[[rack.plugin]]
format = "builtin"
id = "probe"
"#;
    let (mut session, mut engine) = Session::new(&preset(text), config(64), true).unwrap();
    let cc = stagerack::midi::file::SampleEvent {
        frame: 30,
        event: stagerack::midi::Event::ControlChange {
            channel: 0,
            controller: 1,
            value: 64,
        },
    };
    let events = [
        note_on(29, 60, 127),
        cc,
        note_on(30, 61, 127),
        note_on(100, 62, 127),
    ];
    let out = render_frames(&mut engine, &mut session, &events, 64, 128);
    assert_eq!(out.left[29], 1.0);
    assert!(
        (out.left[30] - 64.0 / 127.0).abs() < 1e-6,
        "{}",
        out.left[30]
    );
    assert!((out.left[100] - 64.0 / 127.0).abs() < 1e-6);
    session.shutdown(engine);
}

/// Racks listen to MIDI input devices by name pattern: a rack panned hard
/// left hears the Keystation only, one panned hard right the Nord only.
/// Until the backend names its inputs (a backend that merges them, an
/// offline render) both hear everything; a pattern no input matches is
/// reported; `input` survives a save.
#[test]
fn racks_hear_the_midi_inputs_their_device_patterns_name() {
    use stagerack::midi::{Event, TimedEvent};
    let text = "version = 1\nname = \"two keyboards\"\n\
        [[rack]]\nname = \"lower\"\ninput = [\"keystation\"]\npan = -1.0\n\
        [[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n\
        [[rack]]\nname = \"upper\"\ninput = [\"NORD\", \"nope\"]\npan = 1.0\n\
        [[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n";
    let p = preset(text);
    assert_eq!(p.racks[0].input, vec!["keystation".to_owned()]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.toml");
    stagerack::preset::save_atomically(&p, &file).unwrap();
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("input = [\"keystation\"]"), "{saved}");

    let (mut session, mut engine) = Session::new(&p, config(64), true).unwrap();
    let note = |offset, source| {
        TimedEvent::new(
            offset,
            Event::NoteOn {
                channel: 0,
                key: 60,
                velocity: 1.0,
                note_id: -1,
            },
        )
        .from_source(source)
    };
    let play = |session: &mut Session, engine: &mut stagerack::engine::Engine| {
        session.pump();
        let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
        engine.process(&[note(5, 0), note(20, 1)], None, &mut l, &mut r);
        (l, r)
    };
    // Merged inputs: both racks hear both notes.
    let (l, r) = play(&mut session, &mut engine);
    assert!(l[5] > 0.0 && r[5] > 0.0 && l[20] > 0.0 && r[20] > 0.0);

    session
        .set_midi_sources(vec![
            "Keystation 49 MIDI 1".into(),
            "Nord Stage 3 MIDI".into(),
            String::new(),
        ])
        .unwrap();
    let w = session.warnings().join("\n");
    assert!(
        w.contains("rack `upper`: no MIDI input matches `nope`"),
        "{w}"
    );
    let (l, r) = play(&mut session, &mut engine);
    assert!(
        l[5] > 0.0 && r[5] == 0.0,
        "Keystation → lower only: {} {}",
        l[5],
        r[5]
    );
    assert!(
        r[20] > 0.0 && l[20] == 0.0,
        "Nord → upper only: {} {}",
        l[20],
        r[20]
    );
    session.shutdown(engine);
}

/// Live edits of a rack's controller handling and maps: applied to the
/// model (and so to the next plan and a save), and a map naming a plugin
/// the rack does not have is refused.
#[test]
fn controller_handling_and_maps_are_edited_live() {
    let text = "version = 1\nname = \"m\"\n[[rack]]\nname = \"lead\"\n\
                [[rack.map]]\ncc = 74\nplugin = 0\nparam = \"cutoff\"\nmin = 200.0\nmax = 8000.0\n\
                [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n";
    let preset = stagerack::preset::parse_preset(text, std::path::Path::new("m.toml")).unwrap();
    let (mut session, engine) = Session::new(&preset, config(64), true).unwrap();
    let edit = stagerack::session::RackEdit {
        cc_block: Some(vec![1, 2]),
        cc_remap: Some(vec![[11, 7]]),
        sustain: Some(false),
        maps: Some(Vec::new()),
        ..Default::default()
    };
    session.edit_rack(0, &edit).unwrap();
    let saved = session.to_preset().unwrap();
    assert_eq!(saved.racks[0].cc_block, [1, 2]);
    assert_eq!(saved.racks[0].cc_remap, [[11, 7]]);
    assert!(!saved.racks[0].sustain);
    assert!(saved.racks[0].mappings.is_empty());
    let mut stray = preset.racks[0].mappings[0].clone();
    stray.plugin = 5;
    let e = session
        .edit_rack(
            0,
            &stagerack::session::RackEdit {
                maps: Some(vec![stray]),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("plugin 6") && e.contains("not in its chain"),
        "{e}"
    );
    let bad = stagerack::session::RackEdit {
        cc_block: Some(vec![200]),
        ..Default::default()
    };
    assert!(session.edit_rack(0, &bad).is_err(), "CC 200 refused");
    session.shutdown(engine);
}
