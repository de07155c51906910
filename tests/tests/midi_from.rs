//! MIDI between racks (#16): `midi_from = "arp"` makes a rack play what
//! the plugins of rack `arp` emit. `Stagerack Arp` (a CLAP note effect)
//! plays the held keys upwards on a sixteenth grid; two probe racks take
//! its output through a split (low keys panned left, high keys panned
//! right), so every arpeggiated note shows as an impulse on its own sample,
//! on its own side, with its key's velocity, in the same buffer the arp
//! played it. The keys held on the keyboard never reach the probe racks
//! themselves. In process, sandboxed, and with the racks on two threads
//! (bit for bit the same); loops and unknown names are refused at load.

mod clap_support;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack_plugins_test::clap::arp::{gate_frames, step_frame};

const TEMPO: f64 = 120.0;
/// The arp's default rate: four steps per beat.
const RATE_PER_BEAT: f64 = 4.0;

fn arp_preset(arp_rack_extra: &str) -> String {
    let probe = bundle("stagerack-probe");
    let probe_plugin = format!(
        "[[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.probe\"\npath = \"{}\"\n",
        probe.display()
    );
    format!(
        "version = 1\nname = \"arp\"\ntempo = {TEMPO}\n\
         [[rack]]\nname = \"arp\"\n{arp_rack_extra}\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.arp\"\npath = \"{}\"\n\
         [[rack]]\nname = \"low\"\nmidi_from = \"arp\"\nkeys = [0, 61]\npan = -1.0\n{probe_plugin}\
         [[rack]]\nname = \"high\"\nmidi_from = \"arp\"\nkeys = [62, 127]\npan = 1.0\n{probe_plugin}",
        bundle("stagerack-arp").display()
    )
}

fn note(frame: u64, key: u8, velocity: f32, on: bool) -> SampleEvent {
    let event = if on {
        Event::NoteOn {
            channel: 0,
            key,
            velocity,
            note_id: -1,
        }
    } else {
        Event::NoteOff {
            channel: 0,
            key,
            velocity: 0.0,
            note_id: -1,
        }
    };
    SampleEvent { frame, event }
}

/// C4 (velocity 1) and E4 (velocity 0.5) held from frame 100 for three
/// and a bit steps: the arp plays C4, E4, C4, E4.
fn chord() -> Vec<SampleEvent> {
    let start = 100;
    let release = start + step_frame(3, RATE, TEMPO, RATE_PER_BEAT) + 10;
    vec![
        note(start, 60, 1.0, true),
        note(start, 64, 0.5, true),
        note(release, 60, 0.0, false),
        note(release, 64, 0.0, false),
    ]
}

/// Where the probes' impulses must be: (frame, height) on the left (C4)
/// and on the right (E4).
type Impulses = Vec<(usize, f32)>;

fn expected() -> (Impulses, Impulses) {
    let at = |step| 100 + step_frame(step, RATE, TEMPO, RATE_PER_BEAT) as usize;
    (
        vec![(at(0), 1.0), (at(2), 1.0)],
        vec![(at(1), 0.5), (at(3), 0.5)],
    )
}

fn render_arp(preset_text: &str, block: usize) -> stagerack::io::offline::Rendered {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    let (mut s, mut e) = session(&preset(preset_text), block);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    if preset_text.contains("sandbox") {
        stagerack_tests::assert_sandboxes_running();
    }
    render(&mut s, &mut e, &chord(), None, block, 30_000)
}

fn assert_arpeggiated(out: &stagerack::io::offline::Rendered) {
    let (left, right) = expected();
    assert_eq!(stagerack_tests::nonzero_samples(&out.left), left);
    assert_eq!(stagerack_tests::nonzero_samples(&out.right), right);
}

#[test]
fn an_arpeggiator_rack_drives_split_racks_on_the_sample() {
    // Blocks of 64 and 37 frames: steps fall anywhere in a block, and the
    // arp's notes reach the probes in the block it played them.
    for block in [64, 37] {
        assert_arpeggiated(&render_arp(&arp_preset(""), block));
    }
}

#[test]
fn a_sandboxed_arpeggiator_drives_in_process_racks() {
    assert_arpeggiated(&render_arp(&arp_preset("sandbox = \"plugin\"\n"), 64));
}

#[test]
fn racks_listening_to_another_render_the_same_on_two_threads() {
    let text = arp_preset("");
    let one = render_arp(&text, 64);
    let (mut s, mut e) = session(&preset(&text), 64);
    e.use_threads(2).expect("a worker thread");
    e.racks_on_workers_only();
    let two = render(&mut s, &mut e, &chord(), None, 64, 30_000);
    assert_arpeggiated(&two);
    assert_eq!(one.left, two.left);
    assert_eq!(one.right, two.right);
}

