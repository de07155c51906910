//! MIDI from byte streams (midir/ALSA sequencer, serial ports) into the
//! audio callback, for backends whose MIDI does not come with in-cycle
//! frames (everything but JACK):
//!
//! 1. [`MidiParser`] turns a byte stream into complete messages: running
//!    status, SysEx skipped, real-time bytes (clock, start, stop…) passed
//!    through wherever they are interleaved.
//! 2. The MIDI input thread stamps each message on arrival with
//!    [`now_ns`] (one monotonic clock for the whole process) and pushes it
//!    into a preallocated ring ([`midi_ring`]); room is reserved so a full
//!    ring never drops a note-off.
//! 3. The audio callback ([`MidiScheduler::fill`]) estimates when its
//!    buffer started with a delay-locked loop over its own callback times
//!    ([`Dll`]) and places each message at
//!    `offset = (t_event − t_buffer_start + one period) × rate` ("steady":
//!    constant one-period latency, no jitter; `t_buffer_start` is the
//!    filtered start less the callback's largest early jitter seen in the
//!    first 1.5 s, so a buffer's messages have all arrived when its
//!    callback runs; later stragglers are clamped, never reordered) or at offset 0 of the next
//!    buffer ("immediate"). Messages never reorder; late ones are clamped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use stagerack_core::midi::{Event, TimedEvent};

/// A complete short MIDI message (1 to 3 bytes). Any thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShortMessage {
    /// The bytes; only `len` are meaningful.
    pub bytes: [u8; 3],
    /// 1..=3.
    pub len: u8,
}

impl ShortMessage {
    /// The meaningful bytes. Any thread.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// True for messages that end a sound: note-off, note-on with velocity
    /// 0, sustain/sostenuto/soft pedal up, all-sound-off, all-notes-off.
    /// Any thread.
    pub fn releases(&self) -> bool {
        let s = self.bytes[0] & 0xF0;
        match s {
            0x80 => true,
            0x90 => self.len == 3 && self.bytes[2] == 0,
            0xB0 => {
                let (cc, v) = (self.bytes[1], self.bytes[2]);
                matches!(cc, 120 | 123..=127) || (matches!(cc, 64 | 66 | 67) && v < 64)
            }
            _ => false,
        }
    }
}

/// Data bytes a channel-voice status takes.
fn data_len(status: u8) -> usize {
    match status & 0xF0 {
        0xC0 | 0xD0 => 1,
        _ => 2,
    }
}

/// A MIDI byte-stream parser. MIDI input thread; never allocates.
#[derive(Debug, Default)]
pub struct MidiParser {
    running: u8,
    data: [u8; 2],
    have: usize,
    /// Data bytes still to skip for a system-common message.
    skip: usize,
    in_sysex: bool,
}

