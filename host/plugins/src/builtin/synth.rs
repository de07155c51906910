//! `builtin:synth`: a polyphonic synth for the demo and for load tests.
//!
//! Two oscillators per voice (sine/saw blend, the second detuned), a
//! resonant low-pass (TPT state-variable filter), an ADSR amplifier,
//! velocity, sustain pedal (CC64), pitch bend and all-notes-off. Up to
//! `polyphony` voices sound at once (default 16, max 32); a new note beyond
//! that steals the oldest voice, which fades out over 3 ms in a spare slot
//! while the new voice starts on its note-on's exact sample.

use std::f32::consts::TAU;
use std::sync::Arc;

use super::{ParamSpec, ParamStore};
use stagerack_core::midi::Event;
use stagerack_core::plugin::{AudioProcessor, Block, ProcessConfig, ProcessStatus};

const SHAPE: u32 = 0;
const DETUNE: u32 = 1;
const CUTOFF: u32 = 2;
const RESONANCE: u32 = 3;
const ATTACK: u32 = 4;
const DECAY: u32 = 5;
const SUSTAIN: u32 = 6;
const RELEASE: u32 = 7;
const LEVEL: u32 = 8;
const BEND_RANGE: u32 = 9;
const POLYPHONY: u32 = 10;

const SLOTS: usize = 48;
const MAX_POLYPHONY: usize = 32;
const STEAL_FADE_SECONDS: f32 = 0.003;

/// The synth's parameters.
pub(super) static PARAMS: &[ParamSpec] = &[
    spec(SHAPE, "shape", 0.0, 1.0, 1.0, false, ""),
    spec(DETUNE, "detune", 0.0, 50.0, 7.0, false, " ct"),
    spec(CUTOFF, "cutoff", 40.0, 18000.0, 4000.0, false, " Hz"),
    spec(RESONANCE, "resonance", 0.0, 0.95, 0.2, false, ""),
    spec(ATTACK, "attack", 0.0005, 10.0, 0.005, false, " s"),
    spec(DECAY, "decay", 0.001, 10.0, 0.3, false, " s"),
    spec(SUSTAIN, "sustain", 0.0, 1.0, 0.7, false, ""),
    spec(RELEASE, "release", 0.001, 20.0, 0.3, false, " s"),
    spec(LEVEL, "level", -60.0, 6.0, -12.0, false, " dB"),
    spec(BEND_RANGE, "bend_range", 0.0, 24.0, 2.0, true, " st"),
    spec(
        POLYPHONY,
        "polyphony",
        1.0,
        MAX_POLYPHONY as f64,
        16.0,
        true,
        "",
    ),
];

