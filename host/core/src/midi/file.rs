//! Standard MIDI files, read into events at absolute sample positions.

use std::path::{Path, PathBuf};

use super::Event;

/// Why a MIDI file could not be used. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum MidiFileError {
    /// The file could not be read.
    #[error("cannot read MIDI file {path}: {source}; check the path")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not a standard MIDI file.
    #[error("{path} is not a valid standard MIDI file ({reason}); export it again as a .mid (SMF type 0 or 1)")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// A MIDI event at an absolute sample position from the start of the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleEvent {
    /// Frames from the start of the render.
    pub frame: u64,
    /// The event.
    pub event: Event,
}

/// Reads every channel event of every track of `path`, merged, placed on
/// its sample at `sample_rate` following the file's tempo map. Sorted by
/// frame; events on the same frame keep file order (track, then position).
/// Main thread.
pub fn read_midi_file(path: &Path, sample_rate: f64) -> Result<Vec<SampleEvent>, MidiFileError> {
    let bytes = std::fs::read(path).map_err(|source| MidiFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_midi_bytes(&bytes, sample_rate).map_err(|reason| MidiFileError::Parse {
        path: path.to_owned(),
        reason,
    })
}

/// Parses MIDI file bytes (see [`read_midi_file`]). Never panics on bad
/// input; the error is the parser's description. Main thread.
pub fn parse_midi_bytes(bytes: &[u8], sample_rate: f64) -> Result<Vec<SampleEvent>, String> {
    use midly::{MetaMessage, Timing, TrackEventKind};
    // midly can panic on some malformed headers (an SMPTE division of -128
    // overflows its negation in builds with overflow checks): a bad file is
    // an error here, never a crash.
    let smf = std::panic::catch_unwind(|| midly::Smf::parse(bytes))
        .map_err(|_| "malformed MIDI file (its header could not be read)".to_owned())?
        .map_err(|e| e.to_string())?;

    // (tick, track, index, what)
    enum Item {
        Tempo(u32),
        Midi(Event),
    }
    let mut items: Vec<(u64, usize, usize, Item)> = Vec::new();
    for (t, track) in smf.tracks.iter().enumerate() {
        let mut tick: u64 = 0;
        for (i, ev) in track.iter().enumerate() {
            tick += u64::from(u32::from(ev.delta));
            match ev.kind {
                TrackEventKind::Meta(MetaMessage::Tempo(us)) => {
                    items.push((tick, t, i, Item::Tempo(u32::from(us))))
                }
                TrackEventKind::Midi { channel, message } => {
                    let mut buf = Vec::with_capacity(3);
                    let live = midly::live::LiveEvent::Midi { channel, message };
                    if live.write_std(&mut buf).is_ok() {
                        if let Some(e) = Event::from_midi(&buf) {
                            items.push((tick, t, i, Item::Midi(e)));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // Tempo changes at a tick apply before notes at that tick, whichever track.
    items.sort_by_key(|(tick, track, idx, item)| {
        (*tick, matches!(item, Item::Midi(_)), *track, *idx)
    });

    let (ticks_per_beat, fixed_seconds_per_tick) = match smf.header.timing {
        Timing::Metrical(tpb) => {
            let tpb = u16::from(tpb);
            if tpb == 0 {
                return Err("ticks per quarter note is 0".into());
            }
            (f64::from(tpb), None)
        }
        Timing::Timecode(fps, sub) => {
            let per_second = f64::from(fps.as_f32()) * f64::from(sub.max(1));
            (1.0, Some(1.0 / per_second))
        }
    };

    let mut out = Vec::with_capacity(items.len());
    let mut us_per_beat = 500_000.0_f64; // 120 BPM until told otherwise
    let mut last_tick = 0u64;
    let mut seconds = 0.0_f64;
    for (tick, _, _, item) in items {
        let dt = (tick - last_tick) as f64;
        seconds += match fixed_seconds_per_tick {
            Some(s) => dt * s,
            None => dt * us_per_beat / 1e6 / ticks_per_beat,
        };
        last_tick = tick;
        match item {
            Item::Tempo(us) => us_per_beat = f64::from(us.max(1)),
            Item::Midi(event) => out.push(SampleEvent {
                frame: (seconds * sample_rate).round() as u64,
                event,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smf(tpb: u16, tracks: Vec<Vec<midly::TrackEvent<'static>>>) -> Vec<u8> {
        let header = midly::Header::new(
            if tracks.len() > 1 {
                midly::Format::Parallel
            } else {
                midly::Format::SingleTrack
            },
            midly::Timing::Metrical(tpb.into()),
        );
        let smf = midly::Smf { header, tracks };
        let mut out = Vec::new();
        smf.write_std(&mut out).unwrap();
        out
    }

    fn note_on(delta: u32, key: u8) -> midly::TrackEvent<'static> {
        midly::TrackEvent {
            delta: delta.into(),
            kind: midly::TrackEventKind::Midi {
                channel: 0.into(),
                message: midly::MidiMessage::NoteOn {
                    key: key.into(),
                    vel: 100.into(),
                },
            },
        }
    }

    fn tempo(delta: u32, us: u32) -> midly::TrackEvent<'static> {
        midly::TrackEvent {
            delta: delta.into(),
            kind: midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(us.into())),
        }
    }

    #[test]
    fn tempo_map_across_tracks_is_honoured() {
        // Track 0: tempo 120 BPM, then after one beat 60 BPM.
        // Track 1: notes at beat 0, 1 and 2.
        let bytes = smf(
            480,
            vec![
                vec![tempo(0, 500_000), tempo(480, 1_000_000)],
                vec![note_on(0, 60), note_on(480, 61), note_on(480, 62)],
            ],
        );
        let events = parse_midi_bytes(&bytes, 48_000.0).unwrap();
        let frames: Vec<u64> = events.iter().map(|e| e.frame).collect();
        // Beat 0 at 0 s, beat 1 at 0.5 s, beat 2 at 0.5 + 1.0 s.
        assert_eq!(frames, vec![0, 24_000, 72_000]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_midi_bytes(b"not a midi file", 48_000.0).is_err());
        assert!(parse_midi_bytes(&[], 48_000.0).is_err());
        // An SMPTE division of -128 made the parser panic (found by the
        // fuzz test; seed host/tests/corpus/midi_file/smpte-minus-128.mid).
        let header = [
            b'M', b'T', b'h', b'd', 0, 0, 0, 6, 0, 0, 0, 1, 0x80, 0x00, b'M', b'T', b'r', b'k', 0,
            0, 0, 4, 0x00, 0xFF, 0x2F, 0x00,
        ];
        assert!(parse_midi_bytes(&header, 48_000.0).is_err());
    }
}
