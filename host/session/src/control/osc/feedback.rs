//! What subscribed OSC clients are told: the song playing, the current
//! song's rack gains and mutes, meters. Pure functions from the control
//! protocol's replies to OSC messages; the OSC thread sends them.

use rosc::{OscMessage, OscType};

use super::address::PREFIX;
use crate::control::protocol::Snapshot;

fn message(addr: String, args: Vec<OscType>) -> OscMessage {
    OscMessage { addr, args }
}

/// A rack name as an OSC address segment (spaces written `_`). Any thread.
pub fn segment(name: &str) -> String {
    name.replace(' ', "_")
}

/// The song feedback for `state`: `/stagerack/song s`, `/stagerack/entry
/// i` (from 0), `/stagerack/entries i`, `/stagerack/next_song s` ("" after
/// the last), then `/stagerack/rack/<name>/gain f` (dB) and `.../mute i`
/// for each rack of the current song. OSC thread.
pub fn song(state: &Snapshot) -> Vec<OscMessage> {
    let name = |i: usize| state.presets.get(i).cloned().unwrap_or_default();
    let current = usize::from(state.current);
    let mut out = vec![
        message(
            format!("{PREFIX}/song"),
            vec![OscType::String(name(current))],
        ),
        message(
            format!("{PREFIX}/entry"),
            vec![OscType::Int(i32::from(state.current))],
        ),
        message(
            format!("{PREFIX}/entries"),
            vec![OscType::Int(state.presets.len() as i32)],
        ),
        message(
            format!("{PREFIX}/next_song"),
            vec![OscType::String(name(current + 1))],
        ),
    ];
    for r in state.racks.iter().filter(|r| r.preset == state.current) {
        let rack = segment(&r.routing.name);
        out.push(message(
            format!("{PREFIX}/rack/{rack}/gain"),
            vec![OscType::Float(r.routing.gain_db as f32)],
        ));
        out.push(message(
            format!("{PREFIX}/rack/{rack}/mute"),
            vec![OscType::Int(i32::from(r.routing.mute))],
        ));
    }
    out
}

/// Meter feedback: `/stagerack/meter/master ff` and, for each rack of the
/// current song, `/stagerack/rack/<name>/meter ff` (linear peaks, left and
/// right, since the last meters). OSC thread.
pub fn meters(state: Option<&Snapshot>, master: [f32; 2], racks: &[[f32; 2]]) -> Vec<OscMessage> {
    let pair = |p: [f32; 2]| vec![OscType::Float(p[0]), OscType::Float(p[1])];
    let mut out = vec![message(format!("{PREFIX}/meter/master"), pair(master))];
    if let Some(state) = state {
        for (r, peak) in state.racks.iter().zip(racks) {
            if r.preset == state.current {
                out.push(message(
                    format!("{PREFIX}/rack/{}/meter", segment(&r.routing.name)),
                    pair(*peak),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn song_feedback_names_the_current_and_next_entries() {
        let state = Snapshot {
            presets: vec!["demo".into(), "bells".into()],
            current: 1,
            ..Snapshot::default()
        };
        let m = song(&state);
        assert_eq!(m[0].addr, "/stagerack/song");
        assert_eq!(m[0].args, vec![OscType::String("bells".into())]);
        assert_eq!(m[1].args, vec![OscType::Int(1)]);
        assert_eq!(m[2].args, vec![OscType::Int(2)]);
        assert_eq!(m[3].args, vec![OscType::String(String::new())]);
        let m = meters(Some(&state), [0.5, 0.25], &[]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].args, vec![OscType::Float(0.5), OscType::Float(0.25)]);
    }
}
