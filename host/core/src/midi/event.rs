//! The event type every processor receives, stamped with its sample offset.

use crate::ids::ParamId;

/// One event, decoded. Channels are 0-based (0..=15) here; presets and the
/// UI show them 1-based. Any thread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// A key pressed. `velocity` is normalised to 0..=1 (MIDI velocity / 127).
    NoteOn {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// MIDI key, 0..=127.
        key: u8,
        /// 0..=1.
        velocity: f32,
        /// Host-assigned note id, or -1 when unknown.
        note_id: i32,
    },
    /// A key released.
    NoteOff {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// MIDI key, 0..=127.
        key: u8,
        /// Release velocity, 0..=1.
        velocity: f32,
        /// Host-assigned note id, or -1 when unknown.
        note_id: i32,
    },
    /// A voice cut without release (CLAP choke).
    NoteChoke {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// MIDI key, 0..=127.
        key: u8,
        /// Host-assigned note id, or -1 when unknown.
        note_id: i32,
    },
    /// Control change.
    ControlChange {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// Controller number, 0..=127.
        controller: u8,
        /// 0..=127.
        value: u8,
    },
    /// Pitch bend, 0..=16383, centre 8192.
    PitchBend {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// 0..=16383.
        value: u16,
    },
    /// Channel pressure (aftertouch).
    ChannelPressure {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// 0..=127.
        value: u8,
    },
    /// Polyphonic key pressure.
    PolyPressure {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// MIDI key, 0..=127.
        key: u8,
        /// 0..=127.
        value: u8,
    },
    /// One note's own expression (MPE: its member channel's pitch bend,
    /// pressure or CC 74), addressed by channel and key (the key the rack
    /// sent the note as). Made by an MPE rack's routing; plugins that take
    /// CLAP note expressions get it as one, plugins that take MIDI get the
    /// member-channel message it came from.
    NoteExpression {
        /// MIDI channel, 0..=15 (the note's member channel).
        channel: u8,
        /// MIDI key, 0..=127.
        key: u8,
        /// Host-assigned note id, or -1 for any note on that key.
        note_id: i32,
        /// Which expression.
        expression: Expression,
        /// Tuning in semitones (+ up); pressure and brightness 0..=1.
        value: f32,
        /// The MIDI value it came from: pitch bend 0..=16383, pressure or
        /// CC 74 0..=127.
        midi: u16,
    },
    /// Program change.
    ProgramChange {
        /// MIDI channel, 0..=15.
        channel: u8,
        /// 0..=127.
        program: u8,
    },
    /// A parameter set to a plain value at this sample.
    ParamValue {
        /// The plugin's parameter id.
        param: ParamId,
        /// The parameter's plain value (within its range).
        value: f64,
    },
    /// A MIDI real-time transport message: clock (0xF8, 24 per quarter
    /// note), start (0xFA), continue (0xFB) or stop (0xFC). The engine's
    /// clock follower reads them (tempo and play state for every plugin's
    /// transport); they are not routed to racks.
    Realtime {
        /// The status byte.
        status: u8,
    },
}

/// The per-note expressions MPE carries. Any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expression {
    /// Pitch, in semitones (member-channel pitch bend × the zone's range).
    Tuning,
    /// Pressure (member-channel channel pressure).
    Pressure,
    /// Timbre (member-channel CC 74).
    Brightness,
}

impl Event {
    /// Decodes a short MIDI channel message (running status already
    /// resolved) or a real-time transport byte (clock, start, continue,
    /// stop). Returns `None` for other system messages and malformed input.
    /// A note-on with velocity 0 is a note-off. Any thread; never allocates.
    pub fn from_midi(bytes: &[u8]) -> Option<Event> {
        let status = *bytes.first()?;
        if matches!(status, 0xF8 | 0xFA | 0xFB | 0xFC) {
            return Some(Event::Realtime { status });
        }
        if !(0x80..0xF0).contains(&status) {
            return None;
        }
        let channel = status & 0x0F;
        let data = |i: usize| -> Option<u8> {
            let b = *bytes.get(i)?;
            (b < 0x80).then_some(b)
        };
        Some(match status & 0xF0 {
            0x80 => Event::NoteOff {
                channel,
                key: data(1)?,
                velocity: f32::from(data(2)?) / 127.0,
                note_id: -1,
            },
            0x90 => {
                let key = data(1)?;
                let vel = data(2)?;
                if vel == 0 {
                    Event::NoteOff {
                        channel,
                        key,
                        velocity: 0.5,
                        note_id: -1,
                    }
                } else {
                    Event::NoteOn {
                        channel,
                        key,
                        velocity: f32::from(vel) / 127.0,
                        note_id: -1,
                    }
                }
            }
            0xA0 => Event::PolyPressure {
                channel,
                key: data(1)?,
                value: data(2)?,
            },
            0xB0 => Event::ControlChange {
                channel,
                controller: data(1)?,
                value: data(2)?,
            },
            0xC0 => Event::ProgramChange {
                channel,
                program: data(1)?,
            },
            0xD0 => Event::ChannelPressure {
                channel,
                value: data(1)?,
            },
            0xE0 => Event::PitchBend {
                channel,
                value: u16::from(data(1)?) | (u16::from(data(2)?) << 7),
            },
            _ => return None,
        })
    }

