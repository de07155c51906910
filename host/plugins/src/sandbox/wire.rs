//! Events as they cross the shared region: plain bytes with a tag, decoded
//! with every field checked, so memory a crashing plugin scribbled over in
//! the child can never become an invalid `Event` in the engine. Any thread;
//! never allocates.

use stagerack_core::midi::{Event, Expression, TimedEvent};

/// One event in the shared region (`repr(C)`, no pointers, every bit
/// pattern a valid value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WireEvent {
    /// Frames from the block's start.
    pub offset: u32,
    /// Which [`Event`] variant (see `encode`).
    pub tag: u8,
    /// MIDI channel (or real-time status byte).
    pub channel: u8,
    /// Key, controller, program or 7-bit value.
    pub a: u8,
    /// Second 7-bit value.
    pub b: u8,
    /// Note id, 14-bit bend or parameter id.
    pub int: i32,
    /// The MIDI input it came from.
    pub source: u8,
    /// A note expression's MIDI value (u16 LE) and a zero byte; zero
    /// otherwise.
    pub pad: [u8; 3],
    /// Velocity or parameter value.
    pub value: f64,
}

const NOTE_ON: u8 = 1;
const NOTE_OFF: u8 = 2;
const NOTE_CHOKE: u8 = 3;
const CONTROL: u8 = 4;
const BEND: u8 = 5;
const CHANNEL_PRESSURE: u8 = 6;
const POLY_PRESSURE: u8 = 7;
const PROGRAM: u8 = 8;
const PARAM: u8 = 9;
const REALTIME: u8 = 10;
const NOTE_EXPRESSION: u8 = 11;

impl WireEvent {
    /// The wire form of `e`. Any thread.
    pub fn encode(e: &TimedEvent) -> WireEvent {
        let mut w = WireEvent {
            offset: e.offset,
            source: e.source,
            ..WireEvent::default()
        };
        match e.event {
            Event::NoteOn {
                channel,
                key,
                velocity,
                note_id,
            } => {
                (w.tag, w.channel, w.a, w.int, w.value) =
                    (NOTE_ON, channel, key, note_id, velocity.into())
            }
            Event::NoteOff {
                channel,
                key,
                velocity,
                note_id,
            } => {
                (w.tag, w.channel, w.a, w.int, w.value) =
                    (NOTE_OFF, channel, key, note_id, velocity.into())
            }
            Event::NoteChoke {
                channel,
                key,
                note_id,
            } => (w.tag, w.channel, w.a, w.int) = (NOTE_CHOKE, channel, key, note_id),
            Event::ControlChange {
                channel,
                controller,
                value,
            } => (w.tag, w.channel, w.a, w.b) = (CONTROL, channel, controller, value),
            Event::PitchBend { channel, value } => {
                (w.tag, w.channel, w.int) = (BEND, channel, i32::from(value))
            }
            Event::ChannelPressure { channel, value } => {
                (w.tag, w.channel, w.a) = (CHANNEL_PRESSURE, channel, value)
            }
            Event::PolyPressure {
                channel,
                key,
                value,
            } => (w.tag, w.channel, w.a, w.b) = (POLY_PRESSURE, channel, key, value),
            Event::ProgramChange { channel, program } => {
                (w.tag, w.channel, w.a) = (PROGRAM, channel, program)
            }
            Event::ParamValue { param, value } => {
                (w.tag, w.int, w.value) = (PARAM, param as i32, value)
            }
            Event::Realtime { status } => (w.tag, w.channel) = (REALTIME, status),
            Event::NoteExpression {
                channel,
                key,
                note_id,
                expression,
                value,
                midi,
            } => {
                (w.tag, w.channel, w.a, w.b, w.int, w.value) = (
                    NOTE_EXPRESSION,
                    channel,
                    key,
                    expression as u8,
                    note_id,
                    value.into(),
                );
                let [lo, hi] = midi.to_le_bytes();
                w.pad = [lo, hi, 0];
            }
        }
        w
    }

