//! Meters and counters the audio thread writes and anyone reads: atomics
//! only, no callbacks from the audio thread.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// The keys held on the MIDI input (any channel), for the window's keyboard
/// strip: a bit per key, set by note-on and cleared by note-off; a key
/// struck and released between two readings still shows once.
#[derive(Debug, Default)]
pub struct KeyLights {
    held: [AtomicU64; 2],
    struck: [AtomicU64; 2],
}

impl KeyLights {
    fn bit(key: u8) -> (usize, u64) {
        (usize::from((key >> 6) & 1), 1u64 << (key & 63))
    }

    /// A key went down. Audio thread.
    #[inline]
    pub fn press(&self, key: u8) {
        let (i, b) = Self::bit(key);
        self.held[i].fetch_or(b, Ordering::Relaxed);
        self.struck[i].fetch_or(b, Ordering::Relaxed);
    }

    /// A key came up. Audio thread.
    #[inline]
    pub fn release(&self, key: u8) {
        let (i, b) = Self::bit(key);
        self.held[i].fetch_and(!b, Ordering::Relaxed);
    }

    /// Every key up (panic, all notes off). Audio thread.
    #[inline]
    pub fn release_all(&self) {
        for h in &self.held {
            h.store(0, Ordering::Relaxed);
        }
    }

    /// The keys to light: held now, or struck since the last call (bit k of
    /// word k / 64). Main thread.
    pub fn take(&self) -> [u64; 2] {
        [0, 1].map(|i| {
            self.held[i].load(Ordering::Relaxed) | self.struck[i].swap(0, Ordering::Relaxed)
        })
    }
}

/// A peak meter: the audio thread raises it, the reader takes and resets it.
#[derive(Debug, Default)]
pub struct PeakMeter(AtomicU32);

impl PeakMeter {
    /// Raises the held peak to `value` if higher. Audio thread.
    #[inline]
    pub fn raise(&self, value: f32) {
        // Non-negative f32 order equals their bit patterns' order.
        let v = if value.is_finite() {
            value.abs()
        } else {
            f32::MAX
        };
        self.0.fetch_max(v.to_bits(), Ordering::Relaxed);
    }

    /// Returns the peak since the last take, and resets it. Main thread.
    pub fn take(&self) -> f32 {
        f32::from_bits(self.0.swap(0, Ordering::Relaxed))
    }
}

/// Engine-wide meters and counters. Any thread.
#[derive(Debug, Default)]
pub struct EngineShared {
    /// Output peak, left.
    pub peak_left: PeakMeter,
    /// Output peak, right.
    pub peak_right: PeakMeter,
    /// Buffers processed.
    pub buffers: AtomicU64,
    /// Frames processed.
    pub frames: AtomicU64,
    /// Callbacks that panicked (silenced and skipped).
    pub panics: AtomicU64,
    /// Plans swapped in.
    pub plans_swapped: AtomicU64,
    /// Plans that could not go home (return queue full) and were held back.
    pub retire_stalls: AtomicU64,
    /// Slots of a new plan whose running processor was not in the old plan.
    pub missing_processors: AtomicU64,
    /// Events lost because a per-buffer event list was full.
    pub events_dropped: AtomicU64,
    /// DSP load of the last buffer, f32 bits (1.0 = the whole period).
    dsp_load: AtomicU32,
    /// Highest DSP load since the last take, f32 bits.
    dsp_peak: AtomicU32,
    /// Sum of DSP loads (×1e6) and count since the last take, for averages.
    dsp_sum_micro: AtomicU64,
    dsp_count: AtomicU64,
    /// Buffers whose DSP load exceeded 1.0.
    pub overloads: AtomicU64,
    /// Buffers by DSP load in 1 % steps (the last: 127 % and over), since
    /// the engine started: medians and percentiles for benchmarks and
    /// status readers, who compare two readings.
    load_histogram: LoadHistogram,
    /// Threads that run racks (the callback thread counted), set when the
    /// engine is made.
    pub(crate) threads: AtomicU32,
    /// Each rack thread's highest load since the last take, f32 bits
    /// (index 0: the callback thread; time in jobs over the period).
    thread_peaks: [AtomicU32; super::workers::METERED_THREADS],
    /// A worker thread could not get the callback thread's real-time
    /// priority (reported once by the main thread).
    pub worker_priority_refused: std::sync::atomic::AtomicBool,
    /// Driver xruns (buffers the driver lost or delivered late), counted by
    /// the live backends.
    pub xruns: AtomicU64,
    /// MIDI messages received by the live backends (decoded or not).
    pub midi_events: AtomicU64,
    /// The external MIDI clock's tempo (f64 bits), 0 while no clock runs.
    pub clock_tempo: AtomicU64,
    /// The processor (id) that took the most time in the latest overloaded
    /// buffer, 0 for none; with its nanoseconds and the period's.
    pub overload_culprit: AtomicU64,
    /// See `overload_culprit`.
    pub overload_culprit_ns: AtomicU64,
    /// See `overload_culprit`.
    pub overload_period_ns: AtomicU64,
    /// The master safety limiter is switched off (non-finite samples are
    /// still zeroed). Off only on request: it protects ears and monitors.
    pub safety_limiter_off: std::sync::atomic::AtomicBool,
    /// Frames the master safety limiter had to turn down.
    pub limited_frames: AtomicU64,
    /// Driver channels the current plan's outputs reach (2 for a plan
    /// without `[[output]]`), set when a plan is swapped in: how many
    /// channels an offline render writes.
    pub output_channels: AtomicU32,
    /// Set by the main thread: all notes off and every processor reset at
    /// the next buffer.
    pub panic_request: std::sync::atomic::AtomicBool,
    /// The last controller received: (count << 16) | (channel << 8) | cc.
    last_controller: AtomicU64,
    /// The setlist entry (group) new notes go to.
    pub current_group: AtomicU32,
    /// The current group as `(regroup epoch << 32) | group`: which
    /// numbering of the groups `group` is in (see
    /// [`PlanBuilder::regroup`](crate::PlanBuilder::regroup)), read in one
    /// load. Written by the audio thread, read on any thread.
    pub current_group_epoch: AtomicU64,
    /// Keys held on the MIDI input.
    pub keys: KeyLights,
    /// Buffers in which the current group changed.
    pub switches: AtomicU64,
    /// The controller that scrolls the song notes (a setlist's
    /// `notes_cc`), plus one; 0: none. Set by the main thread.
    pub notes_cc: AtomicU32,
    /// That controller's last value and how often it came:
    /// (count << 8) | value. Written by the audio thread.
    notes_scroll: AtomicU32,
}

