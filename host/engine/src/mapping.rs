//! MIDI-to-parameter mappings: a controller, pitch bend or aftertouch moves
//! a plugin parameter, on the controller's exact sample.

use stagerack_core::midi::{Event, TimedEvent};
use stagerack_core::plugin::ParamId;

/// What moves the parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSource {
    /// A control change (0..=127) on any channel the rack takes.
    Cc(u8),
    /// Pitch bend, bottom to top.
    PitchBend,
    /// Channel pressure.
    Aftertouch,
}

/// How the source's 0..1 travel maps onto `min..max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapCurve {
    /// Straight line.
    Linear,
    /// Equal ratios per step (for frequencies and times); falls back to a
    /// squared line when the range crosses or touches zero.
    Exponential,
}

/// One mapping in a rack: built on the main thread, applied on the audio
/// thread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamMapping {
    /// What moves it.
    pub source: MapSource,
    /// The slot (index in the rack's chain as sent to the plan).
    pub slot: usize,
    /// The parameter.
    pub param: ParamId,
    /// Value at the source's bottom.
    pub min: f64,
    /// Value at the source's top.
    pub max: f64,
    /// Shape of the travel.
    pub curve: MapCurve,
    /// A remote-controls knob: active only while its rack's current page
    /// ([`RemotePaging`]) is this one. `None`: always active.
    pub page: Option<u8>,
}

/// A rack's knobs following "the current page of a plugin's remote
/// controls": how many pages, and the controllers that turn them. Built on
/// the main thread; the current page lives in the rack's status, so it
/// survives plan swaps and the main thread can show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemotePaging {
    /// Pages (1..=255).
    pub pages: u8,
    /// The controller (any value above 63) that goes to the next page.
    pub next: Option<u8>,
    /// The controller that goes to the previous page.
    pub previous: Option<u8>,
}

impl RemotePaging {
    /// The page after `event` (a page controller pressed), from `page`;
    /// `None` when `event` turns no page. Audio thread.
    #[inline]
    pub fn turn(&self, page: u8, event: &Event) -> Option<u8> {
        let Event::ControlChange {
            controller, value, ..
        } = *event
        else {
            return None;
        };
        if value < 64 {
            return None;
        }
        if Some(controller) == self.next {
            Some(page.saturating_add(1).min(self.pages.saturating_sub(1)))
        } else if Some(controller) == self.previous {
            Some(page.saturating_sub(1))
        } else {
            None
        }
    }
}

impl ParamMapping {
    /// The parameter value `event` asks for, if it is this mapping's
    /// source. Audio thread.
    #[inline]
    pub fn value_for(&self, event: &TimedEvent) -> Option<f64> {
        let x = match (self.source, event.event) {
            (
                MapSource::Cc(n),
                Event::ControlChange {
                    controller, value, ..
                },
            ) if controller == n => f64::from(value) / 127.0,
            (MapSource::PitchBend, Event::PitchBend { value, .. }) => f64::from(value) / 16383.0,
            (MapSource::Aftertouch, Event::ChannelPressure { value, .. }) => {
                f64::from(value) / 127.0
            }
            _ => return None,
        };
        Some(match self.curve {
            MapCurve::Linear => self.min + (self.max - self.min) * x,
            MapCurve::Exponential if self.min > 0.0 && self.max > 0.0 => {
                self.min * (self.max / self.min).powf(x)
            }
            MapCurve::Exponential => self.min + (self.max - self.min) * x * x,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(controller: u8, value: u8) -> TimedEvent {
        TimedEvent::new(
            3,
            Event::ControlChange {
                channel: 0,
                controller,
                value,
            },
        )
    }

    #[test]
    fn linear_and_exponential_ranges() {
        let m = ParamMapping {
            source: MapSource::Cc(11),
            slot: 0,
            param: 0,
            min: -30.0,
            max: 0.0,
            curve: MapCurve::Linear,
            page: None,
        };
        assert_eq!(m.value_for(&cc(11, 127)), Some(0.0));
        assert_eq!(m.value_for(&cc(11, 0)), Some(-30.0));
        assert_eq!(m.value_for(&cc(1, 0)), None);
        let e = ParamMapping {
            min: 100.0,
            max: 10_000.0,
            curve: MapCurve::Exponential,
            ..m
        };
        let mid = e.value_for(&cc(11, 127)).unwrap();
        assert!((mid - 10_000.0).abs() < 1e-6);
        let half = e.value_for(&TimedEvent::new(
            0,
            Event::PitchBend {
                channel: 0,
                value: 8192,
            },
        ));
        assert_eq!(half, None);
        let pb = ParamMapping {
            source: MapSource::PitchBend,
            ..e
        };
        let v = pb
            .value_for(&TimedEvent::new(
                0,
                Event::PitchBend {
                    channel: 0,
                    value: 16383,
                },
            ))
            .unwrap();
        assert!((v - 10_000.0).abs() < 1e-6);
    }
}
