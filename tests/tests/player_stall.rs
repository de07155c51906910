//! A disk too slow for a backing track (#17): the player's reading thread
//! is slowed (`STAGERACK_TEST_PLAYER_STALL_MS`, its own test binary so no
//! other test is slowed) while the engine runs as live (not offline, so
//! it never waits for the disk): the gaps are silence, the audio thread
//! allocates nothing (the engine's guard is on in every test build; the
//! player's allocations would be counted against it), and the session
//! reports the track by name with the frames lost.

mod clap_support;

use clap_support::*;
use stagerack::io::offline::{render_offline, OfflineJob};
use stagerack::session::Session;

#[test]
fn a_stalled_disk_leaves_reported_gaps_and_no_allocation() {
    std::env::set_var(stagerack::plugin::builtin::player_stream::STALL_ENV, "20");
    let dir = tempfile::tempdir().unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.path().join("slow.wav"), spec).unwrap();
    for i in 0..48_000 * 6 {
        w.write_sample(((i % 200) as i16 - 100) * 100 + 1).unwrap();
        w.write_sample(1000i16).unwrap();
    }
    w.finalize().unwrap();
    let file = dir.path().join("slow.toml");
    std::fs::write(
        &file,
        "version = 1\nname = \"slow\"\n[[rack]]\nname = \"backing\"\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"player\"\nfile = \"slow.wav\"\n",
    )
    .unwrap();
    let preset = stagerack::preset::load_preset(&file).unwrap();
    let config = stagerack::engine::EngineConfig {
        sample_rate: RATE,
        max_block: 64,
        queues: Default::default(),
    };
    // Live, not offline: the player must not wait for its disk.
    let (mut s, mut e) = Session::new(&preset, config, false).unwrap();
    let job = OfflineJob {
        events: &[],
        input: None,
        block: 64,
        min_frames: 48_000 * 5,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = render_offline(&mut e, &job, |_| {
        s.pump();
    });
    s.pump();
    let warnings = s.warnings().join("\n");
    assert!(
        warnings.contains("slow.wav could not be read fast enough")
            && warnings.contains("frames of silence"),
        "{warnings}"
    );
    // The first second was decoded before it played; later, gaps.
    assert!(
        out.right[..48_000].iter().all(|x| *x != 0.0),
        "a gap in the prefilled second"
    );
    assert!(out.right[48_000..].contains(&0.0), "no gap at all");
    let status = s.racks()[0].slots[0].status.clone();
    assert_eq!(
        status.allocs.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the player allocated on the audio thread"
    );
    s.shutdown(e);
}
