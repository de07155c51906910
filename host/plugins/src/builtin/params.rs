//! Parameter descriptions and the lock-free value store the built-ins share
//! between their main-thread handle and their audio processor.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use stagerack_core::plugin::{ParamId, ParamInfo};

/// A built-in parameter's static description. Any thread.
#[derive(Debug)]
pub struct ParamSpec {
    /// Id (index into the store).
    pub id: ParamId,
    /// Name, also the key in presets and state.
    pub name: &'static str,
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
    /// Default.
    pub default: f64,
    /// Integer steps only.
    pub stepped: bool,
    /// Unit shown after the value.
    pub unit: &'static str,
}

impl ParamSpec {
    /// Clamps (and for stepped parameters rounds) a value into range. Any thread.
    pub fn clamp(&self, v: f64) -> f64 {
        let v = if v.is_finite() { v } else { self.default };
        let v = v.clamp(self.min, self.max);
        if self.stepped {
            v.round()
        } else {
            v
        }
    }

    /// Value as text for people. Main thread.
    pub fn format(&self, v: f64) -> String {
        if self.stepped {
            format!("{v:.0}{}", self.unit)
        } else {
            // Three significant digits, trailing zeros dropped: 900 Hz,
            // -4.5 dB, 0.005 s (two fixed decimals showed 0.01 s for it).
            let magnitude = if v == 0.0 {
                0.0
            } else {
                v.abs().log10().floor()
            };
            let decimals = (2.0 - magnitude).clamp(0.0, 5.0) as usize;
            let text = format!("{v:.decimals$}");
            let text = if text.contains('.') {
                text.trim_end_matches('0').trim_end_matches('.')
            } else {
                &text
            };
            let text = if text == "-0" { "0" } else { text };
            format!("{text}{}", self.unit)
        }
    }

    /// The format-neutral description. Main thread.
    pub fn info(&self) -> ParamInfo {
        ParamInfo {
            id: self.id,
            name: self.name.to_owned(),
            min: self.min,
            max: self.max,
            default: self.default,
            stepped: self.stepped,
            read_only: false,
            automatable: true,
        }
    }
}

/// Latest parameter values, "latest value wins": the main thread writes and
/// raises `dirty`; the processor picks the values up at its next block and
/// writes back values it received as events. Any thread.
#[derive(Debug)]
pub struct ParamStore {
    values: Box<[AtomicU64]>,
    dirty: AtomicBool,
}

impl ParamStore {
    /// A store holding every spec's default. Main thread.
    pub fn new(specs: &[ParamSpec]) -> Self {
        debug_assert!(specs.iter().enumerate().all(|(i, s)| s.id as usize == i));
        Self {
            values: specs
                .iter()
                .map(|s| AtomicU64::new(s.default.to_bits()))
                .collect(),
            dirty: AtomicBool::new(true),
        }
    }

    /// The current value of `id` (0.0 if out of range). Any thread.
    #[inline]
    pub fn get(&self, id: ParamId) -> f64 {
        self.values
            .get(id as usize)
            .map_or(0.0, |v| f64::from_bits(v.load(Ordering::Relaxed)))
    }

    /// Sets `id` from the main thread and marks the store dirty. Main thread.
    pub fn set(&self, id: ParamId, value: f64) {
        if let Some(v) = self.values.get(id as usize) {
            v.store(value.to_bits(), Ordering::Relaxed);
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// Records a value the processor received as an event. Audio thread.
    #[inline]
    pub fn publish(&self, id: ParamId, value: f64) {
        if let Some(v) = self.values.get(id as usize) {
            v.store(value.to_bits(), Ordering::Relaxed);
        }
    }

    /// True once after each main-thread `set`. Audio thread.
    #[inline]
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::ParamSpec;

    #[test]
    fn values_read_with_three_significant_digits_and_their_unit() {
        let spec = ParamSpec {
            id: 0,
            name: "release",
            min: 0.0,
            max: 10.0,
            default: 0.3,
            stepped: false,
            unit: " s",
        };
        assert_eq!(spec.format(0.005), "0.005 s");
        assert_eq!(spec.format(0.3), "0.3 s");
        assert_eq!(spec.format(900.0), "900 s");
        assert_eq!(spec.format(-4.5), "-4.5 s");
        assert_eq!(spec.format(12.345), "12.3 s");
        assert_eq!(spec.format(0.0), "0 s");
    }
}