    /// The event, or `None` when any field is out of range (garbage from a
    /// misbehaving child) or its offset is not within `frames`. Any thread.
    pub fn decode(&self, frames: u32) -> Option<TimedEvent> {
        if self.offset >= frames {
            return None;
        }
        let ch = (self.channel < 16).then_some(self.channel);
        let seven = |v: u8| (v < 128).then_some(v);
        let unit = |v: f64| (0.0..=1.0).contains(&v).then_some(v as f32);
        let event = match self.tag {
            NOTE_ON => Event::NoteOn {
                channel: ch?,
                key: seven(self.a)?,
                velocity: unit(self.value)?,
                note_id: self.int,
            },
            NOTE_OFF => Event::NoteOff {
                channel: ch?,
                key: seven(self.a)?,
                velocity: unit(self.value)?,
                note_id: self.int,
            },
            NOTE_CHOKE => Event::NoteChoke {
                channel: ch?,
                key: seven(self.a)?,
                note_id: self.int,
            },
            CONTROL => Event::ControlChange {
                channel: ch?,
                controller: seven(self.a)?,
                value: seven(self.b)?,
            },
            BEND => Event::PitchBend {
                channel: ch?,
                value: u16::try_from(self.int).ok().filter(|v| *v < 16384)?,
            },
            CHANNEL_PRESSURE => Event::ChannelPressure {
                channel: ch?,
                value: seven(self.a)?,
            },
            POLY_PRESSURE => Event::PolyPressure {
                channel: ch?,
                key: seven(self.a)?,
                value: seven(self.b)?,
            },
            PROGRAM => Event::ProgramChange {
                channel: ch?,
                program: seven(self.a)?,
            },
            PARAM => Event::ParamValue {
                param: self.int as u32,
                value: Some(self.value).filter(|v| v.is_finite())?,
            },
            NOTE_EXPRESSION => {
                let (expression, range) = match self.b {
                    0 => (Expression::Tuning, -128.0..=128.0),
                    1 => (Expression::Pressure, 0.0..=1.0),
                    2 => (Expression::Brightness, 0.0..=1.0),
                    _ => return None,
                };
                Event::NoteExpression {
                    channel: ch?,
                    key: seven(self.a)?,
                    note_id: self.int,
                    expression,
                    value: Some(self.value).filter(|v| range.contains(v))? as f32,
                    midi: Some(u16::from_le_bytes([self.pad[0], self.pad[1]]))
                        .filter(|m| *m < 16384)?,
                }
            }
            REALTIME => Event::Realtime {
                status: Some(self.channel).filter(|s| matches!(s, 0xF8 | 0xFA | 0xFB | 0xFC))?,
            },
            _ => return None,
        };
        Some(TimedEvent {
            offset: self.offset,
            event,
            source: self.source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_survives_the_wire() {
        let events = [
            Event::NoteOn {
                channel: 3,
                key: 60,
                velocity: 0.5,
                note_id: 7,
            },
            Event::NoteOff {
                channel: 15,
                key: 127,
                velocity: 1.0,
                note_id: -1,
            },
            Event::NoteChoke {
                channel: 0,
                key: 1,
                note_id: 9,
            },
            Event::ControlChange {
                channel: 1,
                controller: 64,
                value: 127,
            },
            Event::PitchBend {
                channel: 2,
                value: 16383,
            },
            Event::ChannelPressure {
                channel: 4,
                value: 5,
            },
            Event::PolyPressure {
                channel: 5,
                key: 6,
                value: 7,
            },
            Event::ProgramChange {
                channel: 6,
                program: 100,
            },
            Event::ParamValue {
                param: 0xFFFF_FFF0,
                value: -12.25,
            },
            Event::Realtime { status: 0xF8 },
            Event::NoteExpression {
                channel: 9,
                key: 62,
                note_id: -1,
                expression: Expression::Tuning,
                value: -47.5,
                midi: 12,
            },
            Event::NoteExpression {
                channel: 1,
                key: 0,
                note_id: 3,
                expression: Expression::Brightness,
                value: 1.0,
                midi: 127,
            },
        ];
        for (i, event) in events.into_iter().enumerate() {
            let e = TimedEvent {
                offset: i as u32,
                event,
                source: 2,
            };
            assert_eq!(WireEvent::encode(&e).decode(64), Some(e));
        }
    }

    #[test]
    fn garbage_from_a_child_is_refused_field_by_field() {
        let good = WireEvent::encode(&TimedEvent::new(
            10,
            Event::NoteOn {
                channel: 0,
                key: 60,
                velocity: 0.5,
                note_id: -1,
            },
        ));
        assert!(good.decode(64).is_some());
        assert!(good.decode(10).is_none(), "offset beyond the block");
        for bad in [
            WireEvent { tag: 0, ..good },
            WireEvent { tag: 200, ..good },
            WireEvent {
                channel: 16,
                ..good
            },
            WireEvent { a: 128, ..good },
            WireEvent {
                value: f64::NAN,
                ..good
            },
            WireEvent { value: 2.0, ..good },
        ] {
            assert!(bad.decode(64).is_none(), "{bad:?} was accepted");
        }
    }
}
