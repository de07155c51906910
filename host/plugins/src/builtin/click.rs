//! `builtin:click`: a metronome on the beats the transport shows (the
//! preset's tempo, or the MIDI clock's while one runs): a short decaying
//! tone starting on the first sample of every beat, higher and at `accent`
//! level on the first beat of each bar. Route its rack to the in-ear
//! output (`output = "IEM"`) so only the band hears it.
//!
//! The beats are the ones plugins see: beat `k` starts at the first frame
//! `n` (counted from the engine's start) with
//! `floor(n × tempo / (60 × sample_rate)) ≥ k` ([`beat_of`]).

use std::sync::Arc;

use super::{ParamSpec, ParamStore};
use stagerack_core::midi::Event;
use stagerack_core::plugin::{AudioProcessor, Block, ProcessConfig, ProcessStatus, Tail};

const LEVEL: u32 = 0;
const ACCENT: u32 = 1;
const BEATS: u32 = 2;

/// The click's parameters.
pub(super) static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        id: LEVEL,
        name: "level",
        min: 0.0,
        max: 1.0,
        default: 0.5,
        stepped: false,
        unit: "",
    },
    ParamSpec {
        id: ACCENT,
        name: "accent",
        min: 0.0,
        max: 1.0,
        default: 0.8,
        stepped: false,
        unit: "",
    },
    ParamSpec {
        id: BEATS,
        name: "beats",
        min: 1.0,
        max: 16.0,
        default: 4.0,
        stepped: true,
        unit: "per bar",
    },
];

/// How long each click sounds.
const CLICK_SECONDS: f64 = 0.02;
/// Its decay time constant.
const DECAY_SECONDS: f64 = 0.002;
/// The tone of the bar's first beat and of the others.
const ACCENT_HZ: f64 = 1500.0;
const BEAT_HZ: f64 = 1000.0;

/// The beat (0-based, from the engine's start) that frame `frame` lies in
/// at `tempo`: what plugins' transports show. Any thread.
pub fn beat_of(frame: u64, tempo: f64, sample_rate: f64) -> u64 {
    (frame as f64 * tempo / (60.0 * sample_rate)).floor() as u64
}

/// The frame beat `beat` starts on at `tempo` (the first frame whose
/// [`beat_of`] reaches it). Any thread.
pub fn beat_start(beat: u64, tempo: f64, sample_rate: f64) -> u64 {
    let mut n = (beat as f64 * 60.0 * sample_rate / tempo).ceil() as u64;
    while n > 0 && beat_of(n - 1, tempo, sample_rate) >= beat {
        n -= 1;
    }
    while beat_of(n, tempo, sample_rate) < beat {
        n += 1;
    }
    n
}

struct Click {
    store: Arc<ParamStore>,
    sample_rate: f64,
    level: f32,
    accent: f32,
    beats: u64,
    /// The click sounding: frames into it, and its level and tone.
    sounding: Option<(u32, f32, f64)>,
    /// The beat the last processed frame lay in.
    last_beat: Option<u64>,
    click_frames: u32,
    decay: f64,
}

pub(super) fn make(config: &ProcessConfig, store: Arc<ParamStore>) -> Box<dyn AudioProcessor> {
    store.take_dirty();
    Box::new(Click {
        level: store.get(LEVEL) as f32,
        accent: store.get(ACCENT) as f32,
        beats: store.get(BEATS).round().max(1.0) as u64,
        store,
        sample_rate: config.sample_rate,
        sounding: None,
        last_beat: None,
        click_frames: (CLICK_SECONDS * config.sample_rate).round() as u32,
        decay: (-1.0 / (DECAY_SECONDS * config.sample_rate)).exp(),
    })
}

impl Click {
    fn apply(&mut self, param: u32, value: f64) {
        let Some(spec) = PARAMS.iter().find(|p| p.id == param) else {
            return;
        };
        let v = spec.clamp(value);
        self.store.publish(param, v);
        match param {
            LEVEL => self.level = v as f32,
            ACCENT => self.accent = v as f32,
            _ => self.beats = v.round().max(1.0) as u64,
        }
    }
}

impl AudioProcessor for Click {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        if self.store.take_dirty() {
            self.level = self.store.get(LEVEL) as f32;
            self.accent = self.store.get(ACCENT) as f32;
            self.beats = self.store.get(BEATS).round().max(1.0) as u64;
        }
        let tempo = block.transport.tempo.max(1.0);
        let start = block.transport.steady_frames;
        let mut events = block.events.iter().peekable();
        for i in 0..block.frames {
            while let Some(e) = events.next_if(|e| e.offset as usize <= i) {
                if let Event::ParamValue { param, value } = e.event {
                    self.apply(param, value);
                }
            }
            let beat = beat_of(start + i as u64, tempo, self.sample_rate);
            if self.last_beat != Some(beat) {
                let first_of_bar = beat % self.beats == 0;
                self.sounding = Some(if first_of_bar {
                    (0, self.accent, ACCENT_HZ)
                } else {
                    (0, self.level, BEAT_HZ)
                });
                self.last_beat = Some(beat);
            }
            let x = match self.sounding.as_mut() {
                Some((n, level, hz)) if *n < self.click_frames => {
                    let t = f64::from(*n);
                    let phase = std::f64::consts::TAU * *hz * t / self.sample_rate;
                    *n += 1;
                    *level * (self.decay.powf(t) * phase.cos()) as f32
                }
                _ => {
                    self.sounding = None;
                    0.0
                }
            };
            block.left[i] = x;
            block.right[i] = x;
        }
        ProcessStatus::Continue
    }

    fn tail(&self) -> Tail {
        Tail::Infinite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_start_on_the_first_frame_of_their_beat() {
        // 100 BPM at 48 kHz: 28 800 frames a beat, exactly.
        assert_eq!(beat_start(3, 100.0, 48_000.0), 86_400);
        // 137 BPM: 21 021.9 frames a beat; each start is the first frame
        // of its beat.
        for k in 1..50 {
            let n = beat_start(k, 137.0, 48_000.0);
            assert_eq!(beat_of(n, 137.0, 48_000.0), k);
            assert_eq!(beat_of(n - 1, 137.0, 48_000.0), k - 1);
        }
    }
}