/// Steps of [`EngineShared::load_histogram`].
pub const LOAD_BUCKETS: usize = 128;

/// Buffer counts by DSP load (see [`EngineShared::load_histogram`]).
#[derive(Debug)]
struct LoadHistogram([AtomicU32; LOAD_BUCKETS]);

impl Default for LoadHistogram {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU32::new(0)))
    }
}

/// A reading of the shared counters, taken on the main thread.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatusSnapshot {
    /// Buffers processed so far.
    pub buffers: u64,
    /// Callbacks that panicked.
    pub panics: u64,
    /// Buffers over budget.
    pub overloads: u64,
    /// Average DSP load since the last snapshot.
    pub dsp_average: f32,
    /// Highest DSP load since the last snapshot.
    pub dsp_peak: f32,
    /// Output peak since the last snapshot (max of both channels).
    pub output_peak: f32,
    /// Driver xruns so far.
    pub xruns: u64,
    /// MIDI messages received so far.
    pub midi_events: u64,
    /// Threads that run racks (the callback thread counted).
    pub threads: usize,
    /// Each rack thread's highest load since the last snapshot (the first
    /// `threads` are meaningful; index 0 is the callback thread).
    pub thread_peaks: [f32; super::workers::METERED_THREADS],
}

impl StatusSnapshot {
    /// The per-thread peak loads in use. Any thread.
    pub fn thread_loads(&self) -> &[f32] {
        &self.thread_peaks[..self.threads.clamp(1, self.thread_peaks.len())]
    }
}

impl EngineShared {
    /// Names the processor behind an overload. Audio thread.
    pub(crate) fn record_culprit(&self, id: u64, ns: u64, period_ns: u64) {
        self.overload_culprit_ns.store(ns, Ordering::Relaxed);
        self.overload_period_ns.store(period_ns, Ordering::Relaxed);
        self.overload_culprit.store(id, Ordering::Release);
    }

    /// The processor id behind the latest overload not yet taken, with its
    /// time and the period, ns. Main thread.
    pub fn take_culprit(&self) -> Option<(u64, u64, u64)> {
        match self.overload_culprit.swap(0, Ordering::Acquire) {
            0 => None,
            id => Some((
                id,
                self.overload_culprit_ns.load(Ordering::Relaxed),
                self.overload_period_ns.load(Ordering::Relaxed),
            )),
        }
    }

