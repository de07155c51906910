//! Shared helpers for the CLAP tests: presets, offline renders through the
//! real `Session`, and the project's test bundles (built on demand).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use stagerack::engine::{Engine, EngineConfig, QueueCapacities};
use stagerack::io::offline::{render_offline, OfflineJob, Rendered};
use stagerack::midi::file::SampleEvent;
use stagerack::preset::{parse_preset, Preset};
use stagerack::session::Session;

pub const RATE: f64 = 48_000.0;

/// Parses a preset written inline in a test.
pub fn preset(text: &str) -> Preset {
    parse_preset(text, Path::new("test.toml")).expect("test preset parses")
}

/// A session at `block` frames, offline mode.
pub fn session(p: &Preset, block: usize) -> (Session, Engine) {
    let config = EngineConfig {
        sample_rate: RATE,
        max_block: block,
        queues: QueueCapacities::default(),
    };
    Session::new(p, config, true).expect("session builds")
}

/// Renders `frames` frames (no tail) in blocks of `block`, pumping the
/// session before each block like a live run.
pub fn render(
    session: &mut Session,
    engine: &mut Engine,
    events: &[SampleEvent],
    input: Option<[&[f32]; 2]>,
    block: usize,
    frames: u64,
) -> Rendered {
    let job = OfflineJob {
        events,
        input,
        block,
        min_frames: frames,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    // Whatever the session reports fails the test: a panic or fault on the
    // audio thread, or a strict test plugin saying the host misbehaves
    // (its `CLAP_LOG_HOST_MISBEHAVING` log, reported as a notice).
    let out = render_offline(engine, &job, |_| {
        let reports = session.pump();
        assert!(reports.is_empty(), "the session reported: {reports:?}");
    });
    let reports = session.pump();
    assert!(reports.is_empty(), "the session reported: {reports:?}");
    out
}

/// The folder `cargo xtask bundle` writes CLAP bundles to.
pub fn bundle_dir() -> PathBuf {
    stagerack_tests::workspace_root().join("target/bundles/clap")
}

/// The path of one of the project's test bundles, building them with
/// `cargo xtask bundle` first if it is missing (never skipped).
pub fn bundle(name: &str) -> PathBuf {
    stagerack_tests::clap_bundle(name)
}

/// A mono-compatible test signal: a 220 Hz sine at -12 dBFS.
pub fn sine(frames: usize) -> Vec<f32> {
    (0..frames)
        .map(|i| 0.25 * (2.0 * std::f64::consts::PI * 220.0 * i as f64 / RATE).sin() as f32)
        .collect()
}

pub fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}
