//! `builtin:probe`: a test instrument that writes an impulse of height
//! `velocity × level` on both channels at the exact sample of every note-on,
//! and silence everywhere else. Tests use it to check timing to the sample.

use std::sync::Arc;

use super::{ParamSpec, ParamStore};
use stagerack_core::midi::Event;
use stagerack_core::plugin::{AudioProcessor, Block, ProcessConfig, ProcessStatus};

const LEVEL: u32 = 0;

/// The probe's parameters.
pub(super) static PARAMS: &[ParamSpec] = &[ParamSpec {
    id: LEVEL,
    name: "level",
    min: 0.0,
    max: 1.0,
    default: 1.0,
    stepped: false,
    unit: "",
}];

struct Probe {
    store: Arc<ParamStore>,
    level: f32,
}

pub(super) fn make(_config: &ProcessConfig, store: Arc<ParamStore>) -> Box<dyn AudioProcessor> {
    let level = store.get(LEVEL) as f32;
    store.take_dirty();
    Box::new(Probe { store, level })
}

impl AudioProcessor for Probe {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        if self.store.take_dirty() {
            self.level = self.store.get(LEVEL) as f32;
        }
        block.left.fill(0.0);
        block.right.fill(0.0);
        for ev in block.events {
            let at = ev.offset as usize;
            match ev.event {
                Event::NoteOn { velocity, .. } if at < block.frames => {
                    block.left[at] += velocity * self.level;
                    block.right[at] += velocity * self.level;
                }
                Event::ParamValue {
                    param: LEVEL,
                    value,
                } => {
                    let v = PARAMS[0].clamp(value);
                    self.store.publish(LEVEL, v);
                    self.level = v as f32;
                }
                _ => {}
            }
        }
        ProcessStatus::Sleep
    }
}
