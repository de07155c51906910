//! Polyphonic aftertouch reaches the note it belongs to (#16), in both
//! formats, through a split and a transpose: a CLAP plugin whose note port
//! takes no MIDI gets its note's pressure expression
//! (`CLAP_EVENT_NOTE_EXPRESSION`), a VST3 plugin a `PolyPressureEvent`,
//! each on the sample it was played. Pressure on a key the rack does not
//! hold reaches nobody. The test plugins (`Stagerack Kit`, the VST3 probe)
//! write a negative impulse of `-pressure × key / 128`, so the output names
//! the key the plugin was told.

mod vst3_common;

use std::path::Path;

use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::session::Session;
use vst3_common::*;

/// Played key 62, taken by the rack (split 40..127) as 60 (transpose -2).
const PLAYED: u8 = 62;
const HEARD: f32 = 60.0;

fn pressure(frame: u64, key: u8, value: u8) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::PolyPressure {
            channel: 0,
            key,
            value,
        },
    }
}

/// A note at 10, full pressure on it at 200, pressure at 300 on a key
/// below the split (never held), half pressure on the note at 400.
fn events() -> Vec<SampleEvent> {
    vec![
        note_on(10, PLAYED, 127),
        pressure(200, PLAYED, 127),
        pressure(300, 30, 127),
        pressure(400, PLAYED, 64),
    ]
}

fn preset_text(format: &str, id: &str, path: &Path) -> String {
    format!(
        "version = 1\nname = \"pressure\"\n[[rack]]\nname = \"keys\"\nkeys = [40, 127]\n\
         transpose = -2\n[[rack.plugin]]\nformat = \"{format}\"\nid = \"{id}\"\npath = \"{}\"\n",
        path.display()
    )
}

/// Renders the events and checks every sample of both channels.
fn check(text: &str) {
    let (mut session, mut engine) = Session::new(&preset(text), config(64), true).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    session.handle().set_safety_limiter(false);
    let out = render(&mut engine, &mut session, &events(), None, 64, 512);
    session.shutdown(engine);
    let want = |f: usize| match f {
        10 => 1.0,
        200 => -HEARD / 128.0,
        400 => -(64.0 / 127.0) * HEARD / 128.0,
        _ => 0.0,
    };
    for (f, (l, r)) in out.left.iter().zip(&out.right).enumerate() {
        assert!(
            (l - want(f)).abs() < 1e-6 && (r - want(f)).abs() < 1e-6,
            "frame {f}: {l} / {r}, want {}",
            want(f)
        );
    }
}

#[test]
fn poly_pressure_reaches_a_clap_plugin_without_midi_as_its_notes_pressure() {
    let kit = stagerack_tests::clap_bundle("stagerack-kit");
    check(&preset_text("clap", "org.stagerack.test.kit", &kit));
}

#[test]
fn poly_pressure_reaches_a_vst3_plugin_as_poly_pressure_events() {
    let _main = main_thread_lock();
    let bundle = own_bundle("Stagerack VST3 Probe");
    let id = class_of(&bundle).id;
    check(&preset_text("vst3", &id, &bundle));
}
