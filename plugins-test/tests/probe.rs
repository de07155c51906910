//! The probe's impulses, sample-accurate `level`, state and thread checks.

mod common;

use common::{load, Ev, Hosted};
use stagerack_plugins_test::clap::probe::{Probe, ProbeReport, ID};

fn probe() -> Hosted {
    load::<Probe>(ID)
}

/// What the probe's state says of its note-ons and its host.
fn report(p: &mut Hosted) -> ProbeReport {
    ProbeReport::from_state(&p.save()).expect("the probe's own state")
}

fn nonzero(ch: &[f32]) -> Vec<(usize, f32)> {
    ch.iter()
        .enumerate()
        .filter(|(_, s)| **s != 0.0)
        .map(|(i, s)| (i, *s))
        .collect()
}

#[test]
fn impulses_land_on_the_note_on_samples_for_every_block_size() {
    let events = [
        Ev::NoteOn {
            at: 0,
            key: 60,
            velocity: 1.0,
        },
        Ev::NoteOn {
            at: 5,
            key: 61,
            velocity: 0.5,
        },
        Ev::Midi {
            at: 63,
            data: [0x90, 62, 127],
        },
        Ev::NoteOn {
            at: 64,
            key: 63,
            velocity: 0.25,
        },
        Ev::Midi {
            at: 100,
            data: [0x90, 64, 0],
        }, // velocity 0: a note-off
        Ev::Midi {
            at: 200,
            data: [0x80, 60, 64],
        },
        Ev::NoteOn {
            at: 511,
            key: 64,
            velocity: 0.75,
        },
        Ev::NoteOn {
            at: 1000,
            key: 65,
            velocity: 0.125,
        },
    ];
    let expected = vec![
        (0, 1.0),
        (5, 0.5),
        (63, 1.0),
        (64, 0.25),
        (511, 0.75),
        (1000, 0.125),
    ];
    for block in [1usize, 7, 64, 512] {
        let mut p = probe();
        p.start(512);
        let out = p.render(1100, block, &events, None);
        assert_eq!(nonzero(&out[0]), expected, "left, block {block}");
        assert_eq!(nonzero(&out[1]), expected, "right, block {block}");
        assert_eq!(report(&mut p).note_ons, 6, "note_ons, block {block}");
    }
}

#[test]
fn level_events_apply_at_their_exact_sample() {
    let events = [
        Ev::NoteOn {
            at: 10,
            key: 60,
            velocity: 1.0,
        },
        Ev::Param {
            at: 20,
            id: 0,
            value: 0.5,
        },
        Ev::NoteOn {
            at: 20,
            key: 60,
            velocity: 1.0,
        },
        Ev::NoteOn {
            at: 21,
            key: 60,
            velocity: 0.5,
        },
        Ev::NoteOn {
            at: 29,
            key: 60,
            velocity: 1.0,
        },
        Ev::Param {
            at: 30,
            id: 0,
            value: 0.25,
        },
        Ev::NoteOn {
            at: 30,
            key: 60,
            velocity: 1.0,
        },
        Ev::Param {
            at: 40,
            id: 0,
            value: 2.0,
        }, // clamped to 1
        Ev::NoteOn {
            at: 41,
            key: 60,
            velocity: 1.0,
        },
    ];
    for block in [1usize, 7, 64, 512] {
        let mut p = probe();
        p.start(512);
        let out = p.render(64, block, &events, None);
        assert_eq!(
            nonzero(&out[0]),
            vec![
                (10, 1.0),
                (20, 0.5),
                (21, 0.25),
                (29, 0.5),
                (30, 0.25),
                (41, 1.0)
            ],
            "block {block}"
        );
        assert_eq!(p.param(0), 1.0);
    }
}

#[test]
fn sleeps_without_events_and_continues_with_them() {
    let mut p = probe();
    p.start(64);
    let out = p.render(
        256,
        64,
        &[Ev::NoteOn {
            at: 70,
            key: 1,
            velocity: 1.0,
        }],
        None,
    );
    assert_eq!(nonzero(&out[0]), vec![(70, 1.0)]);
    use clack_host::prelude::ProcessStatus::*;
    assert_eq!(p.statuses, vec![Sleep, Continue, Sleep, Sleep]);
}

