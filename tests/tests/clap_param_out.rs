//! A plugin that moves its own parameter (here the CLAP probe's built-in
//! MIDI learn: CC 21 sets `level` and the plugin reports it as an output
//! parameter event) is shown live: every control client gets a `param`
//! event with the new value, the sound follows it from the controller's
//! sample on, and saving the preset keeps it. Rendered under the allocation
//! guard like every offline test.

mod clap_support;

use clap_support::*;
use stagerack::control::{ControlServer, Reply};
use stagerack::io::offline::{render_offline, OfflineJob};
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;

const PROBE: &str = "org.stagerack.test.probe";
const LEVEL: u32 = 0;
const LEVEL_CC: u8 = 21;

#[test]
fn a_parameter_the_plugin_moves_itself_reaches_every_client_and_the_preset() {
    let p = preset(&format!(
        "version = 1\nname = \"probe\"\n[[rack]]\nname = \"probe\"\n[[rack.plugin]]\n\
         format = \"clap\"\nid = \"{PROBE}\"\npath = \"{}\"\n",
        bundle("stagerack-probe").display()
    ));
    let (mut session, mut engine) = session(&p, 64);
    let mut server = ControlServer::new();
    let window = server.connect_local();
    let remote = server.connect_local();
    let note = |frame, velocity| SampleEvent {
        frame,
        event: Event::NoteOn {
            channel: 0,
            key: 60,
            velocity,
            note_id: -1,
        },
    };
    let events = [
        note(500, 1.0),
        SampleEvent {
            frame: 700,
            event: Event::ControlChange {
                channel: 0,
                controller: LEVEL_CC,
                value: 32,
            },
        },
        note(700, 1.0),
        note(2000, 1.0),
    ];
    let job = OfflineJob {
        events: &events,
        input: None,
        block: 64,
        min_frames: 4800,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = render_offline(&mut engine, &job, |_| {
        let panics = session.pump();
        assert!(panics.is_empty(), "{panics:?}");
        server.poll(&mut session);
    });
    session.pump();
    server.poll(&mut session);

    // The sound: full height before the controller, its value from the
    // controller's own sample on (the note at the same sample included).
    let level = 32.0 / 127.0;
    assert!((out.left[500] - 1.0).abs() < 1e-6, "{}", out.left[500]);
    assert!((out.left[700] - level).abs() < 1e-6, "{}", out.left[700]);
    assert!((out.left[2000] - level).abs() < 1e-6, "{}", out.left[2000]);

    // Every client hears of it, once, with the plugin's value.
    for client in [&window, &remote] {
        let mut changes = Vec::new();
        while let Some(r) = client.recv_timeout(std::time::Duration::from_millis(20)) {
            if let Reply::Param {
                rack,
                index,
                param,
                value,
                ..
            } = r
            {
                changes.push((rack, index, param, value));
            }
        }
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (rack, index, param, value) = changes[0];
        assert_eq!((rack, index, param), (0, 0, LEVEL));
        assert!((value - f64::from(level)).abs() < 1e-9, "{value}");
    }

    // Saving keeps what the plugin set (in its state): a fresh session
    // from the saved preset starts at that level.
    let saved = session.to_preset().expect("preset");
    session.shutdown(engine);
    let (reloaded, engine) = clap_support::session(&saved, 64);
    let snap = stagerack::control::snapshot(&reloaded);
    let kept = snap.racks[0].plugins[0]
        .params
        .iter()
        .find(|p| p.id == LEVEL)
        .map(|p| p.value);
    assert!(
        kept.is_some_and(|v| (v - f64::from(level)).abs() < 1e-9),
        "{kept:?}"
    );
    reloaded.shutdown(engine);
}
