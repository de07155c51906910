//! The last stage before the speakers: no NaN, no infinity, nothing above
//! full scale. On by default; it passes sane audio through bit for bit.

/// Samples above this (about +36 dBFS) mean a plugin ran away.
pub const RUNAWAY: f32 = 64.0;

/// True when every sample is finite and below [`RUNAWAY`]. Audio thread.
#[inline]
pub fn output_is_sane(left: &[f32], right: &[f32]) -> bool {
    // On the bit patterns of |x| (sign bit cleared), integer order is value
    // order, and infinities and NaN sort above every finite value: one
    // integer max per channel decides it. Integer max is associative, so
    // the loop vectorises; this runs after every plugin of every rack, and
    // a short-circuiting float check cost about as much as a small plugin.
    let max_bits = |buf: &[f32]| {
        buf.iter()
            .fold(0u32, |m, x| m.max(x.to_bits() & 0x7FFF_FFFF))
    };
    max_bits(left).max(max_bits(right)) < RUNAWAY.to_bits()
}

/// Replaces NaN and infinities with silence (the part of the safety stage
/// that is never switched off). Audio thread.
#[inline]
pub fn zero_non_finite(left: &mut [f32], right: &mut [f32]) {
    for x in left.iter_mut().chain(right.iter_mut()) {
        if !x.is_finite() {
            *x = 0.0;
        }
    }
}

/// A brick-wall peak limiter at 0 dBFS with instant attack and a 50 ms
/// release, after a non-finite filter. Linked stereo. Audio thread.
#[derive(Debug)]
pub struct SafetyLimiter {
    gain: f32,
    release: f32,
}

/// The ceiling: full scale.
pub const CEILING: f32 = 1.0;

impl SafetyLimiter {
    /// A limiter for `sample_rate`. Main thread.
    pub fn new(sample_rate: f64) -> Self {
        Self {
            gain: 1.0,
            release: (-1.0 / (0.05 * sample_rate)).exp() as f32,
        }
    }

    /// Limits in place; returns the number of frames whose gain was
    /// reduced. Audio thread.
    #[inline]
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) -> u32 {
        let mut reduced = 0;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if !l.is_finite() {
                *l = 0.0;
            }
            if !r.is_finite() {
                *r = 0.0;
            }
            let peak = l.abs().max(r.abs());
            if peak * self.gain > CEILING {
                self.gain = CEILING / peak;
            }
            if self.gain < 1.0 {
                *l *= self.gain;
                *r *= self.gain;
                reduced += 1;
                self.gain = 1.0 - (1.0 - self.gain) * self.release;
                if self.gain > 0.999_999 {
                    self.gain = 1.0;
                }
            }
        }
        reduced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_audio_passes_bit_for_bit() {
        let mut lim = SafetyLimiter::new(48_000.0);
        let mut l: Vec<f32> = (0..512).map(|i| (i as f32 * 0.1).sin()).collect();
        let mut r = l.clone();
        let orig = l.clone();
        assert_eq!(lim.process(&mut l, &mut r), 0);
        assert_eq!(l, orig);
    }

    #[test]
    fn overs_nan_and_infinity_never_leave() {
        let mut lim = SafetyLimiter::new(48_000.0);
        let mut l = vec![0.5, 4.0, f32::NAN, f32::INFINITY, -8.0, 0.9];
        let mut r = vec![0.5, 0.0, 0.0, 1.0, 0.0, 0.9];
        lim.process(&mut l, &mut r);
        for x in l.iter().chain(r.iter()) {
            assert!(x.is_finite() && x.abs() <= CEILING, "{x}");
        }
        assert_eq!(l[0], 0.5);
        assert!(!output_is_sane(&[f32::NAN], &[0.0]));
        assert!(!output_is_sane(&[0.0], &[100.0]));
        assert!(output_is_sane(&[1.5], &[-2.0]));
    }
}