impl MidiParser {
    /// A parser with no running status. Any thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one byte; returns a message when one is complete. Real-time
    /// bytes come out at once without disturbing a message in progress.
    pub fn push(&mut self, byte: u8) -> Option<ShortMessage> {
        if byte >= 0xF8 {
            // System real-time: one byte, may sit anywhere.
            return Some(ShortMessage {
                bytes: [byte, 0, 0],
                len: 1,
            });
        }
        if byte >= 0x80 {
            self.have = 0;
            self.skip = 0;
            match byte {
                0xF0 => {
                    self.in_sysex = true;
                    self.running = 0;
                }
                0xF7 => {
                    self.in_sysex = false;
                }
                0xF1 | 0xF3 => {
                    self.in_sysex = false;
                    self.running = 0;
                    self.skip = 1;
                }
                0xF2 => {
                    self.in_sysex = false;
                    self.running = 0;
                    self.skip = 2;
                }
                0xF4..=0xF6 => {
                    self.in_sysex = false;
                    self.running = 0;
                }
                _ => {
                    self.in_sysex = false;
                    self.running = byte;
                }
            }
            return None;
        }
        // A data byte.
        if self.in_sysex {
            return None;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        if self.running == 0 {
            return None; // stray data byte
        }
        self.data[self.have] = byte;
        self.have += 1;
        if self.have < data_len(self.running) {
            return None;
        }
        self.have = 0;
        let len = 1 + data_len(self.running);
        Some(ShortMessage {
            bytes: [self.running, self.data[0], self.data[1]],
            len: len as u8,
        })
    }
}

/// Nanoseconds on the process's one monotonic MIDI/audio clock. Any
/// thread; never allocates (after the first call, made by [`midi_ring`]).
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A message stamped with its arrival time ([`now_ns`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// Arrival time, ns.
    pub time_ns: u64,
    /// The message.
    pub message: ShortMessage,
}

/// Counters of a MIDI ring. Any thread.
#[derive(Debug, Default)]
pub struct RingStats {
    /// Messages dropped because the ring was full.
    pub dropped: AtomicU64,
    /// Messages received.
    pub received: AtomicU64,
}

/// The MIDI input thread's end of the ring.
pub struct MidiProducer {
    ring: rtrb::Producer<Stamped>,
    reserve: usize,
    stats: Arc<RingStats>,
}

impl MidiProducer {
    /// Queues a message for the audio thread. Messages that start or change
    /// a sound are refused when fewer than `reserve` slots are left, so
    /// the messages that end a sound always find room. Returns false when
    /// the message was dropped. MIDI input thread; never allocates.
    pub fn push(&mut self, msg: Stamped) -> bool {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let free = self.ring.slots();
        let ok = if msg.message.releases() {
            free > 0
        } else {
            free > self.reserve
        };
        if ok && self.ring.push(msg).is_ok() {
            return true;
        }
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// The counters. Any thread.
    pub fn stats(&self) -> &Arc<RingStats> {
        &self.stats
    }
}

/// Creates the ring between a MIDI input thread and the audio thread:
/// `capacity` messages, of which `reserve` are kept for messages that end
/// a sound. Main thread.
pub fn midi_ring(capacity: usize, reserve: usize) -> (MidiProducer, rtrb::Consumer<Stamped>) {
    now_ns();
    let capacity = capacity.max(reserve + 1);
    let (tx, rx) = rtrb::RingBuffer::new(capacity);
    (
        MidiProducer {
            ring: tx,
            reserve,
            stats: Arc::new(RingStats::default()),
        },
        rx,
    )
}

/// A delay-locked loop estimating a periodic callback's true start times
/// and period from jittery observations (F. Adriaensen, "Using a DLL to
/// filter time", 2005). Audio thread; plain arithmetic.
#[derive(Clone, Copy, Debug)]
pub struct Dll {
    /// Filtered time of the current buffer's start, ns.
    t0: f64,
    /// Predicted start of the next buffer, ns.
    t1: f64,
    /// Filtered period, ns.
    e2: f64,
    b: f64,
    c: f64,
    nominal: f64,
    started: bool,
    /// Callbacks in a row off by more than half a period.
    outliers: u32,
}

impl Dll {
    /// A loop for buffers of `nominal_period_ns`, with bandwidth
    /// `bandwidth_hz` (about 0.1–1 Hz: smooth, yet follows drift).
    pub fn new(nominal_period_ns: f64, bandwidth_hz: f64) -> Self {
        let omega = 2.0 * std::f64::consts::PI * bandwidth_hz * nominal_period_ns * 1e-9;
        Self {
            t0: 0.0,
            t1: 0.0,
            e2: nominal_period_ns,
            b: std::f64::consts::SQRT_2 * omega,
            c: omega * omega,
            nominal: nominal_period_ns,
            started: false,
            outliers: 0,
        }
    }

    /// Restarts the loop at time `now` (first buffer, after an xrun or a
    /// clock jump).
    pub fn reset(&mut self, now: f64) {
        self.t0 = now;
        self.e2 = self.nominal;
        self.t1 = now + self.e2;
        self.started = true;
        self.outliers = 0;
    }

    /// Feeds the time a callback started; returns the filtered start time
    /// of this buffer. The loop is robust to a loaded machine:
    /// - a callback whole periods late (lost buffers, an xrun) moves the
    ///   loop on by those periods;
    /// - a single late or early callback moves it by at most a tenth of a
    ///   period (scheduling spikes do not drag the estimate);
    /// - eight callbacks in a row off by more than half a period, or one a
    ///   period early (the clock jumped back), restart it.
    pub fn update(&mut self, now: f64) -> f64 {
        if !self.started {
            self.reset(now);
            return self.t0;
        }
        let mut e = now - self.t1;
        if e < -self.e2 {
            self.reset(now);
            return self.t0;
        }
        if e > 0.75 * self.e2 {
            let k = (e / self.e2).round();
            if k >= 1.0 && (e - k * self.e2).abs() < 0.25 * self.e2 {
                self.t1 += k * self.e2;
                e -= k * self.e2;
            }
        }
        if e.abs() > 0.5 * self.e2 {
            self.outliers += 1;
            if self.outliers >= 8 {
                self.reset(now);
                return self.t0;
            }
        } else {
            self.outliers = 0;
        }
        let e = e.clamp(-0.1 * self.e2, 0.1 * self.e2);
        self.t0 = self.t1;
        self.t1 += self.b * e + self.e2;
        self.e2 += self.c * e;
        self.t0
    }

    /// The filtered period, ns.
    pub fn period(&self) -> f64 {
        self.e2
    }
}

/// How MIDI from a byte stream is placed in the audio buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MidiTiming {
    /// Constant one-period latency, no jitter (default).
    #[default]
    Steady,
    /// Offset 0 of the next buffer: lowest latency, up to a period of jitter.
    Immediate,
}

/// The audio thread's end of a MIDI ring: decides where each message
/// lands in the buffer. Audio thread; never allocates.
pub struct MidiScheduler {
    ring: rtrb::Consumer<Stamped>,
    dll: Dll,
    timing: MidiTiming,
    rate: f64,
    /// How far before the filtered buffer start a callback has run at
    /// most, ns: messages are placed relative to `start − margin`, so all
    /// of a buffer's messages have arrived when its callback runs. Learnt
    /// during the first [`MARGIN_LEARN_SECONDS`] and then frozen: a
    /// changing margin would be a changing latency, i.e. jitter.
    margin: f64,
    /// Callbacks left in the learning phase.
    learning: u32,
    /// Callbacks left before learning starts: the loop's first moments
    /// (and the driver's own clock settling) are not the callback's
    /// jitter.
    settling: u32,
    /// Nominal period, ns.
    period_ns: f64,
}

/// How long the loop settles before the margin is learnt.
pub const MARGIN_SETTLE_SECONDS: f64 = 0.5;

/// How long the steady-mode safety margin is learnt before it is frozen.
pub const MARGIN_LEARN_SECONDS: f64 = 1.5;

/// A steady-mode message computed to be due this many buffers ahead or
/// more is played at once (see [`MidiScheduler::fill`]): the steady latency
/// is one buffer plus a learnt margin under a quarter buffer, so anything
/// later means the stamp and the buffer clock disagree.
const FAR_AHEAD_BUFFERS: f64 = 3.0;

impl MidiScheduler {
    /// A scheduler for buffers of `nominal_frames` at `rate` Hz. Main thread.
    pub fn new(
        ring: rtrb::Consumer<Stamped>,
        timing: MidiTiming,
        rate: f64,
        nominal_frames: u32,
    ) -> Self {
        let period = f64::from(nominal_frames) / rate * 1e9;
        Self {
            ring,
            dll: Dll::new(period, 0.5),
            timing,
            rate,
            margin: 0.0,
            learning: (MARGIN_LEARN_SECONDS * rate / f64::from(nominal_frames.max(1))) as u32,
            settling: (MARGIN_SETTLE_SECONDS * rate / f64::from(nominal_frames.max(1))) as u32,
            period_ns: period,
        }
    }

    /// The steady-mode latency beyond one period, ns (the callback's
    /// largest early jitter seen while learning). Audio thread.
    pub fn margin_ns(&self) -> f64 {
        self.margin
    }

    /// Moves the messages due in this buffer into `out` (cleared first,
    /// never grown past its capacity; the rest wait). `now_ns`: when this
    /// callback started, on [`now_ns`]'s clock. Returns the number of
    /// messages that did not fit. Pass the driver's own timestamp of the
    /// buffer when it has one (JACK's cycle start, cpal's callback
    /// instant): it is far steadier than the time the callback got to run
    /// on a loaded machine. Audio thread.
    pub fn fill(&mut self, now_ns: u64, frames: u32, out: &mut Vec<TimedEvent>) -> u32 {
        let filtered = self.dll.update(now_ns as f64);
        if self.settling > 0 {
            self.settling -= 1;
        } else if self.learning > 0 {
            self.learning -= 1;
            // A callback more than a quarter period early is the loop
            // restarting (an xrun, a clock jump), not jitter: learning it
            // would add that much latency for the rest of the show.
            let early = filtered - now_ns as f64;
            if early <= 0.25 * self.period_ns {
                self.margin = self.margin.max(early);
            }
        }
        let start = filtered - self.margin;
        // The buffer clock's rate as measured: frames per ns.
        let per_ns = if self.dll.period() > 0.0 {
            f64::from(frames) / self.dll.period()
        } else {
            self.rate * 1e-9
        };
        self.place(now_ns, start, per_ns, frames, out)
    }

    /// [`MidiScheduler::fill`] for a driver that keeps its own filtered
    /// buffer clock (JACK: `jack_get_cycle_times`, the server's
    /// delay-locked loop over the audio interrupts): `start_ns` is when
    /// this buffer's first frame was due and `period_ns` the current period,
    /// both on [`now_ns`]'s clock. The messages stamped against the same
    /// clock land exactly one period later, however late this callback got
    /// to run. Audio thread.
    pub fn fill_driver_clock(
        &mut self,
        start_ns: u64,
        period_ns: f64,
        frames: u32,
        out: &mut Vec<TimedEvent>,
    ) -> u32 {
        let per_ns = if period_ns > 0.0 {
            f64::from(frames) / period_ns
        } else {
            self.rate * 1e-9
        };
        self.place(start_ns, start_ns as f64, per_ns, frames, out)
    }

    /// Places the due messages of a buffer starting at `start` (ns) with
    /// `per_ns` frames per ns. Audio thread.
    fn place(
        &mut self,
        now_ns: u64,
        start: f64,
        per_ns: f64,
        frames: u32,
        out: &mut Vec<TimedEvent>,
    ) -> u32 {
        out.clear();
        let mut last = 0u32;
        let mut overflow = 0;
        while let Ok(msg) = self.ring.peek() {
            let offset = match self.timing {
                MidiTiming::Immediate => {
                    if msg.time_ns as f64 > now_ns as f64 {
                        break;
                    }
                    0.0
                }
                MidiTiming::Steady => {
                    let o = (msg.time_ns as f64 - start) * per_ns + f64::from(frames);
                    if o >= f64::from(frames) * FAR_AHEAD_BUFFERS {
                        // Due more than two buffers from now: no stamp on
                        // this buffer's clock is, so the clock and the stamp
                        // disagree (the driver's clock restarted after an
                        // xrun, or a bad stamp). Holding it would hold every
                        // message behind it until that time: play it now.
                        0.0
                    } else if o >= f64::from(frames) {
                        break; // arrived during this buffer: due in the next one
                    } else {
                        o
                    }
                }
            };
            // Late ones clamped to 0; never before the previous message.
            let offset = (offset.max(0.0).floor() as u32).max(last);
            let Ok(msg) = self.ring.pop() else { break };
            if let Some(event) = Event::from_midi(msg.message.as_slice()) {
                if out.len() < out.capacity() {
                    out.push(TimedEvent::new(offset, event));
                    last = offset;
                } else {
                    overflow += 1;
                }
            }
        }
        overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut p = MidiParser::new();
        bytes
            .iter()
            .filter_map(|b| p.push(*b))
            .map(|m| m.as_slice().to_vec())
            .collect()
    }

    #[test]
    fn parser_handles_running_status() {
        assert_eq!(
            parse(&[0x90, 60, 100, 62, 90, 64, 0]),
            vec![vec![0x90, 60, 100], vec![0x90, 62, 90], vec![0x90, 64, 0]]
        );
        assert_eq!(
            parse(&[0xC1, 5, 6, 0xD2, 7]),
            vec![vec![0xC1, 5], vec![0xC1, 6], vec![0xD2, 7]]
        );
    }

    #[test]
    fn parser_skips_sysex_and_system_common() {
        assert_eq!(
            parse(&[0xF0, 0x7E, 0x10, 0x90, 0xF7, 0x80, 60, 0]),
            vec![vec![0x80, 60, 0]]
        );
        // Data after SysEx without a new status: running status was cleared.
        assert_eq!(
            parse(&[0x90, 1, 2, 0xF0, 5, 0xF7, 3, 4]),
            vec![vec![0x90, 1, 2]]
        );
        // Song position (2 data bytes) and MTC quarter frame (1) are skipped.
        assert_eq!(
            parse(&[0xF2, 1, 2, 0xF1, 3, 0xB0, 7, 100]),
            vec![vec![0xB0, 7, 100]]
        );
    }

    #[test]
    fn parser_passes_interleaved_realtime_bytes() {
        assert_eq!(
            parse(&[0x90, 0xF8, 60, 0xFA, 100, 61, 0xFE, 101]),
            vec![
                vec![0xF8],
                vec![0xFA],
                vec![0x90, 60, 100],
                vec![0xFE],
                vec![0x90, 61, 101]
            ]
        );
        // Real-time inside SysEx does not end it.
        assert_eq!(parse(&[0xF0, 1, 0xF8, 2, 0xF7]), vec![vec![0xF8]]);
    }

    #[test]
    fn parser_ignores_stray_data() {
        assert_eq!(parse(&[1, 2, 3, 0x80, 1, 2]), vec![vec![0x80, 1, 2]]);
    }

    fn msg(bytes: [u8; 3]) -> ShortMessage {
        ShortMessage { bytes, len: 3 }
    }

    #[test]
    fn full_ring_keeps_room_for_note_offs() {
        let (mut tx, mut rx) = midi_ring(8, 3);
        let on = |t| Stamped {
            time_ns: t,
            message: msg([0x90, 60, 100]),
        };
        let off = |t| Stamped {
            time_ns: t,
            message: msg([0x80, 60, 0]),
        };
        let mut accepted = 0;
        for t in 0..20 {
            if tx.push(on(t)) {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 5, "note-ons stop at the reserve");
        for t in 0..3 {
            assert!(tx.push(off(100 + t)), "note-off {t} finds room");
        }
        assert!(!tx.push(off(200)), "the ring is now truly full");
        assert_eq!(tx.stats().dropped.load(Ordering::Relaxed), 16);
        assert_eq!(rx.slots(), 8);
        while rx.pop().is_ok() {}
        assert!(tx.push(on(300)));
    }

    #[test]
    fn releases_are_recognised() {
        assert!(msg([0x80, 1, 2]).releases());
        assert!(msg([0x93, 1, 0]).releases());
        assert!(!msg([0x93, 1, 1]).releases());
        assert!(msg([0xB0, 64, 0]).releases());
        assert!(!msg([0xB0, 64, 127]).releases());
        assert!(msg([0xB5, 123, 0]).releases());
        assert!(!msg([0xB0, 7, 0]).releases());
    }

    /// A simulated audio callback clock: period `frames / rate × drift`,
    /// callbacks jittered by a deterministic pseudo-random amount.
    struct SimClock {
        t: f64,
        period: f64,
        seed: u64,
        jitter_ns: f64,
    }

    impl SimClock {
        fn new(frames: u32, rate: f64, drift: f64, jitter_ns: f64) -> Self {
            Self {
                t: 1e9,
                period: f64::from(frames) / rate * 1e9 * drift,
                seed: 12345,
                jitter_ns,
            }
        }
        fn rand(&mut self) -> f64 {
            self.seed = self
                .seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.seed >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        }
        /// The true start of the next buffer and the (jittered) time its
        /// callback runs.
        fn next(&mut self) -> (f64, f64) {
            let start = self.t;
            self.t += self.period;
            let j = self.rand().abs() * self.jitter_ns;
            (start, start + j)
        }
    }

    #[test]
    fn dll_tracks_drift_and_filters_jitter() {
        let frames = 64;
        let rate = 48_000.0;
        for drift in [1.0, 1.0002, 0.9997] {
            let mut clock = SimClock::new(frames, rate, drift, 300_000.0);
            let mut dll = Dll::new(f64::from(frames) / rate * 1e9, 0.5);
            let mut worst_late = 0.0f64;
            let mut errs = Vec::new();
            for i in 0..20_000 {
                let (start, cb) = clock.next();
                let est = dll.update(cb);
                if i > 5_000 {
                    errs.push(est - start);
                    worst_late = worst_late.max((dll.period() - clock.period).abs());
                }
            }
            let mean = errs.iter().sum::<f64>() / errs.len() as f64;
            let spread = errs.iter().map(|e| (e - mean).abs()).fold(0.0f64, f64::max);
            let frame_ns = 1e9 / rate;
            // The estimate sits at a constant offset (mean jitter) with a
            // spread far below the raw 300 µs (14 frames) of jitter.
            assert!(spread < 2.0 * frame_ns, "drift {drift}: spread {spread} ns");
            // The period estimate follows the drift to 1e-4 of a period.
            assert!(
                worst_late < 1e-4 * clock.period,
                "drift {drift}: period error {worst_late} ns"
            );
        }
    }

    #[test]
    fn dll_skips_lost_buffers_ignores_spikes_and_restarts_on_jumps() {
        let period = 64.0 / 48_000.0 * 1e9;
        let mut dll = Dll::new(period, 0.5);
        let mut t = 0.0;
        for _ in 0..100 {
            t += period;
            dll.update(t);
        }
        // Xrun: three buffers lost; the loop moves on by whole periods.
        t += 4.0 * period;
        assert!((dll.update(t) - t).abs() < 1.0);
        // A callback 0.6 period late (a scheduling spike) barely moves it.
        t += period;
        let est = dll.update(t + 0.6 * period);
        assert!((est - t).abs() < 0.11 * period, "{}", est - t);
        for _ in 0..200 {
            t += period;
            dll.update(t);
        }
        assert!((dll.update(t + period) - (t + period)).abs() < 0.01 * period);
        t += period;
        // The clock jumps back by a second: restart at once.
        t -= 1e9;
        assert_eq!(dll.update(t), t);
        t += period;
        assert!((dll.update(t) - t).abs() < 1.0);
        // The clock jumps ahead by 10.3 periods: eight outliers, then restart.
        t += 10.3 * period;
        let mut last = 0.0;
        for _ in 0..8 {
            last = dll.update(t);
            t += period;
        }
        assert_eq!(last, t - period);
    }

    /// Runs a scheduler against a simulated clock with one note per
    /// `every` ns; returns (arrival ns, absolute frame it was placed at).
    fn simulate(
        timing: MidiTiming,
        drift: f64,
        jitter_ns: f64,
        xrun_at: Option<usize>,
    ) -> Vec<(f64, f64)> {
        let frames = 64u32;
        let rate = 48_000.0;
        let (mut tx, rx) = midi_ring(1024, 16);
        let mut sched = MidiScheduler::new(rx, timing, rate, frames);
        let mut clock = SimClock::new(frames, rate, drift, jitter_ns);
        let mut out = Vec::with_capacity(256);
        let mut placed = Vec::new();
        let mut pending = std::collections::VecDeque::new();
        let mut next_note = 1.0e9 + 3.1e6;
        let mut frame_pos = 0u64;
        for i in 0..6_000 {
            let (start, cb) = clock.next();
            if Some(i) == xrun_at {
                // The callback is lost: its frames are skipped.
                frame_pos += u64::from(frames);
                continue;
            }
            // Notes that arrived before this callback ran.
            while next_note < cb {
                let t = next_note as u64;
                assert!(tx.push(Stamped {
                    time_ns: t,
                    message: msg([0x90, 60, 100]),
                }));
                pending.push_back(next_note);
                next_note += 2.77e6;
            }
            sched.fill(cb as u64, frames, &mut out);
            let mut last = 0;
            for e in &out {
                assert!(e.offset >= last, "events never reorder");
                last = e.offset;
                let arrival = pending.pop_front().expect("placed note was sent");
                placed.push((arrival, (frame_pos + u64::from(e.offset)) as f64));
            }
            let _ = start;
            frame_pos += u64::from(frames);
        }
        placed
    }

    /// The placement error of each note relative to a constant latency
    /// (its median), in frames, after the loop settled.
    fn jitter_frames(placed: &[(f64, f64)], rate: f64) -> f64 {
        let settled: Vec<f64> = placed
            .iter()
            .skip(placed.len() / 4)
            .map(|(arrival, frame)| frame - (arrival - 1e9) * 1e-9 * rate)
            .collect();
        let mut sorted = settled.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        settled
            .iter()
            .map(|d| (d - median).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn steady_mode_has_constant_latency_and_no_jitter() {
        for drift in [1.0, 1.0001] {
            let placed = simulate(MidiTiming::Steady, drift, 200_000.0, None);
            assert!(placed.len() > 2_000);
            let j = jitter_frames(&placed, 48_000.0 / drift);
            assert!(j <= 2.0, "drift {drift}: jitter {j} frames");
        }
    }

    #[test]
    fn immediate_mode_jitters_up_to_a_period() {
        let placed = simulate(MidiTiming::Immediate, 1.0, 200_000.0, None);
        let j = jitter_frames(&placed, 48_000.0);
        assert!(j > 8.0 && j <= 64.0 + 10.0, "jitter {j} frames");
    }

    #[test]
    fn steady_mode_survives_an_xrun() {
        let placed = simulate(MidiTiming::Steady, 1.0, 100_000.0, Some(3_000));
        // Every note is placed, in order.
        assert!(placed.windows(2).all(|w| w[0].1 <= w[1].1));
        let after: Vec<(f64, f64)> = placed
            .iter()
            .copied()
            .filter(|(a, _)| *a > 1e9 + 3_600.0 * 64.0 / 48_000.0 * 1e9)
            .collect();
        assert!(jitter_frames(&after, 48_000.0) <= 2.0);
    }

    #[test]
    fn a_stamp_far_ahead_of_the_buffer_clock_never_holds_the_queue() {
        let (mut tx, rx) = midi_ring(64, 4);
        let mut sched = MidiScheduler::new(rx, MidiTiming::Steady, 48_000.0, 64);
        let period = 64.0 / 48_000.0 * 1e9;
        let start = 1_000_000_000u64;
        let mut out = Vec::with_capacity(16);
        // A note stamped a second ahead (the driver's clock restarted),
        // then one stamped 10 frames into the buffer before this one.
        tx.push(Stamped {
            time_ns: start + 1_000_000_000,
            message: msg([0x90, 60, 100]),
        });
        tx.push(Stamped {
            time_ns: start - period as u64 + (10.5 / 48_000.0 * 1e9) as u64,
            message: msg([0x90, 62, 100]),
        });
        sched.fill_driver_clock(start, period, 64, &mut out);
        let placed: Vec<(u32, u8)> = out
            .iter()
            .map(|e| match e.event {
                Event::NoteOn { key, .. } => (e.offset, key),
                _ => (99, 0),
            })
            .collect();
        // The stray note plays at once; the next keeps its exact frame.
        assert_eq!(placed, vec![(0, 60), (10, 62)]);
        // A note due in the next buffer still waits for it.
        tx.push(Stamped {
            time_ns: start + (5.5 / 48_000.0 * 1e9) as u64,
            message: msg([0x90, 64, 100]),
        });
        sched.fill_driver_clock(start, period, 64, &mut out);
        assert!(out.is_empty());
        sched.fill_driver_clock(start + period as u64, period, 64, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].offset, 5);
    }

    #[test]
    fn late_events_are_clamped_in_order() {
        let (mut tx, rx) = midi_ring(64, 4);
        let mut sched = MidiScheduler::new(rx, MidiTiming::Steady, 48_000.0, 64);
        let period = 64.0 / 48_000.0 * 1e9;
        let mut out = Vec::with_capacity(16);
        sched.fill(1_000_000_000, 64, &mut out);
        // Three notes that arrived long ago (the input thread stalled).
        for (i, key) in [60u8, 62, 64].into_iter().enumerate() {
            tx.push(Stamped {
                time_ns: 900_000_000 + i as u64,
                message: msg([0x90, key, 100]),
            });
        }
        sched.fill(1_000_000_000 + period as u64, 64, &mut out);
        let keys: Vec<(u32, u8)> = out
            .iter()
            .map(|e| match e.event {
                Event::NoteOn { key, .. } => (e.offset, key),
                _ => (99, 0),
            })
            .collect();
        assert_eq!(keys, vec![(0, 60), (0, 62), (0, 64)]);
    }
}
