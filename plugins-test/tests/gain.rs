//! The gain's dB mapping, 10 ms linear smoothing from the event's sample,
//! latency reporting and state.

mod common;

use common::{load, Ev, Hosted};
use stagerack_plugins_test::clap::gain::{db_to_factor, ramp_frames, Gain, ID};

fn gain() -> Hosted {
    load::<Gain>(ID)
}

fn ones(frames: usize) -> [Vec<f32>; 2] {
    [vec![1.0; frames], vec![0.5; frames]]
}

#[test]
fn unity_by_default_and_static_gain_after_flush() {
    let mut g = gain();
    g.start(64);
    let out = g.render(100, 64, &[], Some(&ones(100)));
    assert!(out[0].iter().all(|s| *s == 1.0));
    assert!(out[1].iter().all(|s| *s == 0.5));
    g.stop();

    g.flush_params(&[(0, -6.0)]);
    assert_eq!(g.param(0), -6.0);
    g.start(64);
    let out = g.render(10, 64, &[], Some(&ones(10)));
    let f = db_to_factor(-6.0) as f32;
    assert!(out[0].iter().all(|s| *s == f), "{:?}", &out[0][..3]);
}

#[test]
fn gain_ramps_linearly_over_10_ms_from_the_event_sample() {
    let ramp = ramp_frames(common::SAMPLE_RATE) as usize;
    assert_eq!(ramp, 480);
    let at = 100usize;
    let target = db_to_factor(-20.0);
    for block in [1usize, 7, 64, 512] {
        let mut g = gain();
        g.start(512);
        let frames = at + ramp + 50;
        let out = g.render(
            frames,
            block,
            &[Ev::Param {
                at: at as u32,
                id: 0,
                value: -20.0,
            }],
            Some(&ones(frames)),
        );
        let l = &out[0];
        assert!(
            l[..at].iter().all(|s| *s == 1.0),
            "block {block}: before the event"
        );
        for k in 0..ramp {
            let expected = 1.0 + (target - 1.0) * (k + 1) as f64 / ramp as f64;
            assert!(
                (f64::from(l[at + k]) - expected).abs() < 1e-6,
                "block {block} sample {}: {} vs {expected}",
                at + k,
                l[at + k]
            );
        }
        assert_eq!(
            l[at + ramp - 1],
            target as f32,
            "ramp ends exactly on target"
        );
        assert!(l[at + ramp..].iter().all(|s| *s == target as f32));
        assert_eq!(out[1][at + ramp + 10], 0.5 * target as f32);
    }
}

#[test]
fn continue_if_not_quiet_without_latency() {
    let mut g = gain();
    g.start(64);
    g.render(128, 64, &[], Some(&ones(128)));
    use clack_host::prelude::ProcessStatus::*;
    assert_eq!(g.statuses, vec![ContinueIfNotQuiet, ContinueIfNotQuiet]);
}

#[test]
fn latency_delays_audio_and_is_reported() {
    let mut g = gain();
    assert_eq!(g.latency(), 0);
    g.flush_params(&[(1, 100.0)]);
    assert_eq!(g.latency(), 100, "inactive: the parameter's value");
    g.start(64);
    assert_eq!(g.latency(), 100);
    let mut input = [vec![0.0f32; 400], vec![0.0f32; 400]];
    input[0][5] = 1.0;
    input[1][399] = 1.0;
    let out = g.render(400, 64, &[], Some(&input));
    let hits: Vec<_> = out[0]
        .iter()
        .enumerate()
        .filter(|(_, s)| **s != 0.0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits, vec![105]);
    use clack_host::prelude::ProcessStatus::*;
    // Input at frame 399 is still inside the delay line at the end.
    assert_eq!(*g.statuses.last().unwrap(), Continue);

    // Changing the latency while active asks for a restart; the running
    // activation keeps its latency until then.
    assert_eq!(g.restarts(), 0);
    g.render(
        64,
        64,
        &[Ev::Param {
            at: 3,
            id: 1,
            value: 200.0,
        }],
        None,
    );
    assert_eq!(g.restarts(), 1);
    assert_eq!(g.latency(), 100);
    g.stop();
    let before = g.latency_changed();
    g.start(64);
    assert_eq!(g.latency(), 200);
    assert_eq!(g.latency_changed(), before + 1, "activate tells the host");
}

#[test]
fn state_round_trips_gain_and_latency() {
    let mut a = gain();
    a.flush_params(&[(0, 12.5), (1, 48.0)]);
    let saved = a.save();
    let mut b = gain();
    assert!(b.load_state(&saved));
    assert_eq!(b.param(0), 12.5);
    assert_eq!(b.param(1), 48.0);
    assert_eq!(b.save(), saved);
    assert!(!b.load_state(&[1, 2, 3]));
}

#[test]
fn describes_its_parameters() {
    let mut g = gain();
    let infos = g.param_infos();
    assert_eq!(infos[0], (0, "gain".into(), -80.0, 24.0, 0.0));
    assert_eq!(infos[1], (1, "latency".into(), 0.0, 4800.0, 0.0));
}

#[test]
fn a_new_event_restarts_the_ramp_from_the_current_factor() {
    let ramp = ramp_frames(common::SAMPLE_RATE) as usize;
    let mut g = gain();
    g.start(64);
    let frames = 2 * ramp;
    let events = [
        Ev::Param {
            at: 0,
            id: 0,
            value: -80.0,
        },
        Ev::Param {
            at: 240,
            id: 0,
            value: 0.0,
        },
    ];
    let out = g.render(frames, 64, &events, Some(&ones(frames)));
    let l = &out[0];
    let low = db_to_factor(-80.0);
    let at_switch = 1.0 + (low - 1.0) * 240.0 / ramp as f64;
    assert!((f64::from(l[239]) - at_switch).abs() < 1e-6, "{}", l[239]);
    // From there it heads back up to 1 over a full ramp.
    let expected = at_switch + (1.0 - at_switch) / ramp as f64;
    assert!((f64::from(l[240]) - expected).abs() < 1e-6);
    assert_eq!(l[240 + ramp - 1], 1.0);
    assert!(
        l.windows(2).skip(240).all(|w| w[1] >= w[0]),
        "monotonic rise"
    );
}

#[test]
fn parameter_texts() {
    let mut g = gain();
    assert_eq!(g.param_text(0, -6.0).as_deref(), Some("-6.00 dB"));
    assert_eq!(g.param_text(1, 480.0).as_deref(), Some("480 frames"));
    assert_eq!(g.param_from_text(0, "-6.5 dB"), Some(-6.5));
    assert_eq!(g.param_from_text(1, "96"), Some(96.0));
    assert_eq!(g.param_text(7, 0.0), None);
}
