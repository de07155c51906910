//! The demo phrase: four bars at 100 BPM, a bass line below C4 and pad
//! chords above it, with the sustain pedal and a pitch bend on the last
//! chord; then a short coda.

use std::path::Path;

use midly::num::{u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

const TPB: u32 = 480;

struct Ev {
    tick: u32,
    order: u8,
    msg: MidiMessage,
}

fn note(evs: &mut Vec<Ev>, start: u32, len: u32, key: u8, vel: u8) {
    evs.push(Ev {
        tick: start,
        order: 1,
        msg: MidiMessage::NoteOn {
            key: u7::new(key),
            vel: u7::new(vel),
        },
    });
    evs.push(Ev {
        tick: start + len,
        order: 0,
        msg: MidiMessage::NoteOff {
            key: u7::new(key),
            vel: u7::new(64),
        },
    });
}

fn cc(evs: &mut Vec<Ev>, tick: u32, controller: u8, value: u8) {
    evs.push(Ev {
        tick,
        order: 2,
        msg: MidiMessage::Controller {
            controller: u7::new(controller),
            value: u7::new(value),
        },
    });
}

/// Writes the demo MIDI file to `path`.
pub fn write(path: &Path) -> std::io::Result<()> {
    let bar = 4 * TPB;
    let eighth = TPB / 2;
    let mut evs = Vec::new();
    // Bass: root-fifth-octave eighths, C2 G1 A1 F1 roots (MIDI 36, 31, 33, 29).
    let roots = [36u8, 31, 33, 29, 36];
    for (b, &root) in roots.iter().enumerate().take(4) {
        let pattern = [0i8, 0, 7, 12, 0, 7, 10, 12];
        for (i, step) in pattern.iter().enumerate() {
            let key = (i16::from(root) + i16::from(*step)) as u8;
            let vel = if i % 2 == 0 { 104 } else { 84 };
            note(
                &mut evs,
                b as u32 * bar + i as u32 * eighth,
                eighth - 40,
                key,
                vel,
            );
        }
    }
    // Pad chords above C4: Cmaj9, G/B-ish, Am7, Fmaj7#11.
    let chords: [&[u8]; 4] = [
        &[60, 64, 67, 71, 74],
        &[62, 67, 71, 74],
        &[60, 64, 67, 69, 72],
        &[60, 65, 69, 71, 76],
    ];
    for (b, chord) in chords.iter().enumerate() {
        let start = b as u32 * bar;
        cc(&mut evs, start, 64, 127);
        for (i, &k) in chord.iter().enumerate() {
            // A slight strum.
            note(
                &mut evs,
                start + i as u32 * 24,
                bar / 2,
                k,
                70 + (i as u8) * 6,
            );
        }
        // A melody note on beat 3, held by the pedal.
        note(
            &mut evs,
            start + 2 * TPB,
            TPB,
            chord[chord.len() - 1] + 2,
            96,
        );
        cc(&mut evs, start + bar - 30, 64, 0);
    }
    // Coda: C2 and a high C major chord, bent up a whole tone and back.
    let coda = 4 * bar;
    note(&mut evs, coda, bar, roots[4], 110);
    for (i, &k) in [72u8, 76, 79, 84].iter().enumerate() {
        note(&mut evs, coda + i as u32 * 30, bar, k, 90);
    }
    for i in 0..=16u32 {
        let t = coda + TPB + i * 30;
        let v = 8192 + (i * 4095 / 16) as u16;
        evs.push(Ev {
            tick: t,
            order: 2,
            msg: MidiMessage::PitchBend {
                bend: midly::PitchBend(midly::num::u14::new(v)),
            },
        });
    }
    evs.push(Ev {
        tick: coda + 3 * TPB,
        order: 2,
        msg: MidiMessage::PitchBend {
            bend: midly::PitchBend(midly::num::u14::new(8192)),
        },
    });
    evs.sort_by_key(|e| (e.tick, e.order));

    let mut track = vec![
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TrackName(b"stagerack demo")),
        },
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(midly::num::u24::new(600_000))),
        },
    ];
    let mut last = 0;
    for e in &evs {
        track.push(TrackEvent {
            delta: u28::new(e.tick - last),
            kind: TrackEventKind::Midi {
                channel: u4::new(0),
                message: e.msg,
            },
        });
        last = e.tick;
    }
    track.push(TrackEvent {
        delta: u28::new(0),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf = Smf {
        header: Header::new(
            Format::SingleTrack,
            Timing::Metrical(midly::num::u15::new(TPB as u16)),
        ),
        tracks: vec![track],
    };
    smf.save(path)
}
