//! Every note-on reaches the probe on its exact sample, for any block size.

mod common;
use common::*;
use stagerack::session::Session;

const ONSETS: [u64; 6] = [0, 1, 63, 64, 65, 1000];

#[test]
fn probe_impulses_land_on_the_exact_sample_for_every_block_size() {
    for block in [1usize, 7, 64, 512] {
        let (mut session, mut engine) = Session::new(&preset(PROBE), config(block), true).unwrap();
        // Distinct velocities identify each onset.
        let events: Vec<_> = ONSETS
            .iter()
            .enumerate()
            .map(|(i, &f)| note_on(f, 60 + i as u8, 20 + 10 * i as u8))
            .collect();
        let out = render_frames(&mut engine, &mut session, &events, block, 2048);
        assert_eq!(out.left.len(), 2048);
        for (i, (&l, &r)) in out.left.iter().zip(out.right.iter()).enumerate() {
            let expected = ONSETS
                .iter()
                .position(|&f| f == i as u64)
                .map_or(0.0, |k| f32::from(20 + 10 * k as u8) / 127.0);
            assert_eq!(l, expected, "block {block}: left sample {i}");
            assert_eq!(r, expected, "block {block}: right sample {i}");
        }
        session.shutdown(engine);
    }
}

#[test]
fn driver_buffers_longer_than_the_plan_block_are_split_exactly() {
    // The plan processes 64 frames at a time; the driver hands 1000.
    let (mut session, mut engine) = Session::new(&preset(PROBE), config(64), true).unwrap();
    let events: Vec<_> = ONSETS.iter().map(|&f| note_on(f, 60, 127)).collect();
    let out = render_frames(&mut engine, &mut session, &events, 1000, 2000);
    let hits: Vec<usize> = (0..out.left.len())
        .filter(|&i| out.left[i] != 0.0)
        .collect();
    assert_eq!(hits, vec![0, 1, 63, 64, 65, 1000]);
    session.shutdown(engine);
}

#[test]
fn splits_layers_channels_and_transpose_route_notes() {
    let text = r#"
version = 1
name = "routing"
[[rack]]
name = "low"
keys = [0, 59]
[[rack.plugin]]
format = "builtin"
id = "probe"
[[rack]]
name = "high ch2"
keys = [60, 127]
channels = [2]
gain_db = -6.0206
[[rack.plugin]]
format = "builtin"
id = "probe"
"#;
    let (mut session, mut engine) = Session::new(&preset(text), config(64), true).unwrap();
    let mut ch2 = note_on(20, 72, 127);
    if let stagerack::midi::Event::NoteOn { channel, .. } = &mut ch2.event {
        *channel = 1;
    }
    let events = vec![note_on(10, 40, 127), note_on(15, 72, 127), ch2];
    let out = render_frames(&mut engine, &mut session, &events, 64, 64);
    assert_eq!(out.left[10], 1.0); // low rack
    assert_eq!(out.left[15], 0.0); // high key on channel 1: nobody takes it
    assert!((out.left[20] - 0.5).abs() < 1e-4, "{}", out.left[20]); // high rack, -6 dB
    session.shutdown(engine);
}