    /// The external MIDI clock's tempo in BPM while one runs. Any thread.
    pub fn clock_bpm(&self) -> Option<f64> {
        match self.clock_tempo.load(Ordering::Relaxed) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    /// Notes a received controller (for MIDI learn). Audio thread.
    #[inline]
    pub fn record_controller(&self, channel: u8, controller: u8) {
        let count = (self.last_controller.load(Ordering::Relaxed) >> 16) + 1;
        self.last_controller.store(
            (count << 16) | (u64::from(channel & 15) << 8) | u64::from(controller & 127),
            Ordering::Relaxed,
        );
    }

    /// Notes the song-notes controller's value when `controller` is it.
    /// Audio thread.
    #[inline]
    pub fn record_notes_scroll(&self, controller: u8, value: u8) {
        if self.notes_cc.load(Ordering::Relaxed) == u32::from(controller) + 1 {
            let count = (self.notes_scroll.load(Ordering::Relaxed) >> 8).wrapping_add(1);
            self.notes_scroll
                .store((count << 8) | u32::from(value & 127), Ordering::Relaxed);
        }
    }

    /// How often the song-notes controller came, and its last value
    /// (0..=127). Any thread.
    pub fn notes_scroll(&self) -> (u32, u8) {
        let v = self.notes_scroll.load(Ordering::Relaxed);
        (v >> 8, (v & 127) as u8)
    }

    /// How many controllers were received so far, and the last one as
    /// (channel 0-based, controller). Any thread.
    pub fn last_controller(&self) -> (u64, u8, u8) {
        let v = self.last_controller.load(Ordering::Relaxed);
        (v >> 16, ((v >> 8) & 15) as u8, (v & 127) as u8)
    }

    /// Buffers by DSP load so far, in 1 % steps (index 127: 127 % and
    /// over). Any thread.
    pub fn load_histogram(&self) -> Vec<u32> {
        self.load_histogram
            .0
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// Records one buffer's DSP load. Audio thread.
    #[inline]
    pub fn record_load(&self, load: f32) {
        let bucket = ((load.max(0.0) * 100.0) as usize).min(LOAD_BUCKETS - 1);
        self.load_histogram.0[bucket].fetch_add(1, Ordering::Relaxed);
        self.dsp_load.store(load.to_bits(), Ordering::Relaxed);
        self.dsp_peak
            .fetch_max(load.max(0.0).to_bits(), Ordering::Relaxed);
        self.dsp_sum_micro
            .fetch_add((load.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.dsp_count.fetch_add(1, Ordering::Relaxed);
        if load > 1.0 {
            self.overloads.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records rack thread `i`'s load in one buffer. Audio thread.
    #[inline]
    pub(crate) fn record_thread_load(&self, i: usize, load: f32) {
        if let Some(peak) = self.thread_peaks.get(i) {
            // Non-negative floats order like their bits.
            peak.fetch_max(load.max(0.0).to_bits(), Ordering::Relaxed);
        }
    }

    /// The last buffer's DSP load. Any thread.
    pub fn dsp_load(&self) -> f32 {
        f32::from_bits(self.dsp_load.load(Ordering::Relaxed))
    }

    /// Reads and resets the peak/average meters. Main thread.
    pub fn snapshot(&self) -> StatusSnapshot {
        let sum = self.dsp_sum_micro.swap(0, Ordering::Relaxed);
        let n = self.dsp_count.swap(0, Ordering::Relaxed);
        StatusSnapshot {
            buffers: self.buffers.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            overloads: self.overloads.load(Ordering::Relaxed),
            dsp_average: if n == 0 {
                0.0
            } else {
                (sum as f64 / n as f64 / 1e6) as f32
            },
            dsp_peak: f32::from_bits(self.dsp_peak.swap(0, Ordering::Relaxed)),
            output_peak: self.peak_left.take().max(self.peak_right.take()),
            xruns: self.xruns.load(Ordering::Relaxed),
            midi_events: self.midi_events.load(Ordering::Relaxed),
            threads: self.threads.load(Ordering::Relaxed).max(1) as usize,
            thread_peaks: std::array::from_fn(|i| {
                f32::from_bits(self.thread_peaks[i].swap(0, Ordering::Relaxed))
            }),
        }
    }
}

/// One rack's meters, shared between its plan and the main-thread model.
#[derive(Debug, Default)]
pub struct RackStatus {
    /// Rack output peak, left (after rack gain).
    pub peak_left: PeakMeter,
    /// Rack output peak, right.
    pub peak_right: PeakMeter,
    /// Notes routed into the rack.
    pub notes: AtomicU64,
    /// Muted because a plugin in it produced NaN, infinite or runaway
    /// output; cleared when its chain is edited. Audio thread sets it.
    pub fault_muted: AtomicBool,
    /// The fault was sustained DC (a full-scale offset for half a second).
    pub dc_fault: AtomicBool,
    /// Chunks in which every plugin of the rack slept: no job was
    /// dispatched for it.
    pub asleep_blocks: AtomicU64,
    /// The current page of its remote-controls knobs (see
    /// [`RemotePaging`](crate::RemotePaging)): turned by the audio thread,
    /// set and shown by the main thread.
    pub remote_page: std::sync::atomic::AtomicU8,
}

#[cfg(test)]
mod tests {
    use super::KeyLights;

    #[test]
    fn keys_light_while_held_and_once_when_struck_between_readings() {
        let k = KeyLights::default();
        k.press(60);
        k.press(127);
        assert_eq!(k.take(), [1 << 60, 1 << 63]);
        k.release(127);
        assert_eq!(k.take(), [1 << 60, 0], "60 still held");
        // Struck and released before the window looked: shown once.
        k.press(0);
        k.release(0);
        assert_eq!(k.take(), [1 << 60 | 1, 0]);
        assert_eq!(k.take(), [1 << 60, 0]);
        k.release_all();
        assert_eq!(k.take(), [0, 0]);
    }
}
