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
