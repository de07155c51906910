//! Per-rack MIDI routing: which events a rack takes, and where its
//! note-offs go.

use stagerack_core::midi::{Event, EventBuffer, Expression, TimedEvent};

/// What a rack listens to. Built on the main thread, copied into the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MidiFilter {
    /// Bit `n` set: MIDI channel `n` (0-based) is accepted.
    pub channels: u16,
    /// Lowest and highest key accepted (inclusive).
    pub keys: (u8, u8),
    /// Lowest and highest note-on velocity accepted (1..=127, inclusive).
    pub velocity: (u8, u8),
    /// Semitones added to every key (notes moved outside 0..=127 are dropped).
    pub transpose: i8,
    /// Velocity curve: the velocity sent (1..=127) for each velocity
    /// received. [`IDENTITY`] keeps high-resolution velocities untouched.
    pub velocity_map: [u8; 128],
    /// Controller remap: the controller number sent for each one received,
    /// or [`BLOCKED`]. CC 120 and 123 (all sound/notes off) always pass.
    pub cc_map: [u8; 128],
    /// Bit `n` set: MIDI input `n` (`TimedEvent::source`) is heard.
    /// Inputs 64 and up are always heard.
    pub sources: u64,
    /// The MPE zone the rack plays, if any: its member channels' pitch
    /// bend, pressure and CC 74 become the expressions of the note held
    /// there ([`Event::NoteExpression`]). MPE configuration messages (RPN 6
    /// on a master channel, RPN 0 on a member channel) reshape it while
    /// playing.
    pub mpe: Option<MpeZone>,
    /// No zone until an MPE configuration message (RPN 6) sets one.
    pub mpe_auto: bool,
    /// The zone the rack's plugins play (`mpe_out`): an MPE stream of the
    /// other zone is mirrored onto it (channel c → 15 − c: master to
    /// master, first member to first member), so a plugin that knows only
    /// the lower zone plays an upper-zone controller, or a layer of two
    /// racks plays one zone each. `None`: as received.
    pub mpe_out: Option<ZoneSide>,
}

/// Which end of the channels an MPE zone has its master on. Any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneSide {
    /// Master channel 1, members counting up.
    Lower,
    /// Master channel 16, members counting down.
    Upper,
}

/// An MPE zone (MIDI 1.0 MPE): member channels, each playing one note at a
/// time whose pitch bend, pressure and timbre (CC 74) are that note's own.
/// Any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpeZone {
    /// Bit `n` set: channel `n` (0-based) is a member channel.
    pub members: u16,
    /// Semitones a full member-channel pitch bend reaches (MPE's default
    /// 48).
    pub bend_range: u8,
}

impl MpeZone {
    /// The lower zone: master channel 1, members 2..=16.
    pub const LOWER: MpeZone = MpeZone {
        members: 0xFFFE,
        bend_range: 48,
    };
    /// The upper zone: master channel 16, members 1..=15.
    pub const UPPER: MpeZone = MpeZone {
        members: 0x7FFF,
        bend_range: 48,
    };

    /// True for a member channel (0-based). Any thread.
    #[inline]
    pub fn is_member(&self, channel: u8) -> bool {
        self.members & (1 << (channel & 15)) != 0
    }

    /// Semitones of a member-channel pitch bend (0..=16383, centre 8192).
    /// Any thread.
    #[inline]
    pub fn tuning(&self, bend: u16) -> f32 {
        (f32::from(bend.min(16383)) - 8192.0) / 8192.0 * f32::from(self.bend_range)
    }
}

/// `cc_map` value of a controller the rack does not take.
pub const BLOCKED: u8 = 255;

/// The identity table for `velocity_map` and `cc_map`.
pub const IDENTITY: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

impl Default for MidiFilter {
    fn default() -> Self {
        Self {
            channels: 0xFFFF,
            keys: (0, 127),
            velocity: (1, 127),
            transpose: 0,
            velocity_map: IDENTITY,
            cc_map: IDENTITY,
            sources: u64::MAX,
            mpe: None,
            mpe_auto: false,
            mpe_out: None,
        }
    }
}

impl MidiFilter {
    /// True if events from MIDI input `source` reach the rack. Any thread.
    #[inline]
    pub fn accepts_source(&self, source: u8) -> bool {
        source >= 64 || self.sources & (1u64 << source) != 0
    }

