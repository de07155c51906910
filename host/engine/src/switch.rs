//! Setlist switching on the audio thread: which MIDI events are triggers,
//! and which preset (group of racks) is current at each event.

use stagerack_core::midi::{Event, TimedEvent};

/// One setlist entry's triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryTrigger {
    /// Program change number that selects it.
    pub program: Option<u8>,
    /// Bank (CC0 × 128 + CC32) the program change must come with; `None`:
    /// any bank.
    pub bank: Option<u16>,
    /// A note-on of this key on the note channel selects it.
    pub note: Option<u8>,
}

/// How presets are switched; part of a plan, built on the main thread.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwitchTable {
    /// Triggers per group (setlist entry), in setlist order.
    pub entries: Vec<EntryTrigger>,
    /// Channel (0-based) program changes and next/previous CCs must come on;
    /// `None`: any channel.
    pub channel: Option<u8>,
    /// CC that steps to the next entry (value ≥ 64).
    pub next_cc: Option<u8>,
    /// CC that steps to the previous entry (value ≥ 64).
    pub previous_cc: Option<u8>,
    /// Channel (0-based) whose note-ons select entries by `note` (and are
    /// not played).
    pub note_channel: Option<u8>,
    /// Frames a switched-away preset may keep sounding (held notes, tails)
    /// before it is silenced.
    pub max_tail_frames: u64,
}

/// The audio thread's switching state; outlives plans. Audio thread.
#[derive(Clone, Debug, Default)]
pub(crate) struct SwitchState {
    /// The group new notes go to.
    pub(crate) current: u16,
    /// Bank select per channel (MSB × 128 + LSB).
    bank: [u16; 16],
}

impl SwitchState {
    /// If `event` is a trigger in `table`, returns the group it selects
    /// (which may equal the current one) and whether the event is consumed
    /// (not played). Tracks bank select. Audio thread.
    pub(crate) fn trigger(
        &mut self,
        table: &SwitchTable,
        event: &TimedEvent,
    ) -> Option<(u16, bool)> {
        if table.entries.len() < 2 && table.next_cc.is_none() && table.note_channel.is_none() {
            return None;
        }
        let on_channel = |ch: u8| table.channel.is_none_or(|c| c == ch);
        let last = table.entries.len().saturating_sub(1) as u16;
        match event.event {
            Event::ControlChange {
                channel,
                controller,
                value,
            } => {
                let ch = usize::from(channel & 15);
                match controller {
                    0 => self.bank[ch] = (u16::from(value) << 7) | (self.bank[ch] & 0x7F),
                    32 => self.bank[ch] = (self.bank[ch] & !0x7F) | u16::from(value),
                    _ => {}
                }
                if !on_channel(channel) {
                    return None;
                }
                if Some(controller) == table.next_cc {
                    return Some((
                        if value >= 64 {
                            (self.current + 1).min(last)
                        } else {
                            self.current
                        },
                        true,
                    ));
                }
                if Some(controller) == table.previous_cc {
                    return Some((
                        if value >= 64 {
                            self.current.saturating_sub(1)
                        } else {
                            self.current
                        },
                        true,
                    ));
                }
                None
            }
            Event::ProgramChange { channel, program } if on_channel(channel) => {
                let bank = self.bank[usize::from(channel & 15)];
                table
                    .entries
                    .iter()
                    .position(|e| e.program == Some(program) && e.bank.is_none_or(|b| b == bank))
                    .map(|i| (i as u16, true))
            }
            Event::NoteOn { channel, key, .. } | Event::NoteOff { channel, key, .. }
                if table.note_channel == Some(channel) =>
            {
                let selects = table.entries.iter().position(|e| e.note == Some(key));
                match (event.event, selects) {
                    (Event::NoteOn { .. }, Some(i)) => Some((i as u16, true)),
                    // The trigger channel is for switching only.
                    _ => Some((self.current, true)),
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SwitchTable {
        SwitchTable {
            entries: vec![
                EntryTrigger {
                    program: Some(0),
                    bank: None,
                    note: Some(36),
                },
                EntryTrigger {
                    program: Some(5),
                    bank: Some(130),
                    note: None,
                },
                EntryTrigger {
                    program: Some(9),
                    bank: None,
                    note: None,
                },
            ],
            channel: Some(0),
            next_cc: Some(80),
            previous_cc: Some(81),
            note_channel: Some(15),
            max_tail_frames: 48_000,
        }
    }

    fn ev(event: Event) -> TimedEvent {
        TimedEvent::new(0, event)
    }

    #[test]
    fn program_change_with_bank_select() {
        let t = table();
        let mut s = SwitchState::default();
        let pc = |program| {
            ev(Event::ProgramChange {
                channel: 0,
                program,
            })
        };
        let cc = |controller, value| {
            ev(Event::ControlChange {
                channel: 0,
                controller,
                value,
            })
        };
        assert_eq!(s.trigger(&t, &pc(9)), Some((2, true)));
        // Program 5 needs bank 130 = MSB 1, LSB 2.
        assert_eq!(s.trigger(&t, &pc(5)), None);
        s.trigger(&t, &cc(0, 1));
        s.trigger(&t, &cc(32, 2));
        assert_eq!(s.trigger(&t, &pc(5)), Some((1, true)));
        // Other channels don't switch.
        assert_eq!(
            s.trigger(
                &t,
                &ev(Event::ProgramChange {
                    channel: 3,
                    program: 9
                })
            ),
            None
        );
    }

    #[test]
    fn next_previous_and_notes() {
        let t = table();
        let mut s = SwitchState::default();
        let cc = |controller, value| {
            ev(Event::ControlChange {
                channel: 0,
                controller,
                value,
            })
        };
        assert_eq!(s.trigger(&t, &cc(80, 127)), Some((1, true)));
        s.current = 2;
        assert_eq!(
            s.trigger(&t, &cc(80, 127)),
            Some((2, true)),
            "no wrap past the end"
        );
        assert_eq!(
            s.trigger(&t, &cc(80, 0)),
            Some((2, true)),
            "pedal up does nothing"
        );
        assert_eq!(s.trigger(&t, &cc(81, 127)), Some((1, true)));
        let note = |key| {
            ev(Event::NoteOn {
                channel: 15,
                key,
                velocity: 1.0,
                note_id: -1,
            })
        };
        assert_eq!(s.trigger(&t, &note(36)), Some((0, true)));
        assert_eq!(
            s.trigger(&t, &note(37)),
            Some((2, true)),
            "unassigned keys are swallowed"
        );
    }
}
