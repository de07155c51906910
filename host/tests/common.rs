//! Shared helpers for the host's integration tests.
#![allow(dead_code)]

// The allocation guard in this test binary (see `install_guard!`).
stagerack::engine::install_guard!();

use stagerack::engine::{Engine, EngineConfig, QueueCapacities};
use stagerack::io::offline::{render_offline, OfflineJob, Rendered};
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::preset::{parse_preset, Preset};
use stagerack::session::Session;

pub fn preset(text: &str) -> Preset {
    parse_preset(text, std::path::Path::new("test.toml")).expect("valid test preset")
}

pub fn config(block: usize) -> EngineConfig {
    EngineConfig {
        sample_rate: 48_000.0,
        max_block: block,
        queues: QueueCapacities::default(),
    }
}

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

pub fn note_off(frame: u64, key: u8) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::NoteOff {
            channel: 0,
            key,
            velocity: 0.5,
            note_id: -1,
        },
    }
}

/// Renders exactly `frames` frames (no tail) in blocks of `block`.
pub fn render_frames(
    engine: &mut Engine,
    session: &mut Session,
    events: &[SampleEvent],
    block: usize,
    frames: u64,
) -> Rendered {
    let job = OfflineJob {
        events,
        input: None,
        block,
        min_frames: frames,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    render_offline(engine, &job, |_| {
        session.pump();
    })
}

pub const PROBE: &str = r#"
version = 1
name = "probe"
[[rack]]
name = "probe"
[[rack.plugin]]
format = "builtin"
id = "probe"
"#;
