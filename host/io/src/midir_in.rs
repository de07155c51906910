//! MIDI inputs through midir (ALSA sequencer on Linux, CoreMIDI, WinMM)
//! for the backends without their own MIDI (everything but JACK).
//!
//! The main thread owns a [`MidiHub`]: it connects every input whose name
//! matches a `--midi-in` pattern, and on each [`MidiHub::maintain`] connects
//! inputs that appeared and closes ones that vanished (a cable pulled and
//! plugged back). Each connection's callback parses the bytes, stamps each
//! message with [`now_ns`] and pushes it into its own preallocated ring.
//! The audio thread owns the matching [`MidiMerge`], which places the
//! messages of every ring into the buffer (see [`MidiScheduler`]).
//!
//! The number of rings is fixed at start ([`MIDI_INPUT_SLOTS`]); a closed
//! connection gives its ring back for the next device.

use super::midi_stream::{
    midi_ring, now_ns, MidiParser, MidiProducer, MidiScheduler, MidiTiming, Stamped,
};
use super::IoError;
use stagerack_core::midi::TimedEvent;

/// The most MIDI inputs connected at once.
pub const MIDI_INPUT_SLOTS: usize = 8;
/// Messages per input ring, and how many of them are kept for note-offs.
const RING: usize = 1024;
const RESERVE: usize = 128;

/// What a connection's callback owns: its parser and ring.
struct InputState {
    parser: MidiParser,
    producer: MidiProducer,
}

struct Connection {
    name: String,
    /// The ring slot it feeds (= its `TimedEvent::source`).
    slot: usize,
    conn: midir::MidiInputConnection<InputState>,
}

/// The main thread's side of the midir inputs. Main thread.
pub struct MidiHub {
    patterns: Vec<String>,
    /// Rings not connected to a device, with their slot numbers.
    free: Vec<(usize, MidiProducer)>,
    conns: Vec<Connection>,
}

fn new_input() -> Result<midir::MidiInput, IoError> {
    midir::MidiInput::new("stagerack").map_err(|e| {
        IoError::Option(format!(
            "cannot open the MIDI system for --midi-in ({e}); on Linux the ALSA sequencer \
             (/dev/snd/seq, module snd-seq) is needed, or use --backend jack with JACK MIDI"
        ))
    })
}

/// The names of the MIDI inputs midir sees, or why it sees none. Main thread.
pub fn list_inputs() -> Result<Vec<String>, IoError> {
    let input = new_input()?;
    Ok(input
        .ports()
        .iter()
        .filter_map(|p| input.port_name(p).ok())
        .collect())
}

fn matches(pattern: &str, name: &str) -> bool {
    pattern == "all" || name.to_lowercase().contains(&pattern.to_lowercase())
}

impl MidiHub {
    /// Opens the hub for `patterns` (case-insensitive substrings of the
    /// input names; `all` takes every input) and connects what matches
    /// now. Returns the audio side too. A pattern matching nothing is a
    /// warning listing the inputs (the device may be plugged in later).
    /// Main thread.
    pub fn open(
        patterns: &[String],
        timing: MidiTiming,
        rate: f64,
        frames: u32,
    ) -> Result<(MidiHub, MidiMerge), IoError> {
        let names = list_inputs()?;
        let mut free = Vec::new();
        let mut scheds = Vec::new();
        for slot in 0..MIDI_INPUT_SLOTS {
            let (tx, rx) = midi_ring(RING, RESERVE);
            free.push((slot, tx));
            scheds.push(MidiScheduler::new(rx, timing, rate, frames));
        }
        // The first device takes slot 0.
        free.reverse();
        for p in patterns {
            if !names.iter().any(|n| matches(p, n)) {
                tracing::warn!(
                    "--midi-in `{p}` matches no MIDI input yet (it is connected when it \
                     appears); available: {}",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                );
            }
        }
        let mut hub = MidiHub {
            patterns: patterns.to_vec(),
            free,
            conns: Vec::new(),
        };
        hub.maintain();
        Ok((
            hub,
            MidiMerge {
                scheds,
                scratch: Vec::with_capacity(1024),
            },
        ))
    }

    /// The inputs connected now. Main thread.
    pub fn connected(&self) -> Vec<String> {
        self.conns.iter().map(|c| c.name.clone()).collect()
    }

    /// The device behind each `TimedEvent::source` (ring slot), empty for
    /// a slot no device uses. Main thread.
    pub fn source_names(&self) -> Vec<String> {
        let mut names = vec![String::new(); MIDI_INPUT_SLOTS];
        for c in &self.conns {
            names[c.slot] = c.name.clone();
        }
        names
    }