    /// An MPE note expression as the member-channel message it came from
    /// (pitch bend, channel pressure or CC 74); `None` for other events.
    /// Any thread.
    pub fn expression_as_message(&self) -> Option<Event> {
        let Event::NoteExpression {
            channel,
            expression,
            midi,
            ..
        } = *self
        else {
            return None;
        };
        Some(match expression {
            Expression::Tuning => Event::PitchBend {
                channel,
                value: midi.min(16383),
            },
            Expression::Pressure => Event::ChannelPressure {
                channel,
                value: midi.min(127) as u8,
            },
            Expression::Brightness => Event::ControlChange {
                channel,
                controller: 74,
                value: midi.min(127) as u8,
            },
        })
    }

    /// Encodes a channel message as MIDI bytes (3 bytes, with the length
    /// used). Parameter events have no MIDI form. Any thread.
    pub fn to_midi(&self) -> Option<([u8; 3], usize)> {
        let vel7 = |v: f32| (v * 127.0).round().clamp(0.0, 127.0) as u8;
        Some(match *self {
            Event::NoteOn {
                channel,
                key,
                velocity,
                ..
            } => ([0x90 | channel, key, vel7(velocity).max(1)], 3),
            Event::NoteOff {
                channel,
                key,
                velocity,
                ..
            } => ([0x80 | channel, key, vel7(velocity)], 3),
            Event::NoteChoke { channel, key, .. } => ([0x80 | channel, key, 0], 3),
            Event::ControlChange {
                channel,
                controller,
                value,
            } => ([0xB0 | channel, controller, value], 3),
            Event::PitchBend { channel, value } => (
                [
                    0xE0 | channel,
                    (value & 0x7F) as u8,
                    (value >> 7) as u8 & 0x7F,
                ],
                3,
            ),
            Event::ChannelPressure { channel, value } => ([0xD0 | channel, value, 0], 2),
            Event::PolyPressure {
                channel,
                key,
                value,
            } => ([0xA0 | channel, key, value], 3),
            Event::ProgramChange { channel, program } => ([0xC0 | channel, program, 0], 2),
            // The member-channel message the expression came from (MPE).
            Event::NoteExpression {
                channel,
                expression,
                midi,
                ..
            } => match expression {
                Expression::Tuning => (
                    [
                        0xE0 | channel,
                        (midi & 0x7F) as u8,
                        (midi >> 7) as u8 & 0x7F,
                    ],
                    3,
                ),
                Expression::Pressure => ([0xD0 | channel, midi.min(127) as u8, 0], 2),
                Expression::Brightness => ([0xB0 | channel, 74, midi.min(127) as u8], 3),
            },
            Event::Realtime { status } => ([status, 0, 0], 1),
            Event::ParamValue { .. } => return None,
        })
    }

    /// The MIDI channel (0..=15) of a channel event. Any thread.
    pub fn channel(&self) -> Option<u8> {
        match *self {
            Event::NoteOn { channel, .. }
            | Event::NoteOff { channel, .. }
            | Event::NoteChoke { channel, .. }
            | Event::ControlChange { channel, .. }
            | Event::PitchBend { channel, .. }
            | Event::ChannelPressure { channel, .. }
            | Event::PolyPressure { channel, .. }
            | Event::NoteExpression { channel, .. }
            | Event::ProgramChange { channel, .. } => Some(channel),
            Event::ParamValue { .. } | Event::Realtime { .. } => None,
        }
    }

    /// The same event on `channel` (0..=15); events without a channel
    /// stay as they are. Any thread.
    pub fn on_channel(mut self, channel: u8) -> Event {
        match &mut self {
            Event::NoteOn { channel: c, .. }
            | Event::NoteOff { channel: c, .. }
            | Event::NoteChoke { channel: c, .. }
            | Event::ControlChange { channel: c, .. }
            | Event::PitchBend { channel: c, .. }
            | Event::ChannelPressure { channel: c, .. }
            | Event::PolyPressure { channel: c, .. }
            | Event::NoteExpression { channel: c, .. }
            | Event::ProgramChange { channel: c, .. } => *c = channel & 15,
            Event::ParamValue { .. } | Event::Realtime { .. } => {}
        }
        self
    }
}

/// An event at a sample offset within the current buffer. Any thread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimedEvent {
    /// Frames from the start of the buffer (`< frames` of that buffer).
    pub offset: u32,
    /// What happens there.
    pub event: Event,
    /// Which MIDI input it came from: the index in the backend's list of
    /// input devices (0 when the backend merges its inputs, and for
    /// offline renders). Racks with device patterns listen to some only.
    pub source: u8,
}

impl TimedEvent {
    /// An event at `offset` from input 0. Any thread.
    pub fn new(offset: u32, event: Event) -> Self {
        Self {
            offset,
            event,
            source: 0,
        }
    }

    /// The same event, from MIDI input `source`. Any thread.
    pub fn from_source(self, source: u8) -> Self {
        Self { source, ..self }
    }
}

