//! `builtin:gain`: one gain parameter in dB, smoothed by a 10 ms linear ramp
//! so moving it never clicks. Parameter events apply on their exact sample.

use std::sync::Arc;

use super::{ParamSpec, ParamStore};
use stagerack_core::midi::Event;
use stagerack_core::plugin::{AudioProcessor, Block, ProcessConfig, ProcessStatus};

const GAIN: u32 = 0;
const MIN_DB: f64 = -80.0;

/// The gain's parameters.
pub(super) static PARAMS: &[ParamSpec] = &[ParamSpec {
    id: GAIN,
    name: "gain",
    min: MIN_DB,
    max: 24.0,
    default: 0.0,
    stepped: false,
    unit: " dB",
}];

fn db_to_linear(db: f64) -> f32 {
    if db <= MIN_DB {
        0.0
    } else {
        10f64.powf(db / 20.0) as f32
    }
}

struct Gain {
    store: Arc<ParamStore>,
    current: f32,
    target: f32,
    step: f32,
    ramp_left: u32,
    ramp_len: u32,
}

pub(super) fn make(config: &ProcessConfig, store: Arc<ParamStore>) -> Box<dyn AudioProcessor> {
    let g = db_to_linear(store.get(GAIN));
    store.take_dirty();
    Box::new(Gain {
        store,
        current: g,
        target: g,
        step: 0.0,
        ramp_left: 0,
        ramp_len: ((config.sample_rate * 0.010) as u32).max(1),
    })
}

impl Gain {
    fn set_target(&mut self, db: f64) {
        let db = PARAMS[0].clamp(db);
        self.store.publish(GAIN, db);
        self.target = db_to_linear(db);
        self.ramp_left = self.ramp_len;
        self.step = (self.target - self.current) / self.ramp_len as f32;
    }

    fn run(&mut self, l: &mut [f32], r: &mut [f32]) {
        // The ramp, sample by sample, then a plain (vectorisable) multiply.
        let ramped = (self.ramp_left as usize).min(l.len());
        for (a, b) in l[..ramped].iter_mut().zip(r[..ramped].iter_mut()) {
            self.ramp_left -= 1;
            self.current = if self.ramp_left == 0 {
                self.target
            } else {
                self.current + self.step
            };
            *a *= self.current;
            *b *= self.current;
        }
        let g = self.current;
        for x in l[ramped..].iter_mut() {
            *x *= g;
        }
        for x in r[ramped..].iter_mut() {
            *x *= g;
        }
    }
}

impl AudioProcessor for Gain {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        if self.store.take_dirty() {
            self.set_target(self.store.get(GAIN));
        }
        let mut pos = 0usize;
        for ev in block.events {
            if let Event::ParamValue { param: GAIN, value } = ev.event {
                let at = (ev.offset as usize).min(block.frames);
                self.run(&mut block.left[pos..at], &mut block.right[pos..at]);
                pos = at;
                self.set_target(value);
            }
        }
        let n = block.frames;
        self.run(&mut block.left[pos..n], &mut block.right[pos..n]);
        ProcessStatus::ContinueIfNotQuiet
    }
}
