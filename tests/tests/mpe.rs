//! MPE input per rack (#16): a rack with `mpe = "lower"` plays the lower
//! zone (master channel 1, members 2–16). Each member channel's pitch
//! bend, pressure and CC 74 reach the note held there as its own tuning,
//! pressure and brightness (CLAP note expressions to `Stagerack Kit`,
//! whose note port takes CLAP events: each expression writes a telling
//! impulse), addressed by the key the rack sent the note as (transposed),
//! while the bend itself is not transposed; a bend sent before the note
//! starts it; the master channel's bend is not a note's. With
//! `mpe = "auto"` the zone is the one the controller's MPE Configuration
//! Message sets. In process and sandboxed.

mod clap_support;
mod vst3_common;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;

fn mpe_preset(mode: &str, rack: &str) -> String {
    format!(
        "version = 1\nname = \"mpe\"\n\
         [[rack]]\nname = \"expressive\"\nmpe = \"{mode}\"\ntranspose = 12\n{rack}\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.kit\"\npath = \"{}\"\n",
        bundle("stagerack-kit").display()
    )
}

fn at(frame: u64, event: Event) -> SampleEvent {
    SampleEvent { frame, event }
}

fn plays_expressions(mode: &str, rack: &str) {
    let (mut s, mut e) = session(&preset(&mpe_preset(mode, rack)), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    if rack.contains("sandbox") {
        stagerack_tests::assert_sandboxes_running();
    }
    let cc = |frame, controller, value| {
        at(
            frame,
            Event::ControlChange {
                channel: 0,
                controller,
                value,
            },
        )
    };
    // The controller's MPE Configuration Message (RPN 6 on channel 1: a
    // lower zone of 15 members); what an "auto" rack waits for, and the
    // zone a "lower" rack has already.
    let mut events = vec![cc(0, 101, 0), cc(1, 100, 6), cc(2, 6, 15)];
    events.extend([
        // The note's initial bend (+24 semitones) before its note-on.
        at(
            3,
            Event::PitchBend {
                channel: 1,
                value: 12288,
            },
        ),
        at(
            5,
            Event::NoteOn {
                channel: 1,
                key: 50,
                velocity: 1.0,
                note_id: -1,
            },
        ),
        // -24 semitones, then full timbre and pressure, on its channel.
        at(
            20,
            Event::PitchBend {
                channel: 1,
                value: 4096,
            },
        ),
        at(
            30,
            Event::ControlChange {
                channel: 1,
                controller: 74,
                value: 127,
            },
        ),
        at(
            40,
            Event::ChannelPressure {
                channel: 1,
                value: 127,
            },
        ),
        // The master channel's bend and another member's: no note of theirs.
        at(
            50,
            Event::PitchBend {
                channel: 0,
                value: 0,
            },
        ),
        at(
            60,
            Event::PitchBend {
                channel: 2,
                value: 0,
            },
        ),
    ]);
    let out = render(&mut s, &mut e, &events, None, 64, 128);
    assert_eq!(
        stagerack_tests::nonzero_samples(&out.left),
        vec![
            // The note-on, then its initial tuning at the same sample.
            (5, 24.0 / 128.0),
            (20, -24.0 / 128.0),
            (30, 0.75),
            // Pressure names the key it reached: 50 + 12.
            (40, -62.0 / 128.0),
        ]
    );
    s.shutdown(e);
}

#[test]
fn an_mpe_rack_sends_each_member_channels_expressions_to_its_note() {
    plays_expressions("lower", "");
}

/// `mpe = "auto"`: the zone comes from the controller's configuration.
#[test]
fn an_auto_mpe_rack_takes_the_zone_its_controller_configures() {
    plays_expressions("auto", "");
}

#[test]
fn a_sandboxed_mpe_rack_does_too() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    plays_expressions("lower", "sandbox = \"plugin\"\n");
}

/// The MPE MIDI file of #16's required test: three notes on three member
/// channels, each with its own bend and pressure, played through a split
/// (keys 0–59 on a rack panned left, 60–127 transposed +12 on one panned
/// right). Each note follows only its own curve: its events land on its
/// own samples, in its own rack, with its own values.
fn mpe_file(dir: &std::path::Path) -> std::path::PathBuf {
    use midly::num::{u14, u15, u28, u4, u7};
    use midly::{MidiMessage, TrackEvent, TrackEventKind};
    // 480 ticks a beat at 120 BPM: a tick is 50 samples at 48 kHz.
    let at = |delta: u32, channel: u8, message| TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Midi {
            channel: u4::new(channel),
            message,
        },
    };
    let bend = |v: u16| MidiMessage::PitchBend {
        bend: midly::PitchBend(u14::new(v)),
    };
    let on = |key| MidiMessage::NoteOn {
        key: u7::new(key),
        vel: u7::new(100),
    };
    let pressure = |v| MidiMessage::ChannelAftertouch { vel: u7::new(v) };
    let track = vec![
        at(0, 1, bend(10240)), // +12 semitones, then its note
        at(0, 1, on(48)),
        at(2, 2, bend(4096)), // -24, then its note (the right rack)
        at(0, 2, on(64)),
        at(2, 3, on(55)), // no bend of its own
        at(2, 1, pressure(127)),
        at(2, 2, pressure(64)),
        at(2, 3, bend(16383)),
        at(2, 1, bend(12288)),
        TrackEvent {
            delta: u28::new(400),
            kind: TrackEventKind::Meta(midly::MetaMessage::EndOfTrack),
        },
    ];
    let smf = midly::Smf {
        header: midly::Header::new(
            midly::Format::SingleTrack,
            midly::Timing::Metrical(u15::new(480)),
        ),
        tracks: vec![track],
    };
    let path = dir.join("mpe.mid");
    smf.save(&path).unwrap();
    path
}

