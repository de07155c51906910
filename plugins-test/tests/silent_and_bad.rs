//! The silent plugin's call counter, and the plugins that fail on purpose.

mod common;

use clack_host::prelude::ProcessStatus::Sleep;
use common::{entry_of, instantiate, load};
use stagerack_plugins_test::clap::bad::{BadActivate, BadInit, BAD_ACTIVATE_ID, BAD_INIT_ID};
use stagerack_plugins_test::clap::silent::{Silent, SilentReport, ID};

/// The process calls the silent plugin's state reports.
fn calls(s: &mut common::Hosted) -> u64 {
    SilentReport::from_state(&s.save())
        .expect("the silent plugin's state")
        .process_calls
}

#[test]
fn silent_counts_process_calls_and_always_sleeps() {
    let mut s = load::<Silent>(ID);
    assert_eq!(calls(&mut s), 0);
    s.start(64);
    let input = [vec![1.0f32; 640], vec![1.0f32; 640]];
    let out = s.render(
        640,
        64,
        &[common::Ev::NoteOn {
            at: 3,
            key: 1,
            velocity: 1.0,
        }],
        Some(&input),
    );
    assert!(out[0].iter().chain(&out[1]).all(|x| *x == 0.0));
    assert_eq!(s.statuses, vec![Sleep; 10]);
    assert_eq!(calls(&mut s), 10);
    s.render(7, 7, &[], None);
    assert_eq!(calls(&mut s), 11);
}

#[test]
fn bad_init_fails_to_instantiate() {
    assert!(instantiate(entry_of::<BadInit>(), BAD_INIT_ID).is_err());
}

#[test]
fn bad_activate_instantiates_but_fails_to_activate() {
    let mut p = instantiate(entry_of::<BadActivate>(), BAD_ACTIVATE_ID).expect("init works");
    let config = clack_host::prelude::PluginAudioConfiguration {
        sample_rate: 48_000.0,
        min_frames_count: 1,
        max_frames_count: 64,
    };
    assert!(p
        .instance
        .activate(|_, _| common::TestAudio::default(), config)
        .is_err());
    assert!(!p.instance.is_active());
}