    /// Closes connections to inputs that vanished and connects matching
    /// inputs that appeared. Main thread.
    pub fn maintain(&mut self) {
        let Ok(input) = new_input() else { return };
        let present: Vec<(String, midir::MidiInputPort)> = input
            .ports()
            .into_iter()
            .filter_map(|p| input.port_name(&p).ok().map(|n| (n, p)))
            .collect();
        // Close the vanished ones; their rings go back to the free list.
        let mut kept = Vec::new();
        for c in self.conns.drain(..) {
            if present.iter().any(|(n, _)| *n == c.name) {
                kept.push(c);
            } else {
                tracing::warn!("MIDI input `{}` is gone; waiting for it to return", c.name);
                let (_, mut state) = c.conn.close();
                // Its keys still down will never be released: sustain off
                // and all notes off on every channel, through its own ring.
                let time_ns = now_ns();
                for ch in 0..16u8 {
                    for cc in [64u8, 123] {
                        state.producer.push(Stamped {
                            time_ns,
                            message: super::midi_stream::ShortMessage {
                                bytes: [0xB0 | ch, cc, 0],
                                len: 3,
                            },
                        });
                    }
                }
                self.free.push((c.slot, state.producer));
            }
        }
        self.conns = kept;
        for (name, port) in present {
            if self.conns.iter().any(|c| c.name == name)
                || !self.patterns.iter().any(|p| matches(p, &name))
            {
                continue;
            }
            let Some((slot, producer)) = self.free.pop() else {
                tracing::warn!(
                    "MIDI input `{name}` not connected: {MIDI_INPUT_SLOTS} inputs already are"
                );
                continue;
            };
            let Ok(input) = new_input() else {
                self.free.push((slot, producer));
                return;
            };
            let state = InputState {
                parser: MidiParser::new(),
                producer,
            };
            match input.connect(&port, "stagerack-in", on_midi, state) {
                Ok(conn) => {
                    tracing::info!("MIDI input `{name}` connected");
                    self.conns.push(Connection { name, slot, conn });
                }
                Err(e) => {
                    // midir keeps the callback state of a failed connection,
                    // so this ring slot is gone for good (one of eight).
                    tracing::warn!("cannot connect MIDI input `{name}`: {e}");
                }
            }
        }
    }
}

/// midir's callback: parse, stamp on arrival, queue. MIDI input thread;
/// never allocates.
fn on_midi(_stamp_us: u64, bytes: &[u8], state: &mut InputState) {
    let time_ns = now_ns();
    for b in bytes {
        if let Some(message) = state.parser.push(*b) {
            state.producer.push(Stamped { time_ns, message });
        }
    }
}

/// The audio thread's side: one scheduler per input slot. Audio thread.
pub struct MidiMerge {
    scheds: Vec<MidiScheduler>,
    scratch: Vec<TimedEvent>,
}

impl MidiMerge {
    /// Fills `out` (cleared first, never grown) with every input's messages
    /// due in this buffer, sorted by offset (stable: one input's messages
    /// keep their order). `now_ns`: when the callback started. Returns the
    /// messages that did not fit. Audio thread; never allocates.
    pub fn fill(&mut self, now_ns: u64, frames: u32, out: &mut Vec<TimedEvent>) -> u32 {
        out.clear();
        let mut lost = 0;
        for (slot, s) in self.scheds.iter_mut().enumerate() {
            lost += s.fill(now_ns, frames, &mut self.scratch);
            for e in &self.scratch {
                if out.len() < out.capacity() {
                    // Stable insertion after every event at the same or an
                    // earlier offset.
                    let at = out.partition_point(|x| x.offset <= e.offset);
                    out.insert(at, e.from_source(slot as u8));
                } else {
                    lost += 1;
                }
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi_stream::ShortMessage;
    use stagerack_core::midi::Event;

    #[test]
    fn merge_sorts_inputs_by_offset_and_keeps_each_inputs_order() {
        let rate = 48_000.0;
        let period = 64.0 / rate * 1e9;
        let mut producers = Vec::new();
        let mut scheds = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = midi_ring(64, 4);
            producers.push(tx);
            scheds.push(MidiScheduler::new(rx, MidiTiming::Steady, rate, 64));
        }
        let mut merge = MidiMerge {
            scheds,
            scratch: Vec::with_capacity(64),
        };
        let mut out = Vec::with_capacity(64);
        let t0 = 1_000_000_000u64;
        merge.fill(t0, 64, &mut out);
        let note = |key| ShortMessage {
            bytes: [0x90, key, 100],
            len: 3,
        };
        // During the buffer that starts at t0: input 0 at 10 and 40 frames,
        // input 1 at 20 frames and two at 40 frames.
        let at = |frames: f64| t0 + (frames / rate * 1e9) as u64;
        producers[0].push(Stamped {
            time_ns: at(10.0),
            message: note(1),
        });
        producers[0].push(Stamped {
            time_ns: at(40.0),
            message: note(2),
        });
        producers[1].push(Stamped {
            time_ns: at(20.0),
            message: note(3),
        });
        producers[1].push(Stamped {
            time_ns: at(40.0),
            message: note(4),
        });
        producers[1].push(Stamped {
            time_ns: at(40.0),
            message: note(5),
        });
        merge.fill(t0 + period as u64, 64, &mut out);
        let got: Vec<(u32, u8)> = out
            .iter()
            .map(|e| match e.event {
                Event::NoteOn { key, .. } => (e.offset, key),
                _ => (0, 0),
            })
            .collect();
        let keys: Vec<u8> = got.iter().map(|g| g.1).collect();
        assert_eq!(keys, vec![1, 3, 2, 4, 5], "{got:?}");
        // Each event names the input it came from.
        let sources: Vec<u8> = out.iter().map(|e| e.source).collect();
        assert_eq!(sources, vec![0, 1, 0, 1, 1]);
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "{got:?}");
        // One period of latency: frame 10 of the last buffer is frame 10 here.
        assert!((9..=11).contains(&got[0].0), "{got:?}");
    }
}
