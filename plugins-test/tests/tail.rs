//! The echo's exact, reported tail and its process status.

mod common;

use clack_extensions::tail::TailLength;
use clack_host::prelude::ProcessStatus::{ContinueIfNotQuiet, Tail as TailStatus};
use common::{load, Ev, Hosted};
use stagerack_plugins_test::clap::tail::{echo_count, tail_frames, Tail, ID};

fn tail() -> Hosted {
    load::<Tail>(ID)
}

#[test]
fn echoes_decay_and_stop_exactly_at_the_reported_tail() {
    assert_eq!(echo_count(0.5), 15);
    let mut t = tail();
    t.start(512);
    let reported = tail_frames(50.0, 0.5, common::SAMPLE_RATE);
    assert_eq!(reported, 2400 * 15);
    assert_eq!(t.tail(), TailLength::Finite(reported));

    let frames = 40_000;
    let mut input = [vec![0.0f32; frames], vec![0.0f32; frames]];
    input[0][0] = 1.0;
    input[1][0] = 0.5;
    let out = t.render(frames, 512, &[], Some(&input));
    let hits: Vec<_> = out[0]
        .iter()
        .enumerate()
        .filter(|(_, x)| **x != 0.0)
        .map(|(i, x)| (i, *x))
        .collect();
    let expected: Vec<_> = (0..=15)
        .map(|k| {
            (
                k * 2400,
                if k == 0 {
                    1.0
                } else {
                    0.5f32.powi(k as i32 - 1)
                },
            )
        })
        .collect();
    assert_eq!(hits, expected);
    assert_eq!(out[1][2400], 0.5);
    // Sounding blocks report TAIL; once the echo line is cleared, the plugin
    // is back to CONTINUE_IF_NOT_QUIET.
    let cut_block = (reported as usize + 1) / 512;
    assert!(t.statuses[..cut_block].iter().all(|s| *s == TailStatus));
    assert!(t.statuses[cut_block + 1..]
        .iter()
        .all(|s| *s == ContinueIfNotQuiet));
}

#[test]
fn quiet_without_input() {
    let mut t = tail();
    t.start(64);
    let out = t.render(256, 64, &[], None);
    assert!(out[0].iter().all(|x| *x == 0.0));
    assert!(t.statuses.iter().all(|s| *s == ContinueIfNotQuiet));
}

#[test]
fn parameter_changes_update_the_tail_and_tell_the_host() {
    let mut t = tail();
    t.start(64);
    t.render(
        64,
        64,
        &[Ev::Param {
            at: 5,
            id: 0,
            value: 10.0,
        }],
        None,
    );
    assert_eq!(t.tail(), TailLength::Finite(480 * 15));
    assert_eq!(t.tail_changed(), 1);
    t.render(
        64,
        64,
        &[Ev::Param {
            at: 5,
            id: 1,
            value: 0.0,
        }],
        None,
    );
    assert_eq!(t.tail(), TailLength::Finite(480));
    assert_eq!(t.tail_changed(), 2);

    let mut input = [vec![0.0f32; 1024], vec![0.0f32; 1024]];
    input[0][3] = 1.0;
    let out = t.render(1024, 64, &[], Some(&input));
    let hits: Vec<_> = out[0]
        .iter()
        .enumerate()
        .filter(|(_, x)| **x != 0.0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits, vec![3, 483]);
}

#[test]
fn state_round_trips() {
    let mut a = tail();
    a.flush_params(&[(0, 120.0), (1, 0.25)]);
    let saved = a.save();
    let mut b = tail();
    assert!(b.load_state(&saved));
    assert_eq!((b.param(0), b.param(1)), (120.0, 0.25));
    b.start(64);
    assert_eq!(
        b.tail(),
        TailLength::Finite(tail_frames(120.0, 0.25, common::SAMPLE_RATE))
    );
}
