//! The plan: an immutable-shape description of what the audio thread runs,
//! compiled and allocated on the main thread.

use std::sync::Arc;

use super::chain::{Chain, PanicSink, SlotSpec};
use super::route::{route_event, HeldNotes, MidiFilter};
use super::shared::RackStatus;
use super::{peak, ProcessorId, RackId};
use crate::midi::{EventBuffer, TimedEvent};
use crate::plugin::{AudioProcessor, Transport};

/// One rack as the main thread describes it to the [`PlanBuilder`].
pub struct RackSpec {
    /// Stable id across plans.
    pub id: RackId,
    /// What MIDI it takes.
    pub filter: MidiFilter,
    /// Linear output gains, left and right (pan, mute and solo included).
    pub gain: [f32; 2],
    /// Its processors, in order.
    pub slots: Vec<SlotSpec>,
    /// Meters, shared with the main thread.
    pub status: Arc<RackStatus>,
}

pub(crate) struct RackPlan {
    pub(crate) id: RackId,
    filter: MidiFilter,
    /// Where the gains are heading (this plan's values).
    gain_target: [f32; 2],
    /// Where they are now (carried over from the previous plan).
    gain_now: [f32; 2],
    pub(crate) chain: Chain,
    left: Vec<f32>,
    right: Vec<f32>,
    events: EventBuffer,
    pub(crate) held: HeldNotes,
    status: Arc<RackStatus>,
}

/// What the audio thread runs: racks, master chain, buffers, all allocated
/// up front. Built by [`PlanBuilder`] on the main thread; after it is sent,
/// only the audio thread touches it until it comes home.
pub struct Plan {
    pub(crate) racks: Vec<RackPlan>,
    pub(crate) master: Chain,
    master_gain: f32,
    pub(crate) max_block: usize,
    pub(crate) sample_rate: f64,
    pub(crate) tempo: f64,
    mix_left: Vec<f32>,
    mix_right: Vec<f32>,
    /// Processor panics caught since the engine last took the count.
    pub(crate) panics_caught: u32,
}

/// Compiles racks into a [`Plan`]. Main thread.
pub struct PlanBuilder {
    sample_rate: f64,
    max_block: usize,
    event_capacity: usize,
    tempo: f64,
    racks: Vec<RackSpec>,
    master: Vec<SlotSpec>,
    master_gain: f32,
}

impl PlanBuilder {
    /// A plan for blocks of at most `max_block` frames at `sample_rate`,
    /// with room for `event_capacity` events per rack per block. Main thread.
    pub fn new(sample_rate: f64, max_block: usize, event_capacity: usize) -> Self {
        Self {
            sample_rate,
            max_block: max_block.max(1),
            event_capacity: event_capacity.max(16),
            tempo: 120.0,
            racks: Vec::new(),
            master: Vec::new(),
            master_gain: 1.0,
        }
    }

    /// Sets the tempo plugins see. Main thread.
    pub fn tempo(mut self, bpm: f64) -> Self {
        self.tempo = bpm;
        self
    }

    /// Adds a rack. Main thread.
    pub fn rack(mut self, rack: RackSpec) -> Self {
        self.racks.push(rack);
        self
    }

    /// Sets the master chain and gain (linear). Main thread.
    pub fn master(mut self, slots: Vec<SlotSpec>, gain: f32) -> Self {
        self.master = slots;
        self.master_gain = gain;
        self
    }

    /// Allocates everything. Main thread.
    pub fn build(self) -> Box<Plan> {
        let n = self.max_block;
        let cap = self.event_capacity;
        Box::new(Plan {
            racks: self
                .racks
                .into_iter()
                .map(|r| RackPlan {
                    id: r.id,
                    filter: r.filter,
                    gain_target: r.gain,
                    gain_now: r.gain,
                    chain: Chain::new(r.slots, cap),
                    left: vec![0.0; n],
                    right: vec![0.0; n],
                    events: EventBuffer::with_capacity(cap),
                    held: HeldNotes::new(),
                    status: r.status,
                })
                .collect(),
            master: Chain::new(self.master, cap),
            master_gain: self.master_gain,
            max_block: n,
            sample_rate: self.sample_rate,
            tempo: self.tempo,
            mix_left: vec![0.0; n],
            mix_right: vec![0.0; n],
            panics_caught: 0,
        })
    }
}

impl Plan {
    /// Largest block this plan processes in one go.
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Sample rate it was built for.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Takes over, from `old` (the plan being replaced), every processor
    /// this plan refers to by id without carrying one, with its sleep and
    /// failure state, and the held notes of racks that continue. Returns the
    /// number of slots whose processor could not be found. Audio thread.
    pub(crate) fn take_over(&mut self, old: &mut Plan) -> u32 {
        let mut missing = 0;
        for chain in self
            .racks
            .iter_mut()
            .map(|r| &mut r.chain)
            .chain(std::iter::once(&mut self.master))
        {
            for slot in chain.slots.iter_mut().filter(|s| s.processor.is_none()) {
                let found = old
                    .racks
                    .iter_mut()
                    .map(|r| &mut r.chain)
                    .chain(std::iter::once(&mut old.master))
                    .find_map(|c| c.take_processor(slot.id));
                match found {
                    Some((p, sleeping, failed)) => {
                        slot.processor = Some(p);
                        slot.sleeping = sleeping;
                        slot.failed = failed;
                    }
                    None => missing += 1,
                }
            }
        }
        for rack in &mut self.racks {
            if let Some(prev) = old.racks.iter().find(|r| r.id == rack.id) {
                rack.held.copy_from(&prev.held);
                // Gain changes glide from where the old plan was.
                rack.gain_now = prev.gain_now;
            }
        }
        missing
    }