/// A fixed-capacity event list, allocated on the main thread and reused on
/// the audio thread: pushing never allocates; a full buffer refuses the event
/// and counts it.
#[derive(Debug)]
pub struct EventBuffer {
    events: Vec<TimedEvent>,
    dropped: u32,
}

impl EventBuffer {
    /// An empty buffer holding up to `capacity` events. Main thread.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            events: Vec::with_capacity(capacity),
            dropped: 0,
        }
    }

    /// Appends an event; returns false (and counts it) when full. Audio thread.
    #[inline]
    pub fn push(&mut self, event: TimedEvent) -> bool {
        if self.events.len() < self.events.capacity() {
            self.events.push(event);
            true
        } else {
            self.dropped = self.dropped.saturating_add(1);
            false
        }
    }

    /// Removes every event, keeping the capacity. Audio thread.
    #[inline]
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// The events, in push order. Any thread.
    #[inline]
    pub fn as_slice(&self) -> &[TimedEvent] {
        &self.events
    }

    /// Number of events held. Any thread.
    #[inline]
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when no event is held. Any thread.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events refused because the buffer was full, since creation. Any thread.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// Returns the number of refused events and resets it. Audio thread.
    pub fn take_dropped(&mut self) -> u32 {
        std::mem::take(&mut self.dropped)
    }

    /// Keeps, in order, what `f` returns for each event (`None` drops it);
    /// `f` also sees the events kept so far. Never allocates. Audio thread.
    pub fn retain_map(
        &mut self,
        mut f: impl FnMut(TimedEvent, &[TimedEvent]) -> Option<TimedEvent>,
    ) {
        let mut kept = 0;
        for i in 0..self.events.len() {
            if let Some(e) = f(self.events[i], &self.events[..kept]) {
                self.events[kept] = e;
                kept += 1;
            }
        }
        self.events.truncate(kept);
    }

    /// Stable in-place sort by offset. Audio thread.
    ///
    /// Hand-written because `slice::sort_by_key` (the stable std sort)
    /// allocates a scratch buffer, and the unstable sort may reorder a
    /// note-off and a note-on that share a sample. Event lists per buffer are
    /// short and nearly always already sorted, where insertion sort is O(n).
    pub fn sort_by_offset(&mut self) {
        sort_events_by_offset(&mut self.events);
    }
}

/// Stable, allocation-free insertion sort of events by offset (see
/// [`EventBuffer::sort_by_offset`]). Audio thread.
pub fn sort_events_by_offset(events: &mut [TimedEvent]) {
    for i in 1..events.len() {
        let mut j = i;
        while j > 0 && events[j - 1].offset > events[j].offset {
            events.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_on_with_zero_velocity_is_note_off() {
        assert!(matches!(
            Event::from_midi(&[0x91, 60, 0]),
            Some(Event::NoteOff {
                channel: 1,
                key: 60,
                ..
            })
        ));
    }

    #[test]
    fn malformed_messages_are_rejected() {
        assert_eq!(Event::from_midi(&[]), None);
        assert_eq!(Event::from_midi(&[0x40, 1, 2]), None);
        assert_eq!(Event::from_midi(&[0x90, 60]), None);
        assert_eq!(Event::from_midi(&[0x90, 0x80, 1]), None);
        assert_eq!(
            Event::from_midi(&[0xF8]),
            Some(Event::Realtime { status: 0xF8 })
        );
        assert_eq!(Event::from_midi(&[0xFE]), None, "active sensing");
    }

    #[test]
    fn midi_round_trip() {
        for bytes in [
            [0x93u8, 64, 100],
            [0x80, 1, 2],
            [0xB5, 64, 127],
            [0xE0, 0x7F, 0x3F],
            [0xA2, 10, 20],
        ] {
            let e = Event::from_midi(&bytes).unwrap();
            let (out, len) = e.to_midi().unwrap();
            assert_eq!(&out[..len], &bytes[..]);
        }
    }

    #[test]
    fn sort_is_stable_and_by_offset() {
        let off = |o, k| {
            TimedEvent::new(
                o,
                Event::NoteOff {
                    channel: 0,
                    key: k,
                    velocity: 0.0,
                    note_id: -1,
                },
            )
        };
        let mut v = vec![off(5, 1), off(2, 2), off(5, 3), off(0, 4), off(2, 5)];
        sort_events_by_offset(&mut v);
        let keys: Vec<u8> = v
            .iter()
            .map(|e| match e.event {
                Event::NoteOff { key, .. } => key,
                _ => 0,
            })
            .collect();
        assert_eq!(keys, vec![4, 2, 5, 1, 3]);
    }

    #[test]
    fn full_buffer_refuses_and_counts() {
        let mut b = EventBuffer::with_capacity(1);
        let e = TimedEvent::new(
            0,
            Event::ProgramChange {
                channel: 0,
                program: 1,
            },
        );
        assert!(b.push(e));
        assert!(!b.push(e));
        assert_eq!(b.len(), 1);
        assert_eq!(b.dropped(), 1);
    }
}
