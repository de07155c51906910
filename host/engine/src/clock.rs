//! Following an external MIDI clock (a drum machine, a sequencer, the
//! band's laptop): 24 clock ticks per quarter note set the tempo every
//! plugin's transport shows, start/stop/continue its play state. While
//! ticks arrive the clock overrides the presets' tempos; half a second
//! without one and the presets' own tempos come back.
//!
//! Written here rather than taken from a crate: it runs on the audio thread
//! on sample positions (not arrival times), in fixed memory. Audio thread.

/// Clock ticks per quarter note (MIDI standard).
pub const TICKS_PER_BEAT: usize = 24;

/// Seconds without a tick after which the clock counts as gone.
pub const CLOCK_TIMEOUT_SECONDS: f64 = 0.5;

/// Intervals needed before the tempo is trusted (a quarter of a beat).
const MIN_INTERVALS: usize = 6;

/// Tempos outside this range are noise, not a clock.
const TEMPO_RANGE: std::ops::RangeInclusive<f64> = 20.0..=400.0;

/// The clock follower. Audio thread; fixed size, never allocates.
#[derive(Clone, Debug)]
pub struct MidiClock {
    /// Frame positions of the latest ticks, oldest first once full (a ring
    /// of one beat plus one).
    ticks: [u64; TICKS_PER_BEAT + 1],
    /// Ticks in the ring.
    len: usize,
    /// Next slot to write.
    head: usize,
    rate: f64,
    /// Transport rolling (start/continue seen after a stop).
    playing: bool,
}

impl MidiClock {
    /// A follower for a stream at `rate` frames per second.
    pub fn new(rate: f64) -> Self {
        Self {
            ticks: [0; TICKS_PER_BEAT + 1],
            len: 0,
            head: 0,
            rate,
            playing: true,
        }
    }

    /// Takes a real-time byte (`status`) that arrived at frame `at` (on
    /// the engine's steady frame count). Other bytes are ignored.
    pub fn receive(&mut self, status: u8, at: u64) {
        match status {
            0xF8 => {
                if let Some(last) = self.newest() {
                    if at < last {
                        // Out of order (cannot happen with sorted events):
                        // start the estimate again.
                        self.len = 0;
                    }
                }
                self.ticks[self.head] = at;
                self.head = (self.head + 1) % self.ticks.len();
                self.len = (self.len + 1).min(self.ticks.len());
            }
            0xFA => {
                // Start: from the top, the tempo estimate carries on.
                self.playing = true;
            }
            0xFB => self.playing = true,
            0xFC => self.playing = false,
            _ => {}
        }
    }

    /// Forgets the clock if no tick came for [`CLOCK_TIMEOUT_SECONDS`]
    /// before frame `now`.
    pub fn expire(&mut self, now: u64) {
        if let Some(last) = self.newest() {
            if now.saturating_sub(last) as f64 > CLOCK_TIMEOUT_SECONDS * self.rate {
                self.len = 0;
                self.playing = true;
            }
        }
    }

    fn newest(&self) -> Option<u64> {
        (self.len > 0).then(|| self.ticks[(self.head + self.ticks.len() - 1) % self.ticks.len()])
    }

    fn oldest(&self) -> Option<u64> {
        (self.len > 0).then(|| {
            let start = (self.head + self.ticks.len() - self.len) % self.ticks.len();
            self.ticks[start]
        })
    }

    /// The clock's tempo in BPM, averaged over the last beat, once there
    /// are enough ticks; None without a clock.
    pub fn tempo(&self) -> Option<f64> {
        let intervals = self.len.checked_sub(1)?;
        if intervals < MIN_INTERVALS {
            return None;
        }
        let span = (self.newest()? - self.oldest()?) as f64;
        if span <= 0.0 {
            return None;
        }
        let bpm = 60.0 * self.rate * intervals as f64 / (TICKS_PER_BEAT as f64 * span);
        TEMPO_RANGE.contains(&bpm).then_some(bpm)
    }

    /// False after a stop message (until start or continue) while a clock
    /// is present; true otherwise.
    pub fn playing(&self) -> bool {
        self.playing || self.tempo().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48_000.0;

    fn ticks(clock: &mut MidiClock, bpm: f64, from: f64, n: usize, jitter: f64) -> f64 {
        let step = 60.0 * RATE / (bpm * TICKS_PER_BEAT as f64);
        let mut t = from;
        for i in 0..n {
            let j = if i % 2 == 0 { jitter } else { -jitter };
            clock.receive(0xF8, (t + j).max(0.0) as u64);
            t += step;
        }
        t
    }

    #[test]
    fn tempo_follows_the_clock_and_averages_out_jitter() {
        let mut c = MidiClock::new(RATE);
        assert_eq!(c.tempo(), None);
        let t = ticks(&mut c, 140.0, 1000.0, 3, 0.0);
        assert_eq!(c.tempo(), None, "too few ticks to trust");
        // ±1 ms of jitter on every tick.
        ticks(&mut c, 140.0, t, 48, 48.0);
        let bpm = c.tempo().unwrap();
        assert!((bpm - 140.0).abs() < 0.1, "{bpm}");
    }

    #[test]
    fn a_tempo_change_is_followed_within_a_beat() {
        let mut c = MidiClock::new(RATE);
        let t = ticks(&mut c, 100.0, 0.0, 48, 0.0);
        ticks(&mut c, 150.0, t, 25, 0.0);
        assert!((c.tempo().unwrap() - 150.0).abs() < 0.01);
    }

    #[test]
    fn the_clock_times_out_and_stop_start_set_the_play_state() {
        let mut c = MidiClock::new(RATE);
        let t = ticks(&mut c, 120.0, 0.0, 30, 0.0);
        c.receive(0xFC, t as u64);
        assert!(!c.playing());
        c.receive(0xFB, t as u64);
        assert!(c.playing());
        c.receive(0xFC, t as u64);
        c.expire(t as u64 + (0.4 * RATE) as u64);
        assert!(c.tempo().is_some(), "0.4 s is not gone yet");
        c.expire(t as u64 + (0.6 * RATE) as u64);
        assert_eq!(c.tempo(), None);
        assert!(c.playing(), "no clock: the transport rolls");
    }

    #[test]
    fn nonsense_rates_are_not_a_tempo() {
        let mut c = MidiClock::new(RATE);
        // 10 000 BPM.
        ticks(&mut c, 10_000.0, 0.0, 30, 0.0);
        assert_eq!(c.tempo(), None);
    }
}
