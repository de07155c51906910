//! Events a VST3 plugin emits (its event output bus) → the events the next
//! slot of the chain receives: notes, and the legacy MIDI CC output events
//! (controllers, pitch bend, channel and poly pressure, program change).
//! Audio thread; plain data.

use vst3::Steinberg::Vst as sv;

use stagerack_core::midi::{Event, TimedEvent};

/// One output event as the chain's event, at its offset (clamped into the
/// block), or None for kinds the chain has no use for (note expression,
/// chords, scales, SysEx) and malformed ones. Audio thread.
pub(super) fn chain_event(e: &sv::Event, frames: usize) -> Option<TimedEvent> {
    use sv::Event_::EventTypes_ as et;
    let offset = u32::try_from(e.sampleOffset.max(0))
        .ok()?
        .min(frames.saturating_sub(1) as u32);
    let channel = |c: i16| u8::try_from(c).ok().filter(|c| *c < 16);
    let key = |k: i16| u8::try_from(k).ok().filter(|k| *k < 128);
    let event = match u32::from(e.r#type) {
        et::kNoteOnEvent => {
            // SAFETY: the type says which union field is live.
            let n = unsafe { e.__field0.noteOn };
            Event::NoteOn {
                channel: channel(n.channel)?,
                key: key(n.pitch)?,
                velocity: n.velocity.clamp(0.0, 1.0),
                note_id: n.noteId,
            }
        }
        et::kNoteOffEvent => {
            // SAFETY: as above.
            let n = unsafe { e.__field0.noteOff };
            Event::NoteOff {
                channel: channel(n.channel)?,
                key: key(n.pitch)?,
                velocity: n.velocity.clamp(0.0, 1.0),
                note_id: n.noteId,
            }
        }
        et::kLegacyMIDICCOutEvent => {
            // SAFETY: as above.
            let m = unsafe { e.__field0.midiCCOut };
            let ch = u8::try_from(m.channel).ok().filter(|c| *c < 16)?;
            let v = |x: i8| u8::try_from(x).ok().filter(|x| *x < 128);
            match m.controlNumber {
                0..=127 => Event::from_midi(&[0xB0 | ch, m.controlNumber, v(m.value)?])?,
                // kAfterTouch, kPitchBend, kCtrlProgramChange,
                // kCtrlPolyPressure (VST3's controller numbers past 127).
                128 => Event::from_midi(&[0xD0 | ch, v(m.value)?])?,
                129 => Event::from_midi(&[0xE0 | ch, v(m.value)?, v(m.value2)?])?,
                130 => Event::from_midi(&[0xC0 | ch, v(m.value)?])?,
                131 => Event::from_midi(&[0xA0 | ch, v(m.value)?, v(m.value2)?])?,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(TimedEvent::new(offset, event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sv::Event_::EventTypes_ as et;

    fn event(kind: u32, offset: i32, body: sv::Event__type0) -> sv::Event {
        sv::Event {
            busIndex: 0,
            sampleOffset: offset,
            ppqPosition: 0.0,
            flags: 0,
            r#type: kind as u16,
            __field0: body,
        }
    }

    fn cc(number: u8, channel: i8, value: i8, value2: i8) -> sv::Event {
        event(
            et::kLegacyMIDICCOutEvent,
            3,
            sv::Event__type0 {
                midiCCOut: sv::LegacyMIDICCOutEvent {
                    controlNumber: number,
                    channel,
                    value,
                    value2,
                },
            },
        )
    }

    #[test]
    fn notes_and_legacy_midi_become_chain_events() {
        let on = event(
            et::kNoteOnEvent,
            5,
            sv::Event__type0 {
                noteOn: sv::NoteOnEvent {
                    channel: 2,
                    pitch: 72,
                    tuning: 0.0,
                    velocity: 0.5,
                    length: 0,
                    noteId: -1,
                },
            },
        );
        let got = chain_event(&on, 64).unwrap();
        assert_eq!(got.offset, 5);
        assert_eq!(
            got.event,
            Event::NoteOn {
                channel: 2,
                key: 72,
                velocity: 0.5,
                note_id: -1
            }
        );
        assert_eq!(
            chain_event(&cc(64, 0, 127, 0), 64).unwrap().event,
            Event::ControlChange {
                channel: 0,
                controller: 64,
                value: 127
            }
        );
        assert!(matches!(
            chain_event(&cc(129, 1, 0, 64), 64).unwrap().event,
            Event::PitchBend { channel: 1, .. }
        ));
        assert!(matches!(
            chain_event(&cc(128, 0, 100, 0), 64).unwrap().event,
            Event::ChannelPressure { value: 100, .. }
        ));
    }

    #[test]
    fn late_offsets_are_clamped_and_nonsense_is_dropped() {
        assert_eq!(chain_event(&cc(7, 0, 1, 0), 2).unwrap().offset, 1);
        assert!(chain_event(&cc(7, 16, 1, 0), 64).is_none(), "channel 16");
        assert!(chain_event(&cc(7, 0, -1, 0), 64).is_none(), "value < 0");
        assert!(
            chain_event(&cc(200, 0, 1, 0), 64).is_none(),
            "unknown number"
        );
    }
}
