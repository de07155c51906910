//! A sandboxed VST3 instrument that segfaults and then aborts inside
//! `process`, played offline through a session: the other rack's every
//! note lands on its sample at its height, the crashed plugin comes back
//! (relaunched from the pump, with its controller) and plays again, and
//! each crash is reported by rack, plugin and signal.

mod vst3_common;

use stagerack::midi::{Event, TimedEvent};
use stagerack::session::Session;

const FRAMES: usize = 64;
/// Steady notes: one every this many blocks.
const EVERY: usize = 8;

fn note(offset: u32, key: u8) -> TimedEvent {
    TimedEvent::new(
        offset,
        Event::NoteOn {
            channel: 0,
            key,
            velocity: 100.0 / 127.0,
            note_id: -1,
        },
    )
}

#[test]
fn a_sandboxed_vst3_plugin_crashes_twice_and_plays_again_while_the_other_rack_keeps_every_note() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    let probe = vst3_common::own_bundle("Stagerack VST3 Probe");
    let bad = vst3_common::own_bundle("Stagerack VST3 Bad");
    let probe_id = vst3_common::class_of(&probe).id;
    let crash_id = stagerack::plugin::vst3::list_vst3_classes(&bad)
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Stagerack VST3 Crash On Note")
        .expect("the Bad bundle offers the crash class")
        .id;
    let preset = vst3_common::preset(&format!(
        r#"version = 1
name = "vst3-crash"
[[rack]]
name = "steady"
keys = [60, 127]
pan = -1.0
[[rack.plugin]]
format = "vst3"
id = "{probe_id}"
path = "{}"
[[rack]]
name = "crashy"
keys = [0, 59]
pan = 1.0
sandbox = "plugin"
[[rack.plugin]]
format = "vst3"
id = "{crash_id}"
path = "{}"
"#,
        probe.display(),
        bad.display()
    ));
    let (session, engine) =
        Session::new(&preset, vst3_common::config(FRAMES), true).expect("the preset loads");
    let mut run = Run {
        engine,
        session,
        block: 0,
        reports: Vec::new(),
    };
    for _ in 0..20 {
        run.play(&[]);
    }
    assert!(
        run.crashy_plays(),
        "the sandboxed probe does not play before its crash"
    );
    for (key, signal) in [(1u8, "SIGSEGV"), (2u8, "SIGABRT")] {
        run.play(&[note(5, key)]);
        // Play on (the pump relaunches it) until it is back.
        let mut back = false;
        for _ in 0..2000 {
            run.play(&[]);
            if run
                .reports
                .iter()
                .any(|r| r.contains(signal) && r.contains("back in"))
            {
                back = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(
            back,
            "no report of the {signal} crash and comeback: {:?}",
            run.reports
        );
        // Past its 5 ms fade-in.
        for _ in 0..5 {
            run.play(&[]);
        }
        assert!(
            run.crashy_plays(),
            "the sandboxed probe does not play again after its {signal} crash"
        );
    }
    for signal in ["SIGSEGV", "SIGABRT"] {
        let line = run
            .reports
            .iter()
            .find(|r| r.contains(signal))
            .expect("reported");
        assert!(
            line.contains("rack `crashy`") && line.contains("Stagerack VST3 Crash On Note"),
            "{line}"
        );
    }
    run.session.shutdown(run.engine);
}

/// The session played block by block. (The engine is declared first: if
/// an assertion fails, it is dropped before the session unloads the
/// plugins its processors belong to.)
struct Run {
    engine: stagerack::engine::Engine,
    session: Session,
    block: usize,
    reports: Vec<String>,
}

impl Run {
    /// One block: a steady note every [`EVERY`] blocks (at an offset that
    /// moves through the block) plus `extra`; checks the steady rack's
    /// output sample by sample, pumps, and returns the crashy rack's.
    fn play(&mut self, extra: &[TimedEvent]) -> Vec<f32> {
        let height = 100.0f32 / 127.0;
        let b = self.block;
        let steady = (b % EVERY == 0).then(|| note((b % FRAMES) as u32, 60 + (b % 7) as u8));
        let mut events: Vec<TimedEvent> = steady.into_iter().collect();
        events.extend_from_slice(extra);
        events.sort_by_key(|e| e.offset);
        let (mut l, mut r) = (vec![0.0f32; FRAMES], vec![0.0f32; FRAMES]);
        self.engine.process(&events, None, &mut l, &mut r);
        for (i, &x) in l.iter().enumerate() {
            let expected = match steady {
                Some(e) if e.offset as usize == i => height,
                _ => 0.0,
            };
            assert!(
                (x - expected).abs() < 1e-6,
                "block {b}, frame {i}: the steady rack played {x}, not {expected}"
            );
        }
        self.block += 1;
        self.reports.extend(self.session.pump());
        r
    }

    /// Plays key 40 to the crashy rack at frame 17: true when its impulse
    /// is there.
    fn crashy_plays(&mut self) -> bool {
        let right = self.play(&[note(17, 40)]);
        (right[17] - 100.0 / 127.0).abs() < 1e-6
    }
}