    /// True if `channel` (0-based) passes. Any thread.
    #[inline]
    pub fn accepts_channel(&self, channel: u8) -> bool {
        self.channels & (1 << (channel & 15)) != 0
    }
}

/// Notes a rack is holding: for each (channel, incoming key), the key it
/// sent to its chain plus one (0 = not held). A note-off goes to the rack
/// that took the note-on, with the key it was sent as, whatever the filter
/// says now.
/// With them, each MPE member channel's last expressions and what MPE
/// configuration messages set.
#[derive(Clone)]
pub(crate) struct HeldNotes(Box<[[u8; 128]; 16]>, u32, [MemberState; 16], MpeSetup);

/// What MPE configuration messages told a rack: the zone they set (over
/// the preset's), and each channel's selected RPN.
#[derive(Clone, Copy)]
struct MpeSetup {
    zone: Option<MpeZone>,
    /// (MSB << 7) | LSB of CC 101 / CC 100; [`NO_RPN`] when none.
    rpn: [u16; 16],
}

/// The RPN "null" selection.
const NO_RPN: u16 = 0x3FFF;

impl Default for MpeSetup {
    fn default() -> Self {
        Self {
            zone: None,
            rpn: [NO_RPN; 16],
        }
    }
}

/// An MPE member channel's expressions as last sent: a note started there
/// begins with them (MPE sends a note's initial bend before its note-on).
#[derive(Clone, Copy, Default)]
struct MemberState {
    bend: u16,
    pressure: u8,
    timbre: u8,
    /// Bits 0, 1, 2: bend, pressure, timbre received.
    seen: u8,
}

impl HeldNotes {
    /// Nothing held. Main thread (allocates).
    pub(crate) fn new() -> Self {
        Self(
            Box::new([[0; 128]; 16]),
            0,
            [MemberState::default(); 16],
            MpeSetup::default(),
        )
    }

    /// Forgets every held note. Audio thread.
    pub(crate) fn clear(&mut self) {
        *self.0 = [[0; 128]; 16];
        self.1 = 0;
        self.2 = [MemberState::default(); 16];
        self.3 = MpeSetup::default();
    }

    /// Copies another table's contents (a plan swap keeping a rack). Audio thread.
    pub(crate) fn copy_from(&mut self, other: &HeldNotes) {
        *self.0 = *other.0;
        self.1 = other.1;
        self.2 = other.2;
        self.3 = other.3;
    }

    /// Ends every held note: a note-off at `offset` for each, as the rack
    /// sent it (a rack whose MIDI source changed under its notes). A note
    /// whose note-off finds the list full stays held. Audio thread.
    pub(crate) fn release_all(&mut self, offset: u32, out: &mut EventBuffer) {
        for (channel, keys) in self.0.iter_mut().enumerate() {
            for slot in keys.iter_mut().filter(|k| **k != 0) {
                if out.push(TimedEvent::new(
                    offset,
                    Event::NoteOff {
                        channel: channel as u8,
                        key: *slot - 1,
                        velocity: 0.0,
                        note_id: -1,
                    },
                )) {
                    *slot = 0;
                }
            }
        }
        self.recount();
    }

    /// The rack's events in place, moved to the zone its plugins play
    /// (see [`MidiFilter::mpe_out`]) when its MPE input is on the other
    /// zone now. Audio thread.
    pub(crate) fn rechannel(&self, filter: &MidiFilter, events: &mut EventBuffer) {
        let (Some(out), Some(zone)) = (filter.mpe_out, self.3.zone.or(filter.mpe)) else {
            return;
        };
        // A lower zone's members count up from channel 2 (up to 16), an
        // upper zone's down from 15 (down to 1): 16 is never an upper
        // zone's member, 1 never a lower zone's.
        let upper = !zone.is_member(15) && (zone.is_member(0) || !zone.is_member(1));
        let side = if upper {
            ZoneSide::Upper
        } else {
            ZoneSide::Lower
        };
        if side == out {
            return;
        }
        events.retain_map(|e, _| {
            Some(match e.event.channel() {
                Some(c) => TimedEvent {
                    event: e.event.on_channel(15 - (c & 15)),
                    ..e
                },
                None => e,
            })
        });
    }

    /// Number of keys held down. Audio thread.
    pub(crate) fn count(&self) -> u32 {
        self.1
    }