#[test]
fn state_round_trips_level_and_note_counter() {
    let mut a = probe();
    a.flush_params(&[(0, 0.375)]);
    a.start(64);
    let events = [
        Ev::NoteOn {
            at: 1,
            key: 60,
            velocity: 1.0,
        },
        Ev::NoteOn {
            at: 2,
            key: 60,
            velocity: 1.0,
        },
        Ev::NoteOn {
            at: 3,
            key: 60,
            velocity: 1.0,
        },
    ];
    a.render(64, 64, &events, None);
    a.stop();
    let saved = a.save();

    let mut b = probe();
    assert_eq!(b.param(0), 1.0);
    assert!(b.load_state(&saved));
    assert_eq!(b.param(0), 0.375);
    assert_eq!(report(&mut b).note_ons, 3);
    assert_eq!(b.save(), saved, "a loaded state saves identically");
    b.start(64);
    let out = b.render(
        8,
        8,
        &[Ev::NoteOn {
            at: 4,
            key: 60,
            velocity: 1.0,
        }],
        None,
    );
    assert_eq!(nonzero(&out[0]), vec![(4, 0.375)]);

    assert!(!b.load_state(b"nonsense"), "a foreign state is refused");
}

#[test]
fn thread_rules_are_checked_and_violations_counted() {
    let mut p = probe();
    p.param_infos();
    p.start(64);
    p.render(
        128,
        64,
        &[Ev::NoteOn {
            at: 3,
            key: 60,
            velocity: 1.0,
        }],
        None,
    );
    p.stop();
    let r = report(&mut p);
    assert!(r.thread_checked, "the host's thread-check was used");
    assert_eq!(r.violations, 0, "a correct host makes no violations");

    // Call `process` as if from the main thread: each call is a violation.
    p.start(64);
    let before = report(&mut p).violations;
    let processor = p.processor.as_mut().unwrap();
    let mut out = [vec![0.0f32; 8], vec![0.0f32; 8]];
    let mut ports = clack_host::prelude::AudioPorts::with_capacity(2, 1);
    let mut outputs = ports.with_output_buffers([clack_host::prelude::AudioPortBuffer {
        channels: clack_host::prelude::AudioPortBufferType::f32_output_only(
            out.iter_mut().map(|b| b.as_mut_slice()),
        ),
        latency: 0,
    }]);
    let events = clack_host::prelude::EventBuffer::new();
    let mut out_events = clack_host::prelude::EventBuffer::new();
    processor
        .process(
            &clack_host::prelude::InputAudioBuffers::empty(),
            &mut outputs,
            &events.as_input(),
            &mut out_events.as_output(),
            None,
            None,
        )
        .unwrap();
    assert_eq!(report(&mut p).violations, before + 1);
    p.stop();
    assert_eq!(report(&mut p).violations, 1, "only that call was wrong");
}

#[test]
fn without_thread_check_nothing_is_checked() {
    let mut p = common::instantiate_with(common::entry_of::<Probe>(), ID, false).unwrap();
    p.start(64);
    p.render(64, 64, &[], None);
    let r = report(&mut p);
    assert!(!r.thread_checked);
    assert_eq!(r.violations, 0);
}

#[test]
fn describes_its_parameters() {
    let mut p = probe();
    let infos = p.param_infos();
    let names: Vec<_> = infos.iter().map(|i| (i.0, i.1.as_str())).collect();
    // Diagnostics live in the state (ProbeReport), not among the
    // parameters, where validators would find values moving on their own.
    assert_eq!(names, vec![(0, "level")]);
    assert_eq!((infos[0].2, infos[0].3, infos[0].4), (0.0, 1.0, 1.0));
}

#[test]
fn a_main_thread_call_on_the_audio_thread_is_a_violation() {
    let mut p = probe();
    assert_eq!(report(&mut p).violations, 0);
    // get_value from the (simulated) audio thread.
    let _ = common::as_audio(|| p.param(0));
    assert_eq!(report(&mut p).violations, 1);
}

#[test]
fn parameter_texts() {
    let mut p = probe();
    assert_eq!(p.param_text(0, 0.5).as_deref(), Some("0.500"));
    assert_eq!(p.param_text(1, 3.0), None, "no parameter 1");
    assert_eq!(p.param_from_text(0, " 0.25 "), Some(0.25));
    assert_eq!(p.param_from_text(9, "1"), None);
}

/// The probe checks the host the way a strict plugin does: input events
/// out of time order and a parameter event for an id it does not list are
/// each one violation (logged as the host misbehaving, counted in its
/// state).
#[test]
fn a_host_breaking_the_event_rules_is_caught() {
    let mut p = probe();
    p.start(64);
    p.render(
        64,
        64,
        &[
            Ev::NoteOn {
                at: 10,
                key: 60,
                velocity: 1.0,
            },
            Ev::NoteOn {
                at: 5,
                key: 61,
                velocity: 1.0,
            },
            Ev::Param {
                at: 20,
                id: 7,
                value: 0.5,
            },
        ],
        None,
    );
    p.stop();
    assert_eq!(report(&mut p).violations, 2, "out of order, unknown id");
}