/// Impulses heard: (sample, value).
type Impulses = Vec<(usize, f32)>;

/// Renders the MPE file through the split of `plugin` (a `[[rack.plugin]]`
/// body) and returns the left and right impulses.
fn split_render(plugin: &str) -> (Impulses, Impulses) {
    let dir = tempfile::tempdir().unwrap();
    let events = stagerack::midi::file::read_midi_file(&mpe_file(dir.path()), 48_000.0).unwrap();
    let text = format!(
        "version = 1\nname = \"split\"\n\
         [[rack]]\nname = \"low\"\nmpe = \"lower\"\nkeys = [0, 59]\npan = -1.0\n\
         [[rack.plugin]]\n{plugin}\n\
         [[rack]]\nname = \"high\"\nmpe = \"lower\"\nkeys = [60, 127]\ntranspose = 12\npan = 1.0\n\
         [[rack.plugin]]\n{plugin}\n"
    );
    let (mut s, mut e) = session(&preset(&text), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let out = render(&mut s, &mut e, &events, None, 64, 1_024);
    s.shutdown(e);
    (
        stagerack_tests::nonzero_samples(&out.left),
        stagerack_tests::nonzero_samples(&out.right),
    )
}

fn assert_close(got: &[(usize, f32)], want: &[(usize, f32)], side: &str) {
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        want.iter().map(|w| w.0).collect::<Vec<_>>(),
        "{side}: {got:?}"
    );
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.1 - w.1).abs() < 1e-5,
            "{side} at {}: {} not {}",
            g.0,
            g.1,
            w.1
        );
    }
}

#[test]
fn an_mpe_file_of_three_notes_plays_each_note_its_own_curve_through_a_split() {
    let kit = format!(
        "format = \"clap\"\nid = \"org.stagerack.test.kit\"\npath = \"{}\"",
        bundle("stagerack-kit").display()
    );
    let (left, right) = split_render(&kit);
    let vel = 100.0f32 / 127.0;
    let top = (16383.0f32 - 8192.0) / 8192.0 * 48.0;
    // The kit writes the last event of a sample: the note's initial tuning
    // follows its note-on.
    assert_close(
        &left,
        &[
            (0, 12.0 / 128.0),
            (200, vel),
            (300, -48.0 / 128.0),
            (500, top / 128.0),
            (600, 24.0 / 128.0),
        ],
        "low rack (keys 48 and 55)",
    );
    assert_close(
        &right,
        &[
            (100, -24.0 / 128.0),
            (400, -(64.0f32 / 127.0) * 76.0 / 128.0),
        ],
        "high rack (key 64 as 76)",
    );
}

#[test]
fn the_same_file_plays_a_vst3_instrument_each_note_its_own_curve() {
    let _main = vst3_common::main_thread_lock();
    let bundle = vst3_common::own_bundle("Stagerack VST3 Probe");
    let id = vst3_common::class_of(&bundle).id;
    let probe = format!(
        "format = \"vst3\"\nid = \"{id}\"\npath = \"{}\"",
        bundle.display()
    );
    let (left, right) = split_render(&probe);
    let vel = 100.0f32 / 127.0;
    let top = (16383.0f32 - 8192.0) / 8192.0 * 48.0;
    // The probe adds what a sample's events write: a note-on and its
    // initial tuning together.
    assert_close(
        &left,
        &[
            (0, vel + 12.0 / 128.0),
            (200, vel),
            (300, -48.0 / 128.0),
            (500, top / 128.0),
            (600, 24.0 / 128.0),
        ],
        "low rack",
    );
    assert_close(
        &right,
        &[
            (100, vel - 24.0 / 128.0),
            (400, -(64.0f32 / 127.0) * 76.0 / 128.0),
        ],
        "high rack",
    );
}

/// `expressions = "midi"` on a plugin entry: the VST3 probe, which would
/// get note expressions, gets its member channels' messages instead (MPE
/// as MIDI: bend, channel pressure and CC 74 through `IMidiMapping`, which
/// maps none of them): only its notes' own impulses are left, where note
/// expressions and poly pressure added theirs before.
#[test]
fn a_preset_can_send_mpe_as_midi_to_a_plugin_with_note_expressions() {
    let _main = vst3_common::main_thread_lock();
    let bundle = vst3_common::own_bundle("Stagerack VST3 Probe");
    let id = vst3_common::class_of(&bundle).id;
    let probe = format!(
        "format = \"vst3\"\nid = \"{id}\"\npath = \"{}\"\nexpressions = \"midi\"",
        bundle.display()
    );
    let (left, right) = split_render(&probe);
    let vel = 100.0f32 / 127.0;
    assert_close(&left, &[(0, vel), (200, vel)], "low rack");
    assert_close(&right, &[(100, vel)], "high rack");
}