    fn recount(&mut self) {
        self.1 = self.0.iter().flatten().filter(|&&k| k != 0).count() as u32;
    }
}

/// Routes one event into a rack's event list, applying its filter and
/// remembering held notes. `offset` is already relative to the block.
/// Returns true if a note-on was taken. Audio thread.
#[cfg(test)]
#[inline]
pub(crate) fn route_event(
    filter: &MidiFilter,
    held: &mut HeldNotes,
    offset: u32,
    event: Event,
    out: &mut EventBuffer,
) -> bool {
    route_event_to(filter, held, offset, event, out, true)
}

/// [`route_event`], where `accepts_new_notes` false means the rack belongs
/// to a preset that was switched away from: it takes no new note-ons (nor
/// program changes) but still everything that ends or shapes the notes it
/// holds. Audio thread.
#[inline]
pub(crate) fn route_event_to(
    filter: &MidiFilter,
    held: &mut HeldNotes,
    offset: u32,
    event: Event,
    out: &mut EventBuffer,
    accepts_new_notes: bool,
) -> bool {
    if filter.mpe.is_some() || filter.mpe_auto {
        if let Event::ControlChange {
            channel,
            controller,
            value,
        } = event
        {
            configure_mpe(filter, &mut held.3, channel, controller, value);
        }
    }
    // An MPE member channel's bend, pressure and CC 74 shape the note held
    // there (even in a rack switched away from), never the channel.
    if let Some(zone) = held.3.zone.or(filter.mpe) {
        if let Some(channel) = event.channel().filter(|&c| zone.is_member(c)) {
            let expression = match event {
                Event::PitchBend { value, .. } => Some((Expression::Tuning, value)),
                Event::ChannelPressure { value, .. } => {
                    Some((Expression::Pressure, u16::from(value)))
                }
                Event::ControlChange {
                    controller: 74,
                    value,
                    ..
                } => Some((Expression::Brightness, u16::from(value))),
                _ => None,
            };
            if let Some((expression, midi)) = expression {
                held.2[usize::from(channel & 15)].set(expression, midi);
                express_channel(zone, held, channel, Some(expression), offset, out);
                return false;
            }
        }
    }
    match event {
        Event::NoteOn { .. } | Event::ProgramChange { .. } if !accepts_new_notes => false,
        Event::NoteOn {
            channel,
            key,
            velocity,
            note_id,
        } => {
            let ch = usize::from(channel & 15);
            let vel7 = (velocity * 127.0).round() as i32;
            let target = i32::from(key & 127) + i32::from(filter.transpose);
            if !filter.accepts_channel(channel)
                || key < filter.keys.0
                || key > filter.keys.1
                || vel7 < i32::from(filter.velocity.0)
                || vel7 > i32::from(filter.velocity.1)
                || !(0..=127).contains(&target)
            {
                return false;
            }
            let slot = &mut held.0[ch][usize::from(key & 127)];
            if *slot != 0 {
                // Retriggered before release: end the old note first so the
                // chain never sees two note-ons without a note-off.
                out.push(TimedEvent::new(
                    offset,
                    Event::NoteOff {
                        channel,
                        key: *slot - 1,
                        velocity: 0.0,
                        note_id,
                    },
                ));
            }
            if *slot == 0 {
                held.1 += 1;
            }
            *slot = target as u8 + 1;
            let velocity = if filter.velocity_map == IDENTITY {
                velocity
            } else {
                f32::from(filter.velocity_map[vel7.clamp(0, 127) as usize].max(1)) / 127.0
            };
            let taken = out.push(TimedEvent::new(
                offset,
                Event::NoteOn {
                    channel,
                    key: target as u8,
                    velocity,
                    note_id,
                },
            ));
            // An MPE note starts with its member channel's expressions.
            let zone = held.3.zone.or(filter.mpe);
            if let Some(zone) = zone.filter(|z| taken && z.is_member(channel)) {
                express_note(zone, held.2[ch], channel, target as u8, None, offset, out);
            }
            taken
        }
        Event::NoteOff {
            channel,
            key,
            velocity,
            note_id,
        } => {
            let slot = &mut held.0[usize::from(channel & 15)][usize::from(key & 127)];
            if *slot != 0 {
                // A full list must not swallow a note-off: it stays held and
                // is released by the next all-notes-off instead of hanging.
                if out.push(TimedEvent::new(
                    offset,
                    Event::NoteOff {
                        channel,
                        key: *slot - 1,
                        velocity,
                        note_id,
                    },
                )) {
                    *slot = 0;
                    held.1 -= 1;
                }
            }
            false
        }
        Event::NoteChoke {
            channel,
            key,
            note_id,
        } => {
            let slot = &mut held.0[usize::from(channel & 15)][usize::from(key & 127)];
            if *slot != 0 {
                out.push(TimedEvent::new(
                    offset,
                    Event::NoteChoke {
                        channel,
                        key: *slot - 1,
                        note_id,
                    },
                ));
                *slot = 0;
                held.1 -= 1;
            }
            false
        }
        Event::PolyPressure {
            channel,
            key,
            value,
        } => {
            let slot = held.0[usize::from(channel & 15)][usize::from(key & 127)];
            if slot != 0 {
                out.push(TimedEvent::new(
                    offset,
                    Event::PolyPressure {
                        channel,
                        key: slot - 1,
                        value,
                    },
                ));
            }
            false
        }
        Event::ControlChange {
            channel,
            controller,
            value,
        } => {
            // All-notes-off and all-sound-off reach every rack, whatever
            // its channels and remaps, and clear what it holds.
            let panic = controller == 120 || controller == 123;
            if panic {
                held.0[usize::from(channel & 15)] = [0; 128];
                held.recount();
                out.push(TimedEvent::new(offset, event));
            } else if filter.accepts_channel(channel) {
                let to = filter.cc_map[usize::from(controller & 127)];
                if to != BLOCKED {
                    out.push(TimedEvent::new(
                        offset,
                        Event::ControlChange {
                            channel,
                            controller: to,
                            value,
                        },
                    ));
                }
            }
            false
        }
        Event::PitchBend { channel, .. }
        | Event::ChannelPressure { channel, .. }
        | Event::ProgramChange { channel, .. } => {
            if filter.accepts_channel(channel) {
                out.push(TimedEvent::new(offset, event));
            }
            false
        }
        // Made by this routing (above), never received.
        Event::NoteExpression { .. } => false,
        // MIDI Start, Continue and Stop reach every rack (a backing track
        // starts with the song); clock ticks drive the engine's clock
        // follower only.
        Event::Realtime {
            status: 0xFA..=0xFC,
        } => {
            out.push(TimedEvent::new(offset, event));
            false
        }
        Event::ParamValue { .. } | Event::Realtime { .. } => false,
    }
}

