//! The synth: deterministic, block-size independent, release tail, status.

mod common;

use clack_host::prelude::ProcessStatus::{Continue, Sleep};
use common::{load, Ev, Hosted};
use stagerack_plugins_test::clap::synth::{Synth, ID};

fn synth() -> Hosted {
    load::<Synth>(ID)
}

fn chord() -> Vec<Ev> {
    vec![
        Ev::NoteOn {
            at: 10,
            key: 60,
            velocity: 0.8,
        },
        Ev::NoteOn {
            at: 10,
            key: 64,
            velocity: 0.8,
        },
        Ev::Midi {
            at: 333,
            data: [0x90, 67, 100],
        },
        Ev::NoteOff { at: 2000, key: 60 },
        Ev::NoteOff { at: 2000, key: 64 },
        Ev::Midi {
            at: 2100,
            data: [0x80, 67, 0],
        },
    ]
}

#[test]
fn silent_before_the_first_note_and_sounding_after() {
    let mut s = synth();
    s.start(512);
    let out = s.render(4096, 512, &chord(), None);
    assert!(out[0][..10].iter().all(|x| *x == 0.0));
    assert!(out[0][10..2000].iter().any(|x| x.abs() > 0.01));
    assert_eq!(out[0], out[1], "both channels carry the same signal");
    assert!(out[0].iter().all(|x| x.abs() <= 2.0));
}

#[test]
fn output_is_bit_identical_across_runs_and_block_sizes() {
    let mut reference = synth();
    reference.start(512);
    let expected = reference.render(20_000, 512, &chord(), None);
    for block in [1usize, 7, 64, 512] {
        let mut s = synth();
        s.start(512);
        let out = s.render(20_000, block, &chord(), None);
        assert!(out == expected, "block {block} differs");
    }
}

#[test]
fn release_sets_the_tail_and_status_goes_to_sleep() {
    let mut s = synth();
    s.flush_params(&[(0, 0.01)]); // 10 ms = 480 frames at 48 kHz
    assert_eq!(s.param(0), 0.01);
    s.start(64);
    let events = [
        Ev::NoteOn {
            at: 0,
            key: 69,
            velocity: 1.0,
        },
        Ev::NoteOff { at: 1000, key: 69 },
    ];
    let out = s.render(1000 + 480 + 64 * 4, 64, &events, None);
    let last = out[0].iter().rposition(|x| *x != 0.0).unwrap();
    assert!(
        (1000 + 470..1000 + 481).contains(&last),
        "last sound at {last}"
    );
    // Blocks 0..=22 sound (frame 1480 lies in block 23, which ends the voice).
    assert!(s.statuses[..23].iter().all(|st| *st == Continue));
    assert_eq!(*s.statuses.last().unwrap(), Sleep);

    // A longer release keeps sounding longer.
    let mut long = synth();
    long.flush_params(&[(0, 0.1)]);
    long.start(64);
    let out = long.render(1000 + 4800 + 256, 64, &events, None);
    let last = out[0].iter().rposition(|x| *x != 0.0).unwrap();
    assert!(last > 1000 + 4700, "last sound at {last}");
}

#[test]
fn sleeps_when_idle_and_steals_voices_beyond_sixteen() {
    let mut s = synth();
    s.start(64);
    s.render(128, 64, &[], None);
    assert_eq!(s.statuses, vec![Sleep, Sleep]);
    let many: Vec<Ev> = (0..20)
        .map(|i| Ev::NoteOn {
            at: i,
            key: 40 + i as u16,
            velocity: 0.5,
        })
        .collect();
    let out = s.render(256, 64, &many, None);
    assert!(out[0].iter().all(|x| x.is_finite()));
    assert!(s.statuses.iter().all(|st| *st == Continue));
}

#[test]
fn state_round_trips() {
    let mut a = synth();
    a.flush_params(&[(0, 1.5), (1, 0.25)]);
    let saved = a.save();
    let mut b = synth();
    assert!(b.load_state(&saved));
    assert_eq!((b.param(0), b.param(1)), (1.5, 0.25));
}
