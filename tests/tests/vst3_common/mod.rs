//! Helpers shared by the VST3 end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use stagerack::engine::{Engine, EngineConfig, QueueCapacities};
use stagerack::io::offline::{render_offline, OfflineJob, Rendered};
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::preset::{parse_preset, Preset};
use stagerack::session::Session;

/// Parses a preset written in a test.
pub fn preset(text: &str) -> Preset {
    parse_preset(text, Path::new("test.toml")).expect("valid test preset")
}

/// An engine configuration at 48 kHz with this block size.
pub fn config(block: usize) -> EngineConfig {
    EngineConfig {
        sample_rate: 48_000.0,
        max_block: block,
        queues: QueueCapacities::default(),
    }
}

/// A note-on at `frame`.
pub fn note_on(frame: u64, key: u8, vel: u8) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::NoteOn {
            channel: 0,
            key,
            velocity: f32::from(vel) / 127.0,
            note_id: -1,
        },
    }
}

/// Renders exactly `frames` frames in blocks of `block`, feeding `input`.
pub fn render(
    engine: &mut Engine,
    session: &mut Session,
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
    render_offline(engine, &job, |_| {
        session.pump();
    })
}

/// A deterministic test signal: two sines and a decaying burst, stereo.
pub fn test_signal(frames: usize) -> (Vec<f32>, Vec<f32>) {
    let mut l = Vec::with_capacity(frames);
    let mut r = Vec::with_capacity(frames);
    for i in 0..frames {
        let t = i as f32 / 48_000.0;
        let env = 0.3 + 0.6 * ((i / 4800) % 2) as f32;
        l.push(
            env * (0.5 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 0.25 * (2.0 * std::f32::consts::PI * 3_100.0 * t).sin()),
        );
        r.push(env * 0.6 * (2.0 * std::f32::consts::PI * 330.0 * t).cos());
    }
    (l, r)
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    stagerack_tests::workspace_root()
}

/// Our own VST3 bundles, built by `cargo xtask bundle-vst3` (run here when
/// missing or older than the plugin's source).
pub fn own_bundle(name: &str) -> PathBuf {
    let root = workspace_root();
    let bundle = root
        .join("target/bundles/vst3")
        .join(format!("{name}.vst3"));
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["run", "-q", "-p", "xtask", "--", "bundle-vst3"])
            .current_dir(&root)
            .status()
            .expect("run cargo xtask bundle-vst3");
        assert!(
            status.success(),
            "`cargo xtask bundle-vst3` failed; run it by hand to see why"
        );
    });
    assert!(
        bundle.exists(),
        "{} missing after `cargo xtask bundle-vst3`",
        bundle.display()
    );
    bundle
}

/// The first audio class of a bundle, via the real scanner function.
pub fn class_of(bundle: &Path) -> stagerack::plugin::PluginDescriptor {
    let classes = stagerack::plugin::vst3::list_vst3_classes(bundle)
        .unwrap_or_else(|e| panic!("listing {}: {e}", bundle.display()));
    classes
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{} has no audio class", bundle.display()))
}

/// A one-rack preset with one VST3 plugin.
pub fn vst3_preset(id: &str, bundle: &Path, extra: &str) -> String {
    format!(
        r#"
version = 1
name = "vst3"
[[rack]]
name = "r"
[[rack.plugin]]
format = "vst3"
id = "{id}"
path = "{}"
{extra}
"#,
        bundle.display()
    )
}

/// VST3 plugins expect one main thread; the test harness runs tests on
/// several. Every test that touches a plugin holds this lock.
pub fn main_thread_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