/// Follows the MPE configuration messages (RPNs through CC 101/100 and data
/// entry CC 6): RPN 6 on channel 1 or 16 sets the lower or upper zone's
/// member count (0: no zone; members bend ±48 again, as MPE says), RPN 0
/// on a member channel the members' bend range. The messages themselves
/// still reach the plugins. Audio thread.
fn configure_mpe(
    filter: &MidiFilter,
    setup: &mut MpeSetup,
    channel: u8,
    controller: u8,
    value: u8,
) {
    let ch = usize::from(channel & 15);
    let rpn = &mut setup.rpn[ch];
    match controller {
        101 => *rpn = (u16::from(value & 127) << 7) | (*rpn & 127),
        100 => *rpn = (*rpn & !127) | u16::from(value & 127),
        6 => match *rpn {
            6 if channel & 15 == 0 || channel & 15 == 15 => {
                let n = u32::from(value.min(15));
                let run = ((1u32 << n) - 1) as u16;
                let members = if channel & 15 == 0 {
                    run << 1
                } else {
                    run << (15 - n)
                };
                setup.zone = Some(MpeZone {
                    members,
                    bend_range: 48,
                });
            }
            0 => {
                if let Some(zone) = setup.zone.or(filter.mpe).filter(|z| z.is_member(channel)) {
                    setup.zone = Some(MpeZone {
                        bend_range: value.clamp(1, 96),
                        ..zone
                    });
                }
            }
            _ => {}
        },
        _ => {}
    }
}

impl MemberState {
    fn set(&mut self, expression: Expression, midi: u16) {
        match expression {
            Expression::Tuning => self.bend = midi,
            Expression::Pressure => self.pressure = midi as u8,
            Expression::Brightness => self.timbre = midi as u8,
        }
        self.seen |= 1 << (expression as u8);
    }
}