#[test]
fn notes_last_the_arps_gate_and_the_run_ends_with_the_keys() {
    // A synth rack behind the arp sounds for each step's gate only: silent
    // again before the next step, and for good after the last one.
    let text = format!(
        "version = 1\nname = \"arp\"\ntempo = {TEMPO}\n\
         [[rack]]\nname = \"arp\"\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.arp\"\npath = \"{}\"\n\
         [[rack]]\nname = \"synth\"\nmidi_from = \"arp\"\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.synth\"\npath = \"{}\"\n\
         [rack.plugin.params]\nrelease = 0.001\n",
        bundle("stagerack-arp").display(),
        bundle("stagerack-synth").display()
    );
    let (mut s, mut e) = session(&preset(&text), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let out = render(&mut s, &mut e, &chord(), None, 64, 40_000);
    let gate = gate_frames(RATE, TEMPO, RATE_PER_BEAT, 0.5) as usize;
    let release = (0.001 * RATE) as usize + 2;
    let sounds = |from: usize, to: usize| out.left[from..to].iter().any(|x| x.abs() > 1e-4);
    for step in 0..4 {
        let on = 100 + step_frame(step, RATE, TEMPO, RATE_PER_BEAT) as usize;
        assert!(!sounds(on - 20, on), "step {step}: sound before its note");
        assert!(sounds(on, on + 20), "step {step}: no sound at its note");
        assert!(
            !sounds(on + gate + release, on + gate + release + 100),
            "step {step}: still sounding after its gate"
        );
    }
    let after_last = 100 + step_frame(4, RATE, TEMPO, RATE_PER_BEAT) as usize;
    assert!(
        !sounds(after_last, out.left.len()),
        "the arp went on after the keys were released"
    );
}

fn load_error(text: &str) -> String {
    stagerack::preset::parse_preset(text, std::path::Path::new("show.toml"))
        .expect_err("the preset is refused")
        .to_string()
}

#[test]
fn unknown_sources_and_loops_are_refused_by_name() {
    let unknown = load_error(
        "version = 1\nname = \"x\"\n[[rack]]\nname = \"arp\"\n\
         [[rack]]\nname = \"synth\"\nmidi_from = \"arpp\"\n",
    );
    assert!(
        unknown.starts_with("show.toml:7:")
            && unknown.contains("rack `synth`: midi_from = \"arpp\" names no rack")
            && unknown.contains("use one of: arp, synth"),
        "{unknown}"
    );
    let looped = load_error(
        "version = 1\nname = \"x\"\n[[rack]]\nname = \"a\"\nmidi_from = \"b\"\n\
         [[rack]]\nname = \"b\"\nmidi_from = \"a\"\n",
    );
    assert!(
        looped.contains("rack `a`: midi_from = \"b\" makes a loop")
            && looped.contains("remove one `midi_from`"),
        "{looped}"
    );
    let itself =
        load_error("version = 1\nname = \"x\"\n[[rack]]\nname = \"a\"\nmidi_from = \"a\"\n");
    assert!(itself.contains("makes a loop"), "{itself}");
}

#[test]
fn editing_routes_follow_renames_and_refuse_loops() {
    let text = arp_preset("");
    let (mut s, _e) = session(&preset(&text), 64);
    let rename = stagerack::session::RackEdit {
        name: Some("arpeggio".into()),
        ..Default::default()
    };
    s.edit_rack(0, &rename).expect("rename the arp rack");
    let froms: Vec<Option<String>> = s.racks().iter().map(|r| r.def.midi_from.clone()).collect();
    assert_eq!(
        froms,
        vec![None, Some("arpeggio".into()), Some("arpeggio".into())]
    );
    let looping = stagerack::session::RackEdit {
        midi_from: Some("low".into()),
        ..Default::default()
    };
    let err = s.edit_rack(0, &looping).expect_err("a loop is refused");
    assert!(err.to_string().contains("makes a loop of racks"), "{err}");
    let nowhere = stagerack::session::RackEdit {
        midi_from: Some("drums".into()),
        ..Default::default()
    };
    let err = s
        .edit_rack(1, &nowhere)
        .expect_err("an unknown rack is refused");
    assert!(err.to_string().contains("no rack of its preset"), "{err}");
    // Removing the source: its listeners play the inputs again.
    s.remove_rack(0).expect("remove the arp");
    assert!(s.racks().iter().all(|r| r.def.midi_from.is_none()));
}

#[test]
fn a_listeners_notes_end_when_its_source_chain_changes_under_them() {
    // The arp's notes last a whole step (gate 1): a note always sounds
    // while a key is held. Bypassing the arp mid-note takes away the
    // note-off its next step would have sent: the synth rack ends the
    // note itself instead of droning on.
    let text = format!(
        "version = 1\nname = \"arp\"\ntempo = {TEMPO}\n\
         [[rack]]\nname = \"arp\"\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.arp\"\npath = \"{}\"\n\
         [rack.plugin.params]\ngate = 1.0\n\
         [[rack]]\nname = \"synth\"\nmidi_from = \"arp\"\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.synth\"\npath = \"{}\"\n\
         [rack.plugin.params]\nrelease = 0.001\n",
        bundle("stagerack-arp").display(),
        bundle("stagerack-synth").display()
    );
    let (mut s, mut e) = session(&preset(&text), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let held = render(&mut s, &mut e, &[note(100, 60, 1.0, true)], None, 64, 9_000);
    assert!(
        held.left[8_000..].iter().any(|x| x.abs() > 1e-3),
        "the arp's note does not sound"
    );
    s.set_bypass(0, 0, true).expect("bypass the arp");
    let after = render(&mut s, &mut e, &[], None, 64, 12_000);
    assert!(
        after.left[4_000..].iter().all(|x| x.abs() < 1e-4),
        "the synth still sounds after its source's arp was bypassed"
    );
}