const fn spec(
    id: u32,
    name: &'static str,
    min: f64,
    max: f64,
    default: f64,
    stepped: bool,
    unit: &'static str,
) -> ParamSpec {
    ParamSpec {
        id,
        name,
        min,
        max,
        default,
        stepped,
        unit,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Idle,
    Attack,
    Decay,
    Sustain,
    Release,
    /// Stolen: a short linear fade to silence, then idle.
    Fade,
}

#[derive(Clone, Copy, Debug)]
struct Voice {
    stage: Stage,
    channel: u8,
    key: u8,
    /// Key is up but the sustain pedal holds it.
    sustained: bool,
    /// Monotonic start order, for oldest-voice stealing.
    age: u64,
    velocity: f32,
    env: f32,
    fade_step: f32,
    phase1: f32,
    phase2: f32,
    // TPT SVF state and coefficients.
    ic1: f32,
    ic2: f32,
    g: f32,
    k: f32,
}

impl Voice {
    const IDLE: Voice = Voice {
        stage: Stage::Idle,
        channel: 0,
        key: 0,
        sustained: false,
        age: 0,
        velocity: 0.0,
        env: 0.0,
        fade_step: 0.0,
        phase1: 0.0,
        phase2: 0.0,
        ic1: 0.0,
        ic2: 0.0,
        g: 0.0,
        k: 0.0,
    };

    fn sounding(&self) -> bool {
        !matches!(self.stage, Stage::Idle | Stage::Fade)
    }
}

/// Values derived from parameters, recomputed when they change.
#[derive(Clone, Copy, Debug)]
struct Derived {
    shape: f32,
    detune_ratio: f32,
    attack_step: f32,
    decay_coef: f32,
    sustain: f32,
    release_coef: f32,
    level: f32,
    bend_range: f32,
    polyphony: usize,
    cutoff: f32,
    resonance: f32,
}

struct Synth {
    store: Arc<ParamStore>,
    params: [f64; 11],
    d: Derived,
    rate: f32,
    voices: [Voice; SLOTS],
    next_age: u64,
    sustain_pedal: [bool; 16],
    bend: [f32; 16],
}

pub(super) fn make(config: &ProcessConfig, store: Arc<ParamStore>) -> Box<dyn AudioProcessor> {
    let mut s = Synth {
        store,
        params: [0.0; 11],
        d: Derived {
            shape: 0.0,
            detune_ratio: 1.0,
            attack_step: 1.0,
            decay_coef: 0.0,
            sustain: 0.0,
            release_coef: 0.0,
            level: 0.0,
            bend_range: 2.0,
            polyphony: 16,
            cutoff: 1000.0,
            resonance: 0.0,
        },
        rate: config.sample_rate as f32,
        voices: [Voice::IDLE; SLOTS],
        next_age: 0,
        sustain_pedal: [false; 16],
        bend: [0.0; 16],
    };
    s.reload_params();
    Box::new(s)
}

/// Per-sample multiplier that decays by 60 dB (a factor 1000) in `seconds`.
fn decay_coefficient(seconds: f64, rate: f32) -> f32 {
    (-6.907_755 / (seconds.max(1e-4) * f64::from(rate))).exp() as f32
}

impl Synth {
    fn reload_params(&mut self) {
        self.store.take_dirty();
        for (i, p) in self.params.iter_mut().enumerate() {
            *p = self.store.get(i as u32);
        }
        self.derive();
    }

    fn derive(&mut self) {
        let p = &self.params;
        let rate = self.rate;
        self.d = Derived {
            shape: p[SHAPE as usize] as f32,
            detune_ratio: 2f32.powf(p[DETUNE as usize] as f32 / 1200.0),
            attack_step: 1.0 / (p[ATTACK as usize] as f32 * rate).max(1.0),
            decay_coef: decay_coefficient(p[DECAY as usize], rate),
            sustain: p[SUSTAIN as usize] as f32,
            release_coef: decay_coefficient(p[RELEASE as usize], rate),
            level: 10f32.powf(p[LEVEL as usize] as f32 / 20.0),
            bend_range: p[BEND_RANGE as usize] as f32,
            polyphony: (p[POLYPHONY as usize] as usize).clamp(1, MAX_POLYPHONY),
            cutoff: p[CUTOFF as usize] as f32,
            resonance: p[RESONANCE as usize] as f32,
        };
    }

    fn set_param(&mut self, id: u32, value: f64) {
        if let Some(spec) = PARAMS.get(id as usize) {
            let v = spec.clamp(value);
            self.params[id as usize] = v;
            self.store.publish(id, v);
            self.derive();
        }
    }

    fn filter_coefficients(&self, key: u8, velocity: f32) -> (f32, f32) {
        // Key tracking (half) and velocity brightness on the cutoff.
        let track = 2f32.powf((f32::from(key) - 60.0) / 24.0);
        let fc = (self.d.cutoff * track * (0.6 + 0.8 * velocity)).clamp(20.0, 0.45 * self.rate);
        let g = (std::f32::consts::PI * fc / self.rate).tan();
        let k = 2.0 - 2.0 * self.d.resonance;
        (g, k)
    }

    fn note_on(&mut self, channel: u8, key: u8, velocity: f32) {
        // Retrigger the same key on the same channel in place.
        let sounding = self.voices.iter().filter(|v| v.sounding()).count();
        if sounding >= self.d.polyphony {
            if let Some(oldest) = self
                .voices
                .iter_mut()
                .filter(|v| v.sounding())
                .min_by_key(|v| v.age)
            {
                oldest.stage = Stage::Fade;
                oldest.fade_step = oldest.env / (STEAL_FADE_SECONDS * self.rate).max(1.0);
            }
        }
        let slot = match self.voices.iter().position(|v| v.stage == Stage::Idle) {
            Some(i) => i,
            // Every slot busy fading: reuse the quietest fading voice.
            None => self
                .voices
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.env.total_cmp(&b.1.env))
                .map_or(0, |(i, _)| i),
        };
        let (g, k) = self.filter_coefficients(key, velocity);
        self.next_age += 1;
        self.voices[slot] = Voice {
            stage: Stage::Attack,
            channel,
            key,
            sustained: false,
            age: self.next_age,
            velocity,
            env: 0.0,
            fade_step: 0.0,
            phase1: 0.0,
            phase2: 0.25,
            ic1: 0.0,
            ic2: 0.0,
            g,
            k,
        };
    }

    fn note_off(&mut self, channel: u8, key: u8) {
        let pedal = self.sustain_pedal[usize::from(channel & 15)];
        for v in self.voices.iter_mut() {
            if v.sounding() && v.channel == channel && v.key == key && v.stage != Stage::Release {
                if pedal {
                    v.sustained = true;
                } else {
                    v.stage = Stage::Release;
                }
            }
        }
    }

    fn pedal(&mut self, channel: u8, down: bool) {
        self.sustain_pedal[usize::from(channel & 15)] = down;
        if !down {
            for v in self.voices.iter_mut() {
                if v.channel == channel && v.sustained && v.sounding() {
                    v.sustained = false;
                    v.stage = Stage::Release;
                }
            }
        }
    }

    fn all_notes_off(&mut self, channel: u8, immediate: bool) {
        self.sustain_pedal[usize::from(channel & 15)] = false;
        for v in self.voices.iter_mut() {
            if v.channel == channel && v.sounding() {
                v.sustained = false;
                if immediate {
                    v.stage = Stage::Fade;
                    v.fade_step = v.env / (STEAL_FADE_SECONDS * self.rate).max(1.0);
                } else {
                    v.stage = Stage::Release;
                }
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::NoteOn {
                channel,
                key,
                velocity,
                ..
            } => self.note_on(channel & 15, key, velocity),
            Event::NoteOff { channel, key, .. } => self.note_off(channel & 15, key),
            Event::NoteChoke { channel, key, .. } => {
                for v in self.voices.iter_mut() {
                    if v.channel == channel && v.key == key {
                        *v = Voice::IDLE;
                    }
                }
            }
            Event::ControlChange {
                channel,
                controller,
                value,
            } => match controller {
                64 => self.pedal(channel & 15, value >= 64),
                120 => self.all_notes_off(channel & 15, true),
                123 => self.all_notes_off(channel & 15, false),
                _ => {}
            },
            Event::PitchBend { channel, value } => {
                self.bend[usize::from(channel & 15)] = (f32::from(value) - 8192.0) / 8192.0;
            }
            // MPE: a member channel holds one note, so its tuning is that
            // channel's bend (in units of the synth's own bend range).
            Event::NoteExpression {
                channel,
                expression: stagerack_core::midi::Expression::Tuning,
                value,
                ..
            } => {
                let range = self.d.bend_range.max(f32::EPSILON);
                self.bend[usize::from(channel & 15)] = value / range;
            }
            Event::ParamValue { param, value } => self.set_param(param, value),
            _ => {}
        }
    }

    fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        let d = self.d;
        let inv_rate = 1.0 / self.rate;
        for v in self.voices.iter_mut().filter(|v| v.stage != Stage::Idle) {
            let semis = f32::from(v.key) - 69.0 + self.bend[usize::from(v.channel)] * d.bend_range;
            let freq = 440.0 * 2f32.powf(semis / 12.0);
            let inc1 = (freq * inv_rate).min(0.49);
            let inc2 = (freq * d.detune_ratio * inv_rate).min(0.49);
            let amp = d.level * (0.25 + 0.75 * v.velocity * v.velocity);
            let (g, k) = (v.g, v.k);
            let a1 = 1.0 / (1.0 + g * (g + k));
            let a2 = g * a1;
            let a3 = g * a2;
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                // Envelope.
                match v.stage {
                    Stage::Attack => {
                        v.env += d.attack_step;
                        if v.env >= 1.0 {
                            v.env = 1.0;
                            v.stage = Stage::Decay;
                        }
                    }
                    Stage::Decay => {
                        v.env = d.sustain + (v.env - d.sustain) * d.decay_coef;
                        if (v.env - d.sustain).abs() < 1e-4 {
                            v.env = d.sustain;
                            v.stage = Stage::Sustain;
                        }
                    }
                    Stage::Sustain => v.env = d.sustain,
                    Stage::Release => v.env *= d.release_coef,
                    Stage::Fade => v.env = (v.env - v.fade_step).max(0.0),
                    Stage::Idle => {}
                }
                if matches!(v.stage, Stage::Release | Stage::Fade | Stage::Sustain) && v.env < 1e-5
                {
                    *v = Voice::IDLE;
                    break;
                }
                // Oscillators: sine/saw blend, saw band-limited with PolyBLEP.
                let o1 = osc(v.phase1, inc1, d.shape);
                let o2 = osc(v.phase2, inc2, d.shape);
                v.phase1 += inc1;
                if v.phase1 >= 1.0 {
                    v.phase1 -= 1.0;
                }
                v.phase2 += inc2;
                if v.phase2 >= 1.0 {
                    v.phase2 -= 1.0;
                }
                let x = 0.5 * (o1 + o2);
                // TPT state-variable low-pass.
                let v3 = x - v.ic2;
                let v1 = a1 * v.ic1 + a2 * v3;
                let v2 = v.ic2 + a2 * v.ic1 + a3 * v3;
                v.ic1 = 2.0 * v1 - v.ic1;
                v.ic2 = 2.0 * v2 - v.ic2;
                let y = v2 * v.env * amp;
                *l += y;
                *r += y;
            }
        }
    }
}