/// Sends `only` (or every expression received) of member channel
/// `channel` to each note the rack holds there. Audio thread.
fn express_channel(
    zone: MpeZone,
    held: &HeldNotes,
    channel: u8,
    only: Option<Expression>,
    offset: u32,
    out: &mut EventBuffer,
) {
    let ch = usize::from(channel & 15);
    for &slot in held.0[ch].iter().filter(|&&k| k != 0) {
        express_note(zone, held.2[ch], channel, slot - 1, only, offset, out);
    }
}

/// Sends `only` (or every expression received) of `state` to the note
/// sounding as `key` on `channel`. Audio thread.
fn express_note(
    zone: MpeZone,
    state: MemberState,
    channel: u8,
    key: u8,
    only: Option<Expression>,
    offset: u32,
    out: &mut EventBuffer,
) {
    for expression in [
        Expression::Tuning,
        Expression::Pressure,
        Expression::Brightness,
    ] {
        if only.is_some_and(|o| o != expression) || state.seen & (1 << (expression as u8)) == 0 {
            continue;
        }
        let (value, midi) = match expression {
            Expression::Tuning => (zone.tuning(state.bend), state.bend),
            Expression::Pressure => (f32::from(state.pressure) / 127.0, u16::from(state.pressure)),
            Expression::Brightness => (f32::from(state.timbre) / 127.0, u16::from(state.timbre)),
        };
        out.push(TimedEvent::new(
            offset,
            Event::NoteExpression {
                channel,
                key,
                note_id: -1,
                expression,
                value,
                midi,
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(key: u8, vel: u8, ch: u8) -> Event {
        Event::NoteOn {
            channel: ch,
            key,
            velocity: f32::from(vel) / 127.0,
            note_id: -1,
        }
    }
    fn off(key: u8, ch: u8) -> Event {
        Event::NoteOff {
            channel: ch,
            key,
            velocity: 0.0,
            note_id: -1,
        }
    }

    #[test]
    fn filter_keys_velocity_channels_transpose() {
        let f = MidiFilter {
            channels: 0b10,
            keys: (48, 59),
            velocity: (10, 100),
            transpose: -12,
            ..MidiFilter::default()
        };
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(16);
        assert!(!route_event(&f, &mut held, 0, on(60, 64, 1), &mut out)); // key
        assert!(!route_event(&f, &mut held, 0, on(50, 64, 0), &mut out)); // channel
        assert!(!route_event(&f, &mut held, 0, on(50, 127, 1), &mut out)); // velocity
        assert!(route_event(&f, &mut held, 3, on(50, 64, 1), &mut out));
        assert_eq!(out.len(), 1);
        assert!(matches!(
            out.as_slice()[0].event,
            Event::NoteOn { key: 38, .. }
        ));
        assert_eq!(out.as_slice()[0].offset, 3);
    }

    #[test]
    fn velocity_curves_and_cc_remaps_apply() {
        let mut f = MidiFilter {
            velocity_map: [100; 128],
            ..MidiFilter::default()
        };
        f.cc_map[1] = BLOCKED;
        f.cc_map[11] = 7;
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(16);
        route_event(&f, &mut held, 0, on(60, 20, 0), &mut out);
        assert!(
            matches!(out.as_slice()[0].event, Event::NoteOn { velocity, .. } if (velocity - 100.0 / 127.0).abs() < 1e-6)
        );
        let cc = |controller, value| Event::ControlChange {
            channel: 0,
            controller,
            value,
        };
        route_event(&f, &mut held, 1, cc(1, 64), &mut out);
        route_event(&f, &mut held, 2, cc(11, 90), &mut out);
        route_event(&f, &mut held, 3, cc(123, 0), &mut out);
        let got: Vec<Event> = out.as_slice()[1..].iter().map(|e| e.event).collect();
        assert_eq!(got, vec![cc(7, 90), cc(123, 0)]);
    }

    #[test]
    fn note_off_follows_the_note_on_even_after_filter_changes() {
        let f = MidiFilter {
            keys: (48, 59),
            transpose: 5,
            ..MidiFilter::default()
        };
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(16);
        route_event(&f, &mut held, 0, on(50, 64, 0), &mut out);
        // The split and transpose change while the key is down.
        let changed = MidiFilter {
            keys: (0, 10),
            transpose: -3,
            ..MidiFilter::default()
        };
        route_event(&changed, &mut held, 9, off(50, 0), &mut out);
        assert!(matches!(
            out.as_slice()[1].event,
            Event::NoteOff { key: 55, .. }
        ));
        // A second note-off for the same key goes nowhere.
        route_event(&changed, &mut held, 10, off(50, 0), &mut out);
        assert_eq!(out.len(), 2);
    }

    fn expr(e: &Event) -> Option<(u8, u8, Expression, f32, u16)> {
        match *e {
            Event::NoteExpression {
                channel,
                key,
                expression,
                value,
                midi,
                ..
            } => Some((channel, key, expression, value, midi)),
            _ => None,
        }
    }

    #[test]
    fn mpe_member_channels_shape_their_own_note_after_split_and_transpose() {
        let f = MidiFilter {
            transpose: 12,
            mpe: Some(MpeZone::LOWER),
            ..MidiFilter::default()
        };
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(32);
        // The note's initial bend comes first (+24 semitones), then the note.
        let bend = |channel, value| Event::PitchBend { channel, value };
        route_event(&f, &mut held, 0, bend(2, 12288), &mut out);
        assert!(out.is_empty(), "no note held yet: nothing to shape");
        route_event(&f, &mut held, 4, on(50, 100, 2), &mut out);
        let got: Vec<_> = out.as_slice().iter().map(|e| (e.offset, e.event)).collect();
        assert!(matches!(
            got[0],
            (
                4,
                Event::NoteOn {
                    channel: 2,
                    key: 62,
                    ..
                }
            )
        ));
        assert_eq!(
            expr(&got[1].1),
            Some((2, 62, Expression::Tuning, 24.0, 12288))
        );
        assert_eq!(got[1].0, 4);
        out.clear();
        // Another note on another member channel is not touched.
        route_event(&f, &mut held, 5, on(60, 100, 3), &mut out);
        out.clear();
        route_event(&f, &mut held, 6, bend(2, 16383), &mut out);
        route_event(
            &f,
            &mut held,
            7,
            Event::ChannelPressure {
                channel: 3,
                value: 127,
            },
            &mut out,
        );
        let cc74 = Event::ControlChange {
            channel: 3,
            controller: 74,
            value: 0,
        };
        route_event(&f, &mut held, 8, cc74, &mut out);
        let got: Vec<_> = out.as_slice().iter().map(|e| expr(&e.event)).collect();
        let top = MpeZone::LOWER.tuning(16383);
        assert!((top - 47.994).abs() < 0.01, "{top}");
        assert_eq!(
            got,
            vec![
                Some((2, 62, Expression::Tuning, top, 16383)),
                Some((3, 72, Expression::Pressure, 1.0, 127)),
                Some((3, 72, Expression::Brightness, 0.0, 0)),
            ]
        );
        out.clear();
        // The master channel's bend is the whole zone's: passed on as it is.
        route_event(&f, &mut held, 9, bend(0, 0), &mut out);
        assert_eq!(out.as_slice()[0].event, bend(0, 0));
    }

    #[test]
    fn an_mpe_note_another_rack_took_is_not_shaped_here() {
        let f = MidiFilter {
            keys: (0, 59),
            mpe: Some(MpeZone::UPPER),
            ..MidiFilter::default()
        };
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(8);
        assert!(!route_event(&f, &mut held, 0, on(72, 100, 4), &mut out));
        route_event(
            &f,
            &mut held,
            1,
            Event::PitchBend {
                channel: 4,
                value: 0,
            },
            &mut out,
        );
        assert!(out.is_empty());
        // Channel 16 is the upper zone's master: not a member.
        route_event(
            &f,
            &mut held,
            2,
            Event::PitchBend {
                channel: 15,
                value: 0,
            },
            &mut out,
        );
        assert!(matches!(
            out.as_slice()[0].event,
            Event::PitchBend { channel: 15, .. }
        ));
    }

    /// The RPN messages that set `rpn` to `value` on `channel`.
    fn rpn(channel: u8, rpn: u8, value: u8) -> [Event; 3] {
        let cc = |controller, value| Event::ControlChange {
            channel,
            controller,
            value,
        };
        [cc(101, 0), cc(100, rpn), cc(6, value)]
    }

    #[test]
    fn the_mpe_configuration_message_sets_the_zone_and_rpn_0_its_bend_range() {
        let f = MidiFilter {
            mpe_auto: true,
            ..MidiFilter::default()
        };
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(32);
        let bend = |channel| Event::PitchBend {
            channel,
            value: 16383,
        };
        // No zone yet: a bend on channel 2 is the channel's.
        route_event(&f, &mut held, 0, on(60, 100, 1), &mut out);
        route_event(&f, &mut held, 1, bend(1), &mut out);
        assert!(matches!(out.as_slice()[1].event, Event::PitchBend { .. }));
        // A lower zone of 3 members (channels 2..=4), then their bend range
        // set to 12 semitones from a member channel.
        for e in rpn(0, 6, 3).into_iter().chain(rpn(2, 0, 12)) {
            route_event(&f, &mut held, 2, e, &mut out);
        }
        out.clear();
        route_event(&f, &mut held, 3, bend(1), &mut out);
        route_event(&f, &mut held, 4, bend(4), &mut out);
        let got: Vec<_> = out.as_slice().iter().map(|e| e.event).collect();
        assert_eq!(
            expr(&got[0]),
            Some((
                1,
                60,
                Expression::Tuning,
                MpeZone {
                    members: 0b11110,
                    bend_range: 12
                }
                .tuning(16383),
                16383
            ))
        );
        // Channel 5 is not a member of a 3-member zone.
        assert!(matches!(got[1], Event::PitchBend { channel: 4, .. }));
        // Zero members ends the zone.
        for e in rpn(0, 6, 0) {
            route_event(&f, &mut held, 5, e, &mut out);
        }
        out.clear();
        route_event(&f, &mut held, 6, bend(1), &mut out);
        assert!(matches!(out.as_slice()[0].event, Event::PitchBend { .. }));
    }

    #[test]
    fn an_upper_zone_counts_down_from_channel_15_and_racks_without_mpe_ignore_it() {
        let auto = MidiFilter {
            mpe_auto: true,
            ..MidiFilter::default()
        };
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(16);
        for e in rpn(15, 6, 2) {
            route_event(&auto, &mut held, 0, e, &mut out);
        }
        assert_eq!(
            held.3.zone,
            Some(MpeZone {
                members: 0b0110_0000_0000_0000,
                bend_range: 48
            })
        );
        let plain = MidiFilter::default();
        let mut held = HeldNotes::new();
        for e in rpn(15, 6, 2) {
            route_event(&plain, &mut held, 0, e, &mut out);
        }
        assert_eq!(held.3.zone, None);
    }

    #[test]
    fn mpe_out_mirrors_the_other_zone_onto_the_plugins_zone() {
        // An upper-zone controller (master 16, members 15 down; 0-based
        // 15 and 14 down) into a rack whose plugin plays the lower zone:
        // member 15 becomes member 2, the master's messages go to channel
        // 1; a lower-zone stream into it is left alone.
        let f = MidiFilter {
            mpe: Some(MpeZone::UPPER),
            mpe_out: Some(ZoneSide::Lower),
            ..MidiFilter::default()
        };
        let mut held = HeldNotes::new();
        let mut out = EventBuffer::with_capacity(16);
        route_event(&f, &mut held, 0, on(60, 100, 14), &mut out);
        route_event(
            &f,
            &mut held,
            1,
            Event::ControlChange {
                channel: 15,
                controller: 1,
                value: 9,
            },
            &mut out,
        );
        route_event(&f, &mut held, 2, on(64, 100, 13), &mut out);
        held.rechannel(&f, &mut out);
        let channels: Vec<u8> = out
            .as_slice()
            .iter()
            .filter_map(|e| e.event.channel())
            .collect();
        assert_eq!(channels, [1, 0, 2]);
        // The note-off of the first note leaves on its new channel too.
        out.clear();
        route_event(&f, &mut held, 3, off(60, 14), &mut out);
        held.rechannel(&f, &mut out);
        assert!(matches!(
            out.as_slice()[0].event,
            Event::NoteOff {
                channel: 1,
                key: 60,
                ..
            }
        ));
        let lower = MidiFilter {
            mpe: Some(MpeZone::LOWER),
            ..f
        };
        let mut out = EventBuffer::with_capacity(4);
        route_event(&lower, &mut HeldNotes::new(), 0, on(60, 100, 1), &mut out);
        HeldNotes::new().rechannel(&lower, &mut out);
        assert_eq!(out.as_slice()[0].event.channel(), Some(1));
    }
}
