//! Plans swapped during a render: nothing lost, nothing repeated, and an
//! equivalent plan sounds exactly the same.

mod common;
use common::*;
use stagerack::session::Session;

fn demo_events() -> Vec<stagerack::midi::file::SampleEvent> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../presets/demo.mid");
    stagerack::midi::file::read_midi_file(std::path::Path::new(path), 48_000.0).unwrap()
}

fn demo_preset() -> stagerack::preset::Preset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../presets/demo.toml");
    stagerack::preset::load_preset(std::path::Path::new(path)).unwrap()
}

#[test]
fn swapping_equivalent_plans_mid_render_changes_nothing() {
    let events = demo_events();
    let frames = 48_000 * 4;
    let render = |swap_every: Option<u64>| {
        let (mut session, mut engine) = Session::new(&demo_preset(), config(64), true).unwrap();
        let job = stagerack::io::offline::OfflineJob {
            events: &events,
            input: None,
            block: 64,
            min_frames: frames,
            max_tail_frames: 0,
            silence_frames: 0,
        };
        let mut swaps = 0u64;
        let out = stagerack::io::offline::render_offline(&mut engine, &job, |frame| {
            session.pump();
            if let Some(n) = swap_every {
                // Notes are held across many of these swaps.
                if frame > 0 && frame % n == 0 {
                    session.commit().unwrap();
                    swaps += 1;
                }
            }
        });
        let swapped = engine
            .shared()
            .plans_swapped
            .load(std::sync::atomic::Ordering::Relaxed);
        session.shutdown(engine);
        (out, swaps, swapped)
    };
    let (plain, _, _) = render(None);
    let (swapped, sent, applied) = render(Some(64 * 37));
    assert!(sent > 50, "only {sent} swaps");
    assert_eq!(
        applied,
        sent + 1,
        "every plan (and the first) was swapped in"
    );
    assert_eq!(plain.left.len(), frames as usize);
    assert_eq!(
        swapped.left.len(),
        plain.left.len(),
        "samples lost or added"
    );
    assert!(plain.left.iter().any(|x| x.abs() > 0.01));
    assert!(plain == swapped, "the swaps changed the sound");
}

#[test]
fn a_changed_plan_takes_effect_at_the_next_buffer_boundary() {
    let (mut session, mut engine) = Session::new(&preset(PROBE), config(64), true).unwrap();
    let events: Vec<_> = (0..8).map(|i| note_on(i * 64 + 5, 60, 127)).collect();
    let job = stagerack::io::offline::OfflineJob {
        events: &events,
        input: None,
        block: 64,
        min_frames: 512,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = stagerack::io::offline::render_offline(&mut engine, &job, |frame| {
        session.pump();
        if frame == 256 {
            session.racks[0].gain_db = -6.0206;
            session.commit().unwrap();
        }
    });
    // Before the change: full level. At the boundary the gain starts a
    // 5 ms glide (no click) and reaches -6 dB 120 frames later.
    for i in 0..4 {
        assert_eq!(out.left[i * 64 + 5], 1.0, "block {i}");
    }
    let glide = out.left[4 * 64 + 5];
    assert!((glide - (1.0 - 6.0 / 240.0)).abs() < 1e-3, "{glide}");
    for i in 6..8 {
        let v = out.left[i * 64 + 5];
        assert!((v - 0.5).abs() < 1e-4, "block {i}: {v}");
    }
    session.shutdown(engine);
}

#[test]
fn retired_plans_come_home_and_their_processors_are_deactivated() {
    let (mut session, mut engine) = Session::new(&preset(PROBE), config(64), true).unwrap();
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    for _ in 0..20 {
        session.commit().unwrap();
        engine.process(&[], None, &mut l, &mut r);
        session.pump();
    }
    assert_eq!(session.handle().plans_pending(), 0);
    assert!(
        session.handle().take_retired().is_none(),
        "pump drained every plan"
    );
    session.shutdown(engine);
}