#[inline]
fn poly_blep(t: f32, dt: f32) -> f32 {
    if t < dt {
        let t = t / dt;
        t + t - t * t - 1.0
    } else if t > 1.0 - dt {
        let t = (t - 1.0) / dt;
        t * t + t + t + 1.0
    } else {
        0.0
    }
}

#[inline]
fn osc(phase: f32, inc: f32, shape: f32) -> f32 {
    let sine = (TAU * phase).sin();
    if shape <= 0.0 {
        return sine;
    }
    let saw = 2.0 * phase - 1.0 - poly_blep(phase, inc);
    sine + (saw - sine) * shape
}

impl AudioProcessor for Synth {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        if self.store.take_dirty() {
            self.reload_params();
        }
        block.left.fill(0.0);
        block.right.fill(0.0);
        let mut pos = 0usize;
        for ev in block.events {
            let at = (ev.offset as usize).min(block.frames);
            if at > pos {
                self.render(&mut block.left[pos..at], &mut block.right[pos..at]);
                pos = at;
            }
            self.handle(ev.event);
        }
        let n = block.frames;
        if n > pos {
            self.render(&mut block.left[pos..n], &mut block.right[pos..n]);
        }
        if self.voices.iter().all(|v| v.stage == Stage::Idle) {
            ProcessStatus::Sleep
        } else {
            ProcessStatus::Continue
        }
    }

    fn reset(&mut self) {
        self.voices = [Voice::IDLE; SLOTS];
        self.sustain_pedal = [false; 16];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stagerack_core::midi::{EventBuffer, TimedEvent};
    use stagerack_core::plugin::Transport;

    fn run(p: &mut dyn AudioProcessor, frames: usize, events: &[TimedEvent]) -> Vec<f32> {
        let mut l = vec![0.0; frames];
        let mut r = vec![0.0; frames];
        let mut out = EventBuffer::with_capacity(16);
        let t = Transport {
            tempo: 120.0,
            playing: true,
            steady_frames: 0,
            sample_rate: 48_000.0,
            wait_until: None,
        };
        p.process(&mut Block {
            frames,
            left: &mut l,
            right: &mut r,
            events,
            out_events: &mut out,
            transport: &t,
        });
        l
    }

    fn synth() -> Box<dyn AudioProcessor> {
        let specs = PARAMS;
        make(
            &ProcessConfig {
                sample_rate: 48_000.0,
                min_block: 1,
                max_block: 4096,
                offline: true,
                aux_outputs: 0,
            },
            Arc::new(ParamStore::new(specs)),
        )
    }

    fn on(offset: u32, key: u8) -> TimedEvent {
        TimedEvent::new(
            offset,
            Event::NoteOn {
                channel: 0,
                key,
                velocity: 0.8,
                note_id: -1,
            },
        )
    }

    #[test]
    fn voice_starts_on_its_exact_sample() {
        let mut s = synth();
        let out = run(s.as_mut(), 256, &[on(100, 60)]);
        assert!(out[..100].iter().all(|&x| x == 0.0));
        assert!(out[100..110].iter().any(|&x| x != 0.0));
    }

    #[test]
    fn stealing_fades_instead_of_clicking() {
        let mut s = synth();
        let events: Vec<_> = (0..16).map(|i| on(0, 40 + i)).collect();
        run(s.as_mut(), 4800, &events);
        // A 17th note steals: the output must not jump by more than the
        // normal per-sample slope of the sounding voices.
        let before = run(s.as_mut(), 64, &[]);
        let after = run(s.as_mut(), 256, &[on(0, 90)]);
        let max_step = after
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        let typical = before
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        assert!(max_step < typical * 2.0 + 0.05, "{max_step} vs {typical}");
    }

    #[test]
    fn sustain_pedal_holds_notes() {
        let mut s = synth();
        let cc = |v| {
            TimedEvent::new(
                0,
                Event::ControlChange {
                    channel: 0,
                    controller: 64,
                    value: v,
                },
            )
        };
        let off = TimedEvent::new(
            0,
            Event::NoteOff {
                channel: 0,
                key: 60,
                velocity: 0.5,
                note_id: -1,
            },
        );
        run(s.as_mut(), 64, &[cc(127), on(1, 60)]);
        run(s.as_mut(), 64, &[off]);
        // Held by the pedal: still at sustain level 2 s later.
        for _ in 0..1500 {
            run(s.as_mut(), 64, &[]);
        }
        let held = run(s.as_mut(), 64, &[]);
        assert!(held.iter().any(|x| x.abs() > 1e-3));
        run(s.as_mut(), 64, &[cc(0)]);
        for _ in 0..1500 {
            run(s.as_mut(), 64, &[]);
        }
        let released = run(s.as_mut(), 64, &[]);
        assert!(released.iter().all(|x| *x == 0.0));
    }
}