    /// Stops every processor still in this plan. Audio thread.
    pub(crate) fn stop_all(&mut self, panics: &mut PanicSink) {
        for rack in &mut self.racks {
            rack.chain.stop_all(panics);
        }
        self.master.stop_all(panics);
    }

    /// Silences every processor and forgets held notes. Audio thread.
    pub(crate) fn reset_all(&mut self, panics: &mut PanicSink) {
        for rack in &mut self.racks {
            rack.chain.reset_all(panics);
            rack.held.clear();
        }
        self.master.reset_all(panics);
    }

    /// The processors this plan still owns, for deactivation on the main
    /// thread after it came home. Main thread.
    pub fn into_processors(self: Box<Self>) -> Vec<(ProcessorId, Box<dyn AudioProcessor>)> {
        let mut plan = *self;
        let mut out = Vec::new();
        for chain in plan
            .racks
            .iter_mut()
            .map(|r| &mut r.chain)
            .chain(std::iter::once(&mut plan.master))
        {
            for slot in &mut chain.slots {
                if let Some(p) = slot.processor.take() {
                    out.push((slot.id, p));
                }
            }
        }
        out
    }

    /// Processes one chunk of at most `max_block` frames. `events` are the
    /// chunk's events with offsets relative to `base`; `input` is the
    /// chunk's audio input (if any). Returns events dropped. Audio thread.
    pub(crate) fn process_chunk(
        &mut self,
        events: &[TimedEvent],
        base: u32,
        input: Option<[&[f32]; 2]>,
        [out_left, out_right]: [&mut [f32]; 2],
        transport: &Transport,
        panics: &mut PanicSink,
    ) -> u32 {
        let frames = out_left.len();
        debug_assert!(frames <= self.max_block);
        let mut dropped = 0;
        let mix_l = &mut self.mix_left[..frames];
        let mix_r = &mut self.mix_right[..frames];
        mix_l.fill(0.0);
        mix_r.fill(0.0);
        for rack in &mut self.racks {
            rack.events.clear();
            let mut notes = 0;
            for e in events {
                let offset = e.offset.saturating_sub(base).min(frames as u32 - 1);
                if route_event(
                    &rack.filter,
                    &mut rack.held,
                    offset,
                    e.event,
                    &mut rack.events,
                ) {
                    notes += 1;
                }
            }
            if notes > 0 {
                rack.status
                    .notes
                    .fetch_add(notes, std::sync::atomic::Ordering::Relaxed);
            }
            dropped += rack.events.take_dropped();
            let l = &mut rack.left[..frames];
            let r = &mut rack.right[..frames];
            match input {
                Some([il, ir]) => {
                    l.copy_from_slice(il);
                    r.copy_from_slice(ir);
                }
                None => {
                    l.fill(0.0);
                    r.fill(0.0);
                }
            }
            dropped += rack
                .chain
                .process(l, r, rack.events.as_slice(), transport, panics);
            self.panics_caught += std::mem::take(&mut rack.chain.panics_caught);
            let step = (self.sample_rate as f32 * GAIN_GLIDE_SECONDS)
                .max(1.0)
                .recip();
            mix_gliding(mix_l, l, &mut rack.gain_now[0], rack.gain_target[0], step);
            mix_gliding(mix_r, r, &mut rack.gain_now[1], rack.gain_target[1], step);
            let [gl, gr] = rack.gain_now;
            rack.status.peak_left.raise(gl * peak(l));
            rack.status.peak_right.raise(gr * peak(r));
        }
        dropped += self.master.process(mix_l, mix_r, &[], transport, panics);
        self.panics_caught += std::mem::take(&mut self.master.panics_caught);
        let g = self.master_gain;
        for (o, m) in out_left.iter_mut().zip(mix_l.iter()) {
            *o = g * m;
        }
        for (o, m) in out_right.iter_mut().zip(mix_r.iter()) {
            *o = g * m;
        }
        dropped
    }
}

/// How long a rack gain change (gain, pan, mute, solo) takes to glide, so
/// it never clicks.
const GAIN_GLIDE_SECONDS: f32 = 0.005;

/// `mix += src × gain`, with `gain` moving toward `target` by at most
/// `step` (a fraction of full scale) per sample. Audio thread.
#[inline]
fn mix_gliding(mix: &mut [f32], src: &[f32], gain: &mut f32, target: f32, step: f32) {
    if *gain == target {
        let g = target;
        for (m, x) in mix.iter_mut().zip(src.iter()) {
            *m += g * x;
        }
        return;
    }
    for (m, x) in mix.iter_mut().zip(src.iter()) {
        let d = target - *gain;
        *gain = if d.abs() <= step {
            target
        } else {
            *gain + step.copysign(d)
        };
        *m += *gain * x;
    }
}
